//! Benchmark: messaging-rabbitmq beside bare AMQP from the same client
//! crate (lapin), in one run, as ratios, with CPU time per call for each
//! process.
//!
//! - request: `Messaging.Request` through the provider to a plain echo
//!   responder, vs a bare direct reply-to request to a forwarding peer that
//!   makes the same request to the same echo responder and answers with its
//!   reply (two hops each way on both paths, as bench-messaging does);
//! - publish: `Messaging.Publish` through the provider (a publish the broker
//!   confirms), vs a bare request to a peer that publishes with a confirm
//!   and then answers;
//! - subscribe: a message published and handled by an actor served in this
//!   process, each call waiting until its message was handled: through the
//!   provider (queue → signed `HandleMessage` → actor → ack), vs a bare relay
//!   peer that consumes the same way and forwards each message to the actor
//!   as a plain AMQP request, acking after the answer.
//!
//! The echo responder, forwarder, publisher and relay are one
//! single-threaded peer process (`ideal`). The broker's CPU is reported
//! too (`rabbitmq`: the first `beam.smp` process on the machine). The provider path is measured
//! once per signing mode, one single-threaded provider process each.
//!
//! ```sh
//! cargo build --release -p lattice-bench -p messaging-rabbitmq && target/release/bench-messaging-rabbitmq [--json]
//! ```

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use lattice_bench::{
    Auth, Baseline, Common, MESSAGING_CALL_TIMEOUT as CALL_TIMEOUT, MessagingOp as Op, Provider,
    Row, measure, own_pid, soak, spawn_self,
};
use lattice_host::ActorHandle;
use messaging_interface::MessagingClient;
use messaging_interface::types::SubMessage;
use tokio::sync::oneshot;

#[derive(Parser)]
#[command(about = "messaging-rabbitmq vs bare AMQP, one run, as ratios")]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// The broker.
    #[arg(
        long,
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        global = true
    )]
    amqp_url: String,
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Subcommand)]
enum Role {
    /// Internal: the ideal path's peer (echo, forward, via, relay under `prefix`).
    Peer {
        #[arg(long)]
        prefix: String,
    },
}

const EXCHANGE: &str = "amq.topic";
const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

async fn connect(url: &str) -> Result<Connection> {
    Connection::connect(url, ConnectionProperties::default())
        .await
        .context("connecting to the broker")
}

/// A consumer on a fresh exclusive queue bound to `key` on `amq.topic`.
async fn consume(ch: &Channel, key: &str, no_ack: bool) -> Result<Consumer> {
    lattice_fixtures::amqp::consume_key(ch, EXCHANGE, key, no_ack).await
}

/// Bare AMQP requests through direct reply-to, matched by correlation id.
struct Requester {
    ch: Channel,
    next: AtomicU64,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>>,
}

impl Requester {
    async fn new(conn: &Connection) -> Result<Arc<Self>> {
        let ch = conn.create_channel().await?;
        let mut replies = ch
            .basic_consume(
                DIRECT_REPLY_TO.into(),
                ShortString::from(""),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>> = Arc::default();
        let p = pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(d)) = replies.next().await {
                let id = d
                    .properties
                    .correlation_id()
                    .as_ref()
                    .and_then(|c| c.as_str().parse::<u64>().ok());
                let tx = id.and_then(|id| p.lock().unwrap_or_else(|e| e.into_inner()).remove(&id));
                if let Some(tx) = tx {
                    let _ = tx.send(d.data);
                }
            }
        });
        Ok(Arc::new(Self {
            ch,
            next: AtomicU64::new(1),
            pending,
        }))
    }

    async fn request(&self, key: &str, body: &[u8]) -> Option<Vec<u8>> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        let props = BasicProperties::default()
            .with_reply_to(DIRECT_REPLY_TO.into())
            .with_correlation_id(id.to_string().into());
        let sent = self
            .ch
            .basic_publish(
                EXCHANGE.into(),
                key.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .is_ok();
        let answer = if sent {
            tokio::time::timeout(CALL_TIMEOUT, rx)
                .await
                .ok()
                .and_then(Result::ok)
        } else {
            None
        };
        if answer.is_none() {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
        answer
    }
}

/// Answers delivery `d` with `body` (to its reply_to, with its correlation id).
async fn answer(ch: &Channel, d: &lapin::message::Delivery, body: &[u8]) {
    let Some(to) = d.properties.reply_to().clone() else {
        return;
    };
    let mut props = BasicProperties::default();
    if let Some(c) = d.properties.correlation_id().clone() {
        props = props.with_correlation_id(c);
    }
    let _ = ch
        .basic_publish("".into(), to, BasicPublishOptions::default(), body, props)
        .await;
}

async fn peer(url: &str, prefix: &str) -> Result<()> {
    let conn = connect(url).await?;
    let ch = conn.create_channel().await?;
    let confirmed = conn.create_channel().await?;
    confirmed
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let relay_ch = conn.create_channel().await?;
    relay_ch
        .basic_qos(64, BasicQosOptions { global: false })
        .await?;
    let mut echo = consume(&ch, &format!("{prefix}.echo"), true).await?;
    let mut forward = consume(&ch, &format!("{prefix}.forward"), true).await?;
    let mut via = consume(&ch, &format!("{prefix}.via"), true).await?;
    let mut relay = consume(&relay_ch, &format!("{prefix}.relay"), false).await?;
    let requester = Requester::new(&conn).await?;
    println!("ready");
    let c = ch.clone();
    tokio::spawn(async move {
        while let Some(Ok(d)) = echo.next().await {
            answer(&c, &d, &d.data).await;
        }
    });
    let (c, r, echo_key) = (ch.clone(), requester.clone(), format!("{prefix}.echo"));
    tokio::spawn(async move {
        while let Some(Ok(d)) = forward.next().await {
            let (c, r, k) = (c.clone(), r.clone(), echo_key.clone());
            tokio::spawn(async move {
                if let Some(reply) = r.request(&k, &d.data).await {
                    answer(&c, &d, &reply).await;
                }
            });
        }
    });
    let (c, sink) = (ch.clone(), format!("{prefix}.sink"));
    tokio::spawn(async move {
        while let Some(Ok(d)) = via.next().await {
            let (c, confirmed, sink) = (c.clone(), confirmed.clone(), sink.clone());
            tokio::spawn(async move {
                let published = confirmed
                    .basic_publish(
                        EXCHANGE.into(),
                        sink.as_str().into(),
                        BasicPublishOptions::default(),
                        &d.data,
                        BasicProperties::default(),
                    )
                    .await;
                if let Ok(confirm) = published
                    && confirm.await.is_ok()
                {
                    answer(&c, &d, b"").await;
                }
            });
        }
    });
    let actor = format!("{prefix}.actor");
    while let Some(Ok(d)) = relay.next().await {
        let (r, actor) = (requester.clone(), actor.clone());
        tokio::spawn(async move {
            if r.request(&actor, &d.data).await.is_some() {
                let _ = d.acker.ack(BasicAckOptions::default()).await;
            }
        });
    }
    Ok(())
}

/// Messages published and not yet handled (see bench-messaging).
#[derive(Default)]
struct Handled {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

impl Handled {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<()>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes (confirmed) a message with routing key `key` and waits until it was handled.
    async fn round_trip(&self, ch: &Channel, key: &str) -> bool {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting().insert(id, tx);
        let published = lattice_fixtures::amqp::publish_confirmed(
            ch,
            EXCHANGE,
            key,
            id.to_string().as_bytes(),
            BasicProperties::default(),
        )
        .await
        .is_ok();
        let ok = published && matches!(tokio::time::timeout(CALL_TIMEOUT, rx).await, Ok(Ok(())));
        if !ok {
            self.waiting().remove(&id);
        }
        ok
    }

    fn handled(&self, body: &[u8]) {
        let id = std::str::from_utf8(body).ok().and_then(|s| s.parse().ok());
        if let Some(tx) = id.and_then(|id| self.waiting().remove(&id)) {
            let _ = tx.send(());
        }
    }
}

struct Bench {
    publisher: Channel,
    requester: Arc<Requester>,
    prefix: String,
    handled: Arc<Handled>,
}

impl Bench {
    async fn ideal(&self, op: Op) -> bool {
        match op {
            Op::Request => self
                .requester
                .request(&format!("{}.forward", self.prefix), b"ping")
                .await
                .is_some(),
            Op::Publish => self
                .requester
                .request(&format!("{}.via", self.prefix), b"event")
                .await
                .is_some(),
            Op::Subscribe => {
                self.handled
                    .round_trip(&self.publisher, &format!("{}.relay", self.prefix))
                    .await
            }
        }
    }

    async fn provider(&self, to: &ProviderPath, op: Op) -> bool {
        match op {
            Op::Request => to
                .client
                .request(&format!("{}.echo", self.prefix), b"ping", CALL_TIMEOUT)
                .await
                .is_ok(),
            Op::Publish => to
                .client
                .publish(&format!("{}.sink", self.prefix), None, b"event")
                .await
                .is_ok(),
            Op::Subscribe => self.handled.round_trip(&self.publisher, &to.events).await,
        }
    }
}

struct ProviderPath {
    client: MessagingClient,
    events: String,
}

struct Under {
    p: Provider,
    path: Arc<ProviderPath>,
    _actor: ActorHandle,
}

async fn launch(cli: &Cli, auth: Auth, prefix: &str, handled: &Arc<Handled>) -> Result<Under> {
    let p = Provider::launch(
        &cli.common,
        auth,
        "messaging-rabbitmq",
        messaging_interface::CONTRACT_ID,
        None,
    )
    .await?;
    let uri = [("uri", cli.amqp_url.as_str())];
    let caller = lattice_host::new_actor();
    p.host.link_actor(&p.pref, &caller, &uri).await?;
    let client = MessagingClient::new(p.host.rpc().clone(), &caller, &p.pref.key, "default");
    let actor = lattice_host::new_actor();
    let h = handled.clone();
    let served = p
        .host
        .serve_actor(&actor, move |_: lattice_rpc::Invocation, body: Vec<u8>| {
            let h = h.clone();
            async move {
                h.handled(&lattice_rpc::wire::deserialize::<SubMessage>(&body)?.body);
                Ok(Vec::new())
            }
        })
        .await?;
    let events = format!("{prefix}.events.{}", auth.name());
    p.host
        .link_actor(
            &p.pref,
            &actor,
            &[
                ("uri", cli.amqp_url.as_str()),
                ("subscription", &events),
                ("prefetch", "64"),
            ],
        )
        .await?;
    Ok(Under {
        p,
        path: Arc::new(ProviderPath { client, events }),
        _actor: served,
    })
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(Role::Peer { prefix }) = &cli.role {
        return rt.block_on(peer(&cli.amqp_url, prefix));
    }
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let c = &cli.common;
    let prefix = format!("bench.amqp.{}", uuid::Uuid::new_v4().simple());
    let peer = spawn_self(&["--amqp-url", &cli.amqp_url, "peer", "--prefix", &prefix]).await?;
    let peer_pid = peer.id().unwrap_or(0);
    // The broker's Erlang VM (the first one, when several run here).
    let broker = lattice_bench::pids_named("beam.smp")
        .first()
        .copied()
        .unwrap_or(0);
    let handled = Arc::new(Handled::default());
    let mut unders = Vec::new();
    for &auth in &c.auth {
        unders.push(launch(&cli, auth, &prefix, &handled).await?);
    }

    // The ideal relay's actor: a plain responder here.
    let conn = connect(&cli.amqp_url).await?;
    let ch = conn.create_channel().await?;
    let mut plain_actor = consume(&ch, &format!("{prefix}.actor"), true).await?;
    let h = handled.clone();
    let plain = tokio::spawn(async move {
        while let Some(Ok(d)) = plain_actor.next().await {
            h.handled(&d.data);
            answer(&ch, &d, b"").await;
        }
    });
    let publisher = conn.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let bench = Arc::new(Bench {
        publisher,
        requester: Requester::new(&conn).await?,
        prefix: prefix.clone(),
        handled,
    });

    if !c.json {
        println!(
            "messaging-rabbitmq vs bare AMQP (echo via a forwarder, publish via a peer, subscription via a relay), {} operations or {} s each; CPU µs per call",
            c.requests, c.seconds
        );
    }
    Row::header(c.json);
    for &n in &c.in_flight {
        for op in Op::ALL {
            let op_name = op.name();
            let base = Baseline::measure(
                "messaging-rabbitmq",
                op_name,
                n,
                c.json,
                &[
                    ("ideal", peer_pid),
                    ("loadgen", own_pid()),
                    ("rabbitmq", broker),
                ],
                {
                    let b = bench.clone();
                    measure(n, c.requests, c.seconds, move |_| {
                        let b = b.clone();
                        async move { b.ideal(op).await }
                    })
                },
            )
            .await;
            for u in &unders {
                let (b, to) = (bench.clone(), u.path.clone());
                let load = measure(n, c.requests, c.seconds, move |_| {
                    let (b, to) = (b.clone(), to.clone());
                    async move { b.provider(&to, op).await }
                });
                let procs = [
                    ("provider", u.p.pid),
                    ("loadgen", own_pid()),
                    ("rabbitmq", broker),
                ];
                base.row(u.p.auth, &procs, load).await;
            }
        }
    }
    if let Some(secs) = c.soak_secs
        && let Some(u) = unders.iter().find(|u| u.p.auth == Auth::Hs256)
    {
        let (b, to) = (bench.clone(), u.path.clone());
        soak("messaging-rabbitmq", u.p.pid, secs, move |i| {
            let (b, to) = (b.clone(), to.clone());
            async move { b.provider(&to, Op::ALL[i % Op::ALL.len()]).await }
        })
        .await
        .print(c.json);
    }
    plain.abort();
    for u in unders {
        u.p.shutdown().await?;
    }
    Ok(())
}
