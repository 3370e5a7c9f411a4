//! The provider's life: connect, subscribe, serve invocations (through the
//! contract's one invocation path), links, health, config, drain and exit.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lattice_rpc::chunking::{ChunkStore, DEFAULT_MAX_BODY_BYTES};
use lattice_rpc::claims::{MacCheck, Signer, Verifier};
use lattice_rpc::client::RpcClient;
use lattice_rpc::server::{
    DEFAULT_MAX_INFLIGHT, Handler, HandlerFuture, Incoming, InvocationServer,
};
use lattice_rpc::{HostData, RpcError, subjects};
use tokio::sync::watch;

use crate::error::StartError;
use crate::links::LinkTable;
use crate::provider::{Call, ContextInner, Provider, ProviderContext};

pub(crate) const DEFAULT_DRAIN_MS: u64 = 5000;
const DEFAULT_RPC_TIMEOUT_MS: u64 = 2000;
const DEFAULT_REPLAY_WINDOW_SECS: u64 = 60;

pub(crate) struct Shutdown {
    pub(crate) reply: Option<async_nats::Subject>,
    pub(crate) drain: Duration,
}

impl Shutdown {
    fn default_drain() -> Arc<Self> {
        Arc::new(Shutdown {
            reply: None,
            drain: Duration::from_millis(DEFAULT_DRAIN_MS),
        })
    }
}

/// What the runtime keeps about this process, for health answers.
pub(crate) struct Process {
    pub(crate) pid: u32,
    pub(crate) started_at_ms: u64,
}

pub(crate) struct Runtime<P: Provider> {
    pub(crate) provider: P,
    pub(crate) ctx: ProviderContext,
    pub(crate) links: LinkTable<P::Link>,
    pub(crate) xkey: Option<nkeys::XKey>,
    pub(crate) test_mode: bool,
    pub(crate) process: Process,
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) shutdown_tx: watch::Sender<Option<Arc<Shutdown>>>,
    /// Set once the invocation server exists (for the in-flight count in health).
    pub(crate) server: std::sync::OnceLock<std::sync::Weak<InvocationServer<Invoke<P>>>>,
}

/// Answers invocations for the runtime: the caller's link, then the provider.
pub(crate) struct Invoke<P: Provider>(Arc<Runtime<P>>);

impl<P: Provider> Handler for Invoke<P> {
    fn handle<'a>(&'a self, inv: Incoming<'a>) -> HandlerFuture<'a> {
        Box::pin(async move {
            let rt = &self.0;
            let link_name = rt.ctx.link_name();
            let Some(link) = rt.links.get(inv.origin.public_key, link_name) else {
                return Err(RpcError::not_linked(format!(
                    "actor {} has no link on '{link_name}'",
                    inv.origin.public_key
                )));
            };
            let call = Call {
                operation: inv.operation,
                msg: inv.body,
                origin: inv.origin,
                link: &link,
                ctx: &rt.ctx,
                invocation_id: inv.id,
            };
            rt.provider.handle(call).await
        })
    }
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs `provider` until it is shut down. Returns when the process should exit 0.
pub async fn serve<P: Provider>(mut provider: P, hd: HostData) -> Result<(), StartError> {
    hd.validate()?;
    let nats = connect(&hd).await?;
    // validate() checked the MAC key and the seed. With a MAC key every call
    // the provider sends is HS256, even when it also has a seed.
    let mac_key = hd.mac_key();
    let signer = match &mac_key {
        Some(key) => Signer::provider(&hd.provider_key, key.clone()),
        None if hd.invocation_seed.is_empty() => Signer::ed25519(nkeys::KeyPair::new_cluster()),
        None => Signer::ed25519(nkeys::KeyPair::from_seed(&hd.invocation_seed).map_err(|_| {
            lattice_rpc::host_data::HostDataError::Invalid {
                field: "invocation_seed",
                reason: "not a valid nkey seed".into(),
            }
        })?),
    };
    let lattice = hd.lattice_rpc_prefix.clone();
    let chunks = Arc::new(ChunkStore::new(nats.clone(), &lattice));
    let max_body_bytes = hd.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    let rpc = RpcClient::builder(nats.clone(), &lattice, signer)
        .host_id(&hd.host_id)
        .timeout(Duration::from_millis(
            hd.default_rpc_timeout_ms.unwrap_or(DEFAULT_RPC_TIMEOUT_MS),
        ))
        .max_body_bytes(max_body_bytes)
        .chunks(chunks.clone())
        .build();
    // validate() checked the seed.
    let xkey = hd
        .provider_xkey_seed
        .as_deref()
        .and_then(|seed| nkeys::XKey::from_seed(seed).ok());
    let max_inflight = hd.max_inflight.unwrap_or(DEFAULT_MAX_INFLIGHT);
    let verifier = Arc::new(
        Verifier::builder(&hd.provider_key)
            .issuers(&hd.cluster_issuers)
            .mac(match mac_key {
                Some(key) => MacCheck::Own(key),
                None => MacCheck::None,
            })
            .require_mac(hd.require_mac)
            .window_secs(hd.replay_window_secs.unwrap_or(DEFAULT_REPLAY_WINDOW_SECS))
            .build(),
    );
    let test_mode = hd.test_mode();
    let initial_links = hd.link_definitions.clone();
    let ctx = ProviderContext {
        inner: Arc::new(ContextInner {
            host_data: hd,
            nats: nats.clone(),
            rpc,
            contract_id: P::CONTRACT_ID,
        }),
    };
    provider.init(&ctx).await?;

    let (shutdown_tx, mut shutdown_rx) = watch::channel(None);
    let rt = Arc::new(Runtime {
        provider,
        ctx,
        links: LinkTable::default(),
        xkey,
        test_mode,
        process: Process {
            pid: std::process::id(),
            started_at_ms: now_ms(),
        },
        verifier: verifier.clone(),
        shutdown_tx,
        server: std::sync::OnceLock::new(),
    });
    let server = Arc::new(
        InvocationServer::builder(nats.clone(), chunks, verifier)
            .max_inflight(max_inflight)
            .max_body_bytes(max_body_bytes)
            .build(Invoke(rt.clone())),
    );
    let _ = rt.server.set(Arc::downgrade(&server));

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
        .map_err(|e| nats_err(e.to_string()))?;

    for ld in initial_links {
        if let Err(e) = rt.put_link(ld).await {
            tracing::warn!(error = %e, "initial link rejected");
        }
    }
    let health = rt.provider.health().await;
    if health.healthy {
        tracing::info!(
            provider = %key,
            link_name = %link_name,
            lattice = %lattice,
            contract = P::CONTRACT_ID,
            max_inflight,
            auth = if rt.verifier.requires_mac() { "HS256 only" } else if rt.verifier.has_mac() { "HS256 and Ed25519" } else { "Ed25519" },
            "provider ready"
        );
    } else {
        tracing::warn!(
            provider = %key,
            link_name = %link_name,
            lattice = %lattice,
            contract = P::CONTRACT_ID,
            reason = health.message.as_deref().unwrap_or("(no reason given)"),
            "provider serving, but its backend is not healthy yet"
        );
    }

    let control = tokio::spawn(rt.clone().control_loop(control_sub));
    let signals = tokio::spawn(watch_signals(rt.shutdown_tx.clone()));
    let stop = async {
        loop {
            if let Some(s) = shutdown_rx.borrow_and_update().clone() {
                return s.drain;
            }
            if shutdown_rx.changed().await.is_err() {
                return Duration::from_millis(DEFAULT_DRAIN_MS);
            }
        }
    };
    server.serve(rpc_sub, stop).await;
    let shutdown = rt
        .shutdown_tx
        .borrow()
        .clone()
        .unwrap_or_else(Shutdown::default_drain);
    rt.finish(&shutdown).await;
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
        if s.is_some() {
            return false;
        }
        *s = Some(Shutdown::default_drain());
        true
    });
}

impl<P: Provider> Runtime<P> {
    pub(crate) fn nats(&self) -> &async_nats::Client {
        self.ctx.nats()
    }

    /// Invocations being handled now.
    pub(crate) fn in_flight(&self) -> usize {
        self.server
            .get()
            .and_then(std::sync::Weak::upgrade)
            .map_or(0, |s| s.in_flight())
    }

    async fn finish(&self, shutdown: &Shutdown) {
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
