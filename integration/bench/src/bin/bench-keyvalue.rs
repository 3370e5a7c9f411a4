//! Benchmark: keyvalue `Get`/`Set` through keyvalue-redis beside the ideal
//! path it wraps, in one run, as a ratio.
//!
//! The ideal path is the physical floor of this design: a bare NATS
//! request/reply to a responder process that runs the same Redis command and
//! answers, with no envelope, claims, link lookup or MessagePack. The
//! provider path is the real thing: a signed invocation to keyvalue-redis
//! (release build), verified, dispatched, answered. A third column is the
//! ideal path plus one ed25519 signature per call (made by the client,
//! checked by the responder): the floor of any design that signs every call.
//! Responders are separate single-threaded processes; clients run in this
//! process.
//!
//! ```sh
//! cargo run --release -p lattice-bench --bin bench-keyvalue
//! ```

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use keyvalue_interface::KeyValueClient;
use lattice_bench::{measure, spawn_self};
use lattice_host::{Host, ProviderRef};

#[derive(Parser)]
#[command(about = "keyvalue-redis vs a bare NATS+Redis responder, one run, as a ratio")]
struct Cli {
    /// NATS of the lattice.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Redis both paths use.
    #[arg(long, default_value = "redis://127.0.0.1:6379/")]
    redis_url: String,
    /// Requests per measurement at most.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Seconds per measurement at most.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Tokio worker threads of the provider (0: single-threaded).
    #[arg(long, default_value_t = 0)]
    worker_threads: u32,
    /// Calls in flight (repeatable).
    #[arg(long = "in-flight", default_values_t = [1usize, 64])]
    in_flight: Vec<usize>,
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Subcommand)]
enum Role {
    /// Internal: the ideal-path responder process.
    Responder {
        #[arg(long)]
        subject: String,
        /// Verify a 64-byte ed25519 signature by this key before each command.
        #[arg(long)]
        issuer: Option<String>,
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

/// The ideal path's responder: request payload `g{key}` or `s{key}\0{value}`,
/// after a 64-byte signature when `issuer` is given.
async fn responder(
    nats_url: &str,
    redis_url: &str,
    subject: &str,
    issuer: Option<&str>,
) -> Result<()> {
    let issuer = issuer
        .map(nkeys::KeyPair::from_public_key)
        .transpose()?
        .map(Arc::new);
    let nats = async_nats::connect(nats_url).await?;
    let redis = redis::Client::open(redis_url)?;
    let conn = redis::aio::ConnectionManager::new(redis).await?;
    let mut sub = nats.subscribe(subject.to_string()).await?;
    lattice_rpc::subjects::server_sync(&nats, Duration::from_secs(10))
        .await
        .map_err(anyhow::Error::msg)?;
    println!("ready");
    while let Some(m) = sub.next().await {
        let (nats, mut conn, issuer) = (nats.clone(), conn.clone(), issuer.clone());
        tokio::spawn(async move {
            let Some(reply) = m.reply else { return };
            let payload = match &issuer {
                Some(kp) if m.payload.len() >= 64 => {
                    if kp.verify(&m.payload[64..], &m.payload[..64]).is_err() {
                        return;
                    }
                    m.payload.slice(64..)
                }
                Some(_) => return,
                None => m.payload.clone(),
            };
            let body: Vec<u8> = match payload.first() {
                Some(b'g') => {
                    let k = String::from_utf8_lossy(&payload[1..]).to_string();
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
                    let _ = redis::cmd("SET")
                        .arg(&rest[..split])
                        .arg(&rest[(split + 1).min(rest.len())..])
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
    if let Some(Role::Responder { subject, issuer }) = &cli.role {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return rt.block_on(responder(
            &cli.nats_url,
            &cli.redis_url,
            subject,
            issuer.as_deref(),
        ));
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(cli))
}

/// Starts a responder process (single-threaded, like the provider).
async fn spawn_responder(
    cli: &Cli,
    subject: &str,
    issuer: Option<&str>,
) -> Result<tokio::process::Child> {
    let mut args = vec![
        "--nats-url",
        &cli.nats_url,
        "--redis-url",
        &cli.redis_url,
        "responder",
        "--subject",
        subject,
    ];
    if let Some(i) = issuer {
        args.extend(["--issuer", i]);
    }
    spawn_self(&args).await
}

async fn run(cli: Cli) -> Result<()> {
    let subject = format!("bench.ideal.{}", uuid::Uuid::new_v4().simple());
    let _ideal = spawn_responder(&cli, &subject, None).await?;
    // The floor of any design that signs every call with ed25519: the ideal
    // path plus one signature made by the client and checked by the responder.
    let signer = Arc::new(nkeys::KeyPair::new_cluster());
    let signed_subject = format!("bench.signed.{}", uuid::Uuid::new_v4().simple());
    let _signed = spawn_responder(&cli, &signed_subject, Some(&signer.public_key())).await?;

    let host = Host::builder().nats_url(&cli.nats_url).connect().await?;
    let mut hd = host.host_data("default");
    hd.config_json = Some(serde_json::json!({ "url": cli.redis_url }).to_string());
    hd.worker_threads = Some(cli.worker_threads);
    let pref = ProviderRef::new(&hd.provider_key, "default", keyvalue_interface::CONTRACT_ID);
    let bin = lattice_fixtures::binary("keyvalue-redis")?;
    let _provider = host.launch(&bin, hd).await?;
    let actor = lattice_host::new_actor();
    host.link_actor(&pref, &actor, &[]).await?;
    let kv = KeyValueClient::new(host.rpc().clone(), &actor, &pref.key, "default");
    for i in 0..KEYS {
        kv.set(&key(i), VALUE, 0).await?;
    }
    let nats = host.nats().clone();

    println!(
        "keyvalue-redis vs ideal (bare NATS request/reply + the same Redis command), {} requests or {} s each, {}-byte values",
        cli.requests,
        cli.seconds,
        VALUE.len()
    );
    println!(
        "{:<4} {:>9} | {:>11} {:>9} {:>9} | {:>11} {:>9} {:>9} | {:>6} | {:>11} {:>6}",
        "op",
        "in flight",
        "ideal op/s",
        "p50",
        "p99",
        "provider",
        "p50",
        "p99",
        "ratio",
        "signed op/s",
        "ratio"
    );
    for &n in &cli.in_flight {
        for op in [Op::Get, Op::Set] {
            let ideal = {
                let (nats, subject) = (nats.clone(), subject.clone());
                measure(n, cli.requests, cli.seconds, move |i| {
                    let (nats, subject) = (nats.clone(), subject.clone());
                    async move {
                        let payload = match op {
                            Op::Get => format!("g{}", key(i)).into_bytes(),
                            Op::Set => format!("s{}\0{VALUE}", key(i)).into_bytes(),
                        };
                        nats.request(subject, payload.into()).await.is_ok()
                    }
                })
                .await
            };
            let signed = {
                let (nats, subject, signer) =
                    (nats.clone(), signed_subject.clone(), signer.clone());
                measure(n, cli.requests, cli.seconds, move |i| {
                    let (nats, subject, signer) = (nats.clone(), subject.clone(), signer.clone());
                    async move {
                        let body = match op {
                            Op::Get => format!("g{}", key(i)).into_bytes(),
                            Op::Set => format!("s{}\0{VALUE}", key(i)).into_bytes(),
                        };
                        let Ok(mut payload) = signer.sign(&body) else {
                            return false;
                        };
                        payload.extend_from_slice(&body);
                        nats.request(subject, payload.into()).await.is_ok()
                    }
                })
                .await
            };
            let provider = {
                let kv = kv.clone();
                measure(n, cli.requests, cli.seconds, move |i| {
                    let kv = kv.clone();
                    async move {
                        match op {
                            Op::Get => kv.get(&key(i)).await.is_ok(),
                            Op::Set => kv.set(&key(i), VALUE, 0).await.is_ok(),
                        }
                    }
                })
                .await
            };
            println!(
                "{:<4} {:>9} | {:>11.0} {:>9.2?} {:>9.2?} | {:>11.0} {:>9.2?} {:>9.2?} | {:>5.0}% | {:>11.0} {:>5.0}%{}",
                format!("{op:?}"),
                n,
                ideal.ops_per_sec,
                ideal.p50,
                ideal.p99,
                provider.ops_per_sec,
                provider.p50,
                provider.p99,
                100.0 * provider.ops_per_sec / ideal.ops_per_sec.max(1.0),
                signed.ops_per_sec,
                100.0 * provider.ops_per_sec / signed.ops_per_sec.max(1.0),
                if ideal.errors + provider.errors + signed.errors > 0 {
                    format!(
                        "  ({} ideal / {} signed / {} provider errors)",
                        ideal.errors, signed.errors, provider.errors
                    )
                } else {
                    String::new()
                }
            );
        }
    }
    kv.delete_many(
        "",
        &(0..KEYS)
            .map(key)
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .await?;
    Ok(())
}
