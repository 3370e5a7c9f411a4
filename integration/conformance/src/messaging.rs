//! The messaging contract suite (`wasmcloud:messaging`): publish and request
//! from actors, subscriptions delivered to actors, queue groups, headers.
//! A plain client of the backend plays the application side: a NATS client
//! on the application NATS, or an AMQP client on the broker ([`Peer`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use lapin::options::ConfirmSelectOptions;
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString};
use lattice_rpc::{Invocation, RpcError};
use messaging_interface::MessagingClient;
use messaging_interface::types::{Headers, PubMessage, SubMessage};
use tokio::sync::mpsc;

use crate::ensure_eq;
use crate::{cases, expect_code, owned_pairs, pairs};
use lattice_host::{ActorHandle, Host, ProviderRef};

const WITHIN: Duration = Duration::from_secs(5);

/// The application side of the suite: a plain client of the backend the
/// provider's links talk to.
pub enum Peer {
    /// A NATS client on the application NATS.
    Nats(async_nats::Client),
    /// An AMQP client on the broker.
    Amqp(Box<AmqpPeer>),
}

/// An AMQP client publishing to and binding from one exchange.
pub struct AmqpPeer {
    conn: lapin::Connection,
    /// Publishes, in confirm mode.
    channel: lapin::Channel,
    /// The exchange the provider's links use.
    exchange: String,
}

/// A message a peer received.
#[derive(Debug)]
pub struct PeerMessage {
    /// Subject (NATS) or routing key (AMQP).
    pub subject: String,
    /// Reply subject (NATS) or `reply_to` property (AMQP).
    pub reply: Option<String>,
    /// AMQP correlation id.
    pub correlation: Option<String>,
    /// Body.
    pub body: Vec<u8>,
    /// Headers.
    pub headers: Headers,
}

/// A peer's subscription, live at the server when it is returned.
pub enum PeerSub {
    /// NATS.
    Nats(async_nats::Subscriber),
    /// AMQP: a consumer on an exclusive queue bound to the key.
    Amqp(lapin::Consumer),
}

impl PeerSub {
    /// The next message, within `within`.
    pub async fn next(&mut self, within: Duration) -> Result<PeerMessage> {
        tokio::time::timeout(within, self.next_any())
            .await
            .context("no message reached the plain peer in time")?
    }

    async fn next_any(&mut self) -> Result<PeerMessage> {
        Ok(match self {
            PeerSub::Nats(sub) => {
                let m = sub.next().await.context("subscription closed")?;
                let mut headers = Headers::new();
                for (k, vs) in m.headers.iter().flat_map(|h| h.iter()) {
                    let name: &str = k.as_ref();
                    headers.insert(
                        name.to_string(),
                        vs.iter().map(|v| v.as_str().to_string()).collect(),
                    );
                }
                PeerMessage {
                    subject: m.subject.to_string(),
                    reply: m.reply.map(|r| r.to_string()),
                    correlation: None,
                    body: m.payload.to_vec(),
                    headers,
                }
            }
            PeerSub::Amqp(consumer) => {
                let d = consumer.next().await.context("consumer closed")??;
                let mut headers = Headers::new();
                for (k, v) in d.properties.headers().iter().flat_map(|t| t.inner()) {
                    let text = |v: &AMQPValue| match v {
                        AMQPValue::LongString(s) => {
                            Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                        }
                        _ => None,
                    };
                    let values = match v {
                        AMQPValue::FieldArray(a) => a.as_slice().iter().filter_map(text).collect(),
                        one => text(one).into_iter().collect(),
                    };
                    headers.insert(k.as_str().to_string(), values);
                }
                PeerMessage {
                    subject: d.routing_key.as_str().to_string(),
                    reply: d.properties.reply_to().as_ref().map(|r| r.to_string()),
                    correlation: d
                        .properties
                        .correlation_id()
                        .as_ref()
                        .map(|r| r.to_string()),
                    body: d.data,
                    headers,
                }
            }
        })
    }
}

impl Peer {
    /// A peer for `url`: `nats://…` (or a bare host:port) is a NATS client;
    /// `amqp://…` or `amqps://…` an AMQP client on `exchange`.
    pub async fn connect(url: &str, exchange: &str) -> Result<Peer> {
        if url.starts_with("amqp://") || url.starts_with("amqps://") {
            let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
                .await
                .with_context(|| format!("connecting to the broker {}", redact(url)))?;
            let channel = conn.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok(Peer::Amqp(Box::new(AmqpPeer {
                conn,
                channel,
                exchange: exchange.to_string(),
            })))
        } else {
            Ok(Peer::Nats(async_nats::connect(url).await.with_context(
                || format!("connecting to the application NATS {url}"),
            )?))
        }
    }

    /// `prefix` followed by the backend's "one or more tokens" wildcard.
    pub fn all_under(&self, prefix: &str) -> String {
        match self {
            Peer::Nats(_) => format!("{prefix}.>"),
            Peer::Amqp(_) => format!("{prefix}.#"),
        }
    }

    /// Subscribes to `subject`; live at the server when this returns.
    pub async fn subscribe(&self, subject: &str) -> Result<PeerSub> {
        match self {
            Peer::Nats(c) => {
                let sub = c.subscribe(subject.to_string()).await?;
                lattice_rpc::subjects::server_sync(c, Duration::from_secs(10))
                    .await
                    .map_err(anyhow::Error::msg)?;
                Ok(PeerSub::Nats(sub))
            }
            Peer::Amqp(a) => {
                let ch = a.conn.create_channel().await?;
                let consumer =
                    lattice_fixtures::amqp::consume_key(&ch, &a.exchange, subject, true).await?;
                Ok(PeerSub::Amqp(consumer))
            }
        }
    }

    /// Publishes; at the server when this returns.
    pub async fn publish(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&Headers>,
        body: &[u8],
    ) -> Result<()> {
        match self {
            Peer::Nats(c) => {
                let mut h = async_nats::HeaderMap::new();
                for (k, vs) in headers.into_iter().flatten() {
                    for v in vs {
                        h.append(k.as_str(), v.as_str());
                    }
                }
                let body = body.to_vec().into();
                match reply {
                    Some(r) => {
                        c.publish_with_reply_and_headers(
                            subject.to_string(),
                            r.to_string(),
                            h,
                            body,
                        )
                        .await?
                    }
                    None => c.publish_with_headers(subject.to_string(), h, body).await?,
                }
                c.flush().await?;
                Ok(())
            }
            Peer::Amqp(a) => {
                let mut props = lapin::BasicProperties::default();
                if let Some(r) = reply {
                    props = props.with_reply_to(r.into());
                }
                if let Some(h) = headers {
                    props = props.with_headers(amqp_table(h));
                }
                lattice_fixtures::amqp::publish_confirmed(
                    &a.channel,
                    &a.exchange,
                    subject,
                    body,
                    props,
                )
                .await
            }
        }
    }

    /// Deletes shared queue `name` and its dead-letter queue (AMQP; shared
    /// queues outlive their links by design). Nothing to do on NATS.
    pub async fn delete_queue(&self, name: &str) -> Result<()> {
        if let Peer::Amqp(a) = self {
            let ch = a.conn.create_channel().await?;
            for q in [name.to_string(), format!("{name}.dead-letter")] {
                ch.queue_delete(q.as_str().into(), Default::default())
                    .await?;
            }
        }
        Ok(())
    }

    /// Answers `m` (a request) with `body`, as a plain responder does.
    pub async fn reply(&self, m: &PeerMessage, body: &[u8]) -> Result<()> {
        let to = m
            .reply
            .as_deref()
            .context("the request has no reply address")?;
        match self {
            Peer::Nats(c) => {
                c.publish(to.to_string(), body.to_vec().into()).await?;
                c.flush().await?;
                Ok(())
            }
            Peer::Amqp(a) => {
                let mut props = lapin::BasicProperties::default();
                if let Some(c) = &m.correlation {
                    props = props.with_correlation_id(c.as_str().into());
                }
                lattice_fixtures::amqp::publish_confirmed(&a.channel, "", to, body, props).await
            }
        }
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

fn amqp_table(h: &Headers) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, vs) in h {
        let v = match vs.as_slice() {
            [one] => AMQPValue::LongString(LongString::from(one.as_str())),
            many => AMQPValue::FieldArray(FieldArray::from(
                many.iter()
                    .map(|v| AMQPValue::LongString(LongString::from(v.as_str())))
                    .collect::<Vec<_>>(),
            )),
        };
        t.insert(k.as_str().into(), v);
    }
    t
}

/// What a messaging case needs.
pub struct MessagingSuite {
    host: Arc<Host>,
    provider: ProviderRef,
    /// The application side.
    pub peer: Peer,
    base_values: Vec<(String, String)>,
    /// A linked actor without subscriptions.
    pub client: MessagingClient,
    ns: String,
}

/// An actor linked with subscriptions; messages it handles arrive on `rx`.
pub struct Subscribed {
    /// The actor key.
    pub actor: String,
    /// Messages delivered to it.
    pub rx: mpsc::UnboundedReceiver<SubMessage>,
    _served: ActorHandle,
}

impl MessagingSuite {
    /// Links a fresh actor to `provider` with `base_values` (for example the
    /// application NATS `URI`, or the broker's `uri`). `peer_url` is where
    /// the plain peers connect ([`Peer::connect`]; an AMQP peer uses the
    /// `exchange` of `base_values`, default `amq.topic`).
    pub async fn link(
        host: Arc<Host>,
        provider: &ProviderRef,
        peer_url: &str,
        base_values: &[(&str, &str)],
    ) -> Result<Self> {
        let exchange = base_values
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("exchange"))
            .map_or("amq.topic", |(_, v)| *v);
        let peer = Peer::connect(peer_url, exchange).await?;
        let actor = lattice_host::new_actor();
        host.link_actor(provider, &actor, base_values).await?;
        let client = MessagingClient::new(
            host.rpc().clone(),
            &actor,
            &provider.key,
            &provider.link_name,
        );
        Ok(Self {
            host,
            provider: provider.clone(),
            peer,
            base_values: owned_pairs(base_values),
            client,
            ns: format!("suite.{}", uuid::Uuid::new_v4().simple()),
        })
    }

    fn subject(&self, name: &str) -> String {
        format!("{}.{name}", self.ns)
    }

    /// Links a new actor with `SUBSCRIPTION` = `subscriptions` and serves it.
    pub async fn subscribe_actor(&self, subscriptions: &str) -> Result<Subscribed> {
        let actor = lattice_host::new_actor();
        let (tx, rx) = mpsc::unbounded_channel();
        let served = self
            .host
            .serve_actor(&actor, move |inv: Invocation, body: Vec<u8>| {
                let tx = tx.clone();
                async move {
                    if inv.operation != messaging_interface::ops::HANDLE_MESSAGE {
                        return Err(RpcError::unknown_operation(inv.operation));
                    }
                    let msg: SubMessage = lattice_rpc::wire::deserialize(&body)?;
                    let _ = tx.send(msg);
                    Ok(Vec::new())
                }
            })
            .await?;
        let mut values = pairs(&self.base_values, &[]);
        values.push(("SUBSCRIPTION", subscriptions));
        self.host
            .link_actor(&self.provider, &actor, &values)
            .await?;
        Ok(Subscribed {
            actor,
            rx,
            _served: served,
        })
    }
}

async fn next(
    rx: &mut mpsc::UnboundedReceiver<SubMessage>,
    within: Duration,
) -> Result<SubMessage> {
    tokio::time::timeout(within, rx.recv())
        .await
        .context("no message delivered to the actor in time")?
        .context("delivery channel closed")
}

impl crate::Suite for MessagingSuite {
    const INTERFACE: &'static str = "messaging";
    const CASE_TIMEOUT: Duration = Duration::from_secs(30);

    fn cases() -> &'static [crate::Case<Self>] {
        CASES
    }
}

cases! {
    MessagingSuite;
    publish_is_seen_by_a_plain_subscriber: "Messaging.Publish reaches a plain subscriber with subject and body",
    publish_carries_reply_to: "replyTo of Messaging.Publish arrives as the message's reply subject",
    request_gets_the_reply_of_a_plain_responder: "Messaging.Request returns a plain responder's reply body",
    request_with_a_silent_responder_times_out: "a responder that never answers gives `timeout` after timeoutMs",
    request_with_no_responder_is_unavailable: "a request nobody listens to gives `unavailable` at once",
    subscription_delivers_to_the_actor_with_subject_and_reply_to: "a plain publish on a subscribed subject reaches the actor with subject, replyTo and body",
    queue_group_splits_messages_between_two_links: "two links subscribed `subject|queue` each get part of 40 messages, every message once",
    headers_round_trip_both_ways: "headers on a publish reach a plain subscriber; headers on a plain publish reach the actor",
    unlinking_stops_delivery: "after the link is deleted, messages on its subscription are no longer delivered",
    invalid_subject_is_bad_request: "publishing to an empty subject or one with spaces or wildcards gives `bad-request`",
}

async fn publish_is_seen_by_a_plain_subscriber(c: &MessagingSuite) -> Result<()> {
    let subject = c.subject("pub");
    let mut sub = c.peer.subscribe(&subject).await?;
    c.client.publish(&subject, None, b"hello").await?;
    let m = sub.next(WITHIN).await?;
    ensure_eq!(m.subject.as_str(), subject.as_str());
    ensure_eq!(&m.body[..], b"hello");
    Ok(())
}

async fn publish_carries_reply_to(c: &MessagingSuite) -> Result<()> {
    let (subject, reply) = (c.subject("pubreply"), c.subject("pubreply.inbox"));
    let mut sub = c.peer.subscribe(&subject).await?;
    c.client.publish(&subject, Some(&reply), b"x").await?;
    let m = sub.next(WITHIN).await?;
    ensure_eq!(m.reply.as_deref(), Some(reply.as_str()));
    Ok(())
}

async fn request_gets_the_reply_of_a_plain_responder(c: &MessagingSuite) -> Result<()> {
    let subject = c.subject("rr");
    let mut sub = c.peer.subscribe(&subject).await?;
    let responder = async {
        let m = sub.next(WITHIN).await?;
        let mut body = b"re: ".to_vec();
        body.extend_from_slice(&m.body);
        c.peer.reply(&m, &body).await
    };
    let request = c.client.request(&subject, b"ping", Duration::from_secs(2));
    let (answered, reply) = tokio::join!(responder, request);
    answered.context("the plain responder")?;
    ensure_eq!(reply?.body, b"re: ping".to_vec());
    Ok(())
}

async fn request_with_a_silent_responder_times_out(c: &MessagingSuite) -> Result<()> {
    let subject = c.subject("silent");
    let _sub = c.peer.subscribe(&subject).await?;
    let started = std::time::Instant::now();
    let r = c
        .client
        .request(&subject, b"anyone?", Duration::from_millis(300))
        .await;
    expect_code(r, &["timeout"])?;
    if started.elapsed() > Duration::from_secs(3) {
        bail!("timeout of 300 ms took {:?}", started.elapsed());
    }
    Ok(())
}

async fn request_with_no_responder_is_unavailable(c: &MessagingSuite) -> Result<()> {
    let started = std::time::Instant::now();
    let r = c
        .client
        .request(&c.subject("nobody"), b"?", Duration::from_secs(2))
        .await;
    expect_code(r, &["unavailable"])?;
    if started.elapsed() > Duration::from_secs(1) {
        bail!("unavailable took {:?}: not at once", started.elapsed());
    }
    Ok(())
}

async fn subscription_delivers_to_the_actor_with_subject_and_reply_to(
    c: &MessagingSuite,
) -> Result<()> {
    let subject = c.subject("to-actor");
    let mut s = c.subscribe_actor(&c.peer.all_under(&subject)).await?;
    let target = format!("{subject}.one");
    let reply = c.subject("to-actor-reply");
    c.peer
        .publish(&target, Some(&reply), None, b"payload")
        .await?;
    let m = next(&mut s.rx, WITHIN).await?;
    ensure_eq!(m.subject, target);
    ensure_eq!(m.reply_to, Some(reply));
    ensure_eq!(m.body, b"payload".to_vec());
    Ok(())
}

async fn queue_group_splits_messages_between_two_links(c: &MessagingSuite) -> Result<()> {
    let subject = c.subject("queued");
    let spec = format!("{subject}|{}.workers", c.ns);
    let mut a = c.subscribe_actor(&spec).await?;
    let mut b = c.subscribe_actor(&spec).await?;
    for i in 0..40u8 {
        c.peer.publish(&subject, None, None, &[i]).await?;
    }
    let mut seen = Vec::new();
    let (mut from_a, mut from_b) = (0, 0);
    while seen.len() < 40 {
        tokio::select! {
            Some(m) = a.rx.recv() => { from_a += 1; seen.push(m.body[0]); }
            Some(m) = b.rx.recv() => { from_b += 1; seen.push(m.body[0]); }
            _ = tokio::time::sleep(WITHIN) => bail!("only {} of 40 delivered", seen.len()),
        }
    }
    seen.sort();
    ensure_eq!(seen, (0..40u8).collect::<Vec<_>>());
    if from_a == 0 || from_b == 0 {
        bail!("one link got every message ({from_a} / {from_b}): not a queue group");
    }
    // Nothing more arrives: each message went to one member only.
    let extra = tokio::time::timeout(Duration::from_millis(200), async {
        tokio::select! {
            Some(_) = a.rx.recv() => {}
            Some(_) = b.rx.recv() => {}
        }
    })
    .await;
    if extra.is_ok() {
        bail!("a message was delivered twice");
    }
    for s in [&a, &b] {
        c.host.del_link(&c.provider, &s.actor).await?;
    }
    c.peer.delete_queue(&format!("{}.workers", c.ns)).await
}

async fn headers_round_trip_both_ways(c: &MessagingSuite) -> Result<()> {
    let out_subject = c.subject("hdr-out");
    let mut sub = c.peer.subscribe(&out_subject).await?;
    let mut headers = Headers::new();
    headers.insert("x-trace".into(), vec!["a".into(), "b".into()]);
    c.client
        .publish_message(&PubMessage {
            subject: out_subject,
            reply_to: None,
            body: b"h".to_vec(),
            headers: Some(headers),
        })
        .await?;
    let m = sub.next(WITHIN).await?;
    ensure_eq!(
        m.headers.get("x-trace").cloned().unwrap_or_default(),
        vec!["a".to_string(), "b".to_string()]
    );

    let in_subject = c.subject("hdr-in");
    let mut s = c.subscribe_actor(&in_subject).await?;
    let mut h = Headers::new();
    h.insert("x-origin".into(), vec!["plain".into()]);
    c.peer
        .publish(&in_subject, None, Some(&h), b"with headers")
        .await?;
    let m = next(&mut s.rx, WITHIN).await?;
    let values = m.headers.unwrap_or_default().remove("x-origin");
    ensure_eq!(values, Some(vec!["plain".to_string()]));
    Ok(())
}

async fn unlinking_stops_delivery(c: &MessagingSuite) -> Result<()> {
    let subject = c.subject("unlink");
    let mut s = c.subscribe_actor(&subject).await?;
    c.peer.publish(&subject, None, None, b"before").await?;
    ensure_eq!(next(&mut s.rx, WITHIN).await?.body, b"before".to_vec());
    let ack = c.host.del_link(&c.provider, &s.actor).await?;
    ensure_eq!(ack.accepted, true);
    for _ in 0..5 {
        c.peer.publish(&subject, None, None, b"after").await?;
    }
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), s.rx.recv()).await {
        bail!(
            "delivered after unlink: {:?}",
            String::from_utf8_lossy(&m.body)
        );
    }
    Ok(())
}

async fn invalid_subject_is_bad_request(c: &MessagingSuite) -> Result<()> {
    for bad in ["", "has space", "wild.*", "tail.>"] {
        let r = c.client.publish(bad, None, b"x").await;
        expect_code(r, &["bad-request"]).with_context(|| format!("subject {bad:?}"))?;
    }
    Ok(())
}

/// An actor served in-process by `host` that fails the first `fail_first`
/// deliveries of each distinct body with an `internal` error, then handles
/// it; every delivery arrives on the receiver with whether it was handled.
pub async fn flaky_actor(
    host: &Host,
    fail_first: usize,
) -> Result<(
    String,
    mpsc::UnboundedReceiver<(SubMessage, bool)>,
    ActorHandle,
)> {
    let actor = lattice_host::new_actor();
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
        Vec<u8>,
        usize,
    >::new()));
    let handle = host
        .serve_actor(&actor, move |_inv: Invocation, body: Vec<u8>| {
            let (tx, seen) = (tx.clone(), seen.clone());
            async move {
                let msg: SubMessage = lattice_rpc::wire::deserialize(&body)?;
                let n = {
                    let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                    let e = s.entry(msg.body.clone()).or_default();
                    *e += 1;
                    *e
                };
                let ok = n > fail_first;
                let _ = tx.send((msg, ok));
                if ok {
                    Ok(Vec::new())
                } else {
                    Err(RpcError::internal("not yet"))
                }
            }
        })
        .await?;
    Ok((actor, rx, handle))
}
