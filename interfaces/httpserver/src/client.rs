//! [`forward`]: what an httpserver provider calls its linked actors with.

use std::time::Duration;

use lattice_rpc::RpcError;
use lattice_rpc::client::CallActor;
use lattice_rpc::wire::{deserialize_reply, serialize};

use crate::ops;
use crate::types::{HttpRequest, HttpResponse};

/// Forwards `req` to actor `actor_id` (`HttpServer.HandleRequest`), as the
/// provider of `ctx`, and returns its response; `timeout` defaults to the
/// host's `default_rpc_timeout_ms`. The actor's error, a `timeout` or an
/// `unavailable` comes back as the `Err`, for the provider to turn into
/// `500`, `504` or `503`.
pub async fn forward(
    ctx: &impl CallActor,
    actor_id: &str,
    req: &HttpRequest,
    timeout: Option<Duration>,
) -> Result<HttpResponse, RpcError> {
    let body = ctx
        .call_actor(actor_id, ops::HANDLE_REQUEST, serialize(req)?, timeout)
        .await?;
    deserialize_reply(&body)
}
