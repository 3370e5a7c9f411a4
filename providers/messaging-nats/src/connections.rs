//! Application NATS connections, shared by links with equal settings; the
//! pool holds `Weak`s, so a connection closes with its last link.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::config::ConnSettings;

/// One application NATS connection.
pub struct Shared {
    /// The client (reconnects and resubscribes by itself).
    pub client: async_nats::Client,
    /// Its settings.
    pub settings: ConnSettings,
}

/// The pool.
#[derive(Default)]
pub struct Pool {
    map: Mutex<HashMap<ConnSettings, Weak<Shared>>>,
    // One connect at a time, so two links with the same settings share.
    connecting: tokio::sync::Mutex<()>,
}

impl Pool {
    /// The connection for `settings`, connecting when no live link holds one.
    pub async fn get(&self, settings: &ConnSettings) -> Result<Arc<Shared>, String> {
        let _one = self.connecting.lock().await;
        if let Some(shared) = self.lookup(settings) {
            return Ok(shared);
        }
        let client = connect(settings).await?;
        let shared = Arc::new(Shared {
            client,
            settings: settings.clone(),
        });
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(settings.clone(), Arc::downgrade(&shared));
        tracing::info!(nats = %settings.redacted(), "application NATS connected");
        Ok(shared)
    }

    fn lookup(&self, settings: &ConnSettings) -> Option<Arc<Shared>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(settings).and_then(Weak::upgrade)
    }

    /// Every live connection.
    pub fn live(&self) -> Vec<Arc<Shared>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.values().filter_map(Weak::upgrade).collect()
    }
}

async fn connect(s: &ConnSettings) -> Result<async_nats::Client, String> {
    let why = |e: &dyn std::fmt::Display| format!("application NATS {}: {e}", s.redacted());
    let mut opts = async_nats::ConnectOptions::new()
        .name("messaging-nats")
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .event_callback(|e| async move {
            match e {
                async_nats::Event::Disconnected => tracing::warn!("application NATS disconnected"),
                async_nats::Event::Connected => tracing::info!("application NATS (re)connected"),
                other => tracing::debug!(event = %other, "application NATS event"),
            }
        });
    if let Some((jwt, seed)) = &s.jwt {
        let kp = Arc::new(nkeys::KeyPair::from_seed(seed).map_err(|e| why(&e))?);
        opts = opts.jwt(jwt.clone(), move |nonce| {
            let kp = kp.clone();
            async move { kp.sign(&nonce).map_err(async_nats::AuthError::new) }
        });
    } else if let Some(seed) = &s.seed {
        opts = opts.nkey(seed.clone());
    }
    if let Some(path) = &s.credsfile {
        opts = opts
            .credentials_file(path)
            .await
            .map_err(|e| why(&format!("credentials file: {e}")))?;
    }
    if let Some((u, p)) = &s.user_password {
        opts = opts.user_and_password(u.clone(), p.clone());
    }
    let ca_file = match (&s.tls_ca_file, &s.tls_ca) {
        (Some(f), _) => Some(std::path::PathBuf::from(f)),
        (None, Some(pem)) => {
            // rustls takes a file: keep the PEM in a temp file named by its
            // content, so links with different CAs never share one.
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            let digest = BuildHasherDefault::<DefaultHasher>::default().hash_one(pem);
            let path = std::env::temp_dir().join(format!(
                "messaging-nats-ca-{}-{digest:016x}.pem",
                std::process::id()
            ));
            std::fs::write(&path, pem).map_err(|e| why(&e))?;
            Some(path)
        }
        _ => None,
    };
    if let Some(ca) = ca_file {
        opts = opts.add_root_certificates(ca).require_tls(true);
    }
    let addrs: Vec<async_nats::ServerAddr> = s
        .urls
        .iter()
        .map(|u| u.parse().map_err(|e| why(&e)))
        .collect::<Result<_, _>>()?;
    // Unreachable at link time is a clear link error; once connected the
    // client reconnects (and resubscribes) forever by itself.
    opts.connect(addrs).await.map_err(|e| why(&e))
}
