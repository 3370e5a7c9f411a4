//! The lattice RPC contract, as one crate both sides use.
//!
//! Providers (through `provider-sdk`) and hosts (`lattice-host`, the
//! `lattice` CLI) speak the same wire: this crate holds it once.
//!
//! - [`wire`] and [`control`]: the envelopes and control messages, byte-for-byte
//!   those of wasmbus 0.x (protocol 0), with documented extensions;
//! - [`subjects`]: the NATS subjects;
//! - [`claims`]: the JWT that binds an invocation to a trusted issuer, and its verifier;
//! - [`chunking`]: bodies over 900 KiB through the JetStream object store;
//! - [`error`]: the stable error codes;
//! - [`host_data`]: what a host tells a provider at launch;
//! - [`secret`]: the redacting [`Secret`] type and sealed link secrets;
//! - [`client`]: signed outgoing calls; [`server`]: the one invocation path
//!   that answers them, for providers and actors alike;
//! - [`trace`]: W3C trace context across hops.
//!
//! `CONTRACT.md` beside this crate states the contract in words.

#![deny(missing_docs)]

pub mod chunking;
pub mod claims;
pub mod client;
pub mod codec;
pub mod control;
pub mod error;
pub mod host_data;
pub mod secret;
pub mod server;
pub mod subjects;
pub mod trace;
pub mod view;
pub mod wire;

pub use client::{ActorClient, RpcClient};
pub use control::{HealthCheckResponse, LinkDefinition};
pub use error::{ErrorCode, RpcError};
pub use host_data::HostData;
pub use secret::Secret;
pub use server::{Handler, InvocationServer};
pub use view::{CallView, EntityRef};
pub use wire::{Invocation, InvocationResponse, WasmCloudEntity};
