//! messaging-nats: the `wasmcloud:messaging` contract on NATS.

mod config;
mod connections;
mod jetstream;
mod link;
mod provider;

#[global_allocator]
static ALLOC: provider_sdk::MiMalloc = provider_sdk::MiMalloc;

fn main() -> std::process::ExitCode {
    provider_sdk::run!(provider::NatsMessaging::default(), config::LinkValues)
}
