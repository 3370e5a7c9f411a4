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

/// The version tag nkeys writes in front of a sealed box (`xkv1`).
const XKV1: &[u8] = b"xkv1";
/// Nonce bytes of a sealed box.
const NONCE_LEN: usize = 24;
/// Peers whose key agreement a [`SealingKey`] keeps.
const MAX_PEERS: usize = 1024;

/// One own xkey that seals to and opens from many peers, in nkeys' `xkv1`
/// format (`xkv1` ‖ 24-byte nonce ‖ XSalsa20-Poly1305 box), with the x25519
/// agreement with each peer computed once and kept: that agreement is
/// almost all of a seal's cost (measured: about half of secrets-vault's CPU
/// per `Secrets.Get` when computed for every call).
pub struct SealingKey {
    secret: crypto_box::SecretKey,
    public: String,
    boxes:
        std::sync::Mutex<std::collections::HashMap<[u8; 32], std::sync::Arc<crypto_box::SalsaBox>>>,
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingKey({})", self.public)
    }
}

impl SealingKey {
    /// The sealing key of `key`, which must hold its seed.
    pub fn new(key: &nkeys::XKey) -> Result<Self, SealError> {
        let seed = key
            .seed()
            .map_err(|_| SealError::BadKey("own key (no seed)"))?;
        let (_, raw) = nkeys::decode_seed(&seed).map_err(|_| SealError::BadKey("own key"))?;
        Ok(Self {
            secret: crypto_box::SecretKey::from(raw),
            public: key.public_key(),
            boxes: std::sync::Mutex::default(),
        })
    }

    /// A sealing key with a fresh xkey.
    pub fn generate() -> Self {
        match Self::new(&nkeys::XKey::new()) {
            Ok(k) => k,
            // A fresh xkey always has its seed.
            Err(_) => unreachable!("a new xkey has a seed"),
        }
    }

    /// Its public xkey (`X…`).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    fn peer(
        &self,
        public: &str,
        who: &'static str,
    ) -> Result<std::sync::Arc<crypto_box::SalsaBox>, SealError> {
        let (prefix, raw) = nkeys::from_public_key(public).map_err(|_| SealError::BadKey(who))?;
        // The prefix byte of an xkey public key (`X`).
        if prefix != (23 << 3) {
            return Err(SealError::BadKey(who));
        }
        let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = boxes.get(&raw) {
            return Ok(b.clone());
        }
        let b = std::sync::Arc::new(crypto_box::SalsaBox::new(
            &crypto_box::PublicKey::from(raw),
            &self.secret,
        ));
        if boxes.len() >= MAX_PEERS {
            boxes.clear();
        }
        boxes.insert(raw, b.clone());
        Ok(b)
    }

    /// Seals `plain` to `recipient` (an xkey public key).
    pub fn seal(&self, plain: &[u8], recipient: &str) -> Result<Vec<u8>, SealError> {
        use crypto_box::aead::Aead;
        use ring::rand::SecureRandom;
        let b = self.peer(recipient, "recipient")?;
        let mut nonce = [0u8; NONCE_LEN];
        // A nonce must never repeat: no fallback when the system source fails.
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Seal)?;
        let boxed = b
            .encrypt(&nonce.into(), plain)
            .map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(XKV1.len() + NONCE_LEN + boxed.len());
        out.extend_from_slice(XKV1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&boxed);
        Ok(out)
    }

    /// Opens `sealed`, sent by `sender` (an xkey public key) to this key.
    pub fn open(&self, sealed: &[u8], sender: &str) -> Result<Vec<u8>, SealError> {
        use crypto_box::aead::Aead;
        let b = self.peer(sender, "sender")?;
        let rest = sealed.strip_prefix(XKV1).ok_or(SealError::Open)?;
        if rest.len() <= NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, boxed) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Open)?;
        b.decrypt(&nonce.into(), boxed).map_err(|_| SealError::Open)
    }
}

/// True when a plain (unsealed) value looks like a credential: a secret-like
/// key name or a URL carrying a password.
pub fn looks_secret(key: &str, value: &str) -> bool {
    let k = key.to_ascii_lowercase();
    // A key naming a file or path (`priv_key_file`, `creds_path`) holds
    // where a secret is, not the secret.
    let names_a_place = k.ends_with("_file") || k.ends_with("_path") || k.ends_with("file");
    let secret_name = [
        "password", "passwd", "token", "secret", "seed", "jwt", "priv",
    ]
    .iter()
    .any(|s| k.contains(s));
    secret_name && !names_a_place && !value.is_empty() || url_has_password(value)
}

/// True when `value` is a URL with userinfo (`scheme://user:pass@host`, and
/// also `scheme://token@host`, where the user part alone is the credential).
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
    fn sealing_keys_speak_the_nkeys_format_both_ways() {
        let provider = nkeys::XKey::new();
        let caller = nkeys::XKey::new();
        let sk = SealingKey::new(&provider).unwrap();
        assert_eq!(sk.public_key(), provider.public_key());
        // Sealed here, opened by nkeys; twice, so the kept agreement is used.
        for _ in 0..2 {
            let sealed = sk.seal(b"value", &caller.public_key()).unwrap();
            assert_eq!(
                open(&sealed, &caller, &provider.public_key()).unwrap(),
                b"value"
            );
        }
        // Sealed by nkeys, opened here.
        let sealed = seal(b"back", &caller, &provider.public_key()).unwrap();
        assert_eq!(sk.open(&sealed, &caller.public_key()).unwrap(), b"back");
        // Nonces differ from one seal to the next.
        let a = sk.seal(b"x", &caller.public_key()).unwrap();
        let b = sk.seal(b"x", &caller.public_key()).unwrap();
        assert_ne!(a, b);
        // A stranger cannot open it; damaged or foreign input is refused.
        let stranger = SealingKey::generate();
        assert_eq!(
            stranger.open(&a, &provider.public_key()),
            Err(SealError::Open)
        );
        let mut bad = a.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(sk.open(&bad, &caller.public_key()), Err(SealError::Open));
        assert_eq!(
            sk.open(b"xkv1short", &caller.public_key()),
            Err(SealError::Open)
        );
        assert_eq!(
            sk.seal(b"x", &nkeys::KeyPair::new_user().public_key()),
            Err(SealError::BadKey("recipient"))
        );
        assert_eq!(sk.seal(b"x", "Xnope"), Err(SealError::BadKey("recipient")));
    }

    #[test]
    fn credentials_in_urls_are_detected_and_redacted() {
        assert!(url_has_password("redis://:pw@127.0.0.1:6379/0"));
        assert!(!url_has_password("redis://127.0.0.1:6379/0"));
        assert!(looks_secret("client_seed", "SU..."));
        assert!(looks_secret("password", "pw"));
        assert!(!looks_secret("priv_key_file", "/etc/tls/key.pem"));
        assert!(!looks_secret("credsfile", "/etc/nats.creds"));
        assert!(!looks_secret("token", ""));
        assert!(url_has_password("https://tok@host/"));
        assert!(!looks_secret("subscription", "a.b"));
        assert_eq!(
            redact_url("redis://u:pw@h:1/0?x=1"),
            "redis://***@h:1/0?x=1"
        );
    }
}
