//! Key encoding: any UTF-8 key as a valid NATS KV key.
//!
//! NATS KV keys are `[-/_=.a-zA-Z0-9]+` with no empty `.`-separated token.
//! Bytes in `[-/_a-zA-Z0-9]` pass through; every other byte of the UTF-8
//! encoding becomes `=XX` (uppercase hex: `.` → `=2E`, `=` → `=3D`, space →
//! `=20`); the empty key is the single `=`. The output never holds a `.`, so
//! it is one token. Each byte maps to its own code and no code is a prefix of
//! another, so the encoding is reversible and prefix-preserving: for a
//! non-empty `p`, `encode(p)` is a prefix of `encode(k)` exactly when `p` is
//! a prefix of `k`.

use keyvalue_interface::KvError;

/// Longest encoded key accepted. NATS refuses protocol lines over 4 KiB
/// (and closes the connection), and the subject travels with the bucket
/// name and a reply inbox; 2 KiB leaves room for both.
pub const MAX_ENCODED_LEN: usize = 2048;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn passes_through(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_')
}

/// The NATS KV key for `key`.
pub fn encode(key: &str) -> String {
    encode_bytes(key.as_bytes())
}

fn encode_bytes(key: &[u8]) -> String {
    if key.is_empty() {
        return "=".to_string();
    }
    let mut out = String::with_capacity(key.len());
    for &b in key {
        if passes_through(b) {
            out.push(char::from(b));
        } else {
            out.push('=');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
    out
}

/// [`encode`], refusing keys whose encoding exceeds [`MAX_ENCODED_LEN`].
pub fn encode_checked(key: &str) -> Result<String, KvError> {
    let encoded = encode(key);
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(KvError::BadRequest(format!(
            "key is too long for NATS KV: {} bytes once encoded, at most {MAX_ENCODED_LEN}",
            encoded.len()
        )));
    }
    Ok(encoded)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The key `encoded` stands for; `None` for a NATS key this encoding never
/// produces (one written by another client).
pub fn decode(encoded: &str) -> Option<String> {
    String::from_utf8(decode_bytes(encoded)?).ok()
}

fn decode_bytes(encoded: &str) -> Option<Vec<u8>> {
    if encoded == "=" {
        return Some(Vec::new());
    }
    if encoded.is_empty() {
        return None;
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if passes_through(b) {
            out.push(b);
            i += 1;
        } else if b == b'=' && i + 2 < bytes.len() {
            let byte = (hex_value(bytes[i + 1])? << 4) | hex_value(bytes[i + 2])?;
            // A byte that passes through is never escaped: one spelling per key.
            if passes_through(byte) {
                return None;
            }
            out.push(byte);
            i += 3;
        } else {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NATS KV's own rule (async-nats `is_valid_key`).
    fn valid_nats_key(k: &str) -> bool {
        !k.is_empty()
            && !k.starts_with('.')
            && !k.ends_with('.')
            && !k.contains("..")
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
    }

    #[test]
    fn every_byte_value_round_trips() {
        for b in 0..=255u8 {
            for bytes in [vec![b], vec![b'k', b, b'=', b]] {
                let enc = encode_bytes(&bytes);
                assert!(valid_nats_key(&enc), "{bytes:?} -> {enc:?}");
                assert_eq!(decode_bytes(&enc), Some(bytes), "{enc}");
            }
        }
        for c in (0..=0x10FFFFu32).step_by(97).filter_map(char::from_u32) {
            let key = String::from(c);
            assert_eq!(decode(&encode(&key)), Some(key));
        }
    }

    #[test]
    fn escapes_are_uppercase_hex() {
        assert_eq!(encode("."), "=2E");
        assert_eq!(encode("="), "=3D");
        assert_eq!(encode(" "), "=20");
        assert_eq!(encode("a.b*c>d"), "a=2Eb=2Ac=3Ed");
        assert_eq!(encode("users/42_x-y"), "users/42_x-y");
    }

    #[test]
    fn unicode_keys_round_trip() {
        for key in ["ключ", "鍵/キー", "emoji 🔑 key", "tab\there", "\u{0}nul"] {
            let enc = encode(key);
            assert!(valid_nats_key(&enc), "{key:?} -> {enc:?}");
            assert_eq!(decode(&enc).as_deref(), Some(key));
        }
        assert_eq!(encode("é"), "=C3=A9");
    }

    #[test]
    fn empty_key_is_a_single_equals_sign() {
        assert_eq!(encode(""), "=");
        assert_eq!(decode("="), Some(String::new()));
        assert!(valid_nats_key(&encode("")));
    }

    #[test]
    fn encoding_preserves_prefixes() {
        let keys = [
            "a", "a.", "a.b", "ab", "é", "éa", "a=", "a=3D", "x/y z", "🔑",
        ];
        for p in keys {
            for k in keys {
                let (ep, ek) = (encode(p), encode(k));
                assert_eq!(
                    k.starts_with(p),
                    ek.starts_with(&ep),
                    "p={p:?} k={k:?} ep={ep} ek={ek}"
                );
            }
        }
    }

    #[test]
    fn foreign_nats_keys_do_not_decode() {
        for foreign in ["", "a.b", "=3", "=zz", "=2", "=41", "a=", "=C3"] {
            assert_eq!(decode(foreign), None, "{foreign:?}");
        }
    }

    #[test]
    fn over_long_keys_are_a_bad_request() {
        assert!(encode_checked(&"k".repeat(MAX_ENCODED_LEN)).is_ok());
        let err = encode_checked(&".".repeat(MAX_ENCODED_LEN / 3 + 1)).unwrap_err();
        assert!(matches!(err, KvError::BadRequest(_)), "{err:?}");
    }
}
