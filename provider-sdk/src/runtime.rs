//! The provider's life: connect, subscribe, dispatch with back-pressure,
//! links, health, config, drain and exit.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Message, Subscriber};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

use crate::chunking::{ChunkStore, DEFAULT_MAX_BODY_BYTES};
use crate::claims::Verifier;
use crate::client::RpcClient;
use crate::error::RpcError;
use crate::host_data::HostData;
use crate::links::LinkTable;
use crate::provider::{Call, ContextInner, Provider, ProviderContext};
use crate::subjects;
use crate::wire::{self, Invocation, InvocationResponse};

const DEFAULT_MAX_INFLIGHT: u32 = 1024;
pub(crate) const DEFAULT_DRAIN_MS: u64 = 5000;
const DEFAULT_RPC_TIMEOUT_MS: u64 = 2000;
const DEFAULT_REPLAY_WINDOW_SECS: u64 = 60;

/// Why a provider could not start. The message names the cause and never a secret.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The lattice NATS server could not be reached.
    #[error("NATS unreachable at {url}: {reason}")]
    Nats {
        /// The URL, credentials removed.
        url: String,
        /// Why.
        reason: String,
    },
    /// The provider's own initialisation failed.
    #[error("provider initialisation failed: {0}")]
    Init(String),
    /// Host data was unusable.
    #[error(transparent)]
    HostData(#[from] crate::host_data::HostDataError),
}

pub(crate) struct Shutdown {
    pub(crate) reply: Option<async_nats::Subject>,
    pub(crate) drain: Duration,
}

pub(crate) struct Runtime<P: Provider> {
    pub(crate) provider: P,
    pub(crate) ctx: ProviderContext,
    pub(crate) links: LinkTable<P::Link>,
    pub(crate) verifier: Verifier,
    pub(crate) chunks: Arc<ChunkStore>,
    pub(crate) max_body_bytes: u64,
    pub(crate) inflight: Arc<Semaphore>,
    pub(crate) max_inflight: u32,
    pub(crate) xkey: Option<nkeys::XKey>,
    pub(crate) test_mode: bool,
    pub(crate) shutdown_tx: watch::Sender<Option<Arc<Shutdown>>>,
}

async fn connect(hd: &HostData) -> Result<async_nats::Client, StartError> {
    let url = hd.nats_url();
    let err = |reason: String| StartError::Nats {
        url: crate::config::redact_url(&url),
        reason,
    };
    let mut opts = async_nats::ConnectOptions::new()
        .name(format!("provider {} ({})", hd.provider_key, hd.link_name))
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .reconnect_delay_callback(|attempt| {
            Duration::from_millis((100u64 << attempt.min(6) as u32).min(5000))
        })
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Disconnected => tracing::warn!("lattice NATS disconnected"),
                async_nats::Event::Connected => tracing::info!("lattice NATS connected"),
                other => tracing::debug!(event = %other, "lattice NATS event"),
            }
        });
    match (
        hd.lattice_rpc_user_jwt.is_empty(),
        hd.lattice_rpc_user_seed.is_empty(),
    ) {
        (false, false) => {
            let kp = Arc::new(
                nkeys::KeyPair::from_seed(&hd.lattice_rpc_user_seed)
                    .map_err(|_| err("lattice_rpc_user_seed is not a valid seed".into()))?,
            );
            opts = opts.jwt(hd.lattice_rpc_user_jwt.clone(), move |nonce| {
                let kp = kp.clone();
                async move { kp.sign(&nonce).map_err(async_nats::AuthError::new) }
            });
        }
        (true, false) => opts = opts.nkey(hd.lattice_rpc_user_seed.clone()),
        _ => {}
    }
    if let Some(ca) = &hd.lattice_tls_ca_file {
        opts = opts.add_root_certificates(ca.into()).require_tls(true);
    }
    opts.connect(url.as_str())
        .await
        .map_err(|e| err(e.to_string()))
}

/// Runs `provider` until it is shut down. Returns when the process should exit 0.
pub async fn serve<P: Provider>(mut provider: P, hd: HostData) -> Result<(), StartError> {
    hd.validate()?;
    let nats = connect(&hd).await?;
    let signer = if hd.invocation_seed.is_empty() {
        nkeys::KeyPair::new_cluster()
    } else {
        nkeys::KeyPair::from_seed(&hd.invocation_seed)
            .map_err(|_| StartError::Init("invocation_seed is not a valid nkey seed".to_string()))?
    };
    let lattice = hd.lattice_rpc_prefix.clone();
    let chunks = Arc::new(ChunkStore::new(nats.clone(), &lattice));
    let timeout =
        Duration::from_millis(hd.default_rpc_timeout_ms.unwrap_or(DEFAULT_RPC_TIMEOUT_MS));
    let rpc = RpcClient::new(
        nats.clone(),
        &lattice,
        &hd.host_id,
        signer,
        timeout,
        chunks.clone(),
    );
    let xkey = match &hd.provider_xkey_seed {
        Some(seed) => Some(
            nkeys::XKey::from_seed(seed)
                .map_err(|_| StartError::Init("provider_xkey_seed is not valid".into()))?,
        ),
        None => None,
    };
    let max_inflight = hd.max_inflight.unwrap_or(DEFAULT_MAX_INFLIGHT);
    let verifier = Verifier::new(
        &hd.cluster_issuers,
        &hd.provider_key,
        hd.replay_window_secs.unwrap_or(DEFAULT_REPLAY_WINDOW_SECS),
    );
    let test_mode = hd.test_mode();
    let max_body_bytes = hd.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    let initial_links = hd.link_definitions.clone();
    let ctx = ProviderContext {
        inner: Arc::new(ContextInner {
            host_data: hd,
            nats: nats.clone(),
            rpc,
            contract_id: P::CONTRACT_ID,
        }),
    };
    provider.init(&ctx).await.map_err(StartError::Init)?;

    let (shutdown_tx, shutdown_rx) = watch::channel(None);
    let rt = Arc::new(Runtime {
        provider,
        ctx,
        links: LinkTable::default(),
        verifier,
        chunks,
        max_body_bytes,
        inflight: Arc::new(Semaphore::new(max_inflight as usize)),
        max_inflight,
        xkey,
        test_mode,
        shutdown_tx,
    });

    let key = rt.ctx.provider_key().to_string();
    let link_name = rt.ctx.link_name().to_string();
    let rpc_subject = subjects::provider_rpc(&lattice, &key, &link_name);
    let nats_err = |e: String| StartError::Nats {
        url: crate::config::redact_url(&rt.ctx.host_data().nats_url()),
        reason: e,
    };
    let rpc_sub = nats
        .queue_subscribe(rpc_subject.clone(), subjects::RPC_QUEUE_GROUP.to_string())
        .await
        .map_err(|e| nats_err(e.to_string()))?;
    let control_sub = nats
        .subscribe(format!("{rpc_subject}.>"))
        .await
        .map_err(|e| nats_err(e.to_string()))?;
    subjects::server_sync(&nats, Duration::from_secs(10))
        .await
        .map_err(nats_err)?;

    for ld in initial_links {
        if let Err(e) = rt.put_link(ld).await {
            tracing::warn!(error = %e, "initial link rejected");
        }
    }
    tracing::info!(
        provider = %key,
        link_name = %link_name,
        lattice = %lattice,
        contract = P::CONTRACT_ID,
        max_inflight,
        "provider ready"
    );

    let control = tokio::spawn(rt.clone().control_loop(control_sub));
    let signals = tokio::spawn(watch_signals(rt.shutdown_tx.clone()));
    let shutdown = rt.clone().rpc_loop(rpc_sub, shutdown_rx).await;
    rt.finish(shutdown).await;
    control.abort();
    signals.abort();
    Ok(())
}

async fn watch_signals(tx: watch::Sender<Option<Arc<Shutdown>>>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("signal received; draining");
    tx.send_if_modified(|s| {
        s.is_none().then(|| {
            *s = Some(Arc::new(Shutdown {
                reply: None,
                drain: Duration::from_millis(DEFAULT_DRAIN_MS),
            }))
        });
        true
    });
}

impl<P: Provider> Runtime<P> {
    pub(crate) fn nats(&self) -> &async_nats::Client {
        self.ctx.nats()
    }

    async fn rpc_loop(
        self: Arc<Self>,
        mut sub: Subscriber,
        mut shutdown_rx: watch::Receiver<Option<Arc<Shutdown>>>,
    ) -> Arc<Shutdown> {
        let shutdown = loop {
            tokio::select! {
                biased;
                changed = shutdown_rx.changed() => {
                    let current = shutdown_rx.borrow().clone();
                    match (changed, current) {
                        (_, Some(s)) => break s,
                        (Err(_), None) => break Arc::new(Shutdown { reply: None, drain: Duration::from_millis(DEFAULT_DRAIN_MS) }),
                        (Ok(()), None) => continue,
                    }
                }
                msg = sub.next() => match msg {
                    Some(m) => self.dispatch(m).await,
                    None => {
                        tracing::error!("RPC subscription closed; shutting down");
                        break Arc::new(Shutdown { reply: None, drain: Duration::from_millis(DEFAULT_DRAIN_MS) });
                    }
                },
            }
        };
        // Leave the queue group, then serve what was already delivered to us:
        // the server will not give those messages to another instance.
        if let Err(e) = sub.drain().await {
            tracing::warn!(error = %e, "could not drain the RPC subscription");
        } else {
            while let Some(m) = sub.next().await {
                self.dispatch(m).await;
            }
        }
        let deadline = tokio::time::timeout(
            shutdown.drain,
            self.inflight.acquire_many(self.max_inflight),
        )
        .await;
        match deadline {
            Ok(_) => tracing::info!("in-flight invocations drained"),
            Err(_) => tracing::warn!(
                in_flight = self.max_inflight as usize - self.inflight.available_permits(),
                "drain deadline passed with invocations still in flight"
            ),
        }
        shutdown
    }

    async fn dispatch(self: &Arc<Self>, m: Message) {
        match self.inflight.clone().try_acquire_owned() {
            Ok(permit) => {
                let rt = self.clone();
                tokio::spawn(async move {
                    rt.answer(m).await;
                    drop(permit);
                });
            }
            Err(full_or_closed) => {
                #[derive(serde::Deserialize)]
                struct IdOnly {
                    #[serde(default)]
                    id: String,
                }
                let id = rmp_serde::from_slice::<IdOnly>(&m.payload)
                    .map(|i| i.id)
                    .unwrap_or_default();
                let err = match full_or_closed {
                    tokio::sync::TryAcquireError::Closed => {
                        RpcError::shutting_down("provider is shutting down")
                    }
                    tokio::sync::TryAcquireError::NoPermits => RpcError::overloaded(format!(
                        "{} invocations in flight; retry later",
                        self.max_inflight
                    )),
                };
                self.reply(m.reply.as_ref(), &InvocationResponse::err(id, &err))
                    .await;
            }
        }
    }

    async fn reply(&self, to: Option<&async_nats::Subject>, resp: &InvocationResponse) {
        let Some(to) = to else {
            tracing::debug!("invocation without a reply subject; answer dropped");
            return;
        };
        match wire::serialize(resp) {
            Ok(bytes) => {
                if let Err(e) = self.nats().publish(to.clone(), bytes.into()).await {
                    tracing::warn!(error = %e, "could not publish a response");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not encode a response"),
        }
    }

    /// Answers one invocation, exactly once.
    async fn answer(self: Arc<Self>, m: Message) {
        let mut inv: Invocation = match rmp_serde::from_slice(&m.payload) {
            Ok(inv) => inv,
            Err(e) => {
                let err = RpcError::bad_envelope(format!("undecodable invocation: {e}"));
                tracing::debug!(error = %err, "rejected an invocation");
                self.reply(m.reply.as_ref(), &InvocationResponse::err("", &err))
                    .await;
                return;
            }
        };
        let id = inv.id.clone();
        // Moved out, not cloned: only the task-local needs it from here on.
        let trace = inv.trace_context.take().unwrap_or_default();
        let span = tracing::debug_span!(
            "invocation",
            operation = %inv.operation,
            id = %inv.id,
            actor = %inv.origin.public_key,
            trace_id = crate::telemetry::trace_id(&trace).unwrap_or(""),
        );
        let work = AssertUnwindSafe(self.invoke(inv)).catch_unwind();
        let result = crate::telemetry::with_trace_context(trace, work)
            .instrument(span)
            .await
            .unwrap_or_else(|_| {
                Err(RpcError::internal(
                    "the provider panicked handling this call",
                ))
            });
        if let Err(e) = &result {
            tracing::debug!(id = %id, error = %e, "invocation failed");
        }
        let resp = self.chunks.response(&id, result).await;
        tracing::trace!(
            id = %id,
            ok = resp.error.is_none(),
            bytes = resp.content_length.unwrap_or(0),
            "invocation answered"
        );
        self.reply(m.reply.as_ref(), &resp).await;
    }

    async fn invoke(&self, mut inv: Invocation) -> Result<Vec<u8>, RpcError> {
        let msg = self.chunks.body_of(&mut inv, self.max_body_bytes).await?;
        self.verifier.verify(&inv, &msg)?;
        let link_name = self.ctx.link_name();
        let Some(link) = self.links.get(&inv.origin.public_key, link_name) else {
            return Err(RpcError::not_linked(format!(
                "actor {} has no link on '{link_name}'",
                inv.origin.public_key
            )));
        };
        let call = Call {
            operation: &inv.operation,
            msg,
            origin: &inv.origin,
            link: &link,
            ctx: &self.ctx,
            invocation_id: &inv.id,
        };
        self.provider.handle(call).await
    }

    async fn finish(&self, shutdown: Arc<Shutdown>) {
        self.inflight.close();
        for link in self.links.drain() {
            self.provider.del_link(link).await;
        }
        self.provider.shutdown().await;
        if let Some(to) = &shutdown.reply {
            // wasmbus 0.x answers these exact bytes.
            let _ = self
                .nats()
                .publish(to.clone(), bytes::Bytes::from_static(b"shutting down"))
                .await;
        }
        if let Err(e) = self.nats().flush().await {
            tracing::warn!(error = %e, "could not flush before exit");
        }
        tracing::info!("provider stopped");
    }
}
