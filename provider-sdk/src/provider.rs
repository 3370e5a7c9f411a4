//! What a provider implements, and what the SDK hands it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use lattice_rpc::client::{CallActor, RpcClient};
use lattice_rpc::{
    EntityRef, HealthCheckResponse, HostData, LinkDefinition, RpcError, WasmCloudEntity,
};

use crate::config::{self, ConfigError};

/// A capability provider. Write one `impl` and hand the value to [`crate::run`].
///
/// Methods return `impl Future + Send`, so an `impl` can use plain `async fn`.
pub trait Provider: Send + Sync + Sized + 'static {
    /// The contract this provider serves, e.g. `wasmcloud:keyvalue`.
    const CONTRACT_ID: &'static str;

    /// State kept for each link, built by [`Provider::put_link`].
    type Link: Send + Sync + 'static;

    /// Called once after the lattice connection is up and before any link or
    /// invocation. Provider-wide config arrives here
    /// ([`ProviderContext::provider_config`]); an error stops the process
    /// with that error on stderr.
    fn init(
        &mut self,
        ctx: &ProviderContext,
    ) -> impl Future<Output = Result<(), ConfigError>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Validates a link's values and builds its state (connections,
    /// listeners, subscriptions). An error leaves any previous link for the
    /// same actor in place and is reported to the host.
    fn put_link(
        &self,
        ctx: &ProviderContext,
        link: &LinkConfig,
    ) -> impl Future<Output = Result<Self::Link, ConfigError>> + Send;

    /// Releases what a link held. Called when the link is deleted, replaced,
    /// or at shutdown. In-flight calls may still hold the state briefly.
    fn del_link(&self, link: Arc<Linked<Self::Link>>) -> impl Future<Output = ()> + Send {
        let _ = link;
        async {}
    }

    /// Handles one invocation from a linked actor. The result is the
    /// operation's encoded reply (empty for none).
    fn handle(
        &self,
        call: Call<'_, Self::Link>,
    ) -> impl Future<Output = Result<Vec<u8>, RpcError>> + Send;

    /// Reports whether the provider and its backend work. Do real work here
    /// (a `PING`, a `sys/health`).
    fn health(&self) -> impl Future<Output = HealthCheckResponse> + Send {
        async { HealthCheckResponse::healthy() }
    }

    /// Applies new provider-wide config (`config.put`). The default accepts
    /// nothing: it answers that live config is not supported.
    fn config_update(
        &self,
        ctx: &ProviderContext,
        values: &HashMap<String, String>,
    ) -> impl Future<Output = Result<(), ConfigError>> + Send {
        let _ = (ctx, values);
        async { Err(ConfigError::NotSupported) }
    }

    /// Called once at shutdown, after in-flight work drained and links were released.
    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A link as the provider's `put_link` sees it: the definition, and the
/// values with sealed secrets opened and merged in (a secret wins over a
/// plain value of the same name).
pub struct LinkConfig {
    /// The link definition as received (sealed secrets still sealed).
    pub definition: LinkDefinition,
    values: HashMap<String, String>,
}

impl std::fmt::Debug for LinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkConfig")
            .field("definition", &self.definition)
            .finish_non_exhaustive()
    }
}

impl LinkConfig {
    pub(crate) fn new(definition: LinkDefinition, values: HashMap<String, String>) -> Self {
        Self { definition, values }
    }

    /// The actor this link is for.
    pub fn actor_id(&self) -> &str {
        &self.definition.actor_id
    }

    /// All values, secrets opened. Do not log them.
    pub fn values(&self) -> &HashMap<String, String> {
        &self.values
    }

    /// Parses the values into the provider's link config struct with the SDK's
    /// one parser ([`crate::config::from_map`]); unknown keys are logged as a warning.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let parsed = config::from_map::<T>(&self.values)?;
        Ok(parsed.warn_unknown(&format!("the link of actor {}", self.definition.actor_id)))
    }
}

/// A link in the link table: its definition and the provider's state.
pub struct Linked<L> {
    /// The definition (sealed secrets still sealed).
    pub definition: LinkDefinition,
    /// The provider's state for this link.
    pub state: L,
}

/// One invocation, as handed to [`Provider::handle`].
pub struct Call<'a, L> {
    /// `Service.Method`.
    pub operation: &'a str,
    /// The argument, whole (dechunked): a slice of the message it came in,
    /// not a copy.
    pub msg: bytes::Bytes,
    /// The calling actor.
    pub origin: EntityRef<'a>,
    /// The caller's link.
    pub link: &'a Arc<Linked<L>>,
    /// The provider's context.
    pub ctx: &'a ProviderContext,
    /// The invocation id.
    pub invocation_id: &'a str,
}

impl<L> Call<'_, L> {
    /// The link's state.
    pub fn state(&self) -> &L {
        &self.link.state
    }
}

/// What every part of a provider can reach: its identity, the lattice
/// connection, and a client to call actors.
#[derive(Clone)]
pub struct ProviderContext {
    pub(crate) inner: Arc<ContextInner>,
}

pub(crate) struct ContextInner {
    pub host_data: HostData,
    pub nats: async_nats::Client,
    pub rpc: RpcClient,
    pub contract_id: &'static str,
}

impl ProviderContext {
    /// The host data this process started with.
    pub fn host_data(&self) -> &HostData {
        &self.inner.host_data
    }

    /// This provider's public key.
    pub fn provider_key(&self) -> &str {
        &self.inner.host_data.provider_key
    }

    /// The link name this process serves.
    pub fn link_name(&self) -> &str {
        &self.inner.host_data.link_name
    }

    /// The lattice prefix.
    pub fn lattice(&self) -> &str {
        &self.inner.host_data.lattice_rpc_prefix
    }

    /// The lattice NATS connection.
    pub fn nats(&self) -> &async_nats::Client {
        &self.inner.nats
    }

    /// Provider-wide config (`config_json`) as JSON text, if any.
    pub fn config_json(&self) -> Option<&str> {
        self.inner.host_data.config_json.as_deref()
    }

    /// Provider-wide config (`config_json`) parsed into `T` with the SDK's
    /// one parser, unknown keys logged as a warning; `None` when the host
    /// gave none.
    pub fn provider_config<T: DeserializeOwned>(&self) -> Result<Option<T>, ConfigError> {
        match self.config_json() {
            None => Ok(None),
            Some(json) => {
                let parsed = config::from_json::<T>("config_json", json)?;
                Ok(Some(parsed.warn_unknown("config_json")))
            }
        }
    }

    /// This provider as an invocation entity.
    pub fn entity(&self) -> WasmCloudEntity {
        WasmCloudEntity::provider(
            self.provider_key(),
            self.link_name(),
            self.inner.contract_id,
        )
    }

    /// The client the provider calls actors with.
    pub fn rpc(&self) -> &RpcClient {
        &self.inner.rpc
    }
}

impl CallActor for ProviderContext {
    /// Calls `operation` on actor `actor_id`, signed with `invocation_seed`;
    /// `timeout` defaults to the host's `default_rpc_timeout_ms`.
    async fn call_actor(
        &self,
        actor_id: &str,
        operation: &str,
        msg: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, RpcError> {
        self.inner
            .rpc
            .call(
                EntityRef {
                    public_key: self.provider_key(),
                    link_name: self.link_name(),
                    contract_id: self.inner.contract_id,
                },
                EntityRef::actor(actor_id),
                operation,
                msg,
                timeout,
            )
            .await
    }
}
