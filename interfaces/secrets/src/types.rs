//! Wire structs of `wasmcloud:secrets`, field names exactly as on the wire
//! (camelCase), and the sealed plaintext [`SecretValue`].

use std::fmt;

use lattice_rpc::RpcError;
use lattice_rpc::wire::{deserialize, serialize};
use serde::{Deserialize, Serialize};

use crate::error::SecretsError;

/// Argument of `Secrets.Get`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetRequest {
    /// The secret's path in the backend, relative to the link's mount, with
    /// no leading `/`; what the allow-list is matched against.
    #[serde(default)]
    pub key: String,
    /// The one field to return; `None` returns every field as the text of a
    /// JSON object (a [`SecretValue::String`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The version to read (from 1); `None` reads the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The requester's xkey public key (`X…`) to seal the value to.
    #[serde(default, rename = "replyXkey")]
    pub reply_xkey: String,
}

/// Result of `Secrets.Get`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetResponse {
    /// The MessagePack of a [`SecretValue`], sealed (nkeys `xkv1`) from
    /// `sender_xkey` to the request's `reply_xkey`.
    #[serde(default, with = "serde_bytes")]
    pub sealed: Vec<u8>,
    /// The version actually read.
    #[serde(default)]
    pub version: u64,
    /// The public xkey (`X…`) the value was sealed from, needed to open it.
    #[serde(default, rename = "senderXkey")]
    pub sender_xkey: String,
}

/// A secret's value, the plaintext inside [`GetResponse::sealed`]: the
/// MessagePack map `{string: str}` for text or `{bytes: bin}` for binary.
/// `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretValue {
    /// A text value: `{string: str}`.
    #[serde(rename = "string")]
    String(String),
    /// A binary value: `{bytes: bin}`.
    #[serde(rename = "bytes", with = "serde_bytes")]
    Bytes(Vec<u8>),
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretValue::String(_) => f.write_str("SecretValue::String(<redacted>)"),
            SecretValue::Bytes(_) => f.write_str("SecretValue::Bytes(<redacted>)"),
        }
    }
}

impl SecretValue {
    /// The text, when this is a text value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SecretValue::String(s) => Some(s),
            SecretValue::Bytes(_) => None,
        }
    }

    /// The value as bytes (a text value's UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            SecretValue::String(s) => s.as_bytes(),
            SecretValue::Bytes(b) => b,
        }
    }

    /// Encodes, then seals from `sender` (an xkey with its seed) to
    /// `recipient` (an xkey public key). A `recipient` that is not an xkey
    /// public key is [`SecretsError::BadRequest`].
    pub fn seal(&self, sender: &nkeys::XKey, recipient: &str) -> Result<Vec<u8>, SecretsError> {
        let to = nkeys::XKey::from_public_key(recipient)
            .map_err(|_| SecretsError::BadRequest("replyXkey is not an xkey public key".into()))?;
        let plain = serialize(self).map_err(|e| SecretsError::Internal(e.message))?;
        sender
            .seal(&plain, &to)
            .map_err(|e| SecretsError::Internal(format!("sealing: {e}")))
    }

    /// Encodes, then seals with `sender` (which keeps the key agreement with
    /// each recipient) to `recipient` (an xkey public key). A `recipient`
    /// that is not an xkey public key is [`SecretsError::BadRequest`].
    pub fn seal_with(
        &self,
        sender: &lattice_rpc::secret::SealingKey,
        recipient: &str,
    ) -> Result<Vec<u8>, SecretsError> {
        let plain = serialize(self).map_err(|e| SecretsError::Internal(e.message))?;
        sender.seal(&plain, recipient).map_err(|e| match e {
            lattice_rpc::secret::SealError::BadKey(_) => {
                SecretsError::BadRequest("replyXkey is not an xkey public key".into())
            }
            e => SecretsError::Internal(format!("sealing: {e}")),
        })
    }

    /// Opens `sealed`, sent by `sender` (an xkey public key) to `recipient`,
    /// and decodes it, as [`SecretValue::open`] does.
    pub fn open_with(
        sealed: &[u8],
        recipient: &lattice_rpc::secret::SealingKey,
        sender: &str,
    ) -> Result<Self, RpcError> {
        let plain = recipient
            .open(sealed, sender)
            .map_err(|e| RpcError::bad_envelope(e.to_string()))?;
        deserialize(&plain)
            .map_err(|_| RpcError::bad_envelope("sealed value is not a {string} or {bytes} map"))
    }

    /// Opens `sealed`, sent by `sender` (an xkey public key) to `recipient`
    /// (an xkey with its seed), and decodes it. A value that does not open or
    /// decode is `bad-envelope`: the peer answered what this side cannot read.
    pub fn open(sealed: &[u8], recipient: &nkeys::XKey, sender: &str) -> Result<Self, RpcError> {
        let plain = lattice_rpc::secret::open(sealed, recipient, sender)
            .map_err(|e| RpcError::bad_envelope(e.to_string()))?;
        deserialize(&plain)
            .map_err(|_| RpcError::bad_envelope("sealed value is not a {string} or {bytes} map"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::de::IgnoredAny;

    use super::*;

    fn keys<T: Serialize>(v: &T) -> Vec<String> {
        let m: BTreeMap<String, IgnoredAny> = deserialize(&serialize(v).unwrap()).unwrap();
        m.into_keys().collect()
    }

    #[test]
    fn field_names_and_value_encoding_are_the_wire_ones() {
        let req = GetRequest {
            field: Some("f".into()),
            version: Some(2),
            ..Default::default()
        };
        assert_eq!(keys(&req), ["field", "key", "replyXkey", "version"]);
        assert_eq!(keys(&GetRequest::default()), ["key", "replyXkey"]);
        assert_eq!(
            keys(&GetResponse::default()),
            ["sealed", "senderXkey", "version"]
        );

        let s = serialize(&SecretValue::String("hi".into())).unwrap();
        assert_eq!(
            s,
            [
                0x81, 0xa6, b's', b't', b'r', b'i', b'n', b'g', 0xa2, b'h', b'i'
            ]
        );
        let b = serialize(&SecretValue::Bytes(vec![0, 255])).unwrap();
        assert_eq!(
            b,
            [0x81, 0xa5, b'b', b'y', b't', b'e', b's', 0xc4, 2, 0, 255]
        );
        assert_eq!(deserialize::<SecretValue>(&s).unwrap().as_str(), Some("hi"));
        assert_eq!(deserialize::<SecretValue>(&b).unwrap().as_bytes(), [0, 255]);
        assert_eq!(
            format!("{:?}", SecretValue::String("hunter2".into())),
            "SecretValue::String(<redacted>)"
        );
    }

    #[test]
    fn seal_then_open_round_trips() {
        let (provider, requester) = (nkeys::XKey::new(), nkeys::XKey::new());
        let v = SecretValue::Bytes(b"pw".to_vec());
        let sealed = v.seal(&provider, &requester.public_key()).unwrap();
        let back = SecretValue::open(&sealed, &requester, &provider.public_key()).unwrap();
        assert_eq!(back, v);
        assert!(SecretValue::open(&sealed, &nkeys::XKey::new(), &provider.public_key()).is_err());
        assert!(v.seal(&provider, "not-a-key").is_err());
    }
}
