//! secrets-vault: the `wasmcloud:secrets` contract on Vault / OpenBao KV v2.

mod auth;
mod config;
mod error;
mod provider;
mod vault;

#[global_allocator]
static ALLOC: provider_sdk::MiMalloc = provider_sdk::MiMalloc;

fn main() -> std::process::ExitCode {
    provider_sdk::run!(provider::VaultProvider::default(), config::VaultLink)
}
