//! The host side of the lattice contract, as a library: launch providers with
//! host data, link actors, sign and send invocations, serve actor subjects
//! with in-process handlers. Every test and benchmark of the workspace uses it.

pub mod bench;
pub mod host;
pub mod http1;
pub mod process;
pub mod servers;
pub mod suite;
pub mod vault;

pub use host::{ActorHandle, Host, ProviderRef, test_nats_url};
pub use process::{ProviderProcess, Target, binary, echo_provider};

/// A fresh actor public key.
pub fn new_actor() -> String {
    nkeys::KeyPair::new_module().public_key()
}
