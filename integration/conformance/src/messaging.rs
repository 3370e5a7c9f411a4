//! The messaging contract suite (`wasmcloud:messaging`): publish and request
//! from actors, subscriptions delivered to actors, queue groups, headers.
//! Plain NATS clients on the application NATS play the other side.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use lattice_rpc::{Invocation, RpcError};
use messaging_interface::MessagingClient;
use messaging_interface::types::{Headers, PubMessage, SubMessage};
use tokio::sync::mpsc;

use crate::ensure_eq;
use crate::{cases, expect_code, owned_pairs, pairs};
use lattice_host::{ActorHandle, Host, ProviderRef};

/// What a messaging case needs.
pub struct MessagingSuite {
    host: Arc<Host>,
    provider: ProviderRef,
    app: async_nats::Client,
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
    /// application NATS `URI`). `app_nats_url` is where the plain peers
    /// connect.
    pub async fn link(
        host: Arc<Host>,
        provider: &ProviderRef,
        app_nats_url: &str,
        base_values: &[(&str, &str)],
    ) -> Result<Self> {
        let app = async_nats::connect(app_nats_url)
            .await
            .with_context(|| format!("connecting to the application NATS {app_nats_url}"))?;
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
            app,
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

/// Waits until the server applied this connection's subscriptions.
async fn sync(client: &async_nats::Client) -> Result<()> {
    lattice_rpc::subjects::server_sync(client, Duration::from_secs(10))
        .await
        .map_err(anyhow::Error::msg)
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
    publish_is_seen_by_a_plain_subscriber: "Messaging.Publish reaches a plain NATS subscriber with subject and body",
    publish_carries_reply_to: "replyTo of Messaging.Publish arrives as the message's reply subject",
    request_gets_the_reply_of_a_plain_responder: "Messaging.Request returns a plain responder's reply body",
    request_with_a_silent_responder_times_out: "a responder that never answers gives `timeout` after timeoutMs",
    request_with_no_responder_is_unavailable: "a request nobody listens to gives `unavailable` at once",
    subscription_delivers_to_the_actor_with_subject_and_reply_to: "a plain publish on a subscribed subject reaches the actor with subject, replyTo and body",
    queue_group_splits_messages_between_two_links: "two links subscribed `subject|group` each get part of 40 messages, every message once",
    headers_round_trip_both_ways: "headers on a publish reach a plain subscriber; headers on a plain publish reach the actor",
    unlinking_stops_delivery: "after the link is deleted, messages on its subscription are no longer delivered",
    invalid_subject_is_bad_request: "publishing to an empty subject or one with spaces or wildcards gives `bad-request`",
}

async fn publish_is_seen_by_a_plain_subscriber(c: &MessagingSuite) -> Result<()> {
    let subject = c.subject("pub");
    let mut sub = c.app.subscribe(subject.clone()).await?;
    sync(&c.app).await?;
    c.client.publish(&subject, None, b"hello").await?;
    let m = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .context("published message not seen")?
        .context("subscription closed")?;
    ensure_eq!(m.subject.as_str(), subject.as_str());
    ensure_eq!(&m.payload[..], b"hello");
    Ok(())
}

async fn publish_carries_reply_to(c: &MessagingSuite) -> Result<()> {
    let (subject, reply) = (c.subject("pubreply"), c.subject("pubreply.inbox"));
    let mut sub = c.app.subscribe(subject.clone()).await?;
    sync(&c.app).await?;
    c.client.publish(&subject, Some(&reply), b"x").await?;
    let m = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .context("published message not seen")?
        .context("subscription closed")?;
    ensure_eq!(m.reply.as_deref(), Some(reply.as_str()));
    Ok(())
}

async fn request_gets_the_reply_of_a_plain_responder(c: &MessagingSuite) -> Result<()> {
    let subject = c.subject("rr");
    let mut sub = c.app.subscribe(subject.clone()).await?;
    sync(&c.app).await?;
    let app = c.app.clone();
    let responder = tokio::spawn(async move {
        if let Some(m) = sub.next().await
            && let Some(reply) = m.reply
        {
            let mut body = b"re: ".to_vec();
            body.extend_from_slice(&m.payload);
            let _ = app.publish(reply, body.into()).await;
        }
    });
    let reply = c
        .client
        .request(&subject, b"ping", Duration::from_secs(2))
        .await?;
    responder.abort();
    ensure_eq!(reply.body, b"re: ping".to_vec());
    Ok(())
}

async fn request_with_a_silent_responder_times_out(c: &MessagingSuite) -> Result<()> {
    let subject = c.subject("silent");
    let _sub = c.app.subscribe(subject.clone()).await?;
    sync(&c.app).await?;
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
    let r = c
        .client
        .request(&c.subject("nobody"), b"?", Duration::from_secs(2))
        .await;
    expect_code(r, &["unavailable"])?;
    Ok(())
}

async fn subscription_delivers_to_the_actor_with_subject_and_reply_to(
    c: &MessagingSuite,
) -> Result<()> {
    let subject = c.subject("to-actor");
    let mut s = c.subscribe_actor(&format!("{subject}.>")).await?;
    let target = format!("{subject}.one");
    let reply = c.subject("to-actor-reply");
    c.app
        .publish_with_reply(target.clone(), reply.clone(), "payload".into())
        .await?;
    c.app.flush().await?;
    let m = next(&mut s.rx, Duration::from_secs(5)).await?;
    ensure_eq!(m.subject, target);
    ensure_eq!(m.reply_to, Some(reply));
    ensure_eq!(m.body, b"payload".to_vec());
    Ok(())
}

async fn queue_group_splits_messages_between_two_links(c: &MessagingSuite) -> Result<()> {
    let subject = c.subject("queued");
    let spec = format!("{subject}|workers");
    let mut a = c.subscribe_actor(&spec).await?;
    let mut b = c.subscribe_actor(&spec).await?;
    for i in 0..40u8 {
        c.app.publish(subject.clone(), vec![i].into()).await?;
    }
    c.app.flush().await?;
    let mut seen = Vec::new();
    let (mut from_a, mut from_b) = (0, 0);
    while seen.len() < 40 {
        tokio::select! {
            Some(m) = a.rx.recv() => { from_a += 1; seen.push(m.body[0]); }
            Some(m) = b.rx.recv() => { from_b += 1; seen.push(m.body[0]); }
            _ = tokio::time::sleep(Duration::from_secs(5)) => bail!("only {} of 40 delivered", seen.len()),
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
    Ok(())
}

async fn headers_round_trip_both_ways(c: &MessagingSuite) -> Result<()> {
    let out_subject = c.subject("hdr-out");
    let mut sub = c.app.subscribe(out_subject.clone()).await?;
    sync(&c.app).await?;
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
    let m = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .context("message with headers not seen")?
        .context("subscription closed")?;
    let got: Vec<String> = m
        .headers
        .as_ref()
        .and_then(|h| {
            h.get_all("x-trace")
                .map(|v| v.as_str().to_string())
                .collect::<Vec<_>>()
                .into()
        })
        .unwrap_or_default();
    ensure_eq!(got, vec!["a".to_string(), "b".to_string()]);

    let in_subject = c.subject("hdr-in");
    let mut s = c.subscribe_actor(&in_subject).await?;
    let mut h = async_nats::HeaderMap::new();
    h.insert("x-origin", "plain");
    c.app
        .publish_with_headers(in_subject, h, "with headers".into())
        .await?;
    c.app.flush().await?;
    let m = next(&mut s.rx, Duration::from_secs(5)).await?;
    let values = m.headers.unwrap_or_default().remove("x-origin");
    ensure_eq!(values, Some(vec!["plain".to_string()]));
    Ok(())
}

async fn unlinking_stops_delivery(c: &MessagingSuite) -> Result<()> {
    let subject = c.subject("unlink");
    let mut s = c.subscribe_actor(&subject).await?;
    c.app.publish(subject.clone(), "before".into()).await?;
    c.app.flush().await?;
    ensure_eq!(
        next(&mut s.rx, Duration::from_secs(5)).await?.body,
        b"before".to_vec()
    );
    let ack = c.host.del_link(&c.provider, &s.actor).await?;
    ensure_eq!(ack.accepted, true);
    for _ in 0..5 {
        c.app.publish(subject.clone(), "after".into()).await?;
    }
    c.app.flush().await?;
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
