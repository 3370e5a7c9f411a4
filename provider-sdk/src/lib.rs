//! The runtime every lattice capability provider shares.
//!
//! A provider author writes a config struct, one [`Provider`] impl, and:
//!
//! ```no_run
//! # use provider_sdk::*;
//! # struct Echo;
//! # impl Provider for Echo {
//! #     const CONTRACT_ID: &'static str = "example:echo";
//! #     type Link = ();
//! #     async fn put_link(&self, _: &ProviderContext, _: &LinkConfig) -> Result<(), ConfigError> { Ok(()) }
//! #     async fn handle(&self, call: Call<'_, ()>) -> Result<Vec<u8>, RpcError> { Ok(call.msg.to_vec()) }
//! # }
//! fn main() -> std::process::ExitCode {
//!     provider_sdk::run!(Echo)
//! }
//! ```
//!
//! [`run!`] reads host data (stdin, or flags), sets up logging, connects to the
//! lattice, and serves the contract of `lattice-rpc` (its `CONTRACT.md`):
//! verified invocations with back-pressure, links, health, live config,
//! chunking of large bodies, and a draining shutdown. The wire itself (envelopes,
//! claims, subjects) is `lattice-rpc`'s; this crate is the provider's life
//! around it.

#![deny(missing_docs)]

pub mod cli;
pub mod config;
mod control;
pub mod error;
mod links;
pub mod pool;
mod provider;
mod runtime;
mod telemetry;

use std::process::ExitCode;

pub use config::ConfigError;
pub use error::{LinkError, StartError};
pub use lattice_rpc::client::CallActor;
pub use lattice_rpc::{
    self as rpc, ErrorCode, HealthCheckResponse, HostData, LinkDefinition, RpcError, Secret,
    WasmCloudEntity, wire,
};
pub use provider::{Call, LinkConfig, Linked, Provider, ProviderContext};

/// The allocator the providers install as their global allocator
/// (`#[global_allocator] static ALLOC: provider_sdk::MiMalloc = provider_sdk::MiMalloc;`).
/// Measured on the keyvalue-redis hot path: glibc malloc's bookkeeping was
/// about 13% of the provider's CPU at 64 calls in flight; mimalloc's
/// per-thread free lists cut the provider's CPU per call by about 14%.
pub use mimalloc::MiMalloc;

/// Runs a provider process to completion: host data from stdin (or flags),
/// logging, the lattice connection, then serving until shutdown. Returns the
/// process exit code; any startup failure prints one line on stderr.
///
/// `--help` and `--version` name the provider: its package name and version,
/// taken from the calling crate (see [`run_with`] to set them yourself).
#[macro_export]
macro_rules! run {
    ($provider:expr) => {
        $crate::run_with(
            $provider,
            $crate::cli::About {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
                description: env!("CARGO_PKG_DESCRIPTION"),
                config_keys: &[],
                contract_id: "",
                check: |_| Ok(Vec::new()),
            },
        )
    };
    ($provider:expr, $config:ty) => {
        $crate::run_with(
            $provider,
            $crate::cli::About {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
                description: env!("CARGO_PKG_DESCRIPTION"),
                config_keys: $crate::config::field_names::<$config>(),
                contract_id: "",
                check: $crate::config::check_json::<$config>,
            },
        )
    };
}

/// Runs `provider` as [`run!`] does, with `about` for `--help` and `--version`.
pub fn run_with<P: Provider>(provider: P, mut about: cli::About) -> ExitCode {
    about.contract_id = P::CONTRACT_ID;
    // One line, never a backtrace, for anything that panics outside a handler.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal panic{at}: {msg}");
    }));
    let hd = match cli::load(&about) {
        Ok(hd) => hd,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(hd.log_level.as_deref(), hd.structured_logging);
    let runtime = match hd.worker_threads {
        Some(n) if n > 0 => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n as usize)
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(runtime::serve(provider, hd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
