//! A host: owns a lattice, launches providers, links actors, signs and sends
//! invocations, and serves actor subjects with in-process handlers.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use provider_sdk::chunking::ChunkStore;
use provider_sdk::claims::Verifier;
use provider_sdk::secret::{SealedBytes, seal};
use provider_sdk::subjects::{self, control};
use provider_sdk::wire::{self, PutAck, ShutdownRequest};
use provider_sdk::{
    HealthCheckResponse, HostData, Invocation, LinkDefinition, RpcClient, RpcError, WasmCloudEntity,
};

use crate::process::ProviderProcess;

/// The NATS URL tests use: `LATTICE_TEST_NATS_URL`, default `nats://127.0.0.1:4222`.
pub fn test_nats_url() -> String {
    std::env::var("LATTICE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A provider on the lattice, as callers address it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRef {
    /// Public key (`V…`).
    pub key: String,
    /// Link name.
    pub link_name: String,
    /// Contract id.
    pub contract_id: String,
}

impl ProviderRef {
    /// A reference to provider `key` on `link_name`.
    pub fn new(key: &str, link_name: &str, contract_id: &str) -> Self {
        Self {
            key: key.into(),
            link_name: link_name.into(),
            contract_id: contract_id.into(),
        }
    }

    fn subject(&self, lattice: &str, suffix: &str) -> String {
        subjects::provider_control(lattice, &self.key, &self.link_name, suffix)
    }

    /// The provider as an invocation target.
    pub fn entity(&self) -> WasmCloudEntity {
        WasmCloudEntity::provider(&self.key, &self.link_name, &self.contract_id)
    }
}

/// One host on one lattice.
pub struct Host {
    nats: async_nats::Client,
    nats_url: String,
    lattice: String,
    host_key: nkeys::KeyPair,
    cluster_key: nkeys::KeyPair,
    xkey: nkeys::XKey,
    rpc: RpcClient,
    chunks: Arc<ChunkStore>,
}

impl Host {
    /// A host on a fresh lattice (a unique prefix) of the NATS at `nats_url`.
    pub async fn new(nats_url: &str) -> Result<Host> {
        let lattice = format!("t{}", uuid::Uuid::new_v4().simple());
        Self::on_lattice(nats_url, &lattice).await
    }

    /// A host on the shared test NATS ([`test_nats_url`]), fresh lattice.
    pub async fn for_tests() -> Result<Host> {
        let url = test_nats_url();
        Self::new(&url)
            .await
            .with_context(|| format!("the tests need NATS with JetStream at {url}"))
    }

    /// A host on lattice `lattice`, with a new cluster key.
    pub async fn on_lattice(nats_url: &str, lattice: &str) -> Result<Host> {
        Self::with_cluster_key(nats_url, lattice, nkeys::KeyPair::new_cluster()).await
    }

    /// A host on lattice `lattice` signing with `cluster_key` (one the
    /// providers there already trust).
    pub async fn with_cluster_key(
        nats_url: &str,
        lattice: &str,
        cluster_key: nkeys::KeyPair,
    ) -> Result<Host> {
        let nats = async_nats::connect(nats_url)
            .await
            .with_context(|| format!("connecting to NATS at {nats_url}"))?;
        let host_key = nkeys::KeyPair::new_server();
        let chunks = Arc::new(ChunkStore::new(nats.clone(), lattice));
        let cluster_seed = cluster_key.seed().map_err(|e| anyhow::anyhow!("{e}"))?;
        let rpc = RpcClient::new(
            nats.clone(),
            lattice,
            &host_key.public_key(),
            nkeys::KeyPair::from_seed(&cluster_seed).map_err(|e| anyhow::anyhow!("{e}"))?,
            Duration::from_secs(5),
            chunks.clone(),
        );
        Ok(Host {
            nats,
            nats_url: nats_url.to_string(),
            lattice: lattice.to_string(),
            host_key,
            cluster_key,
            xkey: nkeys::XKey::new(),
            rpc,
            chunks,
        })
    }

    /// The lattice prefix.
    pub fn lattice(&self) -> &str {
        &self.lattice
    }

    /// The NATS connection.
    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    /// The host's public key (its `host_id`).
    pub fn host_id(&self) -> String {
        self.host_key.public_key()
    }

    /// The cluster key that signs this host's invocations.
    pub fn cluster_key(&self) -> &nkeys::KeyPair {
        &self.cluster_key
    }

    /// The client this host calls with.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// The lattice's chunk store.
    pub fn chunks(&self) -> &ChunkStore {
        &self.chunks
    }

    /// Deletes the lattice's chunk bucket, if any (tests and the demo clean up
    /// after themselves on a shared NATS).
    pub async fn delete_chunk_bucket(&self) -> Result<()> {
        let js = async_nats::jetstream::new(self.nats.clone());
        if js.get_object_store(&self.lattice).await.is_ok() {
            js.delete_object_store(&self.lattice).await?;
        }
        Ok(())
    }

    /// Host data for a new provider process with a fresh key on `link_name`.
    /// The provider gets its own xkey so that sealed link secrets work.
    pub fn host_data(&self, link_name: &str) -> HostData {
        let provider_xkey = nkeys::XKey::new();
        HostData {
            host_id: self.host_id(),
            lattice_rpc_prefix: self.lattice.clone(),
            link_name: link_name.to_string(),
            lattice_rpc_url: self.nats_url.clone(),
            provider_key: nkeys::KeyPair::new_service().public_key(),
            invocation_seed: self.cluster_key.seed().unwrap_or_default(),
            instance_id: uuid::Uuid::new_v4().to_string(),
            cluster_issuers: vec![self.cluster_key.public_key()],
            default_rpc_timeout_ms: Some(2000),
            provider_xkey_seed: provider_xkey.seed().ok(),
            host_xkey_public_key: Some(self.xkey.public_key()),
            ..HostData::default()
        }
    }

    /// Launches `binary` with `host_data` and waits until it answers health.
    pub async fn launch(&self, binary: &Path, host_data: HostData) -> Result<ProviderProcess> {
        self.launch_with_env(binary, host_data, &[]).await
    }

    /// As [`Host::launch`], with extra environment variables.
    pub async fn launch_with_env(
        &self,
        binary: &Path,
        host_data: HostData,
        env: &[(&str, &str)],
    ) -> Result<ProviderProcess> {
        let pref = ProviderRef::new(&host_data.provider_key, &host_data.link_name, "");
        let instance = host_data.instance_id.clone();
        let mut proc = ProviderProcess::spawn(binary, host_data, env).await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = proc.try_status() {
                bail!(
                    "provider exited during startup ({status}):\n{}",
                    proc.output()
                );
            }
            // Other instances of the same provider answer health too: wait for this one.
            if self
                .instance_health(&pref, &instance, Duration::from_millis(250))
                .await
                .is_ok()
            {
                return Ok(proc);
            }
            if Instant::now() > deadline {
                bail!(
                    "provider did not answer health within 20 s:\n{}",
                    proc.output()
                );
            }
        }
    }

    /// A link definition from `actor` to `provider` with plain `values`.
    pub fn link(
        &self,
        provider: &ProviderRef,
        actor: &str,
        values: &[(&str, &str)],
    ) -> LinkDefinition {
        LinkDefinition {
            actor_id: actor.to_string(),
            provider_id: provider.key.clone(),
            link_name: provider.link_name.clone(),
            contract_id: provider.contract_id.clone(),
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            secrets: HashMap::new(),
        }
    }

    /// Seals `value` for the provider whose host data is `hd` (link secrets).
    pub fn seal_for(&self, hd: &HostData, value: &str) -> Result<SealedBytes> {
        let seed = hd
            .provider_xkey_seed
            .as_deref()
            .context("provider has no xkey")?;
        let recipient = nkeys::XKey::from_seed(seed)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .public_key();
        Ok(SealedBytes(
            seal(value.as_bytes(), &self.xkey, &recipient).map_err(anyhow::Error::msg)?,
        ))
    }

    /// Puts a link and waits for the provider's answer (extension: ack).
    pub async fn put_link(&self, provider: &ProviderRef, ld: &LinkDefinition) -> Result<PutAck> {
        let subject = provider.subject(&self.lattice, control::LINKDEFS_PUT);
        let reply = self
            .nats
            .request(subject, wire::serialize(ld)?.into())
            .await
            .context("link put not answered")?;
        Ok(wire::decode_control(&reply.payload)?)
    }

    /// Puts a link and fails unless it was accepted.
    pub async fn link_actor(
        &self,
        provider: &ProviderRef,
        actor: &str,
        values: &[(&str, &str)],
    ) -> Result<()> {
        let ack = self
            .put_link(provider, &self.link(provider, actor, values))
            .await?;
        if !ack.accepted {
            bail!("link rejected: {}", ack.error.unwrap_or_default());
        }
        Ok(())
    }

    /// Deletes `actor`'s link and waits for the provider's answer.
    pub async fn del_link(&self, provider: &ProviderRef, actor: &str) -> Result<PutAck> {
        let subject = provider.subject(&self.lattice, control::LINKDEFS_DEL);
        let ld = self.link(provider, actor, &[]);
        let reply = self
            .nats
            .request(subject, wire::serialize(&ld)?.into())
            .await
            .context("link del not answered")?;
        Ok(wire::decode_control(&reply.payload)?)
    }

    /// Calls `operation` on `provider` as actor `actor`.
    pub async fn call(
        &self,
        provider: &ProviderRef,
        actor: &str,
        operation: &str,
        msg: Vec<u8>,
    ) -> Result<Vec<u8>, RpcError> {
        self.rpc
            .call(
                WasmCloudEntity::actor(actor),
                provider.entity(),
                operation,
                msg,
                None,
            )
            .await
    }

    /// Sends a prepared invocation (for tests that tamper with one) and reads the answer.
    pub async fn send_invocation(
        &self,
        provider: &ProviderRef,
        inv: &Invocation,
    ) -> Result<Vec<u8>, RpcError> {
        let subject = subjects::provider_rpc(&self.lattice, &provider.key, &provider.link_name);
        let reply = self
            .rpc
            .request_raw(subject, wire::serialize(inv)?, self.rpc.timeout())
            .await?;
        self.rpc.read_response(&inv.id, &reply).await
    }

    /// Health, with the default 2 s timeout.
    pub async fn health(&self, provider: &ProviderRef) -> Result<HealthCheckResponse> {
        self.health_within(provider, Duration::from_secs(2)).await
    }

    async fn health_within(
        &self,
        provider: &ProviderRef,
        timeout: Duration,
    ) -> Result<HealthCheckResponse> {
        let subject = provider.subject(&self.lattice, control::HEALTH);
        let req = async_nats::Request::new()
            .payload(Default::default())
            .timeout(Some(timeout));
        let reply = self.nats.send_request(subject, req).await?;
        Ok(wire::decode_control(&reply.payload)?)
    }

    /// Health of one instance (the extension field `instance_id` of the
    /// reply); an empty `instance` takes the first answer.
    pub async fn instance_health(
        &self,
        provider: &ProviderRef,
        instance: &str,
        timeout: Duration,
    ) -> Result<HealthCheckResponse> {
        let inbox = self.nats.new_inbox();
        let mut replies = self.nats.subscribe(inbox.clone()).await?;
        let subject = provider.subject(&self.lattice, control::HEALTH);
        self.nats
            .publish_with_reply(subject, inbox, Default::default())
            .await?;
        let deadline = tokio::time::Instant::now() + timeout;
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, replies.next()).await {
            let h: HealthCheckResponse = wire::decode_control(&m.payload)?;
            if instance.is_empty() || h.instance_id.as_deref() == Some(instance) {
                return Ok(h);
            }
        }
        bail!("instance {instance:?} did not answer health within {timeout:?}")
    }

    /// Asks provider instances to shut down (all, or `instance_id` only), and
    /// waits for the first reply.
    pub async fn shutdown(
        &self,
        provider: &ProviderRef,
        instance_id: Option<&str>,
        drain_ms: Option<u64>,
    ) -> Result<()> {
        let subject = provider.subject(&self.lattice, control::SHUTDOWN);
        let body = serde_json::to_vec(&ShutdownRequest {
            host_id: self.host_id(),
            instance_id: instance_id.map(str::to_string),
            drain_ms,
        })?;
        let timeout = Duration::from_millis(drain_ms.unwrap_or(5000)) + Duration::from_secs(5);
        let req = async_nats::Request::new()
            .payload(body.into())
            .timeout(Some(timeout));
        self.nats
            .send_request(subject, req)
            .await
            .context("shutdown not answered")?;
        Ok(())
    }

    /// Serves actor `actor_key`: every invocation to it is verified against
    /// `issuers` (when non-empty), dechunked, and handed to `handler`.
    pub async fn serve_actor<F, Fut>(
        &self,
        actor_key: &str,
        issuers: Vec<String>,
        handler: F,
    ) -> Result<ActorHandle>
    where
        F: Fn(Invocation, Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u8>, RpcError>> + Send + 'static,
    {
        let mut sub = self
            .nats
            .subscribe(subjects::actor_rpc(&self.lattice, actor_key))
            .await?;
        subjects::server_sync(&self.nats, Duration::from_secs(10))
            .await
            .map_err(anyhow::Error::msg)?;
        let nats = self.nats.clone();
        let chunks = Arc::new(ChunkStore::new(self.nats.clone(), &self.lattice));
        let handler = Arc::new(handler);
        let actor = actor_key.to_string();
        let task = tokio::spawn(async move {
            // Actors check the signature, binding and issuer; replay is the provider side's concern.
            let verifier = (!issuers.is_empty()).then(|| Verifier::new(&issuers, &actor, 3600));
            let verifier = verifier.map(Arc::new);
            while let Some(m) = sub.next().await {
                let (nats, chunks, handler, verifier) = (
                    nats.clone(),
                    chunks.clone(),
                    handler.clone(),
                    verifier.clone(),
                );
                tokio::spawn(async move {
                    let Some(reply) = m.reply else { return };
                    let resp = match rmp_serde::from_slice::<Invocation>(&m.payload) {
                        Err(e) => provider_sdk::InvocationResponse::err(
                            "",
                            &RpcError::bad_envelope(e.to_string()),
                        ),
                        Ok(mut inv) => {
                            let id = inv.id.clone();
                            let result = async {
                                let body = chunks.body_of(&mut inv, u64::MAX).await?;
                                if let Some(v) = &verifier {
                                    v.verify(&inv, &body)?;
                                }
                                handler(inv, body).await
                            }
                            .await;
                            chunks.response(&id, result).await
                        }
                    };
                    if let Ok(bytes) = wire::serialize(&resp) {
                        let _ = nats.publish(reply, bytes.into()).await;
                    }
                });
            }
        });
        Ok(ActorHandle { task })
    }
}

/// A served actor; stops serving on drop.
pub struct ActorHandle {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ActorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
