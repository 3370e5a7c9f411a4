//! keyvalue-redis: the `wasmcloud:keyvalue` contract on Redis.

mod config;
mod connections;
mod error;
mod provider;
mod store;

fn main() -> std::process::ExitCode {
    provider_sdk::run!(provider::RedisProvider::default(), config::RedisConfig)
}
