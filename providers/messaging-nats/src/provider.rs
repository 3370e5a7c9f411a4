//! The provider: links become subscriptions and a publish/request backend.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use provider_sdk::config::ConfigError;
use provider_sdk::{
    Call, HealthCheckResponse, LinkConfig, Linked, Provider, ProviderContext, RpcError,
};
use tokio::sync::{Semaphore, watch};

use crate::config::LinkValues;
use crate::connections::Pool;
use crate::link::{Deliverer, MessagingLink, run_subscription};

const HEALTH_FLUSH: Duration = Duration::from_secs(2);
const SUBSCRIBE_CONFIRM: Duration = Duration::from_secs(10);

/// messaging-nats.
#[derive(Default)]
pub struct NatsMessaging {
    pool: Pool,
}

impl Provider for NatsMessaging {
    const CONTRACT_ID: &'static str = messaging_interface::CONTRACT_ID;
    type Link = MessagingLink;

    async fn put_link(
        &self,
        ctx: &ProviderContext,
        link: &LinkConfig,
    ) -> Result<MessagingLink, ConfigError> {
        let settings = link.parse::<LinkValues>()?.resolve()?;
        let (client, shared) = match &settings.conn {
            Some(c) => {
                let shared = self
                    .pool
                    .get_or_connect(c, || crate::connections::connect(c))
                    .await
                    .map_err(ConfigError::unusable)?;
                (shared.client.clone(), Some(shared))
            }
            None => (ctx.nats().clone(), None),
        };
        let deliverer = Deliverer {
            ctx: ctx.clone(),
            actor: link.actor_id().to_string(),
            permits: Arc::new(Semaphore::new(settings.max_concurrent as usize)),
            timeout: settings.handler_timeout,
            failures: Arc::new(AtomicU64::new(0)),
        };
        let (stop, stop_rx) = watch::channel(false);
        let mut workers = Vec::new();
        let mut subs = Vec::new();
        for s in &settings.subscriptions {
            let sub = match &s.queue {
                Some(q) => client.queue_subscribe(s.subject.clone(), q.clone()).await,
                None => client.subscribe(s.subject.clone()).await,
            }
            .map_err(|e| ConfigError::unusable(format!("subscribing to {}: {e}", s.subject)))?;
            subs.push(sub);
        }
        let durable = match &settings.durable {
            Some(d) => Some((
                d.clone(),
                crate::jetstream::open(&client, d)
                    .await
                    .map_err(ConfigError::unusable)?,
            )),
            None => None,
        };
        // The subscriptions are on the server before the link is acknowledged,
        // so a message published after the ack is delivered.
        provider_sdk::rpc::subjects::server_sync(&client, SUBSCRIBE_CONFIRM)
            .await
            .map_err(|e| {
                ConfigError::unusable(format!("NATS did not confirm the subscriptions: {e}"))
            })?;
        for sub in subs {
            workers.push(tokio::spawn(run_subscription(
                sub,
                stop_rx.clone(),
                deliverer.clone(),
            )));
        }
        if let Some((d, messages)) = durable {
            workers.push(tokio::spawn(crate::jetstream::run(
                client.clone(),
                messages,
                d,
                deliverer.clone(),
                stop_rx.clone(),
            )));
        }
        tracing::info!(
            actor = %link.actor_id(),
            subscriptions = settings.subscriptions.len(),
            durable = settings.durable.is_some(),
            "messaging link up"
        );
        Ok(MessagingLink {
            client,
            _shared: shared,
            stop,
            workers: std::sync::Mutex::new(workers),
            deliverer,
            max_concurrent: settings.max_concurrent,
        })
    }

    async fn del_link(&self, link: Arc<Linked<MessagingLink>>) {
        link.state.drain().await;
    }

    async fn handle(&self, call: Call<'_, MessagingLink>) -> Result<Vec<u8>, RpcError> {
        messaging_interface::dispatch(call.state(), call.operation, &call.msg).await
    }

    async fn health(&self) -> HealthCheckResponse {
        for shared in self.pool.live() {
            // A round trip through the server, not a flush (which only
            // empties the socket buffer and passes with the server gone).
            if let Err(e) =
                provider_sdk::rpc::subjects::server_sync(&shared.client, HEALTH_FLUSH).await
            {
                return HealthCheckResponse::unhealthy(format!(
                    "application NATS {}: {e}",
                    shared.settings.redacted()
                ));
            }
        }
        HealthCheckResponse::healthy()
    }
}
