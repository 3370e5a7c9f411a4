//! Benchmark: keyvalue `Get`/`Set` through keyvalue-redis beside the ideal
//! path it wraps, in one run, as a ratio, with CPU time per call for each
//! process.
//!
//! The ideal path is the physical floor of this design: a bare NATS
//! request/reply to a responder process that runs the same Redis command and
//! answers, with no envelope, claims, link lookup or MessagePack. The
//! provider path is the real thing: a signed invocation to keyvalue-redis
//! (release build), verified, dispatched, answered; once with Ed25519 claims
//! (wasmbus 0.x) and once with HS256 (`require_mac`). The responder and the
//! providers are single-threaded processes; the load generator is this
//! process, single-threaded too.
//!
//! ```sh
//! cargo build --release --workspace --bins && target/release/bench-keyvalue [--json]
//! ```

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use keyvalue_interface::KeyValueClient;
use lattice_bench::{Auth, Baseline, Common, Provider, Row, measure, own_pid, soak, spawn_self};

#[derive(Parser)]
#[command(about = "keyvalue-redis vs a bare NATS+Redis responder, one run, as ratios")]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// Redis both paths use.
    #[arg(long, default_value = "redis://127.0.0.1:6379/", global = true)]
    redis_url: String,
    /// Pad the ideal path's requests with this many bytes (ignored by the
    /// responder): the provider path's envelopes are ~1.2 KB, and this
    /// separates what their size costs (NATS) from what handling them costs.
    #[arg(long, default_value_t = 0, global = true)]
    ideal_pad_bytes: usize,
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Subcommand)]
enum Role {
    /// Internal: the ideal-path responder process.
    Responder {
        #[arg(long)]
        subject: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Get,
    Set,
}

const KEYS: usize = 1000;
const VALUE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn key(i: usize) -> String {
    format!("bench:{}", i % KEYS)
}

/// The ideal path's responder: request payload `g{key}` or `s{key}\0{value}`.
async fn responder(nats_url: &str, redis_url: &str, subject: &str) -> Result<()> {
    let nats = async_nats::connect(nats_url).await?;
    let redis = redis::Client::open(redis_url)?;
    let conn = redis::aio::ConnectionManager::new(redis).await?;
    let mut sub = nats.subscribe(subject.to_string()).await?;
    lattice_rpc::subjects::server_sync(&nats, Duration::from_secs(10)).await?;
    println!("ready");
    while let Some(m) = sub.next().await {
        let (nats, mut conn) = (nats.clone(), conn.clone());
        tokio::spawn(async move {
            let Some(reply) = m.reply else { return };
            let payload = m.payload;
            let body: Vec<u8> = match payload.first() {
                Some(b'g') => {
                    let rest = &payload[1..];
                    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
                    let k = String::from_utf8_lossy(&rest[..end]).to_string();
                    redis::cmd("GET")
                        .arg(k)
                        .query_async::<Option<Vec<u8>>>(&mut conn)
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or_default()
                }
                _ => {
                    let rest = &payload[1..];
                    let split = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
                    let value = &rest[(split + 1).min(rest.len())..];
                    let value_end = value.iter().position(|b| *b == 0).unwrap_or(value.len());
                    let _ = redis::cmd("SET")
                        .arg(&rest[..split])
                        .arg(&value[..value_end])
                        .query_async::<()>(&mut conn)
                        .await;
                    Vec::new()
                }
            };
            let _ = nats.publish(reply, body.into()).await;
        });
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(Role::Responder { subject }) = &cli.role {
        return rt.block_on(responder(&cli.common.nats_url, &cli.redis_url, subject));
    }
    rt.block_on(run(cli))
}

/// One provider under test, signed one way, and its client.
struct Under {
    p: Provider,
    kv: Arc<KeyValueClient>,
}

async fn launch(cli: &Cli, auth: Auth) -> Result<Under> {
    let config = serde_json::json!({ "url": cli.redis_url });
    let p = Provider::launch(
        &cli.common,
        auth,
        "keyvalue-redis",
        keyvalue_interface::CONTRACT_ID,
        Some(config),
    )
    .await?;
    let actor = lattice_host::new_actor();
    p.host.link_actor(&p.pref, &actor, &[]).await?;
    let kv = Arc::new(KeyValueClient::new(
        p.host.rpc().clone(),
        &actor,
        &p.pref.key,
        "default",
    ));
    Ok(Under { p, kv })
}

async fn run(cli: Cli) -> Result<()> {
    let c = &cli.common;
    let subject = format!("bench.ideal.{}", uuid::Uuid::new_v4().simple());
    let ideal_proc = spawn_responder(&cli, &subject).await?;
    let ideal_pid = ideal_proc.id().unwrap_or(0);
    let mut unders = Vec::new();
    for &auth in &c.auth {
        unders.push(launch(&cli, auth).await?);
    }
    if let Some(u) = unders.first() {
        for i in 0..KEYS {
            u.kv.set(&key(i), VALUE, 0).await?;
        }
    }
    let nats = async_nats::connect(&c.nats_url).await?;

    if !c.json {
        println!(
            "keyvalue-redis vs ideal (bare NATS request/reply + the same Redis command), {} requests or {} s each, {}-byte values; CPU µs per call",
            c.requests,
            c.seconds,
            VALUE.len()
        );
    }
    Row::header(c.json);
    for &n in &c.in_flight {
        for op in [Op::Get, Op::Set] {
            let op_name = format!("{op:?}").to_lowercase();
            let procs = [("ideal", ideal_pid), ("loadgen", own_pid())];
            let base = Baseline::measure("keyvalue", &op_name, n, c.json, &procs, {
                let ideal = Arc::new((
                    nats.clone(),
                    async_nats::Subject::from(subject.as_str()),
                    vec![b'p'; cli.ideal_pad_bytes],
                ));
                measure(n, c.requests, c.seconds, move |i| {
                    let ideal = ideal.clone();
                    async move {
                        let mut payload = match op {
                            Op::Get => format!("g{}", key(i)).into_bytes(),
                            Op::Set => format!("s{}\0{VALUE}", key(i)).into_bytes(),
                        };
                        if !ideal.2.is_empty() {
                            payload.push(0);
                            payload.extend_from_slice(&ideal.2);
                        }
                        ideal
                            .0
                            .request(ideal.1.clone(), payload.into())
                            .await
                            .is_ok()
                    }
                })
            })
            .await;
            for u in &unders {
                let kv = u.kv.clone();
                let load = measure(n, c.requests, c.seconds, move |i| {
                    let kv = kv.clone();
                    async move {
                        match op {
                            Op::Get => kv.get(&key(i)).await.is_ok(),
                            Op::Set => kv.set(&key(i), VALUE, 0).await.is_ok(),
                        }
                    }
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
        let kv = u.kv.clone();
        soak("keyvalue", u.p.pid, secs, move |i| {
            let kv = kv.clone();
            async move { kv.get(&key(i)).await.is_ok() }
        })
        .await
        .print(c.json);
    }
    if let Some(u) = unders.first() {
        let keys: Vec<String> = (0..KEYS).map(key).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        u.kv.delete_many("", &keys).await?;
    }
    for u in unders {
        u.p.shutdown().await?;
    }
    Ok(())
}

/// Starts the responder process (single-threaded, like the provider).
async fn spawn_responder(cli: &Cli, subject: &str) -> Result<tokio::process::Child> {
    spawn_self(&[
        "--nats-url",
        &cli.common.nats_url,
        "--redis-url",
        &cli.redis_url,
        "responder",
        "--subject",
        subject,
    ])
    .await
}
