//! httpserver: the `wasmcloud:httpserver` contract on hyper 1 (HTTP/1.1 and
//! HTTP/2, TLS with rustls). Each HTTP request becomes
//! `HttpServer.HandleRequest` to the actor whose route it matches.

mod config;
mod cors;
mod error;
mod listener;
mod provider;
mod request;
mod routes;
mod tls;

#[global_allocator]
static ALLOC: provider_sdk::MiMalloc = provider_sdk::MiMalloc;

fn main() -> std::process::ExitCode {
    provider_sdk::run!(provider::HttpServerProvider::default(), config::HttpLink)
}
