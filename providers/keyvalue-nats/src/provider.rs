//! The provider: provider-wide defaults, links, calls and health.

use std::time::Duration;

use async_nats::connection::State;
use provider_sdk::{
    Call, ConfigError, HealthCheckResponse, LinkConfig, Provider, ProviderContext, RpcError,
};

use crate::config::LinkValues;
use crate::connections::{Connection, Connections, get_or_connect};
use crate::store::NatsStore;

/// How long one connection's flush may take in a health check (the SDK
/// gives the whole check 5 s).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// `wasmcloud:keyvalue` on NATS JetStream KV.
#[derive(Default)]
pub struct NatsKv {
    /// Defaults from `config_json`, which link values override.
    defaults: LinkValues,
    /// The lattice connection, for health.
    lattice: Option<async_nats::Client>,
    /// Application connections of links with a `url`.
    connections: Connections,
}

impl Provider for NatsKv {
    const CONTRACT_ID: &'static str = keyvalue_interface::CONTRACT_ID;
    type Link = NatsStore;

    async fn init(&mut self, ctx: &ProviderContext) -> Result<(), ConfigError> {
        if let Some(defaults) = ctx.provider_config::<LinkValues>()? {
            // Fail at start rather than at every link.
            defaults.clone().validate()?;
            self.defaults = defaults;
        }
        self.lattice = Some(ctx.nats().clone());
        Ok(())
    }

    async fn put_link(
        &self,
        ctx: &ProviderContext,
        link: &LinkConfig,
    ) -> Result<NatsStore, ConfigError> {
        let settings = link.parse::<LinkValues>()?.or(&self.defaults).validate()?;
        let (conn, server) = match &settings.connect {
            None => (
                Connection::Lattice(ctx.nats().clone()),
                "lattice".to_string(),
            ),
            Some(c) => {
                let name = format!("keyvalue-nats {}", ctx.provider_key());
                let shared = get_or_connect(&self.connections, c, &name).await?;
                let url = shared.redacted_url().to_string();
                (Connection::Shared(shared), url)
            }
        };
        let b = &settings.buckets;
        tracing::info!(
            actor = %link.actor_id(),
            %server,
            default_bucket = %b.kv_name(""),
            bucket_prefix = %b.prefix,
            replicas = b.replicas,
            storage = ?b.storage,
            "link ready"
        );
        Ok(NatsStore::new(conn, settings.buckets))
    }

    async fn handle(&self, call: Call<'_, NatsStore>) -> Result<Vec<u8>, RpcError> {
        keyvalue_interface::dispatch(call.state(), call.operation, &call.msg).await
    }

    /// A round trip through the lattice connection and every application
    /// connection, within [`FLUSH_TIMEOUT`] each.
    async fn health(&self) -> HealthCheckResponse {
        let mut checks = Vec::new();
        if let Some(lattice) = &self.lattice {
            checks.push(("lattice NATS".to_string(), lattice.clone()));
        }
        for app in self.connections.live() {
            checks.push((
                format!("NATS at {}", app.redacted_url()),
                app.client().clone(),
            ));
        }
        let mut problems = Vec::new();
        for (what, client) in checks {
            if let Err(reason) = flush(&client).await {
                problems.push(format!("{what}: {reason}"));
            }
        }
        if problems.is_empty() {
            HealthCheckResponse::healthy()
        } else {
            HealthCheckResponse::unhealthy(problems.join("; "))
        }
    }
}

async fn flush(client: &async_nats::Client) -> Result<(), String> {
    if client.connection_state() != State::Connected {
        return Err(format!("connection {}", client.connection_state()));
    }
    // A round trip through the server: a flush only empties the socket
    // buffer, and passes while the server is gone.
    provider_sdk::rpc::subjects::server_sync(client, FLUSH_TIMEOUT)
        .await
        .map_err(|e| e.to_string())
}
