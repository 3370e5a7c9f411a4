//! The links a host knows of: which provider (key and link name) may call
//! which actor. A provider's call to an actor this host serves is refused
//! `not-linked` when its link is not here (contract section 6a).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// Actors by link name, of one provider.
type ByLinkName = HashMap<String, HashSet<String>>;

/// Links by provider key, then link name, then actor. Cheap to clone; all
/// clones share one table.
#[derive(Clone, Default)]
pub struct LinkRegistry {
    map: Arc<RwLock<HashMap<String, ByLinkName>>>,
}

fn link_name(name: &str) -> &str {
    if name.is_empty() { "default" } else { name }
}

impl LinkRegistry {
    /// Records that `actor` is linked to `provider` on `link`.
    pub fn insert(&self, provider: &str, link: &str, actor: &str) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.entry(provider.to_string())
            .or_default()
            .entry(link_name(link).to_string())
            .or_default()
            .insert(actor.to_string());
    }

    /// Forgets that link.
    pub fn remove(&self, provider: &str, link: &str, actor: &str) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if let Some(links) = map.get_mut(provider) {
            if let Some(actors) = links.get_mut(link_name(link)) {
                actors.remove(actor);
                if actors.is_empty() {
                    links.remove(link_name(link));
                }
            }
            if links.is_empty() {
                map.remove(provider);
            }
        }
    }

    /// Whether `actor` is linked to `provider` on `link`.
    pub fn contains(&self, provider: &str, link: &str, actor: &str) -> bool {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(provider)
            .and_then(|l| l.get(link_name(link)))
            .is_some_and(|a| a.contains(actor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_keyed_by_provider_link_name_and_actor() {
        let r = LinkRegistry::default();
        r.insert("VP", "", "MA");
        assert!(
            r.contains("VP", "default", "MA"),
            "an empty link name is default"
        );
        assert!(!r.contains("VP", "other", "MA"));
        assert!(!r.contains("VQ", "default", "MA"));
        assert!(!r.contains("VP", "default", "MB"));
        let shared = r.clone();
        shared.remove("VP", "default", "MA");
        assert!(!r.contains("VP", "default", "MA"), "clones share one table");
    }
}
