//! The `wasmcloud:secrets` interface, an extension of this project (wasmCloud
//! 0.x had none): wire types, the operation name, the backend trait a
//! provider implements, the dispatch that serves it, and a typed client that
//! opens the sealed value.
//!
//! A secret travels sealed (nkeys `xkv1`) from the provider's xkey to the
//! requester's `replyXkey`, so nothing on the lattice but the requester can
//! read it. Sealed, it is the MessagePack of a [`SecretValue`].

#![deny(missing_docs)]

mod backend;
mod client;
mod dispatch;
pub mod error;
pub mod types;

pub use backend::SecretsBackend;
pub use client::SecretsClient;
pub use dispatch::dispatch;
pub use error::SecretsError;
pub use types::{GetRequest, GetResponse, SecretValue};

/// The contract id.
pub const CONTRACT_ID: &str = "wasmcloud:secrets";

/// Operation names.
pub mod ops {
    /// `Secrets.Get`: `GetRequest` → `GetResponse` (actor → provider).
    pub const GET: &str = "Secrets.Get";

    /// Every operation of the interface.
    pub const ALL: [&str; 1] = [GET];
}
