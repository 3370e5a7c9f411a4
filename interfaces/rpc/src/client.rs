//! Outgoing invocations: signed, chunked when large, with timeouts. Providers
//! use it to call actors; hosts to call providers.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{RequestErrorKind, Subject};

use crate::chunking::{
    CHUNK_THRESHOLD_BYTES, CHUNKED_EXTRA_TIMEOUT, ChunkStore, DEFAULT_MAX_BODY_BYTES,
    response_object,
};
use crate::claims::{Signer, fresh_invocation_id, sign, sign_invocation};
use crate::error::RpcError;
use crate::subjects;
use crate::view::{EntityRef, InvocationOut};
use crate::wire::{self, Invocation, InvocationResponse, TraceContext, WasmCloudEntity};

/// Default timeout of a call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends signed invocations on one lattice.
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

struct Inner {
    nats: async_nats::Client,
    lattice: String,
    host_id: String,
    signer: Signer,
    timeout: Duration,
    max_body_bytes: u64,
    chunks: Arc<ChunkStore>,
}

/// Builds an [`RpcClient`].
pub struct RpcClientBuilder {
    nats: async_nats::Client,
    lattice: String,
    signer: Signer,
    host_id: Option<String>,
    timeout: Duration,
    max_body_bytes: u64,
    chunks: Option<Arc<ChunkStore>>,
}

impl RpcClientBuilder {
    /// The `host_id` written into invocations (default: the signer's issuer).
    pub fn host_id(mut self, host_id: impl Into<String>) -> Self {
        self.host_id = Some(host_id.into());
        self
    }

    /// The default timeout of a call (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest result accepted, in bytes (default 64 MiB); a larger
    /// chunked result is deleted unread and the call answers `too-large`.
    pub fn max_body_bytes(mut self, n: u64) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// The chunk store to use (default: one of its own on the lattice's bucket).
    pub fn chunks(mut self, chunks: Arc<ChunkStore>) -> Self {
        self.chunks = Some(chunks);
        self
    }

    /// The client.
    pub fn build(self) -> RpcClient {
        let chunks = self
            .chunks
            .unwrap_or_else(|| Arc::new(ChunkStore::new(self.nats.clone(), &self.lattice)));
        RpcClient {
            inner: Arc::new(Inner {
                host_id: self.host_id.unwrap_or_else(|| self.signer.issuer()),
                nats: self.nats,
                lattice: self.lattice,
                signer: self.signer,
                timeout: self.timeout,
                max_body_bytes: self.max_body_bytes,
                chunks,
            }),
        }
    }
}

impl RpcClient {
    /// A builder for a client on `lattice` that signs with `signer`.
    pub fn builder(nats: async_nats::Client, lattice: &str, signer: Signer) -> RpcClientBuilder {
        RpcClientBuilder {
            nats,
            lattice: lattice.to_string(),
            signer,
            host_id: None,
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            chunks: None,
        }
    }

    /// The NATS connection.
    pub fn nats(&self) -> &async_nats::Client {
        &self.inner.nats
    }

    /// The lattice prefix.
    pub fn lattice(&self) -> &str {
        &self.inner.lattice
    }

    /// The `iss` of the calls it sends to providers.
    pub fn issuer(&self) -> String {
        self.inner.signer.issuer()
    }

    /// The default timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Builds a signed invocation, moving a large body to the chunk store.
    pub async fn prepare(
        &self,
        origin: WasmCloudEntity,
        target: WasmCloudEntity,
        operation: &str,
        msg: Vec<u8>,
        trace_context: Option<TraceContext>,
    ) -> Result<Invocation, RpcError> {
        let mut inv = Invocation {
            origin,
            target,
            operation: operation.to_string(),
            msg: Vec::new(),
            id: fresh_invocation_id(),
            encoded_claims: String::new(),
            host_id: self.inner.host_id.clone(),
            content_length: Some(msg.len() as u64),
            trace_context,
        };
        sign_invocation(&mut inv, &msg, &self.inner.signer, None)?;
        if msg.len() > CHUNK_THRESHOLD_BYTES {
            // Boxed: the object store's futures are large, and the fast
            // path should not carry their size.
            Box::pin(self.inner.chunks.put(&inv.id, &msg)).await?;
        } else {
            inv.msg = msg;
        }
        Ok(inv)
    }

    /// Calls `target` with `operation` and `msg`, and returns the result body.
    /// `timeout` defaults to the client's; a chunked call gets 13 s more.
    pub async fn call(
        &self,
        origin: EntityRef<'_>,
        target: EntityRef<'_>,
        operation: &str,
        msg: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, RpcError> {
        let subject = subjects::for_target(&self.inner.lattice, target);
        self.call_on(subject.into(), origin, target, operation, msg, timeout)
            .await
    }

    /// [`RpcClient::call`] on `subject`, the subject of `target` built once
    /// by the caller (as [`ActorClient`] does).
    pub async fn call_on(
        &self,
        subject: Subject,
        origin: EntityRef<'_>,
        target: EntityRef<'_>,
        operation: &str,
        msg: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, RpcError> {
        let id = fresh_invocation_id();
        let claims = sign(
            &self.inner.signer,
            origin,
            target,
            operation,
            &id,
            &msg,
            None,
        )?;
        let chunked = msg.len() > CHUNK_THRESHOLD_BYTES;
        let mut timeout = timeout.unwrap_or(self.inner.timeout);
        if chunked {
            // Boxed: the object store's futures are large, and the fast
            // path should not carry their size.
            Box::pin(self.inner.chunks.put(&id, &msg)).await?;
            timeout += CHUNKED_EXTRA_TIMEOUT;
        }
        let trace = crate::trace::outgoing();
        // Sized for the whole envelope: entities, claims, body, trace context.
        let size = 512 + claims.len() + if chunked { 0 } else { msg.len() };
        let body = wire::serialize_sized(
            &InvocationOut {
                origin,
                target,
                operation,
                msg: if chunked { &[] } else { &msg },
                id: &id,
                encoded_claims: &claims,
                host_id: &self.inner.host_id,
                content_length: Some(msg.len() as u64),
                trace_context: Some(&trace),
            },
            size,
        )?;
        drop(msg);
        let reply = self.request_to(subject, body, timeout).await?;
        self.read_response(&id, &reply).await
    }

    /// Calls with a MessagePack-encoded argument and decodes the result.
    /// `R = ()` accepts the empty reply of operations that return nothing.
    pub async fn call_typed<A, R>(
        &self,
        origin: EntityRef<'_>,
        target: EntityRef<'_>,
        operation: &str,
        arg: &A,
    ) -> Result<R, RpcError>
    where
        A: serde::Serialize + ?Sized,
        R: serde::de::DeserializeOwned,
    {
        let body = self
            .call(origin, target, operation, wire::serialize(arg)?, None)
            .await?;
        wire::deserialize_reply(&body)
    }

    /// Sends raw bytes as a request and returns the raw reply. For tests that
    /// send malformed envelopes, and for callers that build their own.
    pub async fn request_raw(
        &self,
        subject: String,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<bytes::Bytes, RpcError> {
        self.request_to(subject.into(), body, timeout).await
    }

    async fn request_to(
        &self,
        subject: Subject,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<bytes::Bytes, RpcError> {
        let request = async_nats::Request::new()
            .payload(body.into())
            .timeout(Some(timeout));
        match self.inner.nats.send_request(subject.clone(), request).await {
            Ok(msg) => Ok(msg.payload),
            Err(e) => Err(match e.kind() {
                RequestErrorKind::TimedOut => {
                    RpcError::timeout(format!("no answer on {subject} within {timeout:?}"))
                }
                RequestErrorKind::NoResponders => {
                    RpcError::unavailable(format!("nothing is listening on {subject}"))
                }
                _ => RpcError::unavailable(format!("request on {subject} failed: {e}")),
            }),
        }
    }

    /// Decodes an `InvocationResponse`, fetching a chunked result.
    pub async fn read_response(
        &self,
        invocation_id: &str,
        reply: &[u8],
    ) -> Result<Vec<u8>, RpcError> {
        let resp: InvocationResponse = rmp_serde::from_slice(reply)
            .map_err(|e| RpcError::bad_envelope(format!("undecodable response: {e}")))?;
        if let Some(err) = resp.error.filter(|e| !e.is_empty()) {
            return Err(RpcError::from_wire(&err));
        }
        match resp.content_length {
            Some(len) if len > resp.msg.len() as u64 => {
                Box::pin(self.inner.chunks.take(
                    &response_object(invocation_id),
                    len,
                    self.inner.max_body_bytes,
                ))
                .await
            }
            _ => Ok(resp.msg),
        }
    }
}

/// Calls one provider as one actor: what the interface crates' typed clients
/// are built on. The entities and the subject are built once.
#[derive(Clone)]
pub struct ActorClient {
    rpc: RpcClient,
    actor: WasmCloudEntity,
    provider: WasmCloudEntity,
    subject: Subject,
}

impl ActorClient {
    /// Calls provider `provider_key` on `link_name` (contract `contract_id`) as `actor`.
    pub fn new(
        rpc: RpcClient,
        actor: &str,
        provider_key: &str,
        link_name: &str,
        contract_id: &str,
    ) -> Self {
        let provider = WasmCloudEntity::provider(provider_key, link_name, contract_id);
        let subject = subjects::for_target(rpc.lattice(), provider.as_ref()).into();
        Self {
            rpc,
            actor: WasmCloudEntity::actor(actor),
            provider,
            subject,
        }
    }

    /// The underlying client.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Calls `operation` with a MessagePack argument and decodes the result.
    /// `R = ()` accepts the empty reply of operations that return nothing.
    pub async fn call<A, R>(&self, operation: &str, arg: &A) -> Result<R, RpcError>
    where
        A: serde::Serialize + ?Sized,
        R: serde::de::DeserializeOwned,
    {
        let body = self
            .call_raw(operation, wire::serialize(arg)?, None)
            .await?;
        wire::deserialize_reply(&body)
    }

    /// Calls `operation` with a raw body and an optional timeout.
    pub async fn call_raw(
        &self,
        operation: &str,
        body: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, RpcError> {
        self.rpc
            .call_on(
                self.subject.clone(),
                self.actor.as_ref(),
                self.provider.as_ref(),
                operation,
                body,
                timeout,
            )
            .await
    }
}

/// Something that calls actors as itself: a provider's context (the SDK's
/// `ProviderContext`), so that interface crates can forward to actors
/// without depending on the provider runtime.
pub trait CallActor: Sync {
    /// Calls `operation` on actor `actor_id` with `msg`; `timeout` defaults
    /// to the caller's own.
    fn call_actor(
        &self,
        actor_id: &str,
        operation: &str,
        msg: Vec<u8>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<Vec<u8>, RpcError>> + Send;
}
