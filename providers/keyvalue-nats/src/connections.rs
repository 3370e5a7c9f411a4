//! Application NATS connections for links with a `url`, shared by every
//! link with equal address and credentials, closed when the last such link
//! is released. Links without `url` reuse the lattice connection.

use std::sync::Arc;
use std::time::Duration;

use provider_sdk::ConfigError;
use provider_sdk::pool::SharedPool;

use crate::config::Connect;

/// The NATS connection a link's buckets live on.
#[derive(Clone)]
pub enum Connection {
    /// The provider's lattice connection.
    Lattice(async_nats::Client),
    /// An application connection shared by links with the same settings.
    Shared(Arc<AppConnection>),
}

impl Connection {
    /// The client.
    pub fn client(&self) -> &async_nats::Client {
        match self {
            Connection::Lattice(c) => c,
            Connection::Shared(a) => &a.client,
        }
    }
}

/// One application connection; drained and closed on drop.
pub struct AppConnection {
    client: async_nats::Client,
    url: String,
}

impl AppConnection {
    /// The server URL, password redacted.
    pub fn redacted_url(&self) -> &str {
        &self.url
    }

    /// The client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}

impl Drop for AppConnection {
    fn drop(&mut self) {
        tracing::info!(url = %self.url, "closing NATS connection: its last link is gone");
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            rt.spawn(async move {
                let _ = client.drain().await;
            });
        }
    }
}

/// The table of live application connections, by settings.
pub type Connections = SharedPool<Connect, AppConnection>;

/// The connection for `c`: a live one with the same settings, else a new one.
pub async fn get_or_connect(
    table: &Connections,
    c: &Connect,
    name: &str,
) -> Result<Arc<AppConnection>, ConfigError> {
    table.get_or_connect(c, || connect(c, name)).await
}

async fn connect(c: &Connect, name: &str) -> Result<AppConnection, ConfigError> {
    let url = c.redacted_url();
    let events_url = url.clone();
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .reconnect_delay_callback(|attempt| {
            Duration::from_millis((100u64 << attempt.min(6) as u32).min(5000))
        })
        .event_callback(move |event| {
            let url = events_url.clone();
            async move {
                match event {
                    async_nats::Event::Disconnected => tracing::warn!(%url, "NATS disconnected"),
                    async_nats::Event::Connected => tracing::info!(%url, "NATS connected"),
                    other => tracing::debug!(%url, event = %other, "NATS event"),
                }
            }
        });
    match (&c.jwt, &c.seed) {
        (Some(jwt), Some(seed)) => {
            let kp = nkeys::KeyPair::from_seed(seed)
                .map_err(|_| ConfigError::invalid("seed", "not a valid nkey seed"))?;
            let kp = Arc::new(kp);
            opts = opts.jwt(jwt.clone(), move |nonce| {
                let kp = kp.clone();
                async move { kp.sign(&nonce).map_err(async_nats::AuthError::new) }
            });
        }
        (None, Some(seed)) => opts = opts.nkey(seed.clone()),
        _ => {}
    }
    let client = opts
        .connect(c.url.split(',').map(str::trim).collect::<Vec<_>>())
        .await
        .map_err(|e| ConfigError::unusable(format!("cannot connect to NATS at {url}: {e}")))?;
    tracing::info!(%url, "connected to application NATS");
    Ok(AppConnection { client, url })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lattice_fixtures::NatsServer;

    fn connect_to(url: &str) -> Connect {
        Connect {
            url: url.to_string(),
            jwt: None,
            seed: None,
        }
    }

    #[tokio::test]
    async fn equal_settings_share_a_connection_until_the_last_holder_drops_it() {
        let server = NatsServer::start().unwrap();
        let table = Connections::default();
        let c = connect_to(&server.url());
        let a = get_or_connect(&table, &c, "t").await.unwrap();
        let b = get_or_connect(&table, &c, "t").await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // Another spelling of the address is other settings: its own connection.
        let host_port = server.url().trim_start_matches("nats://").to_string();
        let other = get_or_connect(&table, &connect_to(&host_port), "t")
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &other));
        assert_eq!(table.live().len(), 2);
        drop((a, other));
        assert_eq!(table.live().len(), 1, "b still holds the first");
        drop(b);
        assert!(table.live().is_empty());
    }

    #[tokio::test]
    async fn an_unreachable_url_is_a_config_error_without_the_password() {
        let port = lattice_fixtures::free_port().unwrap();
        let c = connect_to(&format!("nats://u:hunter2@127.0.0.1:{port}"));
        let Err(err) = get_or_connect(&Connections::default(), &c, "t").await else {
            panic!("connected to a closed port")
        };
        let msg = err.to_string();
        assert!(
            msg.contains("cannot connect") && !msg.contains("hunter2"),
            "{msg}"
        );
    }
}
