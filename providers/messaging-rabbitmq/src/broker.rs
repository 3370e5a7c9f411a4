//! One broker connection per settings, shared by every link that uses them
//! (the SDK's [`SharedPool`]). A supervisor task keeps it up: when the
//! connection is lost it reconnects with backoff and announces the new
//! connection, and each link restores its subscriptions on it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use messaging_interface::MessagingError;
use messaging_interface::types::ReplyMessage;
use provider_sdk::pool::SharedPool;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::ConnSettings;
use crate::headers;

/// The queue name RabbitMQ gives direct reply-to.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting and opening the shared channels, at most.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);
/// A publish and its confirm, at most (the broker may block publishers).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// The provider's broker connections, by settings; a connection closes with
/// its last link.
pub type Pool = SharedPool<ConnSettings, Broker>;

type Reply = Result<ReplyMessage, MessagingError>;
type Pending = std::sync::Mutex<HashMap<u64, oneshot::Sender<Reply>>>;

/// One open connection and the channels every link shares on it.
pub struct Live {
    /// The connection.
    pub conn: Connection,
    /// Counts connections made by this broker: links re-subscribe when it moves.
    pub generation: u64,
    /// Publishes, in confirm mode (reopened when the broker closed it).
    publisher: std::sync::Mutex<Channel>,
    /// One reopen of the publisher channel at a time.
    reopening: tokio::sync::Mutex<()>,
    /// Requests: consumes direct reply-to, in confirm mode.
    requester: Channel,
    pending: Arc<Pending>,
    next_id: AtomicU64,
    replies: JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.replies.abort();
    }
}

/// A connection kept up by a supervisor task.
pub struct Broker {
    /// Its settings.
    pub settings: ConnSettings,
    live: watch::Receiver<Option<Arc<Live>>>,
    supervisor: JoinHandle<()>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.supervisor.abort();
        // A polite close when a runtime is still there; the socket closes anyway.
        if let (Some(live), Ok(rt)) = (
            self.live.borrow().clone(),
            tokio::runtime::Handle::try_current(),
        ) {
            rt.spawn(async move {
                let _ = live.conn.close(200, "provider done".into()).await;
            });
        }
    }
}

fn amqp_error(e: impl std::fmt::Display) -> MessagingError {
    MessagingError::Unavailable(format!("RabbitMQ: {e}"))
}

async fn open(s: &ConnSettings, generation: u64) -> Result<Arc<Live>, String> {
    let why = |e: &dyn std::fmt::Display| format!("RabbitMQ {}: {e}", s.redacted());
    let props = ConnectionProperties::default()
        .with_connection_name(format!("messaging-rabbitmq {}", std::process::id()).into());
    let tls = match (&s.tls_ca, &s.tls_ca_file) {
        (Some(pem), _) => Some(pem.clone()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f).map_err(|e| why(&format!("reading tls_ca_file: {e}")))?,
        ),
        (None, None) => None,
    };
    let connect = async {
        match tls {
            Some(pem) => {
                let runtime = lapin::runtime::default_runtime().map_err(|e| why(&e))?;
                let config = lapin::tcp::OwnedTLSConfig {
                    identity: None,
                    cert_chain: Some(pem),
                };
                Connection::connect_with_config(&s.uri, props, config, runtime).await
            }
            None => Connection::connect(&s.uri, props).await,
        }
        .map_err(|e| why(&e))
    };
    let conn = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| why(&format!("no connection within {CONNECT_TIMEOUT:?}")))??;
    let publisher = conn.create_channel().await.map_err(|e| why(&e))?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| why(&e))?;
    let requester = conn.create_channel().await.map_err(|e| why(&e))?;
    requester
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| why(&e))?;
    let mut replies = requester
        .basic_consume(
            DIRECT_REPLY_TO.into(),
            ShortString::from(""),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| why(&e))?;
    let pending: Arc<Pending> = Arc::default();
    let routed = pending.clone();
    let replies = tokio::spawn(async move {
        while let Some(Ok(d)) = replies.next().await {
            let Some(id) = d
                .properties
                .correlation_id()
                .as_ref()
                .and_then(|c| c.as_str().parse::<u64>().ok())
            else {
                continue;
            };
            let waiter = routed.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            if let Some(tx) = waiter {
                let _ = tx.send(Ok(ReplyMessage {
                    subject: d.routing_key.as_str().to_string(),
                    reply_to: None,
                    headers: headers::from_table(d.properties.headers().as_ref()),
                    body: d.data,
                }));
            }
        }
    });
    Ok(Arc::new(Live {
        conn,
        generation,
        publisher: std::sync::Mutex::new(publisher),
        reopening: tokio::sync::Mutex::new(()),
        requester,
        pending,
        next_id: AtomicU64::new(1),
        replies,
    }))
}

/// Resolves when `live`'s connection is gone.
async fn lost(live: &Live) {
    let mut events = live.conn.events_listener();
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    loop {
        tokio::select! {
            e = events.next() => match e {
                Some(lapin::Event::Error(e)) => {
                    tracing::warn!(error = %e, "RabbitMQ connection error");
                    return;
                }
                Some(_) => {}
                None => return,
            },
            _ = tick.tick() => {}
        }
        let status = live.conn.status();
        if status.closed() || status.errored() || live.replies.is_finished() {
            return;
        }
    }
}

async fn supervise(s: ConnSettings, first: Arc<Live>, tx: watch::Sender<Option<Arc<Live>>>) {
    let mut current = first;
    loop {
        lost(&current).await;
        // Requests waiting on the lost connection get `unavailable` now.
        current.pending_lock().clear();
        let _ = current.conn.close(200, "reconnecting".into()).await;
        let generation = current.generation + 1;
        tracing::warn!(broker = %s.redacted(), "RabbitMQ connection lost; reconnecting");
        let _ = tx.send(None);
        drop(current);
        // Waiters of requests on the lost connection get `unavailable` at once.
        let mut backoff = BACKOFF_FIRST;
        current = loop {
            let opened = tokio::time::timeout(OPEN_TIMEOUT, open(&s, generation))
                .await
                .unwrap_or_else(|_| Err(format!("no connection within {OPEN_TIMEOUT:?}")));
            match opened {
                Ok(live) => break live,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "RabbitMQ reconnect failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        };
        tracing::info!(broker = %s.redacted(), generation, "RabbitMQ reconnected");
        if tx.send(Some(current.clone())).is_err() {
            return;
        }
    }
}

impl Broker {
    /// Connects (a clear link error when the broker is unreachable or refuses
    /// the credentials) and starts the supervisor that keeps it connected.
    pub async fn connect(s: &ConnSettings) -> Result<Broker, String> {
        let live = tokio::time::timeout(OPEN_TIMEOUT, open(s, 1))
            .await
            .map_err(|_| {
                format!(
                    "RabbitMQ {}: no connection within {OPEN_TIMEOUT:?}",
                    s.redacted()
                )
            })??;
        tracing::info!(broker = %s.redacted(), "RabbitMQ connected");
        let (tx, rx) = watch::channel(Some(live.clone()));
        let supervisor = tokio::spawn(supervise(s.clone(), live, tx));
        Ok(Broker {
            settings: s.clone(),
            live: rx,
            supervisor,
        })
    }

    /// The connection now, if the broker is connected.
    pub fn live(&self) -> Option<Arc<Live>> {
        self.live.borrow().clone()
    }

    /// Watches the connection: `None` while reconnecting.
    pub fn watch(&self) -> watch::Receiver<Option<Arc<Live>>> {
        self.live.clone()
    }

    fn connected(&self) -> Result<Arc<Live>, MessagingError> {
        self.live().ok_or_else(|| {
            MessagingError::Unavailable(format!(
                "RabbitMQ {} is reconnecting",
                self.settings.redacted()
            ))
        })
    }

    /// Publishes and waits for the broker's confirm (at most
    /// `PUBLISH_TIMEOUT`). With `mandatory`, a message no queue received is
    /// `unavailable`.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
        mandatory: bool,
    ) -> Result<(), MessagingError> {
        tokio::time::timeout(
            PUBLISH_TIMEOUT,
            self.publish_now(exchange, routing_key, body, props, mandatory),
        )
        .await
        .map_err(|_| {
            MessagingError::Timeout(format!(
                "RabbitMQ did not confirm the message for {routing_key} within {PUBLISH_TIMEOUT:?}"
            ))
        })?
    }

    async fn publish_now(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
        mandatory: bool,
    ) -> Result<(), MessagingError> {
        let live = self.connected()?;
        let channel = live.publisher().await?;
        let confirm = send(&channel, exchange, routing_key, mandatory, body, props).await?;
        if confirm.is_nack() {
            return Err(MessagingError::Unavailable(format!(
                "RabbitMQ refused the message for {routing_key}"
            )));
        }
        if confirm.take_message().is_some() {
            return Err(MessagingError::Unavailable(format!(
                "no queue received the message for {routing_key}"
            )));
        }
        Ok(())
    }

    /// Declares queue `name` (idempotent).
    pub async fn declare_queue(&self, name: &str, durable: bool) -> Result<(), MessagingError> {
        let live = self.connected()?;
        let channel = live.publisher().await?;
        let declare = channel.queue_declare(
            headers::short("the queue", name)?,
            QueueDeclareOptions {
                durable,
                ..Default::default()
            },
            FieldTable::default(),
        );
        tokio::time::timeout(PUBLISH_TIMEOUT, declare)
            .await
            .map_err(|_| MessagingError::Timeout(format!("declaring queue {name}")))?
            .map_err(amqp_error)?;
        Ok(())
    }

    /// Publishes a request with direct reply-to and waits `timeout` for the reply.
    pub async fn request(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
        timeout: Duration,
    ) -> Result<ReplyMessage, MessagingError> {
        let live = self.connected()?;
        let id = live.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        live.pending_lock().insert(id, tx);
        let _forget = Forget(&live, id);
        let props = props
            .with_reply_to(DIRECT_REPLY_TO.into())
            .with_correlation_id(ShortString::from(id.to_string()));
        let work = async {
            let confirm = send(&live.requester, exchange, routing_key, true, body, props).await?;
            if let Some(returned) = confirm.take_message() {
                // lapin hands a returned message to whichever confirm comes
                // next: answer the request it belongs to.
                let owner = returned
                    .delivery
                    .properties
                    .correlation_id()
                    .as_ref()
                    .and_then(|c| c.as_str().parse::<u64>().ok())
                    .unwrap_or(id);
                let waiter = live.pending_lock().remove(&owner);
                if let Some(tx) = waiter {
                    let _ = tx.send(Err(MessagingError::Unavailable(format!(
                        "no queue is bound to {}: nobody would answer",
                        returned.delivery.routing_key.as_str()
                    ))));
                }
            }
            match rx.await {
                Ok(reply) => reply,
                Err(_) => Err(MessagingError::Unavailable(
                    "RabbitMQ connection lost before the reply".into(),
                )),
            }
        };
        tokio::time::timeout(timeout, work).await.map_err(|_| {
            MessagingError::Timeout(format!("no reply on {routing_key} within {timeout:?}"))
        })?
    }
}

/// Publishes on `channel` (in confirm mode) and waits for the confirm.
async fn send(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    mandatory: bool,
    body: &[u8],
    props: BasicProperties,
) -> Result<lapin::Confirmation, MessagingError> {
    channel
        .basic_publish(
            headers::short("the exchange", exchange)?,
            headers::short("the subject", routing_key)?,
            BasicPublishOptions {
                mandatory,
                ..Default::default()
            },
            body,
            props,
        )
        .await
        .map_err(amqp_error)?
        .await
        .map_err(amqp_error)
}

/// Removes a request's waiter however the request ends.
struct Forget<'a>(&'a Live, u64);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.pending_lock().remove(&self.1);
    }
}

impl Live {
    fn pending_lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Reply>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The publisher channel, reopened when the broker closed it (for
    /// example after a publish to an exchange that was deleted).
    async fn publisher(&self) -> Result<Channel, MessagingError> {
        if let Some(ch) = self.open_publisher() {
            return Ok(ch);
        }
        let _one = self.reopening.lock().await;
        if let Some(ch) = self.open_publisher() {
            return Ok(ch);
        }
        let fresh = self.conn.create_channel().await.map_err(amqp_error)?;
        fresh
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(amqp_error)?;
        *self.publisher.lock().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// The publisher channel, while it is open (no wait on the hot path).
    fn open_publisher(&self) -> Option<Channel> {
        let ch = self.publisher.lock().unwrap_or_else(|p| p.into_inner());
        ch.status().connected().then(|| ch.clone())
    }

    /// A round trip to the broker: opens and closes a channel.
    pub async fn ping(&self) -> Result<(), String> {
        let ch = self
            .conn
            .create_channel()
            .await
            .map_err(|e| e.to_string())?;
        ch.close(200, "health".into())
            .await
            .map_err(|e| e.to_string())
    }
}
