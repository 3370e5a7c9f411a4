//! Serving actor subjects with in-process handlers, through the contract's
//! one invocation path (`lattice_rpc::server`): the same decode, dechunk,
//! verify, chunked answer and back-pressure a provider's invocations get.

use std::sync::Arc;
use std::time::Duration;

use lattice_rpc::claims::{MacCheck, Verifier};
use lattice_rpc::server::{Handler, HandlerFuture, Incoming, InvocationServer};
use lattice_rpc::{RpcError, subjects};
use tokio::sync::oneshot;

use crate::error::HostError;
use crate::host::Host;
use crate::links::LinkRegistry;

/// How long an actor's calls may be remembered against replay, seconds.
const ACTOR_REPLAY_WINDOW_SECS: u64 = 60;

impl Host {
    /// Serves actor `actor_key`: every invocation to it is verified, dechunked
    /// and handed to `handler`. Verified means: HS256 under the key derived
    /// from the calling provider (key and link name) with that provider as
    /// `iss`, when this host has a lattice key; or Ed25519 from a trusted
    /// issuer (this host's cluster key, or one added with `trust_issuer`).
    /// A provider's call is refused `not-linked` unless the provider is
    /// linked to the actor ([`Host::links`]). Every server of one actor
    /// joins one queue group (the actor's key), so each call is handled
    /// once however many processes serve the actor: a new version can
    /// start beside the old one and take over with no call lost or doubled.
    pub async fn serve_actor<H: Handler>(
        &self,
        actor_key: &str,
        handler: H,
    ) -> Result<ActorHandle, HostError> {
        let sub = self
            .nats()
            .queue_subscribe(
                subjects::actor_rpc(self.lattice(), actor_key),
                actor_key.to_string(),
            )
            .await
            .map_err(|e| HostError::nats("subscribing to an actor subject", e))?;
        subjects::server_sync(self.nats(), Duration::from_secs(10))
            .await
            .map_err(|e| HostError::nats("confirming an actor subscription", e))?;
        let verifier = Verifier::builder(actor_key)
            .issuers(&self.trusted_issuers)
            .mac(match &self.lattice_key {
                Some(lattice) => MacCheck::PerOrigin(lattice.clone()),
                None => MacCheck::None,
            })
            .window_secs(ACTOR_REPLAY_WINDOW_SECS)
            .build();
        let handler = LinkedOnly {
            actor: actor_key.to_string(),
            links: self.links.clone(),
            handler,
        };
        let server = Arc::new(
            InvocationServer::builder(
                self.nats().clone(),
                self.chunks().clone(),
                Arc::new(verifier),
            )
            .build(handler),
        );
        let (stop_tx, stop_rx) = oneshot::channel::<Duration>();
        let task =
            tokio::spawn(server.serve(sub, async move { stop_rx.await.unwrap_or(Duration::ZERO) }));
        Ok(ActorHandle {
            stop: Some(stop_tx),
            task,
        })
    }
}

/// Hands a call to the actor's handler when its origin may call it: a
/// host's own call (origin an actor), or a provider linked to the actor.
struct LinkedOnly<H> {
    actor: String,
    links: LinkRegistry,
    handler: H,
}

impl<H: Handler> Handler for LinkedOnly<H> {
    fn handle<'a>(&'a self, inv: Incoming<'a>) -> HandlerFuture<'a> {
        let o = inv.origin;
        if !o.is_actor() && !self.links.contains(o.public_key, o.link_name, &self.actor) {
            let err = RpcError::not_linked(format!(
                "provider {} ({}) has no link to actor {}",
                o.public_key,
                if o.link_name.is_empty() {
                    "default"
                } else {
                    o.link_name
                },
                self.actor
            ));
            return Box::pin(async move { Err(err) });
        }
        self.handler.handle(inv)
    }
}

/// A served actor. Dropping it stops serving at once; [`ActorHandle::stop`]
/// drains first.
pub struct ActorHandle {
    stop: Option<oneshot::Sender<Duration>>,
    task: tokio::task::JoinHandle<()>,
}

impl ActorHandle {
    /// Stops taking calls, answers those already delivered, and waits for
    /// the ones in flight up to `drain`.
    pub async fn stop(mut self, drain: Duration) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(drain);
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for ActorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
