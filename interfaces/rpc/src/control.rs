//! Control messages of the contract (CONTRACT.md sections 4, 7 and 8): link
//! definitions, health answers, link acks and shutdown requests, in
//! MessagePack or (test mode) JSON.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::RpcError;
use crate::secret::SealedBytes;
use crate::wire::serialize;

/// A link between an actor and a provider, with its configuration values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkDefinition {
    /// The linked actor's public key.
    #[serde(default)]
    pub actor_id: String,
    /// The provider's public key.
    #[serde(default)]
    pub provider_id: String,
    /// The link name.
    #[serde(default)]
    pub link_name: String,
    /// The contract id.
    #[serde(default)]
    pub contract_id: String,
    /// Plain configuration values.
    #[serde(default)]
    pub values: HashMap<String, String>,
    /// Extension: values sealed from the host's xkey to the provider's xkey.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub secrets: HashMap<String, SealedBytes>,
}

impl std::fmt::Debug for LinkDefinition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may hold credentials (a URL with a password): print key names only.
        f.debug_struct("LinkDefinition")
            .field("actor_id", &self.actor_id)
            .field("provider_id", &self.provider_id)
            .field("link_name", &self.link_name)
            .field("contract_id", &self.contract_id)
            .field("values", &self.values.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Answer to a health request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckResponse {
    /// Whether the provider and its backend work.
    #[serde(default)]
    pub healthy: bool,
    /// Detail, such as the backend's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Extension: the answering instance (filled by the SDK), so a host can
    /// tell instances of one provider apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Extension: the answering process's id on its machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Extension: when the answering process started, milliseconds since the
    /// epoch (a restart shows as a new value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
    /// Extension: invocations being handled when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u64>,
    /// Extension: links the answering process holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<u64>,
}

impl HealthCheckResponse {
    /// A healthy answer.
    pub fn healthy() -> Self {
        Self {
            healthy: true,
            ..Self::default()
        }
    }

    /// An unhealthy answer with the reason.
    pub fn unhealthy(message: impl Into<String>) -> Self {
        Self {
            healthy: false,
            message: Some(message.into()),
            ..Self::default()
        }
    }
}

/// The NATS header of a control message carrying its claims (section 6b).
pub const CLAIMS_HEADER: &str = "Lattice-Claims";

/// Extension: answer to a `linkdefs.put`, `linkdefs.del` or `config.put`
/// that carried a reply subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutAck {
    /// Whether the change was applied.
    pub accepted: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Payload of a shutdown request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownRequest {
    /// Host asking; empty matches any.
    #[serde(default)]
    pub host_id: String,
    /// Extension: only the instance with this id acts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Extension: how long to wait for in-flight work (default 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_ms: Option<u64>,
}

/// Encodes for a control message: JSON in test mode, MessagePack otherwise.
pub fn encode_control<T: Serialize>(value: &T, test_mode: bool) -> Result<Vec<u8>, RpcError> {
    if test_mode {
        serde_json::to_vec(value).map_err(|e| RpcError::internal(format!("encoding: {e}")))
    } else {
        serialize(value)
    }
}

/// Decodes a control message, JSON or MessagePack, whatever the mode: the
/// first byte tells them apart (a JSON object starts with `{`).
pub fn decode_control<T: DeserializeOwned>(buf: &[u8]) -> Result<T, RpcError> {
    match buf.first() {
        Some(b'{') => serde_json::from_slice(buf)
            .map_err(|e| RpcError::bad_envelope(format!("json decoding: {e}"))),
        _ => rmp_serde::from_slice(buf)
            .map_err(|e| RpcError::bad_envelope(format!("msgpack decoding: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::deserialize;
    use crate::wire::tests::unhex;

    // Bytes written by wasmbus-rpc 0.15.0 itself (see `wire.rs`).
    const WASMBUS_HEALTH: &str = "81a76865616c746879c3";
    const WASMBUS_LINKDEF: &str = "85a86163746f725f6964a24d41ab70726f76696465725f6964a25650a96c696e6b5f6e616d65a764656661756c74ab636f6e74726163745f6964ab7761736d636c6f75643a78a676616c75657381a16ba176";

    #[test]
    fn health_and_link_bytes_recorded_from_wasmbus_0_15_round_trip() {
        assert_eq!(
            serialize(&HealthCheckResponse::healthy()).unwrap(),
            unhex(WASMBUS_HEALTH)
        );
        let ld: LinkDefinition = deserialize(&unhex(WASMBUS_LINKDEF)).unwrap();
        assert_eq!(ld.values["k"], "v");
        assert_eq!(serialize(&ld).unwrap(), unhex(WASMBUS_LINKDEF));
    }

    #[test]
    fn link_definitions_decode_from_json_and_msgpack_and_hide_values_in_debug() {
        let json = br#"{"actor_id":"M1","provider_id":"V1","link_name":"default","contract_id":"c","values":{"URL":"redis://:pw@h"}}"#;
        let ld: LinkDefinition = decode_control(json).unwrap();
        assert_eq!(ld.values["URL"], "redis://:pw@h");
        let packed = serialize(&ld).unwrap();
        assert_eq!(decode_control::<LinkDefinition>(&packed).unwrap(), ld);
        assert!(!format!("{ld:?}").contains("pw@h"));
    }
}
