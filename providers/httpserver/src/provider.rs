//! The provider: links become routes on listeners (each HTTP request then
//! becomes `HttpServer.HandleRequest` to the route's actor: `request.rs`).

use provider_sdk::{
    Call, ConfigError, HealthCheckResponse, LinkConfig, Linked, Provider, ProviderContext, RpcError,
};

use crate::config::HttpLink;
use crate::listener::Listeners;
use crate::routes::RouteHandle;

/// The httpserver provider.
#[derive(Default)]
pub struct HttpServerProvider {
    listeners: Listeners,
}

impl Provider for HttpServerProvider {
    const CONTRACT_ID: &'static str = httpserver_interface::CONTRACT_ID;
    type Link = RouteHandle;

    async fn put_link(
        &self,
        ctx: &ProviderContext,
        link: &LinkConfig,
    ) -> Result<RouteHandle, ConfigError> {
        let settings = link.parse::<HttpLink>()?.resolve()?;
        Ok(self.listeners.add(ctx, link.actor_id(), settings).await?)
    }

    async fn del_link(&self, link: std::sync::Arc<Linked<RouteHandle>>) {
        self.listeners.remove(&link.state).await;
    }

    async fn handle(&self, call: Call<'_, RouteHandle>) -> Result<Vec<u8>, RpcError> {
        // Actors never call an httpserver; it calls them.
        Err(RpcError::unknown_operation(format!(
            "{} has no operations actors can call",
            httpserver_interface::CONTRACT_ID
        )))
        .inspect_err(|_| tracing::debug!(operation = call.operation, "call refused"))
    }

    async fn health(&self) -> HealthCheckResponse {
        let broken = self.listeners.broken().await;
        if broken.is_empty() {
            HealthCheckResponse::healthy()
        } else {
            HealthCheckResponse::unhealthy(format!("listeners stopped: {broken:?}"))
        }
    }

    async fn shutdown(&self) {
        self.listeners.close_all().await;
    }
}
