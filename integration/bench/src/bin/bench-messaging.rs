//! Benchmark: messaging-nats beside bare NATS, in one run, as ratios.
//!
//! - request: `Messaging.Request` through the provider to a plain responder,
//!   vs a bare NATS request to the same responder from the same client;
//! - publish: `Messaging.Publish` through the provider, vs a bare NATS
//!   request/reply hop to a process that publishes (the same two hops with no
//!   envelope, claims or MessagePack);
//! - subscription: messages/s handled by an actor through the provider
//!   (subscription → signed `HandleMessage` → actor), vs a bare relay process
//!   that forwards each message to the same actor subject as a plain request.
//!
//! ```sh
//! cargo run --release -p lattice-bench --bin bench-messaging
//! ```

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use lattice_bench::{Measure, measure, spawn_self};
use lattice_host::{Host, ProviderRef};
use messaging_interface::MessagingClient;

#[derive(Parser)]
#[command(about = "messaging-nats vs bare NATS, one run, as ratios")]
struct Cli {
    /// NATS of the lattice (also the application NATS).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Operations per measurement at most.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Seconds per measurement at most.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Calls in flight.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Subcommand)]
enum Role {
    /// Internal: answers requests on `subject` (echo), publishes what
    /// arrives on `publish_via` to `publish_to`, forwards `relay` messages
    /// as requests to `relay_to`.
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
    lattice_rpc::subjects::server_sync(&nats, Duration::from_secs(10))
        .await
        .map_err(anyhow::Error::msg)?;
    println!("ready");
    let n = nats.clone();
    tokio::spawn(async move {
        while let Some(m) = echo.next().await {
            if let Some(r) = m.reply {
                let _ = n.publish(r, m.payload).await;
            }
        }
    });
    let (n, p) = (nats.clone(), prefix.to_string());
    tokio::spawn(async move {
        while let Some(m) = via.next().await {
            let _ = n.publish(format!("{p}.sink"), m.payload).await;
            if let Some(r) = m.reply {
                let _ = n.publish(r, bytes::Bytes::new()).await;
            }
        }
    });
    let p = prefix.to_string();
    while let Some(m) = relay.next().await {
        let (n, p) = (nats.clone(), p.clone());
        tokio::spawn(async move {
            let _ = n.request(format!("{p}.actor"), m.payload).await;
        });
    }
    Ok(())
}

/// Messages/s that reach `counter` while `count` are published on `subject`
/// (bounded by `seconds`).
async fn delivered_rate(
    nats: &async_nats::Client,
    subject: &str,
    count: usize,
    seconds: u64,
    counter: &AtomicUsize,
) -> Result<f64> {
    counter.store(0, Ordering::SeqCst);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    for i in 0..count {
        nats.publish(subject.to_string(), format!("{i}").into())
            .await?;
        if i % 1000 == 0 && Instant::now() > deadline {
            break;
        }
    }
    nats.flush().await?;
    while counter.load(Ordering::SeqCst) < count
        && Instant::now() < deadline + Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(counter.load(Ordering::SeqCst) as f64 / started.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Role::Peer { prefix }) = &cli.role {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return rt.block_on(peer(&cli.nats_url, prefix));
    }
    tokio::runtime::Runtime::new()?.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let prefix = format!("bench.msg.{}", uuid::Uuid::new_v4().simple());
    let _peer = spawn_self(&["--nats-url", &cli.nats_url, "peer", "--prefix", &prefix]).await?;

    let host = Arc::new(Host::builder().nats_url(&cli.nats_url).connect().await?);
    let hd = host.host_data("default");
    let pref = ProviderRef::new(
        &hd.provider_key,
        "default",
        messaging_interface::CONTRACT_ID,
    );
    let _provider = host
        .launch(&lattice_fixtures::binary("messaging-nats")?, hd)
        .await?;
    let caller = lattice_host::new_actor();
    host.link_actor(&pref, &caller, &[]).await?;
    let client = MessagingClient::new(host.rpc().clone(), &caller, &pref.key, "default");
    let nats = host.nats().clone();

    println!(
        "messaging-nats vs bare NATS, {} in flight, {} operations or {} s each",
        cli.in_flight, cli.requests, cli.seconds
    );
    println!(
        "{:<9} | {:>10} {:>9} {:>9} | {:>10} {:>9} {:>9} | {:>6}",
        "path", "bare op/s", "p50", "p99", "provider", "p50", "p99", "ratio"
    );
    let row = |name: &str, bare: &Measure, prov: &Measure| {
        println!(
            "{name:<9} | {:>10.0} {:>9.2?} {:>9.2?} | {:>10.0} {:>9.2?} {:>9.2?} | {:>5.0}%",
            bare.ops_per_sec,
            bare.p50,
            bare.p99,
            prov.ops_per_sec,
            prov.p50,
            prov.p99,
            100.0 * prov.ops_per_sec / bare.ops_per_sec.max(1.0)
        );
    };

    let echo = format!("{prefix}.echo");
    let bare = {
        let (n, s) = (nats.clone(), echo.clone());
        measure(cli.in_flight, cli.requests, cli.seconds, move |_| {
            let (n, s) = (n.clone(), s.clone());
            async move { n.request(s, "ping".into()).await.is_ok() }
        })
        .await
    };
    let prov = {
        let (c, s) = (client.clone(), echo.clone());
        measure(cli.in_flight, cli.requests, cli.seconds, move |_| {
            let (c, s) = (c.clone(), s.clone());
            async move { c.request(&s, b"ping", Duration::from_secs(5)).await.is_ok() }
        })
        .await
    };
    row("request", &bare, &prov);

    let via = format!("{prefix}.via");
    let sink = format!("{prefix}.sink");
    let bare = {
        let (n, s) = (nats.clone(), via.clone());
        measure(cli.in_flight, cli.requests, cli.seconds, move |_| {
            let (n, s) = (n.clone(), s.clone());
            async move { n.request(s, "event".into()).await.is_ok() }
        })
        .await
    };
    let prov = {
        let (c, s) = (client.clone(), sink.clone());
        measure(cli.in_flight, cli.requests, cli.seconds, move |_| {
            let (c, s) = (c.clone(), s.clone());
            async move { c.publish(&s, None, b"event").await.is_ok() }
        })
        .await
    };
    row("publish", &bare, &prov);

    // Subscriptions: the same actor, reached by the provider (signed
    // HandleMessage) or by the bare relay (a plain request on its subject).
    let handled = Arc::new(AtomicUsize::new(0));
    let actor = lattice_host::new_actor();
    let h = handled.clone();
    let _served = host
        .serve_actor(&actor, move |_: lattice_rpc::Invocation, _: Vec<u8>| {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::Relaxed);
                Ok(Vec::new())
            }
        })
        .await?;
    let plain_actor = nats.subscribe(format!("{prefix}.actor")).await?;
    let h = handled.clone();
    let n = nats.clone();
    tokio::spawn(plain_actor.for_each(move |m| {
        let (h, n) = (h.clone(), n.clone());
        async move {
            h.fetch_add(1, Ordering::Relaxed);
            if let Some(r) = m.reply {
                let _ = n.publish(r, bytes::Bytes::new()).await;
            }
        }
    }));
    lattice_rpc::subjects::server_sync(&nats, Duration::from_secs(10))
        .await
        .map_err(anyhow::Error::msg)?;
    let subject = format!("{prefix}.events");
    host.link_actor(
        &pref,
        &actor,
        &[("subscription", &subject), ("max_concurrent", "64")],
    )
    .await?;
    let count = cli.requests;
    let bare_rate = delivered_rate(
        &nats,
        &format!("{prefix}.relay"),
        count,
        cli.seconds,
        &handled,
    )
    .await?;
    let prov_rate = delivered_rate(&nats, &subject, count, cli.seconds, &handled).await?;
    println!(
        "{:<9} | {:>10.0} {:>9} {:>9} | {:>10.0} {:>9} {:>9} | {:>5.0}%   (messages/s handled)",
        "subscribe",
        bare_rate,
        "",
        "",
        prov_rate,
        "",
        "",
        100.0 * prov_rate / bare_rate.max(1.0)
    );
    Ok(())
}
