//! The provider: links become queues, bindings and consumers on a shared
//! broker connection, and a publish/request backend.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use provider_sdk::config::ConfigError;
use provider_sdk::{
    Call, HealthCheckResponse, LinkConfig, Linked, Provider, ProviderContext, RpcError,
};
use tokio::sync::{Semaphore, watch};

use crate::broker::{Broker, Pool};
use crate::config::LinkValues;
use crate::link::{Deliverer, RabbitLink};

const HEALTH_ROUND_TRIP: Duration = Duration::from_secs(2);
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(20);

/// messaging-rabbitmq.
#[derive(Default)]
pub struct RabbitMessaging {
    pool: Pool,
}

impl Provider for RabbitMessaging {
    const CONTRACT_ID: &'static str = messaging_interface::CONTRACT_ID;
    type Link = RabbitLink;

    async fn put_link(
        &self,
        ctx: &ProviderContext,
        link: &LinkConfig,
    ) -> Result<RabbitLink, ConfigError> {
        let settings = Arc::new(link.parse::<LinkValues>()?.resolve()?);
        let broker = self
            .pool
            .get_or_connect(&settings.conn, || Broker::connect(&settings.conn))
            .await
            .map_err(ConfigError::unusable)?;
        let live = broker.live().ok_or_else(|| {
            ConfigError::unusable(format!(
                "RabbitMQ {} is reconnecting; link again when it is back",
                settings.conn.redacted()
            ))
        })?;
        // Queues, bindings and consumers exist before the link is
        // acknowledged, so a message published after the ack is delivered.
        let subscribed = tokio::time::timeout(
            SUBSCRIBE_TIMEOUT,
            crate::link::subscribe(&live, &settings, link.actor_id()),
        )
        .await
        .map_err(|_| {
            ConfigError::unusable(format!(
                "RabbitMQ did not set up the queues within {SUBSCRIBE_TIMEOUT:?}"
            ))
        })?
        .map_err(|e| ConfigError::unusable(format!("RabbitMQ: {e}")))?;
        let deliverer = Deliverer {
            ctx: ctx.clone(),
            actor: link.actor_id().to_string(),
            permits: Arc::new(Semaphore::new(settings.prefetch.into())),
            timeout: settings.handler_timeout,
            failures: Arc::new(AtomicU64::new(0)),
            total: settings.prefetch.into(),
        };
        let (stop, stop_rx) = watch::channel(false);
        let worker = tokio::spawn(crate::link::run(
            broker.clone(),
            settings.clone(),
            subscribed,
            deliverer.clone(),
            stop_rx,
        ));
        tracing::info!(
            actor = %link.actor_id(),
            subscriptions = settings.subscriptions.len(),
            exchange = %settings.exchange,
            durable = settings.durable,
            "messaging link up"
        );
        Ok(RabbitLink {
            broker,
            settings,
            stop,
            worker: std::sync::Mutex::new(Some(worker)),
            deliverer,
        })
    }

    async fn del_link(&self, link: Arc<Linked<RabbitLink>>) {
        link.state.drain().await;
    }

    async fn handle(&self, call: Call<'_, RabbitLink>) -> Result<Vec<u8>, RpcError> {
        messaging_interface::dispatch(call.state(), call.operation, &call.msg).await
    }

    async fn health(&self) -> HealthCheckResponse {
        for broker in self.pool.live() {
            let who = broker.settings.redacted();
            let Some(live) = broker.live() else {
                return HealthCheckResponse::unhealthy(format!("RabbitMQ {who}: reconnecting"));
            };
            match tokio::time::timeout(HEALTH_ROUND_TRIP, live.ping()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return HealthCheckResponse::unhealthy(format!("RabbitMQ {who}: {e}"));
                }
                Err(_) => {
                    return HealthCheckResponse::unhealthy(format!(
                        "RabbitMQ {who}: no answer within {HEALTH_ROUND_TRIP:?}"
                    ));
                }
            }
        }
        HealthCheckResponse::healthy()
    }
}
