//! Serving actor subjects with in-process handlers, through the contract's
//! one invocation path (`lattice_rpc::server`): the same decode, dechunk,
//! verify, chunked answer and back-pressure a provider's invocations get.

use std::sync::Arc;
use std::time::Duration;

use lattice_rpc::claims::Verifier;
use lattice_rpc::server::{Handler, InvocationServer};
use lattice_rpc::subjects;
use tokio::sync::oneshot;

use crate::error::HostError;
use crate::host::Host;

/// How long an actor's calls may be remembered against replay, seconds.
const ACTOR_REPLAY_WINDOW_SECS: u64 = 60;

impl Host {
    /// Serves actor `actor_key`: every invocation to it is verified (a trusted
    /// issuer: this host's cluster key, which the providers it launches sign
    /// with, or one added with `trust_issuer`), dechunked, and handed to
    /// `handler`.
    pub async fn serve_actor<H: Handler>(
        &self,
        actor_key: &str,
        handler: H,
    ) -> Result<ActorHandle, HostError> {
        let sub = self
            .nats()
            .subscribe(subjects::actor_rpc(self.lattice(), actor_key))
            .await
            .map_err(|e| HostError::nats("subscribing to an actor subject", e))?;
        subjects::server_sync(self.nats(), Duration::from_secs(10))
            .await
            .map_err(|e| HostError::nats("confirming an actor subscription", e))?;
        let verifier = Verifier::new(&self.trusted_issuers, actor_key, ACTOR_REPLAY_WINDOW_SECS);
        let server = Arc::new(
            InvocationServer::builder(self.nats().clone(), self.chunks().clone(), verifier)
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
