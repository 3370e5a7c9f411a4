//! Benchmark: messaging-nats beside bare NATS, in one run, as ratios, with
//! CPU time per call for each process.
//!
//! - request: `Messaging.Request` through the provider to a plain echo
//!   responder, vs a bare NATS request to a forwarding process that makes
//!   the same request to the same echo responder and answers with its reply
//!   (the same two hops with no envelope, claims or MessagePack, as for
//!   publish and as keyvalue's ideal path does);
//! - publish: `Messaging.Publish` through the provider, vs a bare NATS
//!   request/reply hop to a process that publishes (the same two hops with no
//!   envelope, claims or MessagePack);
//! - subscribe: a message published and handled by an actor served in this
//!   process, each call waiting until its message was handled: through the
//!   provider (subscription → signed `HandleMessage` → actor), vs a bare relay
//!   process that forwards each message to the actor as a plain request.
//!
//! The echo responder, publisher and relay are one single-threaded peer
//! process (`ideal`). The provider path is measured once per signing mode
//! (Ed25519 claims, wasmbus 0.x; HS256 with `require_mac`), one provider
//! process (single-threaded) each. The load generator, and the actor, are
//! this process, single-threaded too. The soak (`--soak-secs`) runs
//! request, publish and subscribe in turn.
//!
//! ```sh
//! cargo build --release -p lattice-bench -p messaging-nats && target/release/bench-messaging [--json]
//! ```

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use lattice_bench::{
    Auth, Baseline, Common, MESSAGING_CALL_TIMEOUT as CALL_TIMEOUT, MessagingOp as Op, Provider,
    Row, measure, own_pid, soak, spawn_self,
};
use lattice_host::ActorHandle;
use messaging_interface::MessagingClient;
use messaging_interface::types::SubMessage;
use tokio::sync::oneshot;

#[derive(Parser)]
#[command(about = "messaging-nats vs bare NATS, one run, as ratios")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Subcommand)]
enum Role {
    /// Internal: the ideal path's peer. Answers requests on `{prefix}.echo`
    /// (echo), answers `{prefix}.forward` with the echo of a request it makes
    /// to `{prefix}.echo`, publishes what arrives on `{prefix}.via` to
    /// `{prefix}.sink`, forwards `{prefix}.relay` messages as requests to
    /// `{prefix}.actor`.
    Peer {
        #[arg(long)]
        prefix: String,
    },
}

async fn peer(nats_url: &str, prefix: &str) -> Result<()> {
    let nats = async_nats::connect(nats_url).await?;
    let mut echo = nats.subscribe(format!("{prefix}.echo")).await?;
    let mut via = nats.subscribe(format!("{prefix}.via")).await?;
    let mut relay = nats.subscribe(format!("{prefix}.relay")).await?;
    let mut forward = nats.subscribe(format!("{prefix}.forward")).await?;
    lattice_rpc::subjects::server_sync(&nats, Duration::from_secs(10)).await?;
    println!("ready");
    let n = nats.clone();
    tokio::spawn(async move {
        while let Some(m) = echo.next().await {
            if let Some(r) = m.reply {
                let _ = n.publish(r, m.payload).await;
            }
        }
    });
    let (n, sink) = (nats.clone(), format!("{prefix}.sink"));
    tokio::spawn(async move {
        while let Some(m) = via.next().await {
            let _ = n.publish(sink.clone(), m.payload).await;
            if let Some(r) = m.reply {
                let _ = n.publish(r, bytes::Bytes::new()).await;
            }
        }
    });
    let (n, echo_subject) = (
        nats.clone(),
        async_nats::Subject::from(format!("{prefix}.echo")),
    );
    tokio::spawn(async move {
        while let Some(m) = forward.next().await {
            let (n, to) = (n.clone(), echo_subject.clone());
            tokio::spawn(async move {
                if let (Ok(answer), Some(r)) = (n.request(to, m.payload).await, m.reply) {
                    let _ = n.publish(r, answer.payload).await;
                }
            });
        }
    });
    let actor = async_nats::Subject::from(format!("{prefix}.actor"));
    while let Some(m) = relay.next().await {
        let (n, actor) = (nats.clone(), actor.clone());
        tokio::spawn(async move {
            let _ = n.request(actor, m.payload).await;
        });
    }
    Ok(())
}

/// Messages published and not yet handled: each subscribe call publishes
/// its own id and waits until the actor has handled it.
#[derive(Default)]
struct Handled {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

impl Handled {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<()>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes a message on `subject` and waits until it was handled.
    async fn round_trip(&self, nats: &async_nats::Client, subject: &async_nats::Subject) -> bool {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting().insert(id, tx);
        let ok = nats
            .publish(subject.clone(), id.to_string().into())
            .await
            .is_ok()
            && matches!(tokio::time::timeout(CALL_TIMEOUT, rx).await, Ok(Ok(())));
        if !ok {
            self.waiting().remove(&id);
        }
        ok
    }

    /// The actor handled the message whose body is `body`.
    fn handled(&self, body: &[u8]) {
        let id = std::str::from_utf8(body).ok().and_then(|s| s.parse().ok());
        if let Some(tx) = id.and_then(|id| self.waiting().remove(&id)) {
            let _ = tx.send(());
        }
    }
}

/// The subjects and connection both paths use.
struct Bench {
    nats: async_nats::Client,
    echo: async_nats::Subject,
    forward: async_nats::Subject,
    via: async_nats::Subject,
    sink: String,
    relay: async_nats::Subject,
    handled: Arc<Handled>,
}

impl Bench {
    async fn ideal(&self, op: Op) -> bool {
        match op {
            Op::Request => self
                .nats
                .request(self.forward.clone(), "ping".into())
                .await
                .is_ok(),
            Op::Publish => self
                .nats
                .request(self.via.clone(), "event".into())
                .await
                .is_ok(),
            Op::Subscribe => self.handled.round_trip(&self.nats, &self.relay).await,
        }
    }

    async fn provider(&self, to: &ProviderPath, op: Op) -> bool {
        match op {
            Op::Request => to
                .client
                .request(&self.echo, b"ping", CALL_TIMEOUT)
                .await
                .is_ok(),
            Op::Publish => to.client.publish(&self.sink, None, b"event").await.is_ok(),
            Op::Subscribe => self.handled.round_trip(&self.nats, &to.events).await,
        }
    }
}

/// How calls reach one provider: its client, and the subject its
/// subscription delivers to the actor from.
struct ProviderPath {
    client: MessagingClient,
    events: async_nats::Subject,
}

/// One provider under test, signed one way, and the actor it delivers to.
struct Under {
    p: Provider,
    path: Arc<ProviderPath>,
    _actor: ActorHandle,
}

async fn launch(cli: &Cli, auth: Auth, prefix: &str, handled: &Arc<Handled>) -> Result<Under> {
    let p = Provider::launch(
        &cli.common,
        auth,
        "messaging-nats",
        messaging_interface::CONTRACT_ID,
        None,
    )
    .await?;
    let caller = lattice_host::new_actor();
    p.host.link_actor(&p.pref, &caller, &[]).await?;
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
            &[("subscription", &events), ("max_concurrent", "64")],
        )
        .await?;
    Ok(Under {
        p,
        path: Arc::new(ProviderPath {
            client,
            events: events.into(),
        }),
        _actor: served,
    })
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(Role::Peer { prefix }) = &cli.role {
        return rt.block_on(peer(&cli.common.nats_url, prefix));
    }
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let c = &cli.common;
    let prefix = format!("bench.msg.{}", uuid::Uuid::new_v4().simple());
    let peer = spawn_self(&["--nats-url", &c.nats_url, "peer", "--prefix", &prefix]).await?;
    let peer_pid = peer.id().unwrap_or(0);
    let handled = Arc::new(Handled::default());
    let mut unders = Vec::new();
    for &auth in &c.auth {
        unders.push(launch(&cli, auth, &prefix, &handled).await?);
    }

    // The ideal relay's actor: a plain subscriber here.
    let nats = async_nats::connect(&c.nats_url).await?;
    let mut plain_actor = nats.subscribe(format!("{prefix}.actor")).await?;
    lattice_rpc::subjects::server_sync(&nats, Duration::from_secs(10)).await?;
    let (n, h) = (nats.clone(), handled.clone());
    let plain = tokio::spawn(async move {
        while let Some(m) = plain_actor.next().await {
            h.handled(&m.payload);
            if let Some(r) = m.reply {
                let _ = n.publish(r, bytes::Bytes::new()).await;
            }
        }
    });
    let bench = Arc::new(Bench {
        echo: format!("{prefix}.echo").into(),
        forward: format!("{prefix}.forward").into(),
        via: format!("{prefix}.via").into(),
        sink: format!("{prefix}.sink"),
        relay: format!("{prefix}.relay").into(),
        handled,
        nats,
    });

    if !c.json {
        println!(
            "messaging-nats vs bare NATS (echo, publish via a peer, subscription via a relay), {} operations or {} s each; CPU µs per call",
            c.requests, c.seconds
        );
    }
    Row::header(c.json);
    for &n in &c.in_flight {
        for op in Op::ALL {
            let op_name = op.name();
            let base = Baseline::measure(
                "messaging",
                op_name,
                n,
                c.json,
                &[("ideal", peer_pid), ("loadgen", own_pid())],
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
                base.row(
                    u.p.auth,
                    &[("provider", u.p.pid), ("loadgen", own_pid())],
                    load,
                )
                .await;
            }
        }
    }
    if let Some(secs) = c.soak_secs
        && let Some(u) = unders.iter().find(|u| u.p.auth == Auth::Hs256)
    {
        // Request, publish and subscribe in turn.
        let (b, to) = (bench.clone(), u.path.clone());
        soak("messaging", u.p.pid, secs, move |i| {
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
