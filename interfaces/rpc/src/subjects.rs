//! NATS subjects of the contract (CONTRACT.md section 4).

use crate::view::EntityRef;

/// Queue group every provider instance joins on its RPC subject.
pub const RPC_QUEUE_GROUP: &str = "rpc";

/// Invocations to a provider: `wasmbus.rpc.{lattice}.{key}.{link_name}`.
pub fn provider_rpc(lattice: &str, provider_key: &str, link_name: &str) -> String {
    format!("wasmbus.rpc.{lattice}.{provider_key}.{link_name}")
}

/// A provider's control subject: `{rpc subject}.{suffix}` where suffix is
/// `linkdefs.put`, `linkdefs.del`, `health`, `shutdown` or `config.put`.
pub fn provider_control(
    lattice: &str,
    provider_key: &str,
    link_name: &str,
    suffix: &str,
) -> String {
    format!("wasmbus.rpc.{lattice}.{provider_key}.{link_name}.{suffix}")
}

/// Invocations to an actor: `wasmbus.rpc.{lattice}.{actor_key}`.
pub fn actor_rpc(lattice: &str, actor_key: &str) -> String {
    format!("wasmbus.rpc.{lattice}.{actor_key}")
}

/// The subject that reaches `target`.
pub fn for_target(lattice: &str, target: EntityRef<'_>) -> String {
    let link = if target.link_name.is_empty() {
        "default"
    } else {
        target.link_name
    };
    let mut out = String::with_capacity(13 + lattice.len() + target.public_key.len() + link.len());
    out.push_str("wasmbus.rpc.");
    out.push_str(lattice);
    out.push('.');
    out.push_str(target.public_key);
    if !target.is_actor() {
        out.push('.');
        out.push_str(link);
    }
    out
}

/// Control subject suffixes.
pub mod control {
    /// Add or replace a link.
    pub const LINKDEFS_PUT: &str = "linkdefs.put";
    /// Remove a link.
    pub const LINKDEFS_DEL: &str = "linkdefs.del";
    /// Health request.
    pub const HEALTH: &str = "health";
    /// Shutdown request.
    pub const SHUTDOWN: &str = "shutdown";
    /// Extension: provider config, applied live.
    pub const CONFIG_PUT: &str = "config.put";
}

/// Why [`server_sync`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Subscribing or publishing failed.
    #[error("NATS refused the round trip: {0}")]
    Nats(String),
    /// The connection closed meanwhile.
    #[error("the NATS connection closed")]
    Closed,
    /// The server did not answer in time.
    #[error("no round trip to the NATS server within {0:?}")]
    Timeout(std::time::Duration),
}

/// Waits until the NATS server has processed everything this connection
/// sent before: a message to a fresh inbox, subscribed on the same
/// connection, comes back only after the server applied the earlier
/// operations (subscriptions included). `Client::flush` only empties the
/// socket buffer; use this before telling another party "subscribed".
pub async fn server_sync(
    client: &async_nats::Client,
    timeout: std::time::Duration,
) -> Result<(), SyncError> {
    use futures_util::StreamExt;
    let nats = |e: &dyn std::fmt::Display| SyncError::Nats(e.to_string());
    let inbox = client.new_inbox();
    let mut sub = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| nats(&e))?;
    client
        .publish(inbox, bytes::Bytes::new())
        .await
        .map_err(|e| nats(&e))?;
    client.flush().await.map_err(|e| nats(&e))?;
    match tokio::time::timeout(timeout, sub.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(SyncError::Closed),
        Err(_) => Err(SyncError::Timeout(timeout)),
    }
}
