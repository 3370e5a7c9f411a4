//! messaging-rabbitmq: the `wasmcloud:messaging` contract on RabbitMQ
//! (AMQP 0-9-1).

mod broker;
mod config;
mod headers;
mod link;
mod provider;

#[global_allocator]
static ALLOC: provider_sdk::MiMalloc = provider_sdk::MiMalloc;

fn main() -> std::process::ExitCode {
    provider_sdk::run!(provider::RabbitMessaging::default(), config::LinkValues)
}
