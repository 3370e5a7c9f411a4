//! The one invocation path, shared by providers (the SDK answers its
//! provider subject with it) and hosts (serving actor subjects): take a
//! message, decode the envelope, fetch a chunked body, verify the claims,
//! hand the invocation to a [`Handler`], chunk a large result, and publish
//! exactly one [`InvocationResponse`] to the reply subject.
//!
//! Back-pressure: at most `max_inflight` invocations are handled at once;
//! past that an invocation is answered `overloaded` at once. Draining: on
//! stop the server leaves its subscription (so the queue group sends new work
//! elsewhere), answers what was already delivered to it, then waits for the
//! calls in flight up to the drain deadline.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Message, Subject, Subscriber};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::chunking::{ChunkStore, DEFAULT_MAX_BODY_BYTES};
use crate::claims::Verifier;
use crate::error::RpcError;
use crate::trace;
use crate::view::{EntityRef, InvocationIn};
use crate::wire::{self, Invocation, InvocationResponse};

/// Default number of invocations handled at once before `overloaded`.
pub const DEFAULT_MAX_INFLIGHT: u32 = 1024;

/// A boxed handler future: boxed once per call so that the task spawned for
/// an invocation stays small whatever the handler does underneath.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, RpcError>> + Send + 'a>>;

/// One verified call as a handler gets it: its parts borrowed from the
/// message, and its whole body (a slice of the message when it came inline,
/// the object store's bytes when it came chunked).
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    /// Caller.
    pub origin: EntityRef<'a>,
    /// Callee.
    pub target: EntityRef<'a>,
    /// `Service.Method`.
    pub operation: &'a str,
    /// Invocation id.
    pub id: &'a str,
    /// The sender's host id.
    pub host_id: &'a str,
    /// The whole argument.
    pub body: Bytes,
}

impl Incoming<'_> {
    /// An owned copy of the envelope (claims and body left out).
    pub fn to_invocation(&self) -> Invocation {
        Invocation {
            origin: self.origin.to_owned(),
            target: self.target.to_owned(),
            operation: self.operation.to_string(),
            id: self.id.to_string(),
            host_id: self.host_id.to_string(),
            content_length: Some(self.body.len() as u64),
            ..Invocation::default()
        }
    }
}

/// What answers verified invocations: a provider's operations, or an actor.
pub trait Handler: Send + Sync + 'static {
    /// Handles one verified call. The result is the operation's encoded reply.
    fn handle<'a>(&'a self, call: Incoming<'a>) -> HandlerFuture<'a>;
}

/// A closure taking an owned envelope and body (tests, simple actors).
impl<F, Fut> Handler for F
where
    F: Fn(Invocation, Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<u8>, RpcError>> + Send + 'static,
{
    fn handle<'a>(&'a self, call: Incoming<'a>) -> HandlerFuture<'a> {
        let inv = call.to_invocation();
        Box::pin(self(inv, call.body.to_vec()))
    }
}

/// `part` as a slice of `whole` without copying when it lies inside it.
fn sub_bytes(whole: &Bytes, part: &[u8]) -> Bytes {
    let (start, end) = (
        whole.as_ptr() as usize,
        whole.as_ptr() as usize + whole.len(),
    );
    let p = part.as_ptr() as usize;
    if part.is_empty() {
        Bytes::new()
    } else if p >= start && p + part.len() <= end {
        whole.slice(p - start..p - start + part.len())
    } else {
        Bytes::copy_from_slice(part)
    }
}

/// Serves invocations addressed to one entity (a provider's key and link
/// name, or an actor).
pub struct InvocationServer<H> {
    nats: async_nats::Client,
    chunks: Arc<ChunkStore>,
    verifier: Arc<Verifier>,
    handler: H,
    inflight: Arc<Semaphore>,
    max_inflight: u32,
    max_body_bytes: u64,
}

/// Builds an [`InvocationServer`].
pub struct ServerBuilder {
    nats: async_nats::Client,
    chunks: Arc<ChunkStore>,
    verifier: Arc<Verifier>,
    max_inflight: u32,
    max_body_bytes: u64,
}

impl ServerBuilder {
    /// Invocations handled at once before answering `overloaded` (at least 1).
    pub fn max_inflight(mut self, n: u32) -> Self {
        self.max_inflight = n.max(1);
        self
    }

    /// Largest argument accepted, in bytes; larger ones answer `too-large`.
    pub fn max_body_bytes(mut self, n: u64) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// The server, answering with `handler`.
    pub fn build<H: Handler>(self, handler: H) -> InvocationServer<H> {
        InvocationServer {
            nats: self.nats,
            chunks: self.chunks,
            verifier: self.verifier,
            handler,
            inflight: Arc::new(Semaphore::new(self.max_inflight as usize)),
            max_inflight: self.max_inflight,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

impl InvocationServer<()> {
    /// A builder: invocations arrive on `nats`, large bodies go through
    /// `chunks`, and every invocation must pass `verifier`.
    pub fn builder(
        nats: async_nats::Client,
        chunks: Arc<ChunkStore>,
        verifier: Arc<Verifier>,
    ) -> ServerBuilder {
        ServerBuilder {
            nats,
            chunks,
            verifier,
            max_inflight: DEFAULT_MAX_INFLIGHT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl<H: Handler> InvocationServer<H> {
    /// Invocations being handled now.
    pub fn in_flight(&self) -> usize {
        self.max_inflight as usize - self.inflight.available_permits()
    }

    /// Serves `sub` until `stop` resolves to a drain deadline (or the
    /// subscription ends); then drains as the module docs say and returns.
    pub async fn serve(self: Arc<Self>, mut sub: Subscriber, stop: impl Future<Output = Duration>) {
        let mut stop = std::pin::pin!(stop);
        let drain = loop {
            tokio::select! {
                biased;
                drain = &mut stop => break drain,
                msg = sub.next() => match msg {
                    Some(m) => self.dispatch(m).await,
                    None => {
                        tracing::warn!("invocation subscription closed");
                        break Duration::ZERO;
                    }
                },
            }
        };
        // Leave the queue group, then serve what was already delivered to
        // this process: the server will not give it to another instance.
        match sub.drain().await {
            Ok(()) => {
                while let Some(m) = sub.next().await {
                    self.dispatch(m).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not drain the invocation subscription"),
        }
        let all = self.inflight.acquire_many(self.max_inflight);
        match tokio::time::timeout(drain, all).await {
            Ok(_) => tracing::info!("in-flight invocations drained"),
            Err(_) => tracing::warn!(
                in_flight = self.in_flight(),
                "drain deadline passed with invocations still in flight"
            ),
        }
        self.inflight.close();
    }

    /// Takes one message: spawns its handling when a slot is free, else
    /// answers `overloaded` (or `shutting-down`) at once, without a task.
    pub async fn dispatch(self: &Arc<Self>, m: Message) {
        match self.inflight.clone().try_acquire_owned() {
            Ok(permit) => {
                let server = self.clone();
                tokio::spawn(async move {
                    server.answer(m).await;
                    drop(permit);
                });
            }
            Err(full_or_closed) => {
                let err = match full_or_closed {
                    tokio::sync::TryAcquireError::Closed => {
                        RpcError::shutting_down("shutting down; retry elsewhere")
                    }
                    tokio::sync::TryAcquireError::NoPermits => RpcError::overloaded(format!(
                        "{} invocations in flight; retry later",
                        self.max_inflight
                    )),
                };
                let id = invocation_id(&m.payload);
                self.reply(m.reply.as_ref(), &InvocationResponse::err(id, &err))
                    .await;
            }
        }
    }

    async fn reply(&self, to: Option<&Subject>, resp: &InvocationResponse) {
        let Some(to) = to else {
            tracing::debug!("invocation without a reply subject; answer dropped");
            return;
        };
        match wire::serialize_sized(resp, resp.msg.len() + 96) {
            Ok(bytes) => {
                if let Err(e) = self.nats.publish(to.clone(), bytes.into()).await {
                    tracing::warn!(error = %e, "could not publish a response");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not encode a response"),
        }
    }

    /// Answers one invocation, exactly once.
    pub async fn answer(&self, m: Message) {
        let (payload, reply) = (m.payload, m.reply);
        let mut inv: InvocationIn<'_> = match rmp_serde::from_slice(&payload) {
            Ok(inv) => inv,
            Err(e) => {
                let err = RpcError::bad_envelope(format!(
                    "the message is not an invocation envelope ({})",
                    describe_decode_error(&e)
                ));
                tracing::debug!(error = %err, "rejected an invocation");
                self.reply(reply.as_ref(), &InvocationResponse::err("", &err))
                    .await;
                return;
            }
        };
        // Moved out, not cloned: only the task-local needs it from here on.
        let context = inv.trace_context.take().unwrap_or_default();
        let span = tracing::debug_span!(
            "invocation",
            operation = %inv.operation,
            id = %inv.id,
            origin = %inv.origin.public_key,
            trace_id = trace::trace_id(&context).unwrap_or(""),
        );
        let work = AssertUnwindSafe(self.verified(&inv, &payload)).catch_unwind();
        let result = trace::with_trace_context(context, work)
            .instrument(span)
            .await
            .unwrap_or_else(|_| Err(RpcError::internal("the handler panicked on this call")));
        if let Err(e) = &result {
            tracing::debug!(id = %inv.id, error = %e, "invocation failed");
        }
        let resp = self.chunks.response(&inv.id, result).await;
        tracing::trace!(
            id = %inv.id,
            ok = resp.error.is_none(),
            bytes = resp.content_length.unwrap_or(0),
            "invocation answered"
        );
        self.reply(reply.as_ref(), &resp).await;
    }

    async fn verified(&self, inv: &InvocationIn<'_>, payload: &Bytes) -> Result<Vec<u8>, RpcError> {
        let body = if inv.is_chunked() {
            let len = inv.content_length.unwrap_or(0);
            // Boxed: the object store's futures are large, and this one
            // would otherwise sit inline in every invocation's future.
            let taken = Box::pin(self.chunks.take(&inv.id, len, self.max_body_bytes)).await?;
            Bytes::from(taken)
        } else if inv.msg.len() as u64 > self.max_body_bytes {
            return Err(RpcError::too_large(format!(
                "body of {} bytes exceeds the limit of {}",
                inv.msg.len(),
                self.max_body_bytes
            )));
        } else {
            sub_bytes(payload, &inv.msg)
        };
        self.verifier.verify(&inv.view(), &body)?;
        let call = Incoming {
            origin: inv.origin.as_ref(),
            target: inv.target.as_ref(),
            operation: &inv.operation,
            id: &inv.id,
            host_id: &inv.host_id,
            body,
        };
        self.handler.handle(call).await
    }
}

/// The `id` of an envelope, read without decoding the rest ("" when unreadable).
fn invocation_id(payload: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        #[serde(default)]
        id: String,
    }
    rmp_serde::from_slice::<IdOnly>(payload)
        .map(|i| i.id)
        .unwrap_or_default()
}

/// A decode error for a peer, without serde's internal type names.
pub fn describe_decode_error(e: &rmp_serde::decode::Error) -> String {
    use rmp_serde::decode::Error as E;
    match e {
        E::InvalidMarkerRead(_) | E::InvalidDataRead(_) => "truncated or empty".into(),
        E::TypeMismatch(_) => "not a MessagePack map of the expected fields".into(),
        E::OutOfRange => "a number is out of range".into(),
        E::LengthMismatch(_) => "a field has the wrong number of items".into(),
        E::Utf8Error(_) => "a text field is not UTF-8".into(),
        E::DepthLimitExceeded => "nested too deeply".into(),
        E::Uncategorized(msg) | E::Syntax(msg) => {
            // serde's own messages: "missing field `origin`", "invalid type:
            // integer `103`, expected struct Invocation".
            if let Some(field) = msg.strip_prefix("missing field ") {
                format!("missing field {field}")
            } else {
                "not a MessagePack map of the expected fields".into()
            }
        }
    }
}
