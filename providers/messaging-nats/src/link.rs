//! One link: its subscriptions (and durable consumer) delivering to the
//! actor with bounded concurrency, its publish/request backend, its drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::{HeaderMap, Subscriber};
use futures_util::StreamExt;
use messaging_interface::types::{Headers, PubMessage, ReplyMessage, RequestMessage, SubMessage};
use messaging_interface::{MessagingBackend, MessagingError};
use provider_sdk::ProviderContext;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::connections::Shared;

const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Delivers messages to one actor, at most `max` at a time.
#[derive(Clone)]
pub struct Deliverer {
    pub ctx: ProviderContext,
    pub actor: String,
    pub permits: Arc<Semaphore>,
    pub timeout: Option<Duration>,
    pub failures: Arc<AtomicU64>,
}

impl Deliverer {
    /// Calls the actor with `msg`; a failure is logged with the subject and counted.
    pub async fn deliver(&self, msg: &SubMessage) -> bool {
        match messaging_interface::deliver(&self.ctx, &self.actor, msg, self.timeout).await {
            Ok(()) => true,
            Err(e) => {
                let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(actor = %self.actor, subject = %msg.subject, error = %e, failures = n, "actor failed to handle a message");
                false
            }
        }
    }
}

/// Headers from NATS to the interface's map.
pub fn headers_in(h: Option<&HeaderMap>) -> Option<Headers> {
    let h = h?;
    let out: Headers = h
        .iter()
        .map(|(k, vs)| {
            let name: &str = k.as_ref();
            (
                name.to_string(),
                vs.iter().map(|v| v.as_str().to_string()).collect(),
            )
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

fn headers_out(h: &Headers) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, vs) in h {
        for v in vs {
            out.append(k.as_str(), v.as_str());
        }
    }
    out
}

/// A link's state.
pub struct MessagingLink {
    pub client: async_nats::Client,
    /// Keeps a shared application connection open while the link lives.
    pub _shared: Option<Arc<Shared>>,
    pub stop: watch::Sender<bool>,
    pub workers: std::sync::Mutex<Vec<JoinHandle<()>>>,
    pub deliverer: Deliverer,
    pub max_concurrent: u32,
}

/// Reads one subscription until told to stop, then drains it: UNSUB, and
/// every message already delivered to this process is still handled.
pub async fn run_subscription(mut sub: Subscriber, mut stop: watch::Receiver<bool>, d: Deliverer) {
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            m = sub.next() => match m {
                Some(m) => dispatch(&d, m).await,
                None => return,
            },
        }
    }
    if sub.drain().await.is_ok() {
        while let Some(m) = sub.next().await {
            dispatch(&d, m).await;
        }
    }
}

async fn dispatch(d: &Deliverer, m: async_nats::Message) {
    tracing::debug!(actor = %d.actor, subject = %m.subject, "message received");
    // Back-pressure: waiting for a permit stops reading this subscription.
    let Ok(permit) = d.permits.clone().acquire_owned().await else {
        return;
    };
    let d = d.clone();
    tokio::spawn(async move {
        let msg = SubMessage {
            subject: m.subject.to_string(),
            reply_to: m.reply.map(|r| r.to_string()),
            body: m.payload.to_vec(),
            headers: headers_in(m.headers.as_ref()),
        };
        d.deliver(&msg).await;
        drop(permit);
    });
}

impl MessagingLink {
    /// Stops every subscription, handles what was delivered, and waits for
    /// handler calls in flight (bounded by a deadline).
    pub async fn drain(&self) {
        let _ = self.stop.send(true);
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in workers {
            let _ = tokio::time::timeout(DRAIN_DEADLINE, w).await;
        }
        let _ = tokio::time::timeout(
            DRAIN_DEADLINE,
            self.deliverer.permits.acquire_many(self.max_concurrent),
        )
        .await;
    }
}

fn nats_error(e: impl std::fmt::Display) -> MessagingError {
    MessagingError::Unavailable(format!("NATS: {e}"))
}

impl MessagingBackend for MessagingLink {
    async fn publish(&self, msg: PubMessage) -> Result<(), MessagingError> {
        let body = msg.body.into();
        let reply = msg.reply_to.filter(|r| !r.is_empty());
        let r = match (reply, msg.headers) {
            (None, None) => self.client.publish(msg.subject, body).await,
            (Some(r), None) => self.client.publish_with_reply(msg.subject, r, body).await,
            (None, Some(h)) => {
                self.client
                    .publish_with_headers(msg.subject, headers_out(&h), body)
                    .await
            }
            (Some(r), Some(h)) => {
                self.client
                    .publish_with_reply_and_headers(msg.subject, r, headers_out(&h), body)
                    .await
            }
        };
        // Fire and forget, as in 0.x: the client queues the message (and
        // keeps it across a reconnect); no round trip per publish.
        r.map_err(nats_error)
    }

    async fn request(&self, msg: RequestMessage) -> Result<ReplyMessage, MessagingError> {
        let timeout = msg.timeout(self.deliverer.ctx.host_data().default_rpc_timeout_ms);
        let mut req = async_nats::Request::new()
            .payload(msg.body.into())
            .timeout(Some(timeout));
        if let Some(h) = &msg.headers {
            req = req.headers(headers_out(h));
        }
        match self.client.send_request(msg.subject.clone(), req).await {
            Ok(m) => Ok(ReplyMessage {
                subject: m.subject.to_string(),
                reply_to: m.reply.map(|r| r.to_string()),
                body: m.payload.to_vec(),
                headers: headers_in(m.headers.as_ref()),
            }),
            Err(e) => Err(match e.kind() {
                async_nats::RequestErrorKind::TimedOut => MessagingError::Timeout(format!(
                    "no reply on {} within {timeout:?}",
                    msg.subject
                )),
                async_nats::RequestErrorKind::NoResponders => {
                    MessagingError::Unavailable(format!("no responders on {}", msg.subject))
                }
                _ => nats_error(e),
            }),
        }
    }
}
