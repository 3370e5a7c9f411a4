//! Benchmark: secrets-vault beside a bare Vault read, in one run, as ratios.
//!
//! - provider: `Secrets.Get` of one field through the lattice (signed
//!   invocation, allow-list, KV v2 read, seal), opened by the caller;
//! - bare: the same KV v2 read (`GET /v1/secret/data/{path}`) from the same
//!   process over kept-alive HTTP/1.1 connections, one per caller.
//!
//! Both against a private OpenBao dev server (`bao` on PATH), at 1 and 64
//! calls in flight.
//!
//! ```sh
//! cargo run --release -p lattice-bench --bin bench-secrets
//! ```

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use lattice_bench::{Measure, summarize};
use lattice_fixtures::{VaultFixture, VaultServer};
use lattice_host::{Host, ProviderRef};
use secrets_interface::SecretsClient;
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(about = "secrets-vault vs a bare Vault read, one run, as ratios")]
struct Cli {
    /// NATS of the lattice.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Operations per measurement at most.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Seconds per measurement at most.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

/// Runs `call(worker)` from `in_flight` workers until `requests` or `seconds`;
/// unlike `lattice_bench::measure` the call is told its worker, which
/// owns one kept-alive connection.
async fn measure<F, Fut>(in_flight: usize, requests: usize, seconds: u64, call: F) -> Measure
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..in_flight {
        let (call, next, failed) = (call.clone(), next.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < requests && Instant::now() < deadline {
                let t = Instant::now();
                if call(worker).await {
                    lat.push(t.elapsed());
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    summarize(all, started.elapsed(), failed.load(Ordering::Relaxed))
}

/// One kept-alive HTTP/1.1 connection to Vault.
async fn connect(vault: &VaultFixture) -> Result<SendRequest<Empty<Bytes>>> {
    let tcp = tokio::net::TcpStream::connect(&vault.addr).await?;
    tcp.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn bare_read(
    conn: &Mutex<SendRequest<Empty<Bytes>>>,
    vault: &VaultFixture,
    path: &str,
) -> bool {
    let req = hyper::Request::get(format!("/v1/{}/data/{path}", vault.mount))
        .header("host", &vault.addr)
        .header("x-vault-token", &vault.token)
        .body(Empty::new());
    let Ok(req) = req else { return false };
    let mut conn = conn.lock().await;
    if conn.ready().await.is_err() {
        return false;
    }
    match conn.send_request(req).await {
        Ok(resp) if resp.status() == 200 => {
            let Ok(body) = resp.into_body().collect().await else {
                return false;
            };
            serde_json::from_slice::<serde_json::Value>(&body.to_bytes())
                .is_ok_and(|v| v["data"]["data"]["pw"].is_string())
        }
        _ => false,
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Runtime::new()?.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let vault = VaultServer::start().await?;
    let fixture = Arc::new(vault.fixture.clone());
    let path = "bench/db";
    fixture
        .put(path, serde_json::json!({"pw": "bench-value"}))
        .await?;

    let host = Arc::new(Host::builder().nats_url(&cli.nats_url).connect().await?);
    let hd = host.host_data("default");
    let pref = ProviderRef::new(&hd.provider_key, "default", secrets_interface::CONTRACT_ID);
    let provider = host
        .launch(&lattice_fixtures::binary("secrets-vault")?, hd)
        .await?;
    let actor = lattice_host::new_actor();
    let mut ld = host.link(
        &pref,
        &actor,
        &[("addr", &fixture.url()), ("allowed_paths", "bench/*")],
    );
    ld.secrets.insert(
        "token".into(),
        host.seal_for(&provider.host_data, &fixture.token)?,
    );
    let ack = host.put_link(&pref, &ld).await?;
    anyhow::ensure!(ack.accepted, "link refused: {:?}", ack.error);
    let client = Arc::new(SecretsClient::new(
        host.rpc().clone(),
        &actor,
        &pref.key,
        "default",
    ));
    client
        .get_open(path, Some("pw"), None)
        .await
        .context("a first read through the provider")?;

    println!(
        "secrets-vault vs bare Vault KV v2 read, {} operations or {} s each",
        cli.requests, cli.seconds
    );
    println!(
        "{:>9} {:>10} {:>9} {:>9} {:>10} {:>9} {:>9} {:>6}",
        "in flight", "bare op/s", "p50", "p99", "provider", "p50", "p99", "ratio"
    );
    for in_flight in [1usize, 64] {
        let mut conns = Vec::new();
        for _ in 0..in_flight {
            conns.push(Mutex::new(connect(&fixture).await?));
        }
        let conns = Arc::new(conns);
        let f = fixture.clone();
        let bare = measure(in_flight, cli.requests, cli.seconds, move |w| {
            let (conns, f) = (conns.clone(), f.clone());
            async move { bare_read(&conns[w], &f, path).await }
        })
        .await;
        let c = client.clone();
        let prov = measure(in_flight, cli.requests, cli.seconds, move |_| {
            let c = c.clone();
            async move { c.get_open(path, Some("pw"), None).await.is_ok() }
        })
        .await;
        println!(
            "{:>9} {:>10.0} {:>9.2?} {:>9.2?} {:>10.0} {:>9.2?} {:>9.2?} {:>5.0}%",
            in_flight,
            bare.ops_per_sec,
            bare.p50,
            bare.p99,
            prov.ops_per_sec,
            prov.p50,
            prov.p99,
            100.0 * prov.ops_per_sec / bare.ops_per_sec.max(1.0)
        );
        if bare.errors + prov.errors > 0 {
            println!("  failed: bare {}, provider {}", bare.errors, prov.errors);
        }
    }
    drop(provider);
    drop(vault);
    Ok(())
}
