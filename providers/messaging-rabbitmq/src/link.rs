//! One link: its queues and consumers delivering to the actor (acked after
//! the actor handled a message, queued again when it failed, dead-lettered
//! after `max_deliver`), its publish/request backend, and its drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Consumer};
use messaging_interface::types::{PubMessage, ReplyMessage, RequestMessage, SubMessage};
use messaging_interface::{MessagingBackend, MessagingError};
use provider_sdk::ProviderContext;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::broker::{Broker, DIRECT_REPLY_TO, Live};
use crate::config::LinkSettings;
use crate::headers;

const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
const RESUBSCRIBE_EVERY: Duration = Duration::from_secs(1);
const RETURN_PAUSE: Duration = Duration::from_secs(1);
const CHANNEL_OP: Duration = Duration::from_secs(5);
/// Header keeping the original routing key of a message this provider
/// queued again (it goes back through the default exchange).
const ROUTING_KEY: &str = "x-lattice-routing-key";

/// Delivers messages to one actor, at most `prefetch` at a time.
#[derive(Clone)]
pub struct Deliverer {
    pub ctx: ProviderContext,
    pub actor: String,
    pub permits: Arc<Semaphore>,
    pub timeout: Option<Duration>,
    pub failures: Arc<AtomicU64>,
    /// Permits in all (`prefetch`).
    pub total: u32,
}

/// The queue a consumer reads and where its messages go after their last delivery.
pub struct Queues {
    queue: String,
    dead_letter: String,
}

/// A link's state.
pub struct RabbitLink {
    pub broker: Arc<Broker>,
    pub settings: Arc<LinkSettings>,
    pub stop: watch::Sender<bool>,
    pub worker: std::sync::Mutex<Option<JoinHandle<()>>>,
    pub deliverer: Deliverer,
}

/// A link's subscriptions on one connection.
pub struct Subscribed {
    channel: Channel,
    consumers: Vec<(Consumer, Arc<Queues>)>,
}

/// Declares the exchange, the queues and their bindings, and starts one
/// consumer per subscription on a channel of the link's own.
pub async fn subscribe(live: &Live, s: &LinkSettings, actor: &str) -> Result<Subscribed, String> {
    let channel = live
        .conn
        .create_channel()
        .await
        .map_err(|e| e.to_string())?;
    let exchange = ShortString::from(s.exchange.as_str());
    if let Some(kind) = &s.declare_exchange {
        channel
            .exchange_declare(
                exchange.clone(),
                kind.clone(),
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("declaring exchange {:?}: {e}", s.exchange))?;
    }
    if let Some(x) = &s.dead_letter_exchange {
        // Passive: it must exist, or every dead-lettering would fail.
        channel
            .exchange_declare(
                x.as_str().into(),
                lapin::ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("dead_letter_exchange {x:?}: {e}"))?;
    }
    if s.subscriptions.is_empty() {
        return Ok(Subscribed {
            channel,
            consumers: Vec::new(),
        });
    }
    channel
        .basic_qos(s.prefetch, BasicQosOptions { global: false })
        .await
        .map_err(|e| format!("setting prefetch: {e}"))?;
    let mut consumers = Vec::new();
    for sub in &s.subscriptions {
        let (name, options) = match &sub.queue {
            Some(q) => (
                q.clone(),
                QueueDeclareOptions {
                    durable: s.durable,
                    ..Default::default()
                },
            ),
            // The link's own queue: named by the broker, gone with the link.
            None => (
                String::new(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
            ),
        };
        let queue = channel
            .queue_declare(name.as_str().into(), options, FieldTable::default())
            .await
            .map_err(|e| format!("declaring queue {name:?}: {e}"))?;
        let queue_name = queue.name().as_str().to_string();
        if !s.exchange.is_empty() {
            channel
                .queue_bind(
                    queue.name().clone(),
                    exchange.clone(),
                    headers::short("the binding key", &sub.key).map_err(|e| e.to_string())?,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| format!("binding {:?} to {:?}: {e}", sub.key, s.exchange))?;
        }
        let dead_letter = match (&s.dead_letter_exchange, &sub.queue) {
            (Some(_), _) => String::new(),
            (None, Some(q)) => format!("{q}.dead-letter"),
            (None, None) => format!("{actor}.dead-letter"),
        };
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("consuming {queue_name:?}: {e}"))?;
        consumers.push((
            consumer,
            Arc::new(Queues {
                queue: queue_name,
                dead_letter,
            }),
        ));
    }
    Ok(Subscribed { channel, consumers })
}

/// Runs a link's subscriptions until told to stop, restoring them when
/// they are lost (on the broker's next connection, or on the same one when
/// only the consumers went, say a queue deleted by hand); then drains.
pub async fn run(
    broker: Arc<Broker>,
    settings: Arc<LinkSettings>,
    first: Subscribed,
    d: Deliverer,
    mut stop: watch::Receiver<bool>,
) {
    let mut subs = first;
    let mut conns = broker.watch();
    loop {
        if consume(&broker, &settings, &subs, &d, &mut stop).await {
            drain(subs, &d).await;
            return;
        }
        tracing::warn!(actor = %d.actor, "subscriptions lost; restoring them");
        let _ = subs.channel.close(200, "restoring".into()).await;
        subs = loop {
            tokio::select! {
                changed = conns.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(RESUBSCRIBE_EVERY) => {}
                _ = stop.changed() => return,
            }
            let live = conns.borrow_and_update().clone();
            let Some(live) = live.filter(|l| l.conn.status().connected()) else {
                continue;
            };
            match tokio::time::timeout(
                RESUBSCRIBE_EVERY * 10,
                subscribe(&live, &settings, &d.actor),
            )
            .await
            {
                Ok(Ok(s)) => {
                    tracing::info!(actor = %d.actor, generation = live.generation, "subscriptions restored");
                    break s;
                }
                Ok(Err(e)) => {
                    tracing::warn!(actor = %d.actor, error = %e, "restoring subscriptions failed; retrying");
                }
                Err(_) => {
                    tracing::warn!(actor = %d.actor, "restoring subscriptions timed out; retrying");
                }
            }
        };
    }
}

/// Consumes until stopped (true) or the consumers end with the connection (false).
async fn consume(
    broker: &Arc<Broker>,
    s: &Arc<LinkSettings>,
    subs: &Subscribed,
    d: &Deliverer,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    if *stop.borrow() {
        return true;
    }
    let mut streams = futures_util::stream::select_all(subs.consumers.iter().map(|(c, q)| {
        let q = q.clone();
        c.clone().map(move |r| (r, q.clone()))
    }));
    if subs.consumers.is_empty() {
        // Publish/request only: nothing to consume; wait for the stop.
        let _ = stop.changed().await;
        return true;
    }
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return true;
                }
            }
            next = streams.next() => match next {
                Some((Ok(delivery), queues)) => {
                    // Back-pressure: at most `prefetch` handler calls at once.
                    let Ok(permit) = d.permits.clone().acquire_owned().await else {
                        return true;
                    };
                    let (broker, s, d) = (broker.clone(), s.clone(), d.clone());
                    tokio::spawn(async move {
                        handle(&broker, &s, &d, delivery, &queues).await;
                        drop(permit);
                    });
                }
                Some((Err(e), _)) => {
                    tracing::warn!(actor = %d.actor, error = %e, "consumer failed");
                    return false;
                }
                None => return false,
            },
        }
    }
}

/// Cancels the consumers, waits for the handler calls in flight (bounded),
/// and closes the channel: deliveries not yet handed to the actor go back
/// to their queue.
async fn drain(subs: Subscribed, d: &Deliverer) {
    for (c, _) in &subs.consumers {
        let cancel = subs
            .channel
            .basic_cancel(c.tag(), BasicCancelOptions::default());
        let _ = tokio::time::timeout(CHANNEL_OP, cancel).await;
    }
    // Every permit back means no handler call is in flight.
    let _ = tokio::time::timeout(DRAIN_DEADLINE, d.permits.acquire_many(d.total)).await;
    let _ = tokio::time::timeout(CHANNEL_OP, subs.channel.close(200, "link deleted".into())).await;
}

/// The reply address handed to the actor: the AMQP `reply_to`, with the
/// correlation id after a `|` when the request carries one.
pub fn reply_address(d: &Delivery) -> Option<String> {
    let reply = d.properties.reply_to().as_ref()?.as_str();
    if reply.is_empty() {
        return None;
    }
    Some(match d.properties.correlation_id() {
        Some(c) if !c.as_str().is_empty() => format!("{reply}|{}", c.as_str()),
        _ => reply.to_string(),
    })
}

fn subject_of(d: &Delivery) -> String {
    // Only a message this provider queued again (through the default
    // exchange) carries its original routing key in a header.
    if d.exchange.as_str().is_empty()
        && let Some(AMQPValue::LongString(k)) = d
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get(ROUTING_KEY))
    {
        return String::from_utf8_lossy(k.as_bytes()).into_owned();
    }
    d.routing_key.as_str().to_string()
}

async fn handle(
    broker: &Broker,
    s: &LinkSettings,
    d: &Deliverer,
    mut delivery: Delivery,
    queues: &Queues,
) {
    let msg = SubMessage {
        subject: subject_of(&delivery),
        reply_to: reply_address(&delivery),
        // Moved, not copied: a copy for redelivery is made from `msg.body`.
        body: std::mem::take(&mut delivery.data),
        headers: headers::from_table(delivery.properties.headers().as_ref()),
    };
    let subject = msg.subject.as_str();
    tracing::debug!(actor = %d.actor, subject = %subject, "message received");
    let handled = match messaging_interface::deliver(&d.ctx, &d.actor, &msg, d.timeout).await {
        Ok(()) => true,
        Err(e) => {
            let n = d.failures.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(actor = %d.actor, subject = %subject, error = %e, failures = n, "actor failed to handle a message");
            false
        }
    };
    if handled {
        if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
            tracing::warn!(subject = %subject, error = %e, "could not ack; the broker will deliver it again");
        }
        return;
    }
    let delivered = headers::deliveries(delivery.properties.headers().as_ref());
    let mut table = delivery.properties.headers().clone().unwrap_or_default();
    table.insert(
        ROUTING_KEY.into(),
        AMQPValue::LongString(LongString::from(subject)),
    );
    let (exchange, key, what) = if delivered < s.max_deliver {
        table.insert(
            headers::DELIVERIES.into(),
            AMQPValue::LongUInt(delivered + 1),
        );
        // Back to this queue only, not to every queue bound to the key.
        (String::new(), queues.queue.clone(), "queued again")
    } else {
        table.insert(
            headers::DEAD_LETTER_KEY.into(),
            AMQPValue::LongString(LongString::from(subject)),
        );
        match &s.dead_letter_exchange {
            Some(x) => (x.clone(), subject.to_string(), "dead-lettered"),
            None => {
                // Declared when first needed, so links that never dead-letter
                // leave no queue behind.
                if let Err(e) = broker.declare_queue(&queues.dead_letter, s.durable).await {
                    tracing::warn!(queue = %queues.dead_letter, error = %e, "could not declare the dead-letter queue; returning the message to the broker");
                    return_to_broker(delivery).await;
                    return;
                }
                (String::new(), queues.dead_letter.clone(), "dead-lettered")
            }
        }
    };
    let props = delivery.properties.clone().with_headers(table);
    // Mandatory: a copy no queue received is a failure, never a silent loss.
    match broker
        .publish(&exchange, &key, &msg.body, props, true)
        .await
    {
        Ok(()) => {
            if what == "dead-lettered" {
                tracing::warn!(subject = %subject, delivered, to = %key, "message dead-lettered after its last delivery");
            }
            if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                tracing::warn!(subject = %subject, error = %e, "could not ack the original after it was {what}");
            }
        }
        Err(e) => {
            // Not copied: leave the original to the broker.
            tracing::warn!(subject = %subject, error = %e, "could not queue the message again; returning it to the broker");
            return_to_broker(delivery).await;
        }
    }
}

/// Gives a delivery back to its queue unacked, after a pause, so that a
/// failure that persists does not spin.
async fn return_to_broker(delivery: Delivery) {
    tokio::time::sleep(RETURN_PAUSE).await;
    let _ = delivery
        .acker
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await;
}

impl MessagingBackend for RabbitLink {
    async fn publish(&self, msg: PubMessage) -> Result<(), MessagingError> {
        let (exchange, key, correlation) = route(&self.settings.exchange, &msg.subject);
        let mut props = self.properties(msg.headers.as_ref())?;
        if let Some(c) = correlation {
            props = props.with_correlation_id(headers::short("the correlation id", c)?);
        }
        if let Some(r) = msg.reply_to.as_deref().filter(|r| !r.is_empty()) {
            props = props.with_reply_to(headers::short("replyTo", r)?);
        }
        self.broker
            .publish(exchange, key, &msg.body, props, false)
            .await
    }

    async fn request(&self, msg: RequestMessage) -> Result<ReplyMessage, MessagingError> {
        let timeout = msg.timeout(self.deliverer.ctx.host_data().default_rpc_timeout_ms);
        let (exchange, key, _) = route(&self.settings.exchange, &msg.subject);
        let props = self.properties(msg.headers.as_ref())?;
        self.broker
            .request(exchange, key, &msg.body, props, timeout)
            .await
    }
}

/// Where a publish to `subject` goes: a reply address (`queue|correlation`
/// or a direct reply-to queue) goes to that queue through the default
/// exchange; any other subject is a routing key on the link's exchange.
pub fn route<'a>(exchange: &'a str, subject: &'a str) -> (&'a str, &'a str, Option<&'a str>) {
    if let Some((queue, correlation)) = subject.split_once('|') {
        let c = (!correlation.is_empty()).then_some(correlation);
        return ("", queue, c);
    }
    if subject.starts_with(DIRECT_REPLY_TO) {
        return ("", subject, None);
    }
    (exchange, subject, None)
}

impl RabbitLink {
    fn properties(
        &self,
        h: Option<&messaging_interface::types::Headers>,
    ) -> Result<BasicProperties, MessagingError> {
        let mut props = BasicProperties::default();
        if let Some(h) = h {
            props = props.with_headers(headers::to_table(h)?);
        }
        if self.settings.durable {
            props = props.with_delivery_mode(2);
        }
        Ok(props)
    }

    /// Stops the subscriptions, lets handler calls in flight finish (bounded
    /// by a deadline) and returns undelivered messages to their queues.
    pub async fn drain(&self) {
        let _ = self.stop.send(true);
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut w) = worker
            && tokio::time::timeout(DRAIN_DEADLINE * 2, &mut w)
                .await
                .is_err()
        {
            tracing::warn!(actor = %self.deliverer.actor, "drain did not finish in time; stopping the link's consumers");
            w.abort();
        }
    }
}
