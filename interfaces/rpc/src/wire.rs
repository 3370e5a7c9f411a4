//! Envelopes of the wasmbus 0.x protocol ("protocol 0", MessagePack with named
//! fields), plus the documented extensions. Field names and order match what
//! wasmbus-rpc 0.15 writes, so encodings are byte-identical.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::RpcError;

/// The W3C trace context carried by an invocation (`traceparent`, `tracestate`).
pub type TraceContext = HashMap<String, String>;

/// An actor or a provider, as named in an invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WasmCloudEntity {
    /// Public key (`M…` for an actor, `V…` for a provider).
    #[serde(default)]
    pub public_key: String,
    /// Link name (empty or `default` for actors).
    #[serde(default)]
    pub link_name: String,
    /// Capability contract id, such as `wasmcloud:keyvalue` (empty for actors).
    #[serde(default)]
    pub contract_id: String,
}

impl WasmCloudEntity {
    /// An actor entity.
    pub fn actor(public_key: impl Into<String>) -> Self {
        Self {
            public_key: public_key.into(),
            ..Self::default()
        }
    }

    /// A provider entity.
    pub fn provider(
        public_key: impl Into<String>,
        link_name: impl Into<String>,
        contract_id: impl Into<String>,
    ) -> Self {
        Self {
            public_key: public_key.into(),
            link_name: link_name.into(),
            contract_id: contract_id.into(),
        }
    }

    /// True when this entity is an actor (key starts with `M`).
    pub fn is_actor(&self) -> bool {
        self.public_key.starts_with('M')
    }

    /// The entity's URL as used in claims (contract section 5).
    pub fn url(&self) -> String {
        let mut out = String::with_capacity(96);
        crate::claims::push_url(&mut out, self.as_ref(), None);
        out
    }
}

/// A call from one entity to another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    /// Caller.
    pub origin: WasmCloudEntity,
    /// Callee.
    pub target: WasmCloudEntity,
    /// `Service.Method`.
    #[serde(default)]
    pub operation: String,
    /// The argument (empty when chunked: see `content_length`).
    #[serde(default, with = "serde_bytes")]
    pub msg: Vec<u8>,
    /// Invocation id (a UUID).
    #[serde(default)]
    pub id: String,
    /// Signed JWT (see [`crate::claims`]).
    #[serde(default)]
    pub encoded_claims: String,
    /// Key of the host (or provider) that sent the invocation.
    #[serde(default)]
    pub host_id: String,
    /// Full size of the argument; larger than `msg.len()` when the body was chunked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
    /// W3C trace context.
    #[serde(
        default,
        rename = "traceContext",
        skip_serializing_if = "Option::is_none"
    )]
    pub trace_context: Option<TraceContext>,
}

/// The answer to an [`Invocation`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationResponse {
    /// The result (empty when chunked or on error).
    #[serde(default, with = "serde_bytes")]
    pub msg: Vec<u8>,
    /// Id of the invocation answered.
    #[serde(default)]
    pub invocation_id: String,
    /// `code: message` when the call failed; `msg` is then ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Full size of the result; larger than `msg.len()` when chunked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
}

impl InvocationResponse {
    /// A successful response. Like wasmbus 0.x, `content_length` is always written.
    pub fn ok(invocation_id: impl Into<String>, msg: Vec<u8>) -> Self {
        Self {
            content_length: Some(msg.len() as u64),
            msg,
            invocation_id: invocation_id.into(),
            error: None,
        }
    }

    /// A failed response (`content_length` 0, as wasmbus 0.x writes it).
    pub fn err(invocation_id: impl Into<String>, error: &RpcError) -> Self {
        Self {
            msg: Vec::new(),
            invocation_id: invocation_id.into(),
            error: Some(error.to_wire()),
            content_length: Some(0),
        }
    }
}

/// Encodes a value as MessagePack with named fields (the protocol 0 encoding).
pub fn serialize<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, RpcError> {
    rmp_serde::to_vec_named(value).map_err(|e| RpcError::internal(format!("encoding: {e}")))
}

/// [`serialize`] into a buffer of `capacity` bytes to start with, so that a
/// value of about that size is written without growing the buffer.
pub fn serialize_sized<T: Serialize + ?Sized>(
    value: &T,
    capacity: usize,
) -> Result<Vec<u8>, RpcError> {
    let mut out = Vec::with_capacity(capacity);
    rmp_serde::encode::write_named(&mut out, value)
        .map_err(|e| RpcError::internal(format!("encoding: {e}")))?;
    Ok(out)
}

/// Decodes a MessagePack value; a failure is a `bad-request`.
pub fn deserialize<T: DeserializeOwned>(buf: &[u8]) -> Result<T, RpcError> {
    rmp_serde::from_slice(buf).map_err(|e| RpcError::bad_request(format!("decoding: {e}")))
}

/// Decodes an operation's reply; an empty reply decodes as MessagePack nil,
/// so operations that return nothing decode into `()`. A failure is
/// `bad-envelope` (the peer answered something this side cannot read).
pub fn deserialize_reply<T: DeserializeOwned>(buf: &[u8]) -> Result<T, RpcError> {
    let buf = if buf.is_empty() { &[0xc0][..] } else { buf };
    rmp_serde::from_slice(buf).map_err(|e| RpcError::bad_envelope(format!("decoding reply: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // A hand-written MessagePack encoder for the golden bytes: fixmap, str
    // (fixstr/str8), bin8 and positive fixint are all these envelopes need.
    fn map(n: u8) -> Vec<u8> {
        vec![0x80 | n]
    }
    fn s(v: &str) -> Vec<u8> {
        let mut out = if v.len() < 32 {
            vec![0xa0 | v.len() as u8]
        } else {
            vec![0xd9, v.len() as u8]
        };
        out.extend_from_slice(v.as_bytes());
        out
    }
    fn bin(v: &[u8]) -> Vec<u8> {
        let mut out = vec![0xc4, v.len() as u8];
        out.extend_from_slice(v);
        out
    }
    fn entity(key: &str, link: &str, contract: &str) -> Vec<u8> {
        [
            map(3),
            s("public_key"),
            s(key),
            s("link_name"),
            s(link),
            s("contract_id"),
            s(contract),
        ]
        .concat()
    }

    fn sample_invocation() -> Invocation {
        Invocation {
            origin: WasmCloudEntity::actor("MACTOR"),
            target: WasmCloudEntity::provider("VPROV", "default", "wasmcloud:keyvalue"),
            operation: "KeyValue.Get".into(),
            msg: vec![0xa1, b'k'],
            id: "inv-1".into(),
            encoded_claims: "a.b.c".into(),
            host_id: "NHOST".into(),
            content_length: Some(2),
            trace_context: None,
        }
    }

    #[test]
    fn invocation_encodes_to_the_exact_bytes_wasmbus_writes() {
        let expected = [
            map(8),
            s("origin"),
            entity("MACTOR", "", ""),
            s("target"),
            entity("VPROV", "default", "wasmcloud:keyvalue"),
            s("operation"),
            s("KeyValue.Get"),
            s("msg"),
            bin(&[0xa1, b'k']),
            s("id"),
            s("inv-1"),
            s("encoded_claims"),
            s("a.b.c"),
            s("host_id"),
            s("NHOST"),
            s("content_length"),
            vec![2],
        ]
        .concat();
        let inv = sample_invocation();
        assert_eq!(serialize(&inv).unwrap(), expected);
        assert_eq!(deserialize::<Invocation>(&expected).unwrap(), inv);
    }

    #[test]
    fn trace_context_is_a_camel_case_map_of_strings() {
        let mut inv = sample_invocation();
        inv.content_length = None;
        inv.trace_context = Some(
            [("traceparent".to_string(), "00-ab-cd-01".to_string())]
                .into_iter()
                .collect(),
        );
        let bytes = serialize(&inv).unwrap();
        let tail = [
            s("traceContext"),
            map(1),
            s("traceparent"),
            s("00-ab-cd-01"),
        ]
        .concat();
        assert!(bytes.ends_with(&tail));
        assert_eq!(
            bytes[0], 0x88,
            "content_length omitted, traceContext written"
        );
        assert_eq!(deserialize::<Invocation>(&bytes).unwrap(), inv);
    }

    #[test]
    fn responses_encode_exactly_and_omit_absent_fields() {
        let ok = InvocationResponse::ok("inv-1", vec![1, 2, 3]);
        let expected = [
            map(3),
            s("msg"),
            bin(&[1, 2, 3]),
            s("invocation_id"),
            s("inv-1"),
            s("content_length"),
            vec![3],
        ]
        .concat();
        assert_eq!(serialize(&ok).unwrap(), expected);
        assert_eq!(deserialize::<InvocationResponse>(&expected).unwrap(), ok);

        let err = InvocationResponse::err("inv-2", &RpcError::not_linked("no link"));
        let expected = [
            map(4),
            s("msg"),
            bin(&[]),
            s("invocation_id"),
            s("inv-2"),
            s("error"),
            s("not-linked: no link"),
            s("content_length"),
            vec![0],
        ]
        .concat();
        let mut absent = err.clone();
        absent.content_length = None;
        assert_eq!(
            serialize(&absent).unwrap()[0],
            0x83,
            "None is omitted, not nil"
        );
        assert_eq!(serialize(&err).unwrap(), expected);
        assert_eq!(deserialize::<InvocationResponse>(&expected).unwrap(), err);
    }

    pub(crate) fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    // Bytes written by wasmbus-rpc 0.15.0 itself (`to_vec_named` of its own
    // structs), recorded from a program built against that crate.
    const WASMBUS_INVOCATION: &str = "88a66f726967696e83aa7075626c69635f6b6579d9384d4243464f504d364a573241504a4c584a44335a354f34434e374350594a32423446544b4c4a5552355952354d4954495537484433574435a96c696e6b5f6e616d65a0ab636f6e74726163745f6964a0a674617267657483aa7075626c69635f6b6579d9385641484e4d333747335a4e4733484852564244504b5941505241344548484b544a4d5935464e42593356423455573552424c434d5656374da96c696e6b5f6e616d65ac44656661756c74204c696e6bab636f6e74726163745f6964b87761736d636c6f75643a4b657956616c75652053746f7265a96f7065726174696f6eac4b657956616c75652e476574a36d7367c404a3616263a26964d9203031323334353637383961626364656630313233343536373839616263646566ae656e636f6465645f636c61696d73a14aa7686f73745f6964a54e484f5354ae636f6e74656e745f6c656e67746804";
    const WASMBUS_RESPONSE_OK: &str =
        "83a36d7367c403010203ad696e766f636174696f6e5f6964a3696431ae636f6e74656e745f6c656e67746803";
    const WASMBUS_RESPONSE_ERR: &str = "84a36d7367c400ad696e766f636174696f6e5f6964a3696431a56572726f72a4626f6f6dae636f6e74656e745f6c656e67746800";

    #[test]
    fn bytes_recorded_from_wasmbus_0_15_decode_and_re_encode_identically() {
        let bytes = unhex(WASMBUS_INVOCATION);
        let inv: Invocation = deserialize(&bytes).unwrap();
        assert_eq!(inv.target.link_name, "Default Link");
        assert_eq!(inv.target.contract_id, "wasmcloud:KeyValue Store");
        assert_eq!(inv.msg, b"\xa3abc");
        assert_eq!(inv.content_length, Some(4));
        assert_eq!(serialize(&inv).unwrap(), bytes);

        let ok = InvocationResponse::ok("id1", vec![1, 2, 3]);
        assert_eq!(serialize(&ok).unwrap(), unhex(WASMBUS_RESPONSE_OK));
        let mut err = InvocationResponse::err("id1", &RpcError::internal("x"));
        err.error = Some("boom".into());
        assert_eq!(serialize(&err).unwrap(), unhex(WASMBUS_RESPONSE_ERR));
    }

    #[test]
    fn decoders_ignore_unknown_fields_and_default_missing_ones() {
        let bytes = [
            map(3),
            s("invocation_id"),
            s("x"),
            s("future_field"),
            s("ignored"),
            s("msg"),
            bin(b"ok"),
        ]
        .concat();
        let resp: InvocationResponse = deserialize(&bytes).unwrap();
        assert_eq!(resp.msg, b"ok");
        assert_eq!(resp.error, None);
    }

    #[test]
    fn entity_urls_follow_the_wasmbus_rules() {
        assert_eq!(WasmCloudEntity::actor("MABC").url(), "wasmbus://MABC");
        let p = WasmCloudEntity::provider("VXYZ", "My Link", "wasmcloud:Key Value");
        assert_eq!(p.url(), "wasmbus://wasmcloud/key_value/my_link/VXYZ");
        let harness = WasmCloudEntity::provider("VXYZ", "default", "");
        assert_eq!(harness.url(), "wasmbus:///default/VXYZ");
    }
}
