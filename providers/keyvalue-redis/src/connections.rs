//! Connections shared by every link with the same settings. A link holds an
//! `Arc`; the pool keeps `Weak`s, so the connection closes with its last link.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::ConnectionSettings;

/// One Redis connection (multiplexed, reconnecting with backoff).
pub struct Shared {
    /// The connection.
    pub conn: ConnectionManager,
    /// Its settings.
    pub settings: ConnectionSettings,
}

impl Shared {
    /// `PING`.
    pub async fn ping(&self) -> Result<(), keyvalue::KvError> {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| crate::error::kv_error(e, ""))
    }
}

/// The pool.
#[derive(Default)]
pub struct Pool {
    map: Mutex<HashMap<ConnectionSettings, Weak<Shared>>>,
}

impl Pool {
    /// The connection for `settings`, made (lazily: no round trip here) when
    /// no live link holds one. Redis being down does not fail this: calls
    /// answer `unavailable` until it is back.
    pub fn get(&self, settings: &ConnectionSettings) -> Result<Arc<Shared>, String> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(shared) = map.get(settings).and_then(Weak::upgrade) {
            return Ok(shared);
        }
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| format!("{}: {}", settings.redacted(), e.category()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.response_timeout))
            .set_number_of_retries(2)
            .set_max_delay(std::time::Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("{}: {}", settings.redacted(), e.category()))?;
        let shared = Arc::new(Shared {
            conn,
            settings: settings.clone(),
        });
        map.insert(settings.clone(), Arc::downgrade(&shared));
        tracing::info!(redis = %settings.redacted(), "new Redis connection");
        Ok(shared)
    }

    /// Every live connection.
    pub fn live(&self) -> Vec<Arc<Shared>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.values().filter_map(Weak::upgrade).collect()
    }
}
