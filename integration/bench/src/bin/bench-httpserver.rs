//! Benchmark: HTTP requests through the httpserver provider beside the ideal
//! path it wraps, in one run, as a ratio.
//!
//! Both paths do the same work: an HTTP/1.1 request comes in, crosses NATS
//! to a trivial actor served in this process, and the actor's answer goes
//! back to the client.
//!
//! - provider: the httpserver provider (release build, its own process)
//!   turns each request into a signed `HttpServer.HandleRequest` invocation
//!   to an actor served here with `Host::serve_actor` (which verifies it).
//! - ideal: a bare hyper server in its own single-threaded process (this
//!   binary's `responder` subcommand) sends the same `HttpRequest` bytes as
//!   a plain NATS request to a plain subject, where a responder here answers
//!   the same `HttpResponse` bytes: no envelope, claims or chunk checks.
//!
//! The load generator is in-process: hyper HTTP/1.1 keep-alive connections,
//! one request in flight on each, bounded in count and time.
//!
//! ```sh
//! cargo run --release -p lattice-bench --bin bench-httpserver
//! ```

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use httpserver_interface::{HttpRequest, HttpResponse};
use hyper_util::rt::TokioIo;
use lattice_bench::{Measure, spawn_self, summarize};
use lattice_host::{Host, ProviderRef};

#[derive(Parser)]
#[command(about = "httpserver provider vs a bare hyper server doing the same NATS hop, one run")]
struct Cli {
    /// NATS of the lattice.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Requests per measurement at most.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Seconds per measurement at most.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// HTTP connections, one request in flight on each (repeatable).
    #[arg(long = "connections", default_values_t = [1usize, 64])]
    connections: Vec<usize>,
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Subcommand)]
enum Role {
    /// Internal: the ideal path's bare hyper server.
    Responder {
        /// Where to listen.
        #[arg(long)]
        listen: String,
        /// The NATS subject each request is sent to.
        #[arg(long)]
        subject: String,
    },
}

/// `connections` keep-alive connections to `addr`, each sending GETs one at
/// a time until `requests` in all or `seconds` pass.
async fn load(addr: &str, connections: usize, requests: usize, seconds: u64) -> Result<Measure> {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        let (next, errors) = (next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests || Instant::now() > deadline {
                    break;
                }
                let t = Instant::now();
                let req = hyper::Request::get(format!("/bench/{}?i={i}", i % 100))
                    .header("host", "bench")
                    .body(Full::new(Bytes::new()));
                let ok = match req {
                    Ok(req) => match send.send_request(req).await {
                        Ok(resp) => {
                            let ok = resp.status() == 200;
                            ok && resp.into_body().collect().await.is_ok()
                        }
                        Err(_) => false,
                    },
                    Err(_) => false,
                };
                lat.push(t.elapsed());
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                    break; // the connection may be gone
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    Ok(summarize(
        all,
        started.elapsed(),
        errors.load(Ordering::Relaxed),
    ))
}

/// The trivial actor: `200 ok` with the path in a header.
fn answer(req: &HttpRequest) -> HttpResponse {
    HttpResponse::ok(&b"ok"[..]).with_header("x-path", req.path.clone())
}

/// The ideal path's server: each request's `HttpRequest` bytes go to
/// `subject` as a plain NATS request; the reply's `HttpResponse` comes back.
async fn responder(nats_url: &str, listen: &str, subject: &str) -> Result<()> {
    let nats = async_nats::connect(nats_url).await?;
    let tcp = tokio::net::TcpListener::bind(listen).await?;
    println!("ready");
    loop {
        let (stream, _) = tcp.accept().await?;
        let _ = stream.set_nodelay(true);
        let (nats, subject) = (nats.clone(), subject.to_string());
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (nats, subject) = (nats.clone(), subject.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let mut header = httpserver_interface::HeaderMap::new();
                        for (k, v) in &parts.headers {
                            header
                                .entry(k.as_str().to_string())
                                .or_default()
                                .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
                        }
                        let r = HttpRequest {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_string(),
                            query_string: parts.uri.query().unwrap_or("").to_string(),
                            header,
                            body: body.to_vec(),
                        };
                        let resp = match lattice_rpc::wire::serialize(&r) {
                            Ok(bytes) => match nats.request(subject, bytes.into()).await {
                                Ok(m) => lattice_rpc::wire::deserialize::<HttpResponse>(&m.payload)
                                    .unwrap_or_else(|_| HttpResponse::with_status(500, "")),
                                Err(_) => HttpResponse::with_status(503, ""),
                            },
                            Err(_) => HttpResponse::with_status(500, ""),
                        };
                        let mut out = hyper::Response::new(Full::new(Bytes::from(resp.body)));
                        *out.status_mut() = hyper::StatusCode::from_u16(resp.status_code)
                            .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
                        for (k, vs) in resp.header {
                            for v in vs {
                                if let (Ok(k), Ok(v)) = (
                                    hyper::header::HeaderName::from_bytes(k.as_bytes()),
                                    hyper::header::HeaderValue::from_str(&v),
                                ) {
                                    out.headers_mut().append(k, v);
                                }
                            }
                        }
                        Ok::<_, Infallible>(out)
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Role::Responder { listen, subject }) = &cli.role {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return rt.block_on(responder(&cli.nats_url, listen, subject));
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let host = Host::builder().nats_url(&cli.nats_url).connect().await?;

    // The plain subject of the ideal path, answered here like the actor.
    let subject = format!("bench.http.{}", uuid::Uuid::new_v4().simple());
    let mut sub = host.nats().subscribe(subject.clone()).await?;
    host.nats().flush().await?;
    let nats = host.nats().clone();
    let plain = tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            let Some(reply) = m.reply else { continue };
            let resp = lattice_rpc::wire::deserialize::<HttpRequest>(&m.payload)
                .map(|r| answer(&r))
                .unwrap_or_else(|_| HttpResponse::with_status(400, ""));
            if let Ok(bytes) = lattice_rpc::wire::serialize(&resp) {
                let _ = nats.publish(reply, bytes.into()).await;
            }
        }
    });
    let ideal_addr = format!("127.0.0.1:{}", lattice_fixtures::free_port()?);
    let _responder = spawn_self(&[
        "--nats-url",
        &cli.nats_url,
        "responder",
        "--listen",
        &ideal_addr,
        "--subject",
        &subject,
    ])
    .await?;

    // The provider, and the same trivial actor behind it.
    let hd = host.host_data("default");
    let pref = ProviderRef::new(
        &hd.provider_key,
        "default",
        httpserver_interface::CONTRACT_ID,
    );
    let bin = lattice_fixtures::binary("httpserver")?;
    let _provider = host.launch(&bin, hd).await?;
    let actor = lattice_host::new_actor();
    let _served = host
        .serve_actor(
            &actor,
            |_inv: lattice_rpc::Invocation, body: Vec<u8>| async move {
                let req: HttpRequest = lattice_rpc::wire::deserialize(&body)?;
                lattice_rpc::wire::serialize(&answer(&req))
            },
        )
        .await?;
    let provider_addr = format!("127.0.0.1:{}", lattice_fixtures::free_port()?);
    host.link_actor(&pref, &actor, &[("address", &provider_addr)])
        .await?;

    println!(
        "httpserver provider vs ideal (bare hyper + the same NATS hop), GET, {} requests or {} s each",
        cli.requests, cli.seconds
    );
    println!(
        "{:>5} | {:>10} {:>9} {:>9} | {:>10} {:>9} {:>9} | {:>6}",
        "conns", "ideal r/s", "p50", "p99", "provider", "p50", "p99", "ratio"
    );
    for &n in &cli.connections {
        let ideal = load(&ideal_addr, n, cli.requests, cli.seconds).await?;
        let provider = load(&provider_addr, n, cli.requests, cli.seconds).await?;
        println!(
            "{:>5} | {:>10.0} {:>9.2?} {:>9.2?} | {:>10.0} {:>9.2?} {:>9.2?} | {:>5.0}%{}",
            n,
            ideal.ops_per_sec,
            ideal.p50,
            ideal.p99,
            provider.ops_per_sec,
            provider.p50,
            provider.p99,
            100.0 * provider.ops_per_sec / ideal.ops_per_sec.max(1.0),
            if ideal.errors + provider.errors > 0 {
                format!(
                    "  ({} ideal / {} provider errors)",
                    ideal.errors, provider.errors
                )
            } else {
                String::new()
            }
        );
    }
    plain.abort();
    host.delete_chunk_bucket().await?;
    Ok(())
}
