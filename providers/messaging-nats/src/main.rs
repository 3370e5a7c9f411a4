//! messaging-nats: the `wasmcloud:messaging` contract on NATS.

mod config;
mod connections;
mod jetstream;
mod link;
mod provider;

fn main() -> std::process::ExitCode {
    provider_sdk::run!(provider::NatsMessaging::default(), config::LinkValues)
}
