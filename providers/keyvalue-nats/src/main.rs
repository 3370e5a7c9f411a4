//! `keyvalue-nats`: the `wasmcloud:keyvalue` contract on NATS JetStream
//! key-value buckets. See README.md.

mod bucket_names;
mod config;
mod connections;
mod error;
mod keys;
mod provider;
mod store;

#[global_allocator]
static ALLOC: provider_sdk::MiMalloc = provider_sdk::MiMalloc;

fn main() -> std::process::ExitCode {
    provider_sdk::run!(provider::NatsKv::default(), config::LinkValues)
}
