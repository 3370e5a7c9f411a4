//! The httpserver contract suite (`wasmcloud:httpserver`): real HTTP
//! requests to the provider's listener reach an in-process actor, and its
//! responses reach the client. Each case links its own actor on its own
//! port, so cases run concurrently.
//!
//! TLS and HTTP/2 are checked by the httpserver provider's own tests with a
//! full client stack; this suite speaks plain HTTP/1.1.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use httpserver_interface::types::{HttpRequest, HttpResponse};
use lattice_rpc::{Invocation, RpcError};
use tokio::sync::mpsc;

use crate::ensure_eq;
use crate::{cases, owned_pairs, pairs};
use lattice_fixtures::free_port;
use lattice_fixtures::http1::{self, Response};
use lattice_host::{ActorHandle, Host, ProviderRef};

type Handler = Arc<dyn Fn(HttpRequest) -> Result<HttpResponse, RpcError> + Send + Sync>;

/// What an httpserver case needs.
pub struct HttpSuite {
    host: Arc<Host>,
    provider: ProviderRef,
    base_values: Vec<(String, String)>,
}

/// A linked, served actor and the address its route listens on.
pub struct Served {
    /// `127.0.0.1:port`.
    pub addr: String,
    /// The actor key.
    pub actor: String,
    /// Requests the actor received.
    pub seen: mpsc::UnboundedReceiver<HttpRequest>,
    _served: ActorHandle,
}

impl HttpSuite {
    /// A suite for `provider`; `base_values` go into every link.
    pub fn new(host: Arc<Host>, provider: &ProviderRef, base_values: &[(&str, &str)]) -> Self {
        Self {
            host,
            provider: provider.clone(),
            base_values: owned_pairs(base_values),
        }
    }

    /// Serves a new actor with `handler`, links it on a free port with
    /// `values` added, and waits until the port accepts connections.
    pub async fn serve(
        &self,
        values: &[(&str, &str)],
        delay: Option<Duration>,
        handler: Handler,
    ) -> Result<Served> {
        let actor = lattice_host::new_actor();
        let (tx, seen) = mpsc::unbounded_channel();
        let served = self
            .host
            .serve_actor(&actor, move |inv: Invocation, body: Vec<u8>| {
                let (tx, handler) = (tx.clone(), handler.clone());
                async move {
                    if inv.operation != httpserver_interface::ops::HANDLE_REQUEST {
                        return Err(RpcError::unknown_operation(inv.operation));
                    }
                    let req: HttpRequest = lattice_rpc::wire::deserialize(&body)?;
                    let _ = tx.send(req.clone());
                    if let Some(d) = delay {
                        tokio::time::sleep(d).await;
                    }
                    lattice_rpc::wire::serialize(&handler(req)?)
                }
            })
            .await?;
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let mut all = pairs(&self.base_values, &[]);
        all.push(("address", &addr));
        all.extend_from_slice(values);
        self.host.link_actor(&self.provider, &actor, &all).await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while tokio::net::TcpStream::connect(&addr).await.is_err() {
            if std::time::Instant::now() > deadline {
                bail!("nothing listens on {addr} after the link was accepted");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Served {
            addr,
            actor,
            seen,
            _served: served,
        })
    }
}

fn echo() -> Handler {
    Arc::new(|req: HttpRequest| {
        Ok(HttpResponse::ok(req.body.clone()).with_header("x-method", req.method.clone()))
    })
}

async fn seen(s: &mut Served) -> Result<HttpRequest> {
    tokio::time::timeout(Duration::from_secs(5), s.seen.recv())
        .await
        .context("the actor was not called")?
        .context("actor channel closed")
}

async fn req(
    s: &Served,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response> {
    http1::request(&s.addr, method, target, headers, body).await
}

impl crate::Suite for HttpSuite {
    const INTERFACE: &'static str = "httpserver";
    const CASE_TIMEOUT: Duration = Duration::from_secs(60);

    fn cases() -> &'static [crate::Case<Self>] {
        CASES
    }
}

cases! {
    HttpSuite;
    get_with_query_string_reaches_the_actor: "GET path and raw query string arrive unchanged; the body comes back with 200",
    every_method_is_forwarded: "GET, POST, PUT, DELETE and PATCH arrive with their method",
    repeated_request_headers_arrive_as_a_list: "a header sent twice arrives as one name with both values",
    response_status_and_repeated_headers_reach_the_client: "the actor's status and every value of a repeated header reach the client",
    binary_bodies_round_trip: "a body with every byte value reaches the actor and comes back intact",
    empty_bodies_are_empty: "an empty request body arrives empty; an empty response body is sent as such",
    ten_mib_bodies_round_trip: "a 10 MiB body (chunked on the lattice) reaches the actor and comes back",
    body_over_max_content_len_is_413: "a body over max_content_len is refused with 413 and never reaches the actor",
    cors_preflight_is_answered: "an OPTIONS preflight from an allowed origin gets the CORS headers",
    readonly_mode_refuses_writes: "with readonly_mode a POST gets 405 and a GET still works",
    actor_error_is_500: "an actor answering an error gives 500 without the error text",
    slow_actor_is_504: "an actor slower than timeout_ms gives 504",
    unreachable_actor_is_503: "a linked actor that nobody serves gives 503",
}

async fn get_with_query_string_reaches_the_actor(c: &HttpSuite) -> Result<()> {
    let mut s = c.serve(&[], None, echo()).await?;
    let r = req(&s, "GET", "/a/b%20c?x=1&y=two&x=3", &[], b"").await?;
    ensure_eq!(r.status, 200);
    let got = seen(&mut s).await?;
    ensure_eq!(got.method.as_str(), "GET");
    ensure_eq!(got.path.as_str(), "/a/b%20c");
    ensure_eq!(got.query_string.as_str(), "x=1&y=two&x=3");
    Ok(())
}

async fn every_method_is_forwarded(c: &HttpSuite) -> Result<()> {
    let mut s = c.serve(&[], None, echo()).await?;
    for m in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
        let r = req(&s, m, "/m", &[], b"").await?;
        ensure_eq!(r.status, 200);
        ensure_eq!(r.header("x-method"), Some(m));
        ensure_eq!(seen(&mut s).await?.method, m.to_string());
    }
    Ok(())
}

async fn repeated_request_headers_arrive_as_a_list(c: &HttpSuite) -> Result<()> {
    let mut s = c.serve(&[], None, echo()).await?;
    req(
        &s,
        "GET",
        "/",
        &[("x-multi", "a"), ("x-multi", "b"), ("x-one", "1")],
        b"",
    )
    .await?;
    let got = seen(&mut s).await?;
    ensure_eq!(
        got.header.get("x-multi"),
        Some(&vec!["a".to_string(), "b".to_string()])
    );
    ensure_eq!(got.header.get("x-one"), Some(&vec!["1".to_string()]));
    Ok(())
}

async fn response_status_and_repeated_headers_reach_the_client(c: &HttpSuite) -> Result<()> {
    let handler: Handler = Arc::new(|_| {
        Ok(HttpResponse::with_status(201, "made")
            .with_header("set-cookie", "a=1")
            .with_header("set-cookie", "b=2"))
    });
    let s = c.serve(&[], None, handler).await?;
    let r = req(&s, "POST", "/", &[], b"x").await?;
    ensure_eq!(r.status, 201);
    ensure_eq!(r.header_all("set-cookie"), vec!["a=1", "b=2"]);
    ensure_eq!(r.body, b"made".to_vec());
    Ok(())
}

async fn binary_bodies_round_trip(c: &HttpSuite) -> Result<()> {
    let mut s = c.serve(&[], None, echo()).await?;
    let body: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let r = req(
        &s,
        "POST",
        "/bin",
        &[("content-type", "application/octet-stream")],
        &body,
    )
    .await?;
    ensure_eq!(r.status, 200);
    ensure_eq!(r.body, body.clone());
    ensure_eq!(seen(&mut s).await?.body, body);
    Ok(())
}

async fn empty_bodies_are_empty(c: &HttpSuite) -> Result<()> {
    let handler: Handler = Arc::new(|_| Ok(HttpResponse::with_status(204, Vec::new())));
    let mut s = c.serve(&[], None, handler).await?;
    let r = req(&s, "POST", "/empty", &[], b"").await?;
    ensure_eq!(r.status, 204);
    ensure_eq!(r.body, Vec::<u8>::new());
    ensure_eq!(seen(&mut s).await?.body, Vec::<u8>::new());
    Ok(())
}

async fn ten_mib_bodies_round_trip(c: &HttpSuite) -> Result<()> {
    let mut s = c.serve(&[("max_content_len", "20M")], None, echo()).await?;
    let body: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let r = req(&s, "PUT", "/big", &[], &body).await?;
    ensure_eq!(r.status, 200);
    ensure_eq!(r.body.len(), body.len());
    if r.body != body {
        bail!("10 MiB body came back different");
    }
    ensure_eq!(seen(&mut s).await?.body.len(), body.len());
    Ok(())
}

async fn body_over_max_content_len_is_413(c: &HttpSuite) -> Result<()> {
    let mut s = c.serve(&[("max_content_len", "1K")], None, echo()).await?;
    let r = req(&s, "POST", "/", &[], &[7u8; 2048]).await?;
    ensure_eq!(r.status, 413);
    if s.seen.try_recv().is_ok() {
        bail!("the actor was called with an oversized body");
    }
    Ok(())
}

async fn cors_preflight_is_answered(c: &HttpSuite) -> Result<()> {
    let s = c
        .serve(&[("allowed_origins", "https://app.example")], None, echo())
        .await?;
    let r = req(
        &s,
        "OPTIONS",
        "/api",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "PUT"),
        ],
        b"",
    )
    .await?;
    if !(200..300).contains(&r.status) {
        bail!("preflight answered {}", r.status);
    }
    ensure_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let methods = r.header("access-control-allow-methods").unwrap_or("");
    if !methods.contains("PUT") {
        bail!("allowed methods {methods:?} lack PUT");
    }
    Ok(())
}

async fn readonly_mode_refuses_writes(c: &HttpSuite) -> Result<()> {
    let s = c.serve(&[("readonly_mode", "true")], None, echo()).await?;
    ensure_eq!(req(&s, "POST", "/", &[], b"x").await?.status, 405);
    ensure_eq!(req(&s, "GET", "/", &[], b"").await?.status, 200);
    Ok(())
}

async fn actor_error_is_500(c: &HttpSuite) -> Result<()> {
    let handler: Handler = Arc::new(|_| Err(RpcError::internal("database password is hunter2")));
    let s = c.serve(&[], None, handler).await?;
    let r = req(&s, "GET", "/", &[], b"").await?;
    ensure_eq!(r.status, 500);
    if String::from_utf8_lossy(&r.body).contains("hunter2") {
        bail!("the actor's error text reached the client");
    }
    Ok(())
}

async fn slow_actor_is_504(c: &HttpSuite) -> Result<()> {
    let s = c
        .serve(
            &[("timeout_ms", "300")],
            Some(Duration::from_secs(3)),
            echo(),
        )
        .await?;
    let started = std::time::Instant::now();
    ensure_eq!(req(&s, "GET", "/", &[], b"").await?.status, 504);
    if started.elapsed() > Duration::from_secs(2) {
        bail!("504 took {:?}", started.elapsed());
    }
    Ok(())
}

async fn unreachable_actor_is_503(c: &HttpSuite) -> Result<()> {
    let s = c.serve(&[], None, echo()).await?;
    let addr = s.addr.clone();
    drop(s); // stops serving the actor; the link stays
    ensure_eq!(
        http1::request(&addr, "GET", "/", &[], b"").await?.status,
        503
    );
    Ok(())
}
