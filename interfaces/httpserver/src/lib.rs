//! The `wasmcloud:httpserver` interface: wire types, the operation name, the
//! handler trait an actor implements and the dispatch that serves it, and
//! [`forward`], with which a provider hands an HTTP request to the linked
//! actor.
//!
//! The provider is the source: it listens for HTTP and calls the actor
//! (`HttpServer.HandleRequest`) once per request. Actors never call it, so
//! there is no client struct.

#![deny(missing_docs)]

mod client;
mod dispatch;
pub mod error;
mod handler;
pub mod types;

pub use client::forward;
pub use dispatch::dispatch_handler;
pub use error::HttpError;
pub use handler::HttpHandler;
pub use types::{HeaderMap, HttpRequest, HttpResponse};

/// The contract id.
pub const CONTRACT_ID: &str = "wasmcloud:httpserver";

/// Operation names.
pub mod ops {
    /// `HttpServer.HandleRequest`: `HttpRequest` → `HttpResponse` (provider → actor).
    pub const HANDLE_REQUEST: &str = "HttpServer.HandleRequest";

    /// Every operation of the interface.
    pub const ALL: [&str; 1] = [HANDLE_REQUEST];
}
