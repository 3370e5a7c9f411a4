//! A host: owns a lattice, launches providers, links actors, signs and sends
//! invocations, and serves actor subjects with in-process handlers.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lattice_rpc::chunking::ChunkStore;
use lattice_rpc::claims::{LatticeKey, Signer, sign_control};
use lattice_rpc::control::{self, CLAIMS_HEADER, PutAck, ShutdownRequest};
use lattice_rpc::secret::{SealedBytes, seal};
use lattice_rpc::subjects::{self, control as suffix};
use lattice_rpc::{
    EntityRef, HealthCheckResponse, HostData, Invocation, LinkDefinition, RpcClient, RpcError,
    WasmCloudEntity, wire,
};

use crate::error::HostError;
use crate::launch::ProviderProcess;
use crate::links::LinkRegistry;

/// The default timeout of the host's calls.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

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

    /// The subject of one of its control messages (`suffix`: `health`, …).
    pub fn control_subject(&self, lattice: &str, suffix: &str) -> String {
        subjects::provider_control(lattice, &self.key, &self.link_name, suffix)
    }

    /// The provider as an invocation target.
    pub fn entity(&self) -> WasmCloudEntity {
        WasmCloudEntity::provider(&self.key, &self.link_name, &self.contract_id)
    }
}

/// Builds a [`Host`].
pub struct HostBuilder {
    nats_url: String,
    lattice: Option<String>,
    cluster_key: Option<nkeys::KeyPair>,
    host_key: Option<nkeys::KeyPair>,
    timeout: Duration,
    trusted_issuers: Vec<String>,
    lattice_key: Option<LatticeKey>,
    require_mac: bool,
}

impl HostBuilder {
    /// The lattice NATS (default `nats://127.0.0.1:4222`).
    pub fn nats_url(mut self, url: impl Into<String>) -> Self {
        self.nats_url = url.into();
        self
    }

    /// The lattice prefix (default: a fresh one, `t` and 32 hex digits).
    pub fn lattice(mut self, lattice: impl Into<String>) -> Self {
        self.lattice = Some(lattice.into());
        self
    }

    /// The cluster key that signs this host's invocations (default: a new
    /// one). Providers this host launches trust it and sign with it.
    pub fn cluster_key(mut self, key: nkeys::KeyPair) -> Self {
        self.cluster_key = Some(key);
        self
    }

    /// This host's own key, its `host_id` (default: a new server key).
    pub fn host_key(mut self, key: nkeys::KeyPair) -> Self {
        self.host_key = Some(key);
        self
    }

    /// The default timeout of calls (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Also trust `issuer` to sign calls to the actors this host serves
    /// (the cluster key is always trusted).
    pub fn trust_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.trusted_issuers.push(issuer.into());
        self
    }

    /// The lattice key (contract section 6a): calls to providers are then
    /// HS256 under each provider's own key, providers this host launches
    /// get their key in host data and no cluster seed, control messages
    /// carry `Lattice-Claims`, and calls providers send to served actors are
    /// checked with the key derived from their origin.
    pub fn lattice_key(mut self, key: LatticeKey) -> Self {
        self.lattice_key = Some(key);
        self
    }

    /// Providers this host launches refuse Ed25519 claims and control
    /// messages without claims (needs a lattice key).
    pub fn require_mac(mut self, require: bool) -> Self {
        self.require_mac = require;
        self
    }

    /// Connects and returns the host.
    pub async fn connect(self) -> Result<Host, HostError> {
        let nats = async_nats::connect(&self.nats_url)
            .await
            .map_err(|e| HostError::Connect {
                url: lattice_rpc::secret::redact_url(&self.nats_url),
                reason: e.to_string(),
            })?;
        let lattice = self
            .lattice
            .unwrap_or_else(|| format!("t{}", uuid::Uuid::new_v4().simple()));
        let cluster_key = self.cluster_key.unwrap_or_else(nkeys::KeyPair::new_cluster);
        let host_key = self.host_key.unwrap_or_else(nkeys::KeyPair::new_server);
        let signer = match &self.lattice_key {
            Some(lattice) => Signer::host(copy_key(&cluster_key)?, lattice.clone()),
            None => Signer::ed25519(copy_key(&cluster_key)?),
        };
        let chunks = Arc::new(ChunkStore::new(nats.clone(), &lattice));
        let rpc = RpcClient::builder(nats.clone(), &lattice, signer)
            .host_id(host_key.public_key())
            .timeout(self.timeout)
            .chunks(chunks.clone())
            .build();
        let mut trusted = vec![cluster_key.public_key()];
        trusted.extend(self.trusted_issuers);
        Ok(Host {
            nats,
            nats_url: self.nats_url,
            lattice,
            host_key,
            cluster_key,
            // With a lattice key every host of the lattice seals link
            // secrets from the same xkey, so any of them can re-send them.
            xkey: match &self.lattice_key {
                Some(l) => nkeys::XKey::new_from_raw(l.derive("lattice-xkey-v1:host")),
                None => nkeys::XKey::new(),
            },
            rpc,
            chunks,
            trusted_issuers: trusted,
            lattice_key: self.lattice_key,
            require_mac: self.require_mac,
            links: LinkRegistry::default(),
        })
    }
}

fn copy_key(kp: &nkeys::KeyPair) -> Result<nkeys::KeyPair, HostError> {
    let bad = |_| HostError::Key {
        what: "the cluster key",
    };
    nkeys::KeyPair::from_seed(&kp.seed().map_err(bad)?).map_err(bad)
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
    pub(crate) trusted_issuers: Vec<String>,
    pub(crate) lattice_key: Option<LatticeKey>,
    require_mac: bool,
    pub(crate) links: LinkRegistry,
}

impl Host {
    /// A builder; `Host::builder().connect().await` is a host on a fresh
    /// lattice of the local NATS.
    pub fn builder() -> HostBuilder {
        HostBuilder {
            nats_url: "nats://127.0.0.1:4222".into(),
            lattice: None,
            cluster_key: None,
            host_key: None,
            timeout: DEFAULT_CALL_TIMEOUT,
            trusted_issuers: Vec::new(),
            lattice_key: None,
            require_mac: false,
        }
    }

    /// The links this host knows of (the ones it put, and any recorded by
    /// whoever else keeps its view of the lattice): a provider's call to a
    /// served actor is refused `not-linked` unless its link is here.
    pub fn links(&self) -> &LinkRegistry {
        &self.links
    }

    /// Whether calls to providers are HS256 (a lattice key is set).
    pub fn signs_hs256(&self) -> bool {
        self.lattice_key.is_some()
    }

    /// The lattice prefix.
    pub fn lattice(&self) -> &str {
        &self.lattice
    }

    /// The NATS connection.
    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    /// The NATS URL.
    pub fn nats_url(&self) -> &str {
        &self.nats_url
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
    pub fn chunks(&self) -> &Arc<ChunkStore> {
        &self.chunks
    }

    /// Deletes the lattice's chunk bucket, if any (tests and the demo clean up
    /// after themselves on a shared NATS).
    pub async fn delete_chunk_bucket(&self) -> Result<(), HostError> {
        let js = async_nats::jetstream::new(self.nats.clone());
        if js.get_object_store(&self.lattice).await.is_ok() {
            js.delete_object_store(&self.lattice)
                .await
                .map_err(|e| HostError::nats("deleting the chunk bucket", e))?;
        }
        Ok(())
    }

    /// Host data for a new provider process with a fresh key on `link_name`.
    /// The provider gets its own xkey so that sealed link secrets work. With
    /// a lattice key it gets its `K_p` and no cluster seed (section 6a).
    pub fn host_data(&self, link_name: &str) -> HostData {
        self.host_data_for(&nkeys::KeyPair::new_service().public_key(), link_name)
    }

    /// Host data for a new instance of provider `provider_key` on `link_name`
    /// (another instance of a provider keeps its key).
    pub fn host_data_for(&self, provider_key: &str, link_name: &str) -> HostData {
        let provider_xkey = self.provider_xkey(provider_key, link_name);
        let (invocation_seed, invocation_mac_key) = match &self.lattice_key {
            Some(lattice) => (
                String::new(),
                Some(lattice.provider_key(provider_key, link_name).to_base64url()),
            ),
            None => (self.cluster_key.seed().unwrap_or_default(), None),
        };
        HostData {
            host_id: self.host_id(),
            lattice_rpc_prefix: self.lattice.clone(),
            link_name: link_name.to_string(),
            lattice_rpc_url: self.nats_url.clone(),
            provider_key: provider_key.to_string(),
            invocation_seed,
            instance_id: uuid::Uuid::new_v4().to_string(),
            cluster_issuers: vec![self.cluster_key.public_key()],
            default_rpc_timeout_ms: Some(2000),
            provider_xkey_seed: provider_xkey.seed().ok(),
            host_xkey_public_key: Some(self.xkey.public_key()),
            invocation_mac_key,
            require_mac: self.require_mac && self.lattice_key.is_some(),
            ..HostData::default()
        }
    }

    /// The `Lattice-Claims` header for a control message to `provider` on
    /// `subject` (section 6b), when this host has a lattice key.
    pub fn control_headers(
        &self,
        provider: &ProviderRef,
        subject: &str,
        payload: &[u8],
    ) -> Option<async_nats::HeaderMap> {
        let lattice = self.lattice_key.as_ref()?;
        let key = lattice.provider_key(&provider.key, &provider.link_name);
        let token = sign_control(subject, payload, &self.cluster_key.public_key(), &key);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(CLAIMS_HEADER, token.as_str());
        Some(headers)
    }

    /// Launches `binary` with `host_data` and, once awaited, waits until that
    /// instance answers health (20 s at most). Add `.env(k, v)` before awaiting.
    pub fn launch(&self, binary: &Path, host_data: HostData) -> Launch<'_> {
        Launch {
            host: self,
            binary: binary.to_path_buf(),
            host_data,
            env: Vec::new(),
            ready_within: Duration::from_secs(20),
            log: None,
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

    /// The xkey of provider `provider_key` on `link_name`: derived from the
    /// lattice key when the host has one (every instance, on every host,
    /// then opens the same sealed link secrets), else a fresh one.
    fn provider_xkey(&self, provider_key: &str, link_name: &str) -> nkeys::XKey {
        match &self.lattice_key {
            Some(l) => nkeys::XKey::new_from_raw(l.derive(&format!(
                "lattice-xkey-v1:provider:{provider_key}:{link_name}"
            ))),
            None => nkeys::XKey::new(),
        }
    }

    /// Seals `value` for every instance of provider `provider_key` on
    /// `link_name` (link secrets); needs a lattice key, from which their
    /// xkey is derived.
    pub fn seal_for_provider(
        &self,
        provider_key: &str,
        link_name: &str,
        value: &str,
    ) -> Result<SealedBytes, HostError> {
        if self.lattice_key.is_none() {
            return Err(HostError::Key {
                what: "the lattice key (needed to seal for a provider by its key)",
            });
        }
        let recipient = self.provider_xkey(provider_key, link_name).public_key();
        seal(value.as_bytes(), &self.xkey, &recipient)
            .map(SealedBytes)
            .map_err(|_| HostError::Key {
                what: "the provider's xkey",
            })
    }

    /// Seals `value` for the provider whose host data is `hd` (link secrets).
    pub fn seal_for(&self, hd: &HostData, value: &str) -> Result<SealedBytes, HostError> {
        let no_key = HostError::Key {
            what: "the provider's xkey",
        };
        let seed = hd.provider_xkey_seed.as_deref().ok_or(HostError::Key {
            what: "the provider's xkey (its host data has none)",
        })?;
        let recipient = nkeys::XKey::from_seed(seed)
            .map_err(|_| HostError::Key {
                what: "the provider's xkey",
            })?
            .public_key();
        seal(value.as_bytes(), &self.xkey, &recipient)
            .map(SealedBytes)
            .map_err(|_| no_key)
    }

    /// Sends a control message to `provider` and waits for its answer; it
    /// carries `Lattice-Claims` when this host has a lattice key.
    async fn control_request(
        &self,
        what: &'static str,
        provider: &ProviderRef,
        suffix: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<async_nats::Message, HostError> {
        let subject = provider.control_subject(&self.lattice, suffix);
        let mut req = async_nats::Request::new().timeout(Some(timeout));
        if let Some(headers) = self.control_headers(provider, &subject, &payload) {
            req = req.headers(headers);
        }
        let req = req.payload(payload.into());
        self.nats
            .send_request(subject.clone(), req)
            .await
            .map_err(|e| HostError::NoAnswer {
                what,
                subject,
                no_responders: e.kind() == async_nats::RequestErrorKind::NoResponders,
                reason: match e.kind() {
                    async_nats::RequestErrorKind::NoResponders => {
                        "no provider is listening (no responders)".into()
                    }
                    async_nats::RequestErrorKind::TimedOut => {
                        format!("no answer within {timeout:?}")
                    }
                    _ => e.to_string(),
                },
            })
    }

    /// Puts a link and returns the provider's answer (extension: ack).
    pub async fn put_link(
        &self,
        provider: &ProviderRef,
        ld: &LinkDefinition,
    ) -> Result<PutAck, HostError> {
        // Recorded before the put: the provider may call the actor (a
        // subscription's first message) before its ack reaches this host.
        let existed = self
            .links
            .contains(&provider.key, &provider.link_name, &ld.actor_id);
        self.links
            .insert(&provider.key, &provider.link_name, &ld.actor_id);
        let result = async {
            let reply = self
                .control_request(
                    "link put",
                    provider,
                    suffix::LINKDEFS_PUT,
                    wire::serialize(ld)?,
                    DEFAULT_CALL_TIMEOUT,
                )
                .await?;
            Ok::<PutAck, HostError>(control::decode_control(&reply.payload)?)
        }
        .await;
        if !existed && !result.as_ref().is_ok_and(|a| a.accepted) {
            self.links
                .remove(&provider.key, &provider.link_name, &ld.actor_id);
        }
        result
    }

    /// Sends new provider-wide config (`config.put`, extension) and returns
    /// the provider's answer.
    pub async fn config_put(
        &self,
        provider: &ProviderRef,
        values: &serde_json::Value,
    ) -> Result<PutAck, HostError> {
        let body = serde_json::to_vec(values).map_err(|e| RpcError::internal(e.to_string()))?;
        let reply = self
            .control_request(
                "config put",
                provider,
                suffix::CONFIG_PUT,
                body,
                DEFAULT_CALL_TIMEOUT,
            )
            .await?;
        Ok(control::decode_control(&reply.payload)?)
    }

    /// Sends a control message (`suffix`: `linkdefs.put`, `shutdown`, …) with
    /// the given `Lattice-Claims` header, or none: for tests of how a
    /// provider treats forged or missing claims. Waits `timeout` for an answer.
    pub async fn send_control_with_claims(
        &self,
        provider: &ProviderRef,
        suffix: &str,
        payload: Vec<u8>,
        claims: Option<&str>,
        timeout: Duration,
    ) -> Result<async_nats::Message, HostError> {
        let subject = provider.control_subject(&self.lattice, suffix);
        let mut req = async_nats::Request::new().timeout(Some(timeout));
        if let Some(token) = claims {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(CLAIMS_HEADER, token);
            req = req.headers(headers);
        }
        self.nats
            .send_request(subject.clone(), req.payload(payload.into()))
            .await
            .map_err(|e| HostError::NoAnswer {
                what: "control message",
                subject,
                no_responders: e.kind() == async_nats::RequestErrorKind::NoResponders,
                reason: e.to_string(),
            })
    }

    /// Puts a link and fails unless it was accepted.
    pub async fn link_actor(
        &self,
        provider: &ProviderRef,
        actor: &str,
        values: &[(&str, &str)],
    ) -> Result<(), HostError> {
        let ack = self
            .put_link(provider, &self.link(provider, actor, values))
            .await?;
        if !ack.accepted {
            return Err(HostError::Refused {
                what: "link put",
                reason: ack.error.unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// Deletes `actor`'s link and returns the provider's answer.
    pub async fn del_link(&self, provider: &ProviderRef, actor: &str) -> Result<PutAck, HostError> {
        let ld = self.link(provider, actor, &[]);
        let reply = self
            .control_request(
                "link del",
                provider,
                suffix::LINKDEFS_DEL,
                wire::serialize(&ld)?,
                DEFAULT_CALL_TIMEOUT,
            )
            .await?;
        let ack: PutAck = control::decode_control(&reply.payload)?;
        if ack.accepted {
            self.links.remove(&provider.key, &provider.link_name, actor);
        }
        Ok(ack)
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
                EntityRef::actor(actor),
                provider.entity().as_ref(),
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

    /// Health of any one instance, within 2 s.
    pub async fn health(&self, provider: &ProviderRef) -> Result<HealthCheckResponse, HostError> {
        self.instance_health(provider, "", Duration::from_secs(2))
            .await
    }

    /// Health of one instance (the extension field `instance_id` of the
    /// reply); an empty `instance` takes the first answer.
    pub async fn instance_health(
        &self,
        provider: &ProviderRef,
        instance: &str,
        timeout: Duration,
    ) -> Result<HealthCheckResponse, HostError> {
        let mut replies = self.ask_health(provider).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, replies.next()).await {
            let h: HealthCheckResponse = control::decode_control(&m.payload)?;
            if instance.is_empty() || h.instance_id.as_deref() == Some(instance) {
                return Ok(h);
            }
        }
        Err(HostError::NoAnswer {
            what: "health",
            subject: provider.control_subject(&self.lattice, suffix::HEALTH),
            no_responders: false,
            reason: if instance.is_empty() {
                format!("no instance answered within {timeout:?}")
            } else {
                format!("instance {instance} did not answer within {timeout:?}")
            },
        })
    }

    /// Health answers of every instance of `provider` that answers within `window`.
    pub async fn health_all(
        &self,
        provider: &ProviderRef,
        window: Duration,
    ) -> Result<Vec<HealthCheckResponse>, HostError> {
        let mut replies = self.ask_health(provider).await?;
        let deadline = tokio::time::Instant::now() + window;
        let mut out = Vec::new();
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, replies.next()).await {
            out.push(control::decode_control(&m.payload)?);
        }
        Ok(out)
    }

    async fn ask_health(
        &self,
        provider: &ProviderRef,
    ) -> Result<async_nats::Subscriber, HostError> {
        let inbox = self.nats.new_inbox();
        let replies = self
            .nats
            .subscribe(inbox.clone())
            .await
            .map_err(|e| HostError::nats("subscribing to health answers", e))?;
        let subject = provider.control_subject(&self.lattice, suffix::HEALTH);
        self.nats
            .publish_with_reply(subject, inbox, Default::default())
            .await
            .map_err(|e| HostError::nats("publishing a health request", e))?;
        Ok(replies)
    }

    /// Asks provider instances to shut down (all, or `instance_id` only)
    /// and waits for the first reply.
    pub async fn shutdown(
        &self,
        provider: &ProviderRef,
        instance_id: Option<&str>,
        drain_ms: Option<u64>,
    ) -> Result<(), HostError> {
        let body = serde_json::to_vec(&ShutdownRequest {
            host_id: self.host_id(),
            instance_id: instance_id.map(str::to_string),
            drain_ms,
        })
        .map_err(|e| RpcError::internal(e.to_string()))?;
        let timeout = Duration::from_millis(drain_ms.unwrap_or(5000)) + Duration::from_secs(5);
        self.control_request("shutdown", provider, suffix::SHUTDOWN, body, timeout)
            .await?;
        Ok(())
    }
}

/// A provider launch, configured then awaited (see [`Host::launch`]).
pub struct Launch<'h> {
    host: &'h Host,
    binary: PathBuf,
    host_data: HostData,
    env: Vec<(String, String)>,
    ready_within: Duration,
    log: Option<PathBuf>,
}

impl Launch<'_> {
    /// Sets an environment variable of the process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// How long to wait for the first health answer (default 20 s).
    pub fn ready_within(mut self, within: Duration) -> Self {
        self.ready_within = within;
        self
    }

    /// Appends the process's stdout and stderr to `path` instead of keeping
    /// them in memory, runs it in a process group of its own (a terminal's
    /// Ctrl-C reaches the host, which drains it), and leaves it running when
    /// the handle is dropped: a supervisor that exits without draining can
    /// be restarted and adopt it.
    pub fn log_to(mut self, path: &Path) -> Self {
        self.log = Some(path.to_path_buf());
        self
    }

    async fn run(self) -> Result<ProviderProcess, HostError> {
        let pref = ProviderRef::new(&self.host_data.provider_key, &self.host_data.link_name, "");
        let instance = self.host_data.instance_id.clone();
        let mut proc = match &self.log {
            Some(log) => {
                ProviderProcess::spawn_logged(&self.binary, self.host_data, &self.env, log).await?
            }
            None => ProviderProcess::spawn(&self.binary, self.host_data, &self.env).await?,
        };
        let deadline = Instant::now() + self.ready_within;
        loop {
            if let Some(status) = proc.try_status() {
                // Give the readers a moment to collect the last lines.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(HostError::Exited {
                    binary: self.binary,
                    status,
                    output: proc.output(),
                });
            }
            // Other instances of the same provider answer health too: wait for this one.
            if self
                .host
                .instance_health(&pref, &instance, Duration::from_millis(250))
                .await
                .is_ok()
            {
                return Ok(proc);
            }
            if Instant::now() > deadline {
                return Err(HostError::NotReady {
                    binary: self.binary,
                    within: self.ready_within,
                    output: proc.output(),
                });
            }
        }
    }
}

impl<'h> IntoFuture for Launch<'h> {
    type Output = Result<ProviderProcess, HostError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'h>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
