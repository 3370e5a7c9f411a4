//! The component's links, as the lattice's shared state holds them: watched
//! live, so a `lattice link put` moves the next call to the new provider
//! with nothing restarted.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_nats::jetstream::kv::Operation;
use futures_util::StreamExt;
use lattice_host::LinkRegistry;
use lattice_host::state::{LinkRecord, State};

#[derive(Clone)]
struct Route {
    revision: u64,
    provider_key: String,
    link_name: String,
    contract_id: String,
}

/// The providers a component's imports go to, by contract. When a
/// component has several links of one contract, the newest one carries its
/// calls: relinking is putting the new link (and deleting the old at
/// leisure).
#[derive(Clone, Default)]
pub struct Routes {
    by_key: Arc<RwLock<HashMap<String, Route>>>,
}

impl Routes {
    /// The provider (key, link name) of the newest link of `contract`.
    pub fn newest(&self, contract: &str) -> Option<(String, String)> {
        let map = self.by_key.read().unwrap_or_else(|p| p.into_inner());
        map.values()
            .filter(|r| r.contract_id == contract)
            .max_by_key(|r| r.revision)
            .map(|r| (r.provider_key.clone(), r.link_name.clone()))
    }

    /// Links known now.
    pub fn len(&self) -> usize {
        self.by_key.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn put(&self, key: String, rec: &LinkRecord, revision: u64) {
        let route = Route {
            revision,
            provider_key: rec.provider_id.clone(),
            link_name: rec.link_name.clone(),
            contract_id: rec.contract_id.clone(),
        };
        self.by_key
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, route);
    }

    fn remove(&self, key: &str) -> Option<Route> {
        self.by_key
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)
    }
}

/// Follows the links of `actor` in `state`: each one is a route for the
/// component's imports and lets its provider call the component
/// (`registry`). Returns once the links present now are applied; the watch
/// goes on in a task.
pub async fn follow(
    state: &State,
    actor: &str,
    routes: Routes,
    registry: LinkRegistry,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut watch = state.watch_links_of(actor).await?;
    let actor_key = actor.to_string();
    let actor = actor.to_string();
    let apply = move |entry: async_nats::jetstream::kv::Entry| match entry.operation {
        Operation::Put => match serde_json::from_slice::<LinkRecord>(&entry.value) {
            Ok(rec) if rec.actor_id == actor => {
                tracing::info!(
                    provider = %rec.provider_name,
                    contract = %rec.contract_id,
                    link_name = %rec.link_name,
                    "link applied"
                );
                registry.insert(&rec.provider_id, &rec.link_name, &actor);
                routes.put(entry.key, &rec, entry.revision);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(key = %entry.key, "a link in the state does not decode: {e}"),
        },
        Operation::Delete | Operation::Purge => {
            if let Some(r) = routes.remove(&entry.key) {
                tracing::info!(contract = %r.contract_id, provider = %r.provider_key, "link removed");
                registry.remove(&r.provider_key, &r.link_name, &actor);
            }
        }
    };
    // The links present now come first: wait for as many as the bucket
    // holds (an empty set sends none), so the component never serves
    // before it knows who may call it.
    let present = state.link_count_of(&actor_key).await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = 0;
    while seen < present {
        match tokio::time::timeout_at(deadline, watch.next()).await {
            Ok(Some(Ok(entry))) => {
                if entry.operation == Operation::Put {
                    seen += 1;
                }
                let last = entry.delta == 0;
                apply(entry);
                if last {
                    break;
                }
            }
            Ok(Some(Err(e))) => anyhow::bail!("watching links: {e}"),
            Ok(None) => anyhow::bail!("the link watch ended"),
            Err(_) => anyhow::bail!(
                "the state bucket listed {present} links of this component, the watch gave {seen} in 30 s"
            ),
        }
    }
    Ok(tokio::spawn(async move {
        while let Some(item) = watch.next().await {
            match item {
                Ok(entry) => apply(entry),
                Err(e) => tracing::warn!("link watch: {e}"),
            }
        }
        tracing::error!("the link watch ended: link changes are no longer seen");
    }))
}
