//! A typed client: what an actor (or a test) calls a messaging provider with;
//! and [`deliver`], what a messaging provider calls its linked actors with.

use std::time::Duration;

use lattice_rpc::client::CallActor;
use lattice_rpc::wire::{deserialize_reply, serialize};
use lattice_rpc::{ActorClient, RpcClient, RpcError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ops;
use crate::types::*;

/// How much longer than the request's own timeout the invocation waits, so
/// the provider's `timeout` answer arrives before the caller gives up.
pub const REQUEST_GRACE: Duration = Duration::from_secs(2);

/// Calls one messaging provider as one actor.
#[derive(Clone)]
pub struct MessagingClient {
    inner: ActorClient,
}

impl MessagingClient {
    /// A client calling `provider` (key, link name) as `actor` over `rpc`.
    pub fn new(rpc: RpcClient, actor: &str, provider_key: &str, link_name: &str) -> Self {
        Self {
            inner: ActorClient::new(rpc, actor, provider_key, link_name, crate::CONTRACT_ID),
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

    /// `Messaging.Publish` of `body` on `subject`, with an optional reply subject.
    pub async fn publish(
        &self,
        subject: &str,
        reply_to: Option<&str>,
        body: &[u8],
    ) -> Result<(), RpcError> {
        let msg = PubMessage {
            subject: subject.into(),
            reply_to: reply_to.map(str::to_string),
            body: body.to_vec(),
            headers: None,
        };
        self.publish_message(&msg).await
    }

    /// `Messaging.Publish` of a whole message (with headers, say).
    pub async fn publish_message(&self, msg: &PubMessage) -> Result<(), RpcError> {
        self.call(ops::PUBLISH, msg).await
    }

    /// `Messaging.Request` of `body` on `subject`, waiting at most `timeout`
    /// for the reply (zero: the provider's default).
    pub async fn request(
        &self,
        subject: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<ReplyMessage, RpcError> {
        let msg = RequestMessage {
            subject: subject.into(),
            body: body.to_vec(),
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            headers: None,
        };
        self.request_message(&msg).await
    }

    /// `Messaging.Request` of a whole message. The invocation waits
    /// [`REQUEST_GRACE`] longer than `timeoutMs` (or than the client's default
    /// timeout when it is 0).
    pub async fn request_message(&self, msg: &RequestMessage) -> Result<ReplyMessage, RpcError> {
        let wait = match msg.timeout_ms {
            0 => self.inner.rpc().timeout(),
            ms => Duration::from_millis(ms.into()),
        };
        let body = self
            .inner
            .call_raw(ops::REQUEST, serialize(msg)?, Some(wait + REQUEST_GRACE))
            .await?;
        deserialize_reply(&body)
    }
}

/// Delivers `msg` to actor `actor_id` (`MessageSubscriber.HandleMessage`), as
/// the provider of `ctx`; `timeout` defaults to the host's
/// `default_rpc_timeout_ms`. The actor's error comes back as the `Err`.
pub async fn deliver(
    ctx: &impl CallActor,
    actor_id: &str,
    msg: &SubMessage,
    timeout: Option<Duration>,
) -> Result<(), RpcError> {
    ctx.call_actor(actor_id, ops::HANDLE_MESSAGE, serialize(msg)?, timeout)
        .await?;
    Ok(())
}
