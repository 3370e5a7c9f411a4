//! Listeners and routes: one TCP listener per address, shared by every link
//! on it; each link is a route (host, path prefix) to one actor. A listener
//! opens with its first route and closes, draining, with its last.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use provider_sdk::ProviderContext;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::config::{LinkSettings, ListenerSettings};
use crate::error::LinkError;
use crate::routes::{Route, RouteHandle, RouteTable};
use crate::tls;

/// How long a closing listener waits for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections open at once per listener; more are closed on accept.
const MAX_CONNECTIONS: usize = 4096;
const H2_MAX_STREAMS: u32 = 128;

struct ListenerConfig {
    settings: ListenerSettings,
    tls: Option<TlsAcceptor>,
}

/// One TCP listener and its routes.
pub struct Listener {
    routes: RouteTable,
    config: RwLock<Arc<ListenerConfig>>,
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Listener {
    fn config(&self) -> Arc<ListenerConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn is_running(&self) -> bool {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner());
        task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops accepting, lets requests in flight finish (at most
    /// [`DRAIN_TIMEOUT`]), and returns once the socket is closed.
    async fn close(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Every listener of the provider, by address.
#[derive(Default)]
pub struct Listeners {
    map: tokio::sync::Mutex<HashMap<SocketAddr, Arc<Listener>>>,
    next_id: AtomicU64,
}

impl Listeners {
    /// Adds a link's route, opening the listener if it is the first on its
    /// address. Refuses a route another actor already serves, and listener
    /// settings that differ from the ones in force (unless only this actor
    /// is on the listener, whose relink then replaces them).
    pub async fn add(
        &self,
        ctx: &ProviderContext,
        actor: &str,
        s: LinkSettings,
    ) -> Result<RouteHandle, LinkError> {
        let LinkSettings {
            addr,
            listener,
            route,
        } = s;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let route = Arc::new(Route {
            id,
            actor: actor.to_string(),
            ctx: ctx.clone(),
            settings: route,
        });
        let mut map = self.map.lock().await;
        if let Some(l) = map.get(&addr) {
            let routes = l.routes.all();
            if let Some(taken) = routes
                .iter()
                .find(|r| r.same_key(&route) && r.actor != actor)
            {
                return Err(LinkError::DuplicateRoute {
                    addr,
                    route: route.describe(),
                    actor: taken.actor.clone(),
                });
            }
            if l.config().settings != listener {
                if let Some(other) = routes.iter().find(|r| r.actor != actor) {
                    return Err(LinkError::ListenerMismatch {
                        addr,
                        actor: other.actor.clone(),
                    });
                }
                let tls = listener.tls.as_ref().map(tls::acceptor).transpose()?;
                *l.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ListenerConfig {
                    settings: listener,
                    tls,
                });
            }
            // A relink of the same actor and route replaces it in place.
            let mut next: Vec<Arc<Route>> = routes
                .iter()
                .filter(|r| !r.same_key(&route))
                .cloned()
                .collect();
            next.push(route);
            l.routes.set(next);
            tracing::info!(%addr, actor, "route added to a listener");
            return Ok(RouteHandle { addr, id });
        }
        let tls = listener.tls.as_ref().map(tls::acceptor).transpose()?;
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| LinkError::Bind { addr, source })?;
        let (stop, stop_rx) = watch::channel(false);
        let l = Arc::new(Listener {
            routes: {
                let t = RouteTable::default();
                t.set(vec![route]);
                t
            },
            config: RwLock::new(Arc::new(ListenerConfig {
                settings: listener,
                tls,
            })),
            stop,
            task: std::sync::Mutex::new(None),
        });
        let task = tokio::spawn(accept_loop(l.clone(), tcp, stop_rx));
        *l.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        map.insert(addr, l);
        tracing::info!(%addr, actor, "listening");
        Ok(RouteHandle { addr, id })
    }

    /// Removes a link's route; new requests for it get 404 at once, those in
    /// flight finish. The last route closes the listener (draining).
    pub async fn remove(&self, h: &RouteHandle) {
        let mut map = self.map.lock().await;
        let Some(l) = map.get(&h.addr).cloned() else {
            return;
        };
        let next: Vec<Arc<Route>> = l
            .routes
            .all()
            .iter()
            .filter(|r| r.id != h.id)
            .cloned()
            .collect();
        let empty = next.is_empty();
        l.routes.set(next);
        if empty {
            map.remove(&h.addr);
            l.close().await;
            tracing::info!(addr = %h.addr, "listener closed");
        }
    }

    /// Closes every listener (shutdown).
    pub async fn close_all(&self) {
        let all: Vec<_> = self.map.lock().await.drain().collect();
        for (addr, l) in all {
            l.close().await;
            tracing::info!(%addr, "listener closed");
        }
    }

    /// Addresses whose listener stopped without being closed.
    pub async fn broken(&self) -> Vec<SocketAddr> {
        let map = self.map.lock().await;
        map.iter()
            .filter(|(_, l)| !l.is_running())
            .map(|(a, _)| *a)
            .collect()
    }
}

async fn accept_loop(l: Arc<Listener>, tcp: TcpListener, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = tcp.accept() => match accepted {
                Ok((stream, _peer)) => {
                    if conns.len() >= MAX_CONNECTIONS {
                        tracing::warn!("connection limit reached; closing a new connection");
                        continue;
                    }
                    conns.spawn(serve_connection(l.clone(), stream, stop.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, never spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(tcp);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = conns.len(),
            "drain deadline passed; closing connections still open"
        );
    }
}

async fn serve_connection(l: Arc<Listener>, tcp: TcpStream, stop: watch::Receiver<bool>) {
    let cfg = l.config();
    let _ = tcp.set_nodelay(true);
    // The first request's head (and the TLS handshake) must arrive by then.
    let deadline = Instant::now() + cfg.settings.header_read_timeout;
    match &cfg.tls {
        None => serve_io(l, &cfg, tcp, stop, deadline).await,
        Some(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => serve_io(l, &cfg, stream, stop, deadline).await,
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        },
    }
}

async fn serve_io<I>(
    l: Arc<Listener>,
    cfg: &ListenerConfig,
    io: I,
    mut stop: watch::Receiver<bool>,
    deadline: Instant,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let started = Arc::new(AtomicBool::new(false));
    let svc = {
        let started = started.clone();
        service_fn(move |req| {
            started.store(true, Ordering::Relaxed);
            let l = l.clone();
            async move { Ok::<_, Infallible>(crate::request::respond(&l.routes, req).await) }
        })
    };
    let s = &cfg.settings;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(s.header_read_timeout)
        .max_headers(s.max_headers)
        .max_buf_size(s.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(s.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(H2_MAX_STREAMS);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let first_head = tokio::time::sleep_until(deadline);
    tokio::pin!(first_head);
    let (mut first_seen, mut stopping) = (false, false);
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = &mut first_head, if !first_seen => {
                if !started.load(Ordering::Relaxed) {
                    tracing::debug!("no request head before the header timeout; closing");
                    return;
                }
                first_seen = true;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
