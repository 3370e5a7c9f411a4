//! Connections shared by every link with the same settings (the SDK's
//! [`SharedPool`]): the connection closes with its last link.

use provider_sdk::pool::SharedPool;
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
    /// A connection for `settings`, made lazily (no round trip here): Redis
    /// being down does not fail this; calls answer `unavailable` until it is back.
    pub fn new(settings: &ConnectionSettings) -> Result<Self, String> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| format!("{}: {}", settings.redacted(), e.category()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.response_timeout))
            .set_number_of_retries(2)
            .set_max_delay(std::time::Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("{}: {}", settings.redacted(), e.category()))?;
        tracing::info!(redis = %settings.redacted(), "new Redis connection");
        Ok(Self {
            conn,
            settings: settings.clone(),
        })
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), keyvalue_interface::KvError> {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| crate::error::kv_error(e, ""))
    }
}

/// The provider's connections, by settings.
pub type Pool = SharedPool<ConnectionSettings, Shared>;
