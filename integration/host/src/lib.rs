//! The host side of the lattice contract, as a library.
//!
//! A [`Host`] owns one lattice on one NATS: it writes host data and launches
//! provider processes ([`Host::launch`]), puts and deletes links, signs and
//! sends invocations, serves actor subjects with in-process handlers
//! ([`Host::serve_actor`], through the same invocation path providers use),
//! asks for health and shuts instances down with a drain.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lattice_host::HostError> {
//! use lattice_host::{Host, ProviderRef};
//! let host = Host::builder().nats_url("nats://127.0.0.1:4222").connect().await?;
//! let hd = host.host_data("default");
//! let echo = ProviderRef::new(&hd.provider_key, "default", "example:echo");
//! let _proc = host.launch("target/debug/examples/echo".as_ref(), hd).await?;
//! let actor = lattice_host::new_actor();
//! host.link_actor(&echo, &actor, &[("prefix", "> ")]).await?;
//! let out = host.call(&echo, &actor, "Echo.Echo", b"hi".to_vec()).await?;
//! assert_eq!(out, b"> hi");
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod actor;
mod error;
mod host;
pub mod keys;
mod launch;
mod links;
pub mod state;

pub use actor::ActorHandle;
pub use error::HostError;
pub use host::{DEFAULT_CALL_TIMEOUT, Host, HostBuilder, Launch, ProviderRef};
pub use lattice_rpc::claims::LatticeKey;
pub use launch::ProviderProcess;
pub use links::LinkRegistry;

/// A fresh actor public key (`M…`).
pub fn new_actor() -> String {
    nkeys::KeyPair::new_module().public_key()
}
