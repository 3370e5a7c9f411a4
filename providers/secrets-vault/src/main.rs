//! secrets-vault: the `wasmcloud:secrets` contract on Vault / OpenBao KV v2.

mod auth;
mod config;
mod error;
mod provider;
mod vault;

fn main() -> std::process::ExitCode {
    provider_sdk::run!(provider::VaultProvider::default(), config::VaultLink)
}
