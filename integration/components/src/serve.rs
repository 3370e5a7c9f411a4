//! One fresh instance per call: an HTTP request from httpserver or a
//! message from a messaging provider, each in a store of its own with the
//! component's memory and time limits. A trap or a limit ends that instance
//! only: the caller gets a 500 (or the handler's error) and the host goes on.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use httpserver_interface::types::{HttpRequest, HttpResponse};
use lattice_rpc::RpcError;
use lattice_rpc::server::{Handler, HandlerFuture, Incoming};
use lattice_rpc::wire::{deserialize, serialize};
use messaging_interface::types::SubMessage;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::bindings::handler::MessageHandlerPre;
use crate::bindings::host::wasmcloud::messaging::types::BrokerMessage;
use crate::engine::EPOCH_TICK;
use crate::imports::{self, App, Ctx};

/// The largest response body a component may answer with.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Limits of one instance.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory, bytes.
    pub memory_bytes: usize,
    /// Time inside the component per call, ms.
    pub time_ms: u64,
    /// Instances at once.
    pub max_instances: u32,
}

/// A loaded component, ready to instantiate per call.
pub struct Runner {
    engine: Engine,
    http: Option<ProxyPre<Ctx>>,
    messaging: Option<MessageHandlerPre<Ctx>>,
    app: Arc<App>,
    env: Vec<(String, String)>,
    limits: Limits,
    permits: Arc<Semaphore>,
}

/// An instance's task, aborted when dropped: a call given up on (its time
/// limit passed) takes its instance and slot with it.
struct Task<T>(tokio::task::JoinHandle<T>);

impl<T> Task<T> {
    async fn join(&mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Runner {
    /// Links `component` against this host's imports. A component importing
    /// anything the host does not provide, or exporting nothing it can
    /// call, is refused here, by name.
    pub fn new(
        engine: &Engine,
        component: &Component,
        app: Arc<App>,
        env: Vec<(String, String)>,
        limits: Limits,
    ) -> Result<Self> {
        let (http, messaging) = link(engine, component, &app.name)?;
        Ok(Self {
            engine: engine.clone(),
            http,
            messaging,
            app,
            env,
            permits: Arc::new(Semaphore::new(limits.max_instances as usize)),
            limits,
        })
    }

    /// What the component exports, for the log.
    pub fn exports(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.http.is_some() {
            out.push("wasi:http/incoming-handler");
        }
        if self.messaging.is_some() {
            out.push("wasmcloud:messaging/handler");
        }
        out
    }

    fn store(&self) -> Result<Store<Ctx>> {
        // Nothing granted: no preopened directory, no socket, no
        // environment but the manifest's. stdout and stderr go to the
        // host's log.
        let wasi = WasiCtxBuilder::new()
            .envs(&self.env)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .inherit_stdout()
            .inherit_stderr()
            .build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .build();
        let mut store = Store::new(&self.engine, Ctx::new(self.app.clone(), wasi, limits));
        store.limiter(|c| &mut c.limits);
        let ticks = self.limits.time_ms.div_ceil(EPOCH_TICK.as_millis() as u64);
        store.set_epoch_deadline(ticks.max(1));
        store.epoch_deadline_trap();
        Ok(store)
    }

    /// Handles one HTTP request in a fresh instance, waiting for an
    /// instance slot and running in it within the time limit.
    pub async fn http(&self, req: HttpRequest) -> Result<HttpResponse> {
        let limit = Duration::from_millis(self.limits.time_ms);
        tokio::time::timeout(limit, self.http_within(req))
            .await
            .unwrap_or_else(|_| Err(self.late()))
    }

    /// Handles one message in a fresh instance (see [`Runner::http`]); the
    /// handler's `err` is the inner error.
    pub async fn message(&self, msg: SubMessage) -> Result<Result<(), String>> {
        let limit = Duration::from_millis(self.limits.time_ms);
        tokio::time::timeout(limit, self.message_within(msg))
            .await
            .unwrap_or_else(|_| Err(self.late()))
    }

    fn late(&self) -> anyhow::Error {
        anyhow!(
            "{} did not answer within its time limit ({} ms)",
            self.app.name,
            self.limits.time_ms
        )
    }

    async fn http_within(&self, req: HttpRequest) -> Result<HttpResponse> {
        let Some(pre) = &self.http else {
            anyhow::bail!(
                "{} does not export wasi:http/incoming-handler",
                self.app.name
            );
        };
        let permit = self.permits.clone().acquire_owned().await?;
        let request = to_hyper(req)?;
        let mut store = self.store()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let pre = pre.clone();
        let name = &self.app.name;
        let mut task = Task(tokio::spawn(async move {
            let _permit = permit;
            let proxy = pre.instantiate_async(&mut store).await?;
            let req = store.data_mut().http().new_incoming_request(
                wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http,
                request,
            )?;
            let out = store.data_mut().http().new_response_outparam(tx)?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        }));
        let response = match rx.await {
            Ok(Ok(resp)) => resp,
            Ok(Err(code)) => {
                let _ = task.join().await;
                anyhow::bail!("{name} answered the error {code:?}");
            }
            Err(_) => {
                return Err(match task.join().await {
                    Ok(Ok(())) => anyhow!("{name} returned without setting a response"),
                    Ok(Err(e)) => anyhow::Error::from(e).context(format!("{name} trapped")),
                    Err(e) => anyhow!("{name}'s task failed: {e}"),
                });
            }
        };
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| anyhow!("{name}'s response body failed: {e}"))?
            .to_bytes();
        match task.join().await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(
                    anyhow::Error::from(e).context(format!("{name} trapped after answering"))
                );
            }
            Err(e) => anyhow::bail!("{name}'s task failed: {e}"),
        }
        let mut header = httpserver_interface::types::HeaderMap::new();
        for (k, v) in parts.headers.iter() {
            if let Ok(v) = v.to_str() {
                header
                    .entry(k.as_str().to_string())
                    .or_default()
                    .push(v.to_string());
            }
        }
        Ok(HttpResponse {
            status_code: parts.status.as_u16(),
            header,
            body: body.to_vec(),
        })
    }

    async fn message_within(&self, msg: SubMessage) -> Result<Result<(), String>> {
        let Some(pre) = &self.messaging else {
            anyhow::bail!(
                "{} does not export wasmcloud:messaging/handler",
                self.app.name
            );
        };
        let permit = self.permits.clone().acquire_owned().await?;
        let mut store = self.store()?;
        let pre = pre.clone();
        let msg = BrokerMessage {
            subject: msg.subject,
            body: msg.body,
            reply_to: msg.reply_to,
        };
        let name = &self.app.name;
        Task(tokio::spawn(async move {
            let _permit = permit;
            let handler = pre.instantiate_async(&mut store).await?;
            handler
                .wasmcloud_messaging_handler()
                .call_handle_message(&mut store, &msg)
                .await
        }))
        .join()
        .await
        .map_err(|e| anyhow!("{name}'s task failed: {e}"))?
        .map_err(|e| anyhow::Error::from(e).context(format!("{name} trapped")))
    }
}

/// What the host can call in a component: its HTTP handler, its message
/// handler, each pre-instantiated.
pub type Exports = (Option<ProxyPre<Ctx>>, Option<MessageHandlerPre<Ctx>>);

/// Links `component` against this host's imports and finds its exports. A
/// component importing anything the host does not provide, or exporting
/// nothing it can call, is refused, by name.
pub fn link(engine: &Engine, component: &Component, name: &str) -> Result<Exports> {
    let mut linker = Linker::new(engine);
    imports::add_to_linker(&mut linker)?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| anyhow!("{name} cannot run on this host: {e}"))?;
    let http = ProxyPre::new(pre.clone()).ok();
    let messaging = MessageHandlerPre::new(pre).ok();
    if http.is_none() && messaging.is_none() {
        anyhow::bail!(
            "{name} exports neither wasi:http/incoming-handler@0.2.x nor \
             wasmcloud:messaging/handler@0.2.0: nothing could call it"
        );
    }
    Ok((http, messaging))
}

fn to_hyper(
    req: HttpRequest,
) -> Result<
    hyper::Request<http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>>,
> {
    let mut path = if req.path.starts_with('/') {
        req.path
    } else {
        format!("/{}", req.path)
    };
    if !req.query_string.is_empty() {
        path.push('?');
        path.push_str(&req.query_string);
    }
    let host = req
        .header
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .and_then(|(_, v)| v.first().cloned())
        .unwrap_or_else(|| "localhost".into());
    let mut b = hyper::Request::builder()
        .method(req.method.as_str())
        .uri(format!("http://{host}{path}"));
    for (k, vs) in &req.header {
        for v in vs {
            b = b.header(k.as_str(), v.as_str());
        }
    }
    let body = Full::new(Bytes::from(req.body))
        .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} })
        .boxed_unsync();
    b.body(body)
        .context("the request cannot be given to a component")
}

/// One line for a failed call: what failed and the root cause (a trap's
/// kind, say), without the wasm backtrace (logged at debug).
fn brief(e: &anyhow::Error) -> String {
    let root = e.root_cause().to_string();
    let root = root.lines().last().unwrap_or_default().trim();
    let top = e.to_string();
    if top.trim() == root {
        top
    } else {
        format!("{top}: {root}")
    }
}

/// Serves a [`Runner`] on the component's actor subject.
pub struct Served(pub Arc<Runner>);

impl Handler for Served {
    fn handle<'a>(&'a self, call: Incoming<'a>) -> HandlerFuture<'a> {
        Box::pin(async move {
            match call.operation {
                httpserver_interface::ops::HANDLE_REQUEST => {
                    let req: HttpRequest = deserialize(&call.body)?;
                    let resp = match self.0.http(req).await {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!(component = %self.0.app.name, "request failed: {}", brief(&e));
                            tracing::debug!(component = %self.0.app.name, "request failed: {e:?}");
                            HttpResponse {
                                status_code: 500,
                                header: Default::default(),
                                body: b"the component failed to handle this request\n".to_vec(),
                            }
                        }
                    };
                    serialize(&resp)
                }
                messaging_interface::ops::HANDLE_MESSAGE => {
                    let msg: SubMessage = deserialize(&call.body)?;
                    match self.0.message(msg).await {
                        Ok(Ok(())) => Ok(Vec::new()),
                        Ok(Err(e)) => Err(RpcError::internal(format!("the handler answered: {e}"))),
                        Err(e) => {
                            tracing::warn!(component = %self.0.app.name, "message failed: {}", brief(&e));
                            tracing::debug!(component = %self.0.app.name, "message failed: {e:?}");
                            Err(RpcError::internal(brief(&e)))
                        }
                    }
                }
                op => Err(RpcError::unknown_operation(format!(
                    "{op} is not an operation a component answers"
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(engine: &Engine, wat: &str) -> Component {
        Component::new(engine, wat::parse_str(wat).unwrap()).unwrap()
    }

    #[test]
    fn an_import_the_host_lacks_is_refused_by_name() {
        let engine = crate::engine::engine(2, 1 << 20).unwrap();
        let c = component(
            &engine,
            r#"(component
                 (import "wasi:blobstore/blobstore@0.2.0-draft" (instance (export "f" (func))))
               )"#,
        );
        let err = link(&engine, &c, "blob").err().unwrap().to_string();
        assert!(err.starts_with("blob cannot run on this host"), "{err}");
        assert!(
            err.contains("wasi:blobstore/blobstore@0.2.0-draft"),
            "{err}"
        );
    }

    #[test]
    fn a_component_with_nothing_to_call_is_refused() {
        let engine = crate::engine::engine(2, 1 << 20).unwrap();
        let c = component(
            &engine,
            r#"(component
                 (import "wasi:logging/logging@0.1.0-draft" (instance))
               )"#,
        );
        let err = link(&engine, &c, "quiet").err().unwrap().to_string();
        assert!(
            err.contains("exports neither wasi:http/incoming-handler"),
            "{err}"
        );
    }
}
