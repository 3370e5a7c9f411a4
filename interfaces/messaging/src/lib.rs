//! The `wasmcloud:messaging` interface: wire types, operation names, the
//! backend trait a provider implements and the dispatch that serves it, the
//! subscriber trait an actor implements, a typed client, and [`deliver`],
//! with which a provider hands a received message to the linked actor.
//!
//! Two directions: actors call the provider (`Messaging.*`, served by
//! [`dispatch`] on a [`MessagingBackend`]), and the provider calls the actor
//! once per message received on the link's subscriptions
//! (`MessageSubscriber.HandleMessage`, served by [`dispatch_subscriber`] on a
//! [`MessageSubscriber`]).

#![deny(missing_docs)]

mod backend;
mod client;
mod dispatch;
pub mod error;
pub mod types;

pub use backend::{MessageSubscriber, MessagingBackend};
pub use client::{MessagingClient, REQUEST_GRACE, deliver};
pub use dispatch::{dispatch, dispatch_subscriber, validate_subject};
pub use error::MessagingError;

/// The contract id.
pub const CONTRACT_ID: &str = "wasmcloud:messaging";

/// Operation names.
pub mod ops {
    /// `Messaging.Publish`: `PubMessage` → nothing (actor → provider).
    pub const PUBLISH: &str = "Messaging.Publish";
    /// `Messaging.Request`: `RequestMessage` → `ReplyMessage` (actor → provider).
    pub const REQUEST: &str = "Messaging.Request";
    /// `MessageSubscriber.HandleMessage`: `SubMessage` → nothing (provider → actor).
    pub const HANDLE_MESSAGE: &str = "MessageSubscriber.HandleMessage";

    /// Every operation of the interface, both directions.
    pub const ALL: [&str; 3] = [PUBLISH, REQUEST, HANDLE_MESSAGE];
}
