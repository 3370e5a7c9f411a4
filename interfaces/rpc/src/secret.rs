//! Secrets: a redacting wrapper, the sealed bytes of link secrets, and the
//! checks that keep credentials out of logs and errors.

use std::fmt;

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that never shows itself in `Debug`, `Display` or logs.
///
/// Read it with [`Secret::expose`] at the one place that needs it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The wrapped value. Do not log it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Secret)
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

/// Bytes of a sealed link secret: MessagePack `bin` on the wire, a standard
/// base64 string in JSON (host data).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SealedBytes(pub Vec<u8>);

impl fmt::Debug for SealedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedBytes({} bytes)", self.0.len())
    }
}

impl Serialize for SealedBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for SealedBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SealedBytes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("bytes or a base64 string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<SealedBytes, E> {
                Ok(SealedBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<SealedBytes, E> {
                Ok(SealedBytes(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SealedBytes, E> {
                crate::codec::decode_base64(v)
                    .map(SealedBytes)
                    .map_err(|_| E::custom("sealed secret is not valid base64"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<SealedBytes, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(SealedBytes(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Why a value could not be sealed or opened. Never holds the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// A public key is not an xkey (`X…`).
    #[error("the {0} is not an xkey public key")]
    BadKey(&'static str),
    /// The box could not be made.
    #[error("sealing failed")]
    Seal,
    /// The box does not open with this recipient and sender.
    #[error("sealed value does not open with this key")]
    Open,
}

/// Seals `plain` from `sender` (an xkey with its seed) to `recipient` (an xkey public key).
pub fn seal(plain: &[u8], sender: &nkeys::XKey, recipient: &str) -> Result<Vec<u8>, SealError> {
    let to = nkeys::XKey::from_public_key(recipient).map_err(|_| SealError::BadKey("recipient"))?;
    sender.seal(plain, &to).map_err(|_| SealError::Seal)
}

/// Opens `sealed` sent by `sender` (an xkey public key) to `recipient` (an xkey with its seed).
pub fn open(sealed: &[u8], recipient: &nkeys::XKey, sender: &str) -> Result<Vec<u8>, SealError> {
    let from = nkeys::XKey::from_public_key(sender).map_err(|_| SealError::BadKey("sender"))?;
    recipient.open(sealed, &from).map_err(|_| SealError::Open)
}

/// True when a plain (unsealed) value looks like a credential: a secret-like
/// key name or a URL carrying a password.
pub fn looks_secret(key: &str, value: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let secret_name = [
        "password", "passwd", "token", "secret", "seed", "jwt", "priv",
    ]
    .iter()
    .any(|s| k.contains(s));
    secret_name && !value.is_empty() || url_has_password(value)
}

/// True when `value` is a URL with a password (`scheme://user:pass@host`).
pub fn url_has_password(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':') || !userinfo.is_empty())
}

/// Replaces a URL's userinfo with `***`, for logs and errors.
pub fn redact_url(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[end..]),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn sealed_bytes_are_bin_in_msgpack_and_base64_in_json() {
        let b = SealedBytes(vec![0, 1, 255]);
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"AAH/\"");
        let packed = rmp_serde::to_vec(&b).unwrap();
        assert_eq!(packed, vec![0xc4, 3, 0, 1, 255]);
        let back: SealedBytes = rmp_serde::from_slice(&packed).unwrap();
        assert_eq!(back, b);
        let back: SealedBytes = serde_json::from_str("\"AAH/\"").unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn seal_then_open_round_trips_and_wrong_key_fails() {
        let host = nkeys::XKey::new();
        let provider = nkeys::XKey::new();
        let other = nkeys::XKey::new();
        let sealed = seal(b"pw", &host, &provider.public_key()).unwrap();
        assert_eq!(open(&sealed, &provider, &host.public_key()).unwrap(), b"pw");
        assert!(open(&sealed, &other, &host.public_key()).is_err());
    }

    #[test]
    fn credentials_in_urls_are_detected_and_redacted() {
        assert!(url_has_password("redis://:pw@127.0.0.1:6379/0"));
        assert!(!url_has_password("redis://127.0.0.1:6379/0"));
        assert!(looks_secret("client_seed", "SU..."));
        assert!(!looks_secret("subscription", "a.b"));
        assert_eq!(
            redact_url("redis://u:pw@h:1/0?x=1"),
            "redis://***@h:1/0?x=1"
        );
    }
}
