//! Benchmark: HTTP requests through the httpserver provider beside the ideal
//! path it wraps, in one run, as a ratio, with CPU time per call for each
//! process.
//!
//! Both paths do the same work: an HTTP/1.1 request comes in, crosses NATS
//! to a trivial actor served in this process, and the actor's answer goes
//! back to the client.
//!
//! - provider: the httpserver provider (release build, its own
//!   single-threaded process) turns each request into a signed
//!   `HttpServer.HandleRequest` invocation to an actor served here with
//!   `Host::serve_actor` (which verifies it); once with Ed25519 claims
//!   (wasmbus 0.x) and once with HS256 (`require_mac`), one provider each.
//! - ideal: a bare hyper server in its own single-threaded process (this
//!   binary's `responder` subcommand, `ideal`) sends the same `HttpRequest`
//!   bytes as a plain NATS request to a plain subject, where a responder here
//!   answers the same `HttpResponse` bytes: no envelope, claims or chunk
//!   checks.
//!
//! The load generator is this process, single-threaded: `--in-flight`
//! HTTP/1.1 keep-alive connections, one request in flight on each, bounded
//! in count and time.
//!
//! ```sh
//! cargo build --release -p lattice-bench -p httpserver && target/release/bench-httpserver [--json]
//! ```

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::convert::Infallible;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use httpserver_interface::{HttpRequest, HttpResponse};
use hyper_util::rt::TokioIo;
use lattice_bench::{
    Auth, Baseline, Common, HttpConn, Provider, Row, http_connect, http_get, measure_with, own_pid,
    soak_with, spawn_self,
};
use lattice_host::ActorHandle;

#[derive(Parser)]
#[command(about = "httpserver provider vs a bare hyper server doing the same NATS hop, one run")]
struct Cli {
    #[command(flatten)]
    common: Common,
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

/// One GET on `conn`: whether the actor's answer came back.
async fn get(mut conn: HttpConn, i: usize) -> (HttpConn, bool) {
    let path = format!("/bench/{}?i={i}", i % 100);
    let ok = http_get(&mut conn, &path, &[("host", "bench")])
        .await
        .is_some_and(|body| body.as_ref() == b"ok");
    (conn, ok)
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(Role::Responder { listen, subject }) = &cli.role {
        return rt.block_on(responder(&cli.common.nats_url, listen, subject));
    }
    rt.block_on(run(cli))
}

/// One provider under test, signed one way: where it listens, and the actor
/// it calls.
struct Under {
    p: Provider,
    addr: String,
    _actor: ActorHandle,
}

async fn launch(cli: &Cli, auth: Auth) -> Result<Under> {
    let p = Provider::launch(
        &cli.common,
        auth,
        "httpserver",
        httpserver_interface::CONTRACT_ID,
        None,
    )
    .await?;
    let actor = lattice_host::new_actor();
    let served = p
        .host
        .serve_actor(
            &actor,
            |_inv: lattice_rpc::Invocation, body: Vec<u8>| async move {
                let req: HttpRequest = lattice_rpc::wire::deserialize(&body)?;
                lattice_rpc::wire::serialize(&answer(&req))
            },
        )
        .await?;
    let addr = format!("127.0.0.1:{}", lattice_fixtures::free_port()?);
    p.host
        .link_actor(&p.pref, &actor, &[("address", &addr)])
        .await?;
    Ok(Under {
        p,
        addr,
        _actor: served,
    })
}

async fn run(cli: Cli) -> Result<()> {
    let c = &cli.common;
    // The plain subject of the ideal path, answered here like the actor.
    let nats = async_nats::connect(&c.nats_url).await?;
    let subject = format!("bench.http.{}", uuid::Uuid::new_v4().simple());
    let mut sub = nats.subscribe(subject.clone()).await?;
    lattice_rpc::subjects::server_sync(&nats, Duration::from_secs(10)).await?;
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
    let responder = spawn_self(&[
        "--nats-url",
        &c.nats_url,
        "responder",
        "--listen",
        &ideal_addr,
        "--subject",
        &subject,
    ])
    .await?;
    let ideal_pid = responder.id().unwrap_or(0);
    let mut unders = Vec::new();
    for &auth in &c.auth {
        unders.push(launch(&cli, auth).await?);
    }

    if !c.json {
        println!(
            "httpserver provider vs ideal (bare hyper + the same NATS hop), GET, {} requests or {} s each, in flight = connections; CPU µs per call",
            c.requests, c.seconds
        );
    }
    Row::header(c.json);
    for &n in &c.in_flight {
        let conns = http_connect(&ideal_addr, n).await?;
        let base = Baseline::measure(
            "httpserver",
            "get",
            n,
            c.json,
            &[("ideal", ideal_pid), ("loadgen", own_pid())],
            measure_with(conns, c.requests, c.seconds, get),
        )
        .await;
        for u in &unders {
            let conns = http_connect(&u.addr, n).await?;
            let load = measure_with(conns, c.requests, c.seconds, get);
            base.row(
                u.p.auth,
                &[("provider", u.p.pid), ("loadgen", own_pid())],
                load,
            )
            .await;
        }
    }
    if let Some(secs) = c.soak_secs
        && let Some(u) = unders.iter().find(|u| u.p.auth == Auth::Hs256)
    {
        let conns = http_connect(&u.addr, 64).await?;
        soak_with("httpserver", u.p.pid, secs, conns, get)
            .await
            .print(c.json);
    }
    plain.abort();
    for u in unders {
        u.p.shutdown().await?;
    }
    Ok(())
}
