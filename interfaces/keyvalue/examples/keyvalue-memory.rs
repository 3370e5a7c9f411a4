//! A keyvalue provider on the in-memory reference store: one store shared
//! by every link. The contract suite is validated against it.

use std::sync::Arc;

use keyvalue_interface::memory::MemoryStore;
use provider_sdk::{Call, ConfigError, LinkConfig, Provider, ProviderContext, RpcError};

#[derive(Default)]
struct Memory(Arc<MemoryStore>);

impl Provider for Memory {
    const CONTRACT_ID: &'static str = keyvalue_interface::CONTRACT_ID;
    type Link = Arc<MemoryStore>;

    async fn put_link(
        &self,
        _: &ProviderContext,
        _: &LinkConfig,
    ) -> Result<Self::Link, ConfigError> {
        Ok(self.0.clone())
    }

    async fn handle(&self, call: Call<'_, Self::Link>) -> Result<Vec<u8>, RpcError> {
        keyvalue_interface::dispatch(call.state().as_ref(), call.operation, &call.msg).await
    }
}

fn main() -> std::process::ExitCode {
    provider_sdk::run!(Memory::default())
}
