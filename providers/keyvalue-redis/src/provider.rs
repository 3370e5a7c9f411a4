//! The provider: links become stores on shared connections; health pings
//! every connection in use.

use std::sync::{Arc, RwLock};

use provider_sdk::config::ConfigError;
use provider_sdk::{Call, HealthCheckResponse, LinkConfig, Provider, ProviderContext, RpcError};

use crate::config::{ConnectionSettings, RedisConfig};
use crate::connections::{Pool, Shared};
use crate::store::RedisStore;

/// keyvalue-redis.
#[derive(Default)]
pub struct RedisProvider {
    defaults: RwLock<RedisConfig>,
    pool: Pool,
    /// Holds the provider-wide default connection, so health has a backend
    /// to check before any link exists.
    default_store: RwLock<Option<Arc<RedisStore>>>,
}

impl RedisProvider {
    fn defaults(&self) -> RedisConfig {
        self.defaults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_default_connection(&self) -> Result<(), ConfigError> {
        let settings = RedisConfig::default().resolve(&self.defaults())?;
        let shared = self.connection(&settings)?;
        *self
            .default_store
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(RedisStore::new(shared)));
        Ok(())
    }

    fn connection(&self, settings: &ConnectionSettings) -> Result<Arc<Shared>, ConfigError> {
        self.pool
            .get_or_make(settings, || Shared::new(settings))
            .map_err(|why| ConfigError::invalid("url", why))
    }

    fn apply_defaults(&self, config: RedisConfig) -> Result<(), ConfigError> {
        // Validate before replacing: a bad update keeps the old config.
        config.resolve(&RedisConfig::default())?;
        *self.defaults.write().unwrap_or_else(|p| p.into_inner()) = config;
        self.set_default_connection()
    }
}

impl Provider for RedisProvider {
    const CONTRACT_ID: &'static str = keyvalue_interface::CONTRACT_ID;
    type Link = RedisStore;

    async fn init(&mut self, ctx: &ProviderContext) -> Result<(), ConfigError> {
        match ctx.provider_config::<RedisConfig>()? {
            Some(config) => self.apply_defaults(config),
            None => self.set_default_connection(),
        }
    }

    async fn put_link(
        &self,
        _: &ProviderContext,
        link: &LinkConfig,
    ) -> Result<RedisStore, ConfigError> {
        let settings = link.parse::<RedisConfig>()?.resolve(&self.defaults())?;
        let shared = self.connection(&settings)?;
        tracing::info!(actor = %link.actor_id(), redis = %settings.redacted(), "link uses Redis");
        Ok(RedisStore::new(shared))
    }

    async fn handle(&self, call: Call<'_, RedisStore>) -> Result<Vec<u8>, RpcError> {
        keyvalue_interface::dispatch(call.state(), call.operation, &call.msg).await
    }

    async fn health(&self) -> HealthCheckResponse {
        // Every connection in use, the provider-wide default included.
        for shared in self.pool.live() {
            if let Err(e) = shared.ping().await {
                return HealthCheckResponse::unhealthy(format!(
                    "Redis {} PING failed: {e}",
                    shared.settings.redacted()
                ));
            }
        }
        HealthCheckResponse::healthy()
    }

    async fn config_update(
        &self,
        _: &ProviderContext,
        values: &std::collections::HashMap<String, String>,
    ) -> Result<(), ConfigError> {
        let parsed = provider_sdk::config::from_map::<RedisConfig>(values)?;
        self.apply_defaults(parsed.value)
    }
}
