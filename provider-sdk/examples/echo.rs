//! A complete provider in about thirty lines: `Echo.Echo` answers the argument
//! prefixed by the link's `prefix` value; `Echo.Delay` waits (argument: a
//! MessagePack u32 of milliseconds, at most 60 000) and answers it back.

use provider_sdk::{Call, ConfigError, LinkConfig, Provider, ProviderContext, RpcError, wire};

#[derive(serde::Deserialize)]
struct EchoLink {
    /// Bytes put before every echoed body.
    #[serde(default)]
    prefix: String,
}

struct Echo;

impl Provider for Echo {
    const CONTRACT_ID: &'static str = "example:echo";
    type Link = EchoLink;

    async fn put_link(
        &self,
        _: &ProviderContext,
        link: &LinkConfig,
    ) -> Result<EchoLink, ConfigError> {
        link.parse()
    }

    async fn handle(&self, call: Call<'_, EchoLink>) -> Result<Vec<u8>, RpcError> {
        match call.operation {
            "Echo.Echo" => Ok([call.state().prefix.as_bytes(), &call.msg].concat()),
            "Echo.Delay" => {
                let ms: u32 = wire::deserialize(&call.msg)?;
                tokio::time::sleep(std::time::Duration::from_millis(ms.min(60_000).into())).await;
                Ok(call.msg.to_vec())
            }
            other => Err(RpcError::unknown_operation(other)),
        }
    }
}

fn main() -> std::process::ExitCode {
    provider_sdk::run!(Echo, EchoLink)
}
