//! HS256 keys (contract section 6a): the lattice key only hosts hold, and
//! the per-provider keys derived from it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

/// The label that starts every per-provider key derivation.
const DERIVATION_LABEL: &[u8] = b"lattice-rpc-hs256-v1:";

/// Why a MAC key could not be read. Never holds the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacKeyError {
    /// Not base64url (with or without padding).
    #[error("not base64url")]
    NotBase64,
    /// Decodes to another length than 32 bytes.
    #[error("decodes to {0} bytes, not 32")]
    WrongLength(usize),
}

fn decode_32(text: &str) -> Result<[u8; 32], MacKeyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|_| MacKeyError::NotBase64)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| MacKeyError::WrongLength(bytes.len()))
}

/// A key and its bytes, shared by clones.
struct KeyBytes {
    key: hmac::Key,
    bytes: [u8; 32],
}

impl KeyBytes {
    fn new(bytes: [u8; 32]) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            bytes,
        })
    }
}

/// The lattice's secret: 32 random bytes, held by hosts only, never sent
/// over the lattice. Every provider's MAC key is derived from it.
#[derive(Clone)]
pub struct LatticeKey {
    inner: std::sync::Arc<KeyBytes>,
}

impl LatticeKey {
    /// A new random lattice key.
    pub fn generate() -> Self {
        Self::from_bytes(crate::codec::random_bytes())
    }

    /// The lattice key of `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            inner: KeyBytes::new(bytes),
        }
    }

    /// Reads the base64url form (padded or not).
    pub fn from_base64url(text: &str) -> Result<Self, MacKeyError> {
        decode_32(text).map(Self::from_bytes)
    }

    /// The base64url form, without padding: for a keys file, never a log.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.inner.bytes)
    }

    /// `K_p` of provider `provider_key` serving `link_name`:
    /// HMAC-SHA256(lattice key, `lattice-rpc-hs256-v1:{provider_key}:{link_name}`),
    /// the strings as written in host data.
    pub fn provider_key(&self, provider_key: &str, link_name: &str) -> MacKey {
        let mut ctx = hmac::Context::with_key(&self.inner.key);
        ctx.update(DERIVATION_LABEL);
        ctx.update(provider_key.as_bytes());
        ctx.update(b":");
        ctx.update(link_name.as_bytes());
        let tag = ctx.sign();
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(tag.as_ref());
        MacKey::from_bytes(bytes)
    }

    /// 32 bytes for another purpose, named by `label`:
    /// HMAC-SHA256(lattice key, `label`). Labels must not start with
    /// `lattice-rpc-hs256-v1:` (that is [`LatticeKey::provider_key`]'s).
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let tag = hmac::sign(&self.inner.key, label.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(tag.as_ref());
        bytes
    }
}

impl std::fmt::Debug for LatticeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LatticeKey(<redacted>)")
    }
}

/// One provider's HS256 key, `K_p`: it MACs the calls to that provider and
/// the calls that provider sends. Clones share the key.
#[derive(Clone)]
pub struct MacKey {
    inner: std::sync::Arc<KeyBytes>,
}

impl MacKey {
    /// The key of `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            inner: KeyBytes::new(bytes),
        }
    }

    /// Reads `invocation_mac_key` (base64url of 32 bytes, padded or not).
    pub fn from_base64url(text: &str) -> Result<Self, MacKeyError> {
        decode_32(text).map(Self::from_bytes)
    }

    /// The form host data carries: base64url of the 32 bytes, no padding.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.inner.bytes)
    }

    /// The raw bytes (for tests and known answers).
    pub fn bytes(&self) -> &[u8; 32] {
        &self.inner.bytes
    }

    /// HMAC-SHA256 of `data`.
    pub fn sign(&self, data: &[u8]) -> hmac::Tag {
        hmac::sign(&self.inner.key, data)
    }

    /// True when `tag` is the HMAC of `data`, compared in constant time.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.inner.key, data, tag).is_ok()
    }
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        crate::codec::hex_lower(b)
    }

    /// The contract's known answer (section 6a).
    #[test]
    fn provider_key_matches_the_contracts_known_answer() {
        let lattice = LatticeKey::from_bytes(core::array::from_fn(|i| i as u8));
        let kp = lattice.provider_key(
            "VCFIRY65OQE7DFP5KLNS2PF2LVZMUZYJX4OZIEQ36N2IQANUB5XVZF4F",
            "default",
        );
        assert_eq!(
            hex(kp.bytes()),
            "71ebe3cc1ab613e72cc8320ec950d0af87c87db458f915f852e3e4ecbd475ecb"
        );
        assert_eq!(
            kp.to_base64url(),
            "cevjzBq2E-csyDIOyVDQr4fIfbRY-RX4UuPk7L1HXss"
        );
        let back = MacKey::from_base64url("cevjzBq2E-csyDIOyVDQr4fIfbRY-RX4UuPk7L1HXss=").unwrap();
        assert_eq!(back.bytes(), kp.bytes());
    }

    #[test]
    fn keys_of_other_providers_and_link_names_differ() {
        let lattice = LatticeKey::generate();
        let a = lattice.provider_key("VA", "default");
        assert_ne!(a.bytes(), lattice.provider_key("VB", "default").bytes());
        assert_ne!(a.bytes(), lattice.provider_key("VA", "other").bytes());
        // (A provider key is an nkey, base32 without ':', so the one ':'
        // before the link name cannot be confused with another split.)
    }

    #[test]
    fn malformed_keys_are_refused_and_never_printed() {
        assert_eq!(
            MacKey::from_base64url("!!").unwrap_err(),
            MacKeyError::NotBase64
        );
        assert_eq!(
            MacKey::from_base64url("AAAA").unwrap_err(),
            MacKeyError::WrongLength(3)
        );
        let k = LatticeKey::generate();
        assert_eq!(format!("{k:?}"), "LatticeKey(<redacted>)");
        assert!(!format!("{:?}", k.provider_key("V", "d")).contains('='));
    }
}
