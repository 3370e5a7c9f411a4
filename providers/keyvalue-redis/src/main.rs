//! keyvalue-redis: the `wasmcloud:keyvalue` contract on Redis.

mod config;
mod connections;
mod error;
mod provider;
mod store;

#[global_allocator]
static ALLOC: provider_sdk::MiMalloc = provider_sdk::MiMalloc;

fn main() -> std::process::ExitCode {
    provider_sdk::run!(provider::RedisProvider::default(), config::RedisConfig)
}
