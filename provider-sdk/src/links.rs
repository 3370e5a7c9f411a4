//! The link table: per-link state keyed by (actor_id, link_name), never by
//! actor alone (the contract, section 7).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::provider::Linked;

/// Key of a link.
pub type LinkKey = (String, String);

type ByLinkName<L> = HashMap<String, Arc<Linked<L>>>;

/// Links of one provider process.
pub struct LinkTable<L> {
    // actor_id -> link_name -> link: both levels look up by &str.
    map: RwLock<HashMap<String, ByLinkName<L>>>,
}

impl<L> Default for LinkTable<L> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<L> LinkTable<L> {
    /// The link of `actor_id` on `link_name`.
    pub fn get(&self, actor_id: &str, link_name: &str) -> Option<Arc<Linked<L>>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(actor_id)?.get(link_name).cloned()
    }

    /// Inserts or replaces; returns the previous link.
    pub fn insert(&self, key: LinkKey, link: Arc<Linked<L>>) -> Option<Arc<Linked<L>>> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.entry(key.0).or_default().insert(key.1, link)
    }

    /// Removes; returns the removed link.
    pub fn remove(&self, actor_id: &str, link_name: &str) -> Option<Arc<Linked<L>>> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let per_actor = map.get_mut(actor_id)?;
        let removed = per_actor.remove(link_name);
        if per_actor.is_empty() {
            map.remove(actor_id);
        }
        removed
    }

    /// Removes every link.
    pub fn drain(&self) -> Vec<Arc<Linked<L>>> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.drain()
            .flat_map(|(_, links)| links.into_values())
            .collect()
    }

    /// Number of links.
    pub fn len(&self) -> usize {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.values().map(HashMap::len).sum()
    }
}
