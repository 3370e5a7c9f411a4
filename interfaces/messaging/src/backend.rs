//! The traits of both directions: what a messaging provider implements on its
//! per-link state, and what an actor (or a test actor) implements to receive
//! the messages of its subscriptions.

use crate::error::MessagingError;
use crate::types::{PubMessage, ReplyMessage, RequestMessage, SubMessage};

/// Sending messages on one link's NATS connection (`Messaging.*`).
///
/// Methods return `impl Future + Send`, so an `impl` can use `async fn`.
/// [`crate::dispatch`] has already checked the subjects with
/// [`crate::validate_subject`]; the backend checks what only it knows, such as
/// which subjects the link permits ([`MessagingError::NotPermitted`]).
pub trait MessagingBackend: Send + Sync + 'static {
    /// Publishes `msg`, fire and forget: returns once the NATS server has it,
    /// without waiting for or reporting any receiver.
    fn publish(&self, msg: PubMessage) -> impl Future<Output = Result<(), MessagingError>> + Send;

    /// Sends `msg` and waits for the first reply, at most `timeout_ms` (0: the
    /// provider's default RPC timeout). No reply in time is
    /// [`MessagingError::Timeout`]; no responders is
    /// [`MessagingError::Unavailable`].
    fn request(
        &self,
        msg: RequestMessage,
    ) -> impl Future<Output = Result<ReplyMessage, MessagingError>> + Send;
}

/// Receiving the messages of a link's subscriptions
/// (`MessageSubscriber.HandleMessage`); the actor side.
pub trait MessageSubscriber: Send + Sync + 'static {
    /// Handles one received message. An error is only logged by the provider;
    /// delivery is at most once. To reply, publish to `msg.reply_to`.
    fn handle_message(
        &self,
        msg: SubMessage,
    ) -> impl Future<Output = Result<(), MessagingError>> + Send;
}
