//! A typed client: what an actor (or a test) calls a secrets provider with.

use std::sync::Arc;

use lattice_rpc::secret::SealingKey;
use lattice_rpc::{ActorClient, RpcClient, RpcError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ops;
use crate::types::{GetRequest, GetResponse, SecretValue};

/// Calls one secrets provider as one actor.
#[derive(Clone)]
pub struct SecretsClient {
    inner: ActorClient,
    /// The xkey replies are sealed to, made once per client: the provider
    /// then agrees a key with it once, not on every call.
    reply_key: Arc<SealingKey>,
}

impl SecretsClient {
    /// A client calling `provider` (key, link name) as `actor` over `rpc`.
    pub fn new(rpc: RpcClient, actor: &str, provider_key: &str, link_name: &str) -> Self {
        Self {
            inner: ActorClient::new(rpc, actor, provider_key, link_name, crate::CONTRACT_ID),
            reply_key: Arc::new(SealingKey::generate()),
        }
    }

    /// Calls any operation with a typed argument and result.
    pub async fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        operation: &str,
        arg: &A,
    ) -> Result<R, RpcError> {
        self.inner.call(operation, arg).await
    }

    /// `Secrets.Get`: the value of `key` (one `field`, or all of them as a JSON
    /// object; one `version`, or the current one), sealed to `reply_xkey`.
    pub async fn get(
        &self,
        key: &str,
        field: Option<&str>,
        version: Option<u64>,
        reply_xkey: &str,
    ) -> Result<GetResponse, RpcError> {
        let req = GetRequest {
            key: key.into(),
            field: field.map(str::to_string),
            version,
            reply_xkey: reply_xkey.into(),
        };
        self.call(ops::GET, &req).await
    }

    /// `Secrets.Get` sealed to this client's xkey, opened: the value itself.
    /// A reply that does not open or decode is `bad-envelope`.
    pub async fn get_open(
        &self,
        key: &str,
        field: Option<&str>,
        version: Option<u64>,
    ) -> Result<SecretValue, RpcError> {
        let resp = self
            .get(key, field, version, self.reply_key.public_key())
            .await?;
        SecretValue::open_with(&resp.sealed, &self.reply_key, &resp.sender_xkey)
    }
}
