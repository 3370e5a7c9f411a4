//! Application NATS connections, shared by links with equal settings (the
//! SDK's [`SharedPool`]).

use std::sync::Arc;
use std::time::Duration;

use provider_sdk::pool::SharedPool;

use crate::config::ConnSettings;

/// One application NATS connection.
pub struct Shared {
    /// The client (reconnects and resubscribes by itself).
    pub client: async_nats::Client,
    /// Its settings.
    pub settings: ConnSettings,
}

/// The provider's application connections, by settings; a connection
/// closes with its last link.
pub type Pool = SharedPool<ConnSettings, Shared>;

/// Connects with `s` (a clear link error when unreachable; once connected the
/// client reconnects and resubscribes by itself).
pub async fn connect(s: &ConnSettings) -> Result<Shared, String> {
    let client = open(s).await?;
    tracing::info!(nats = %s.redacted(), "application NATS connected");
    Ok(Shared {
        client,
        settings: s.clone(),
    })
}

async fn open(s: &ConnSettings) -> Result<async_nats::Client, String> {
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
