//! Byte encodings the contract uses more than once.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Decodes standard base64, padded or not (host data lines and sealed
/// secrets in JSON are written both ways by existing hosts).
pub fn decode_base64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ENGINE.decode(s)
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    // The system source does not fail on the platforms this runs on; if it
    // ever did, a zeroed id is still well-formed, and ids are not secrets.
    let _ = ring::rand::SystemRandom::new().fill(&mut out);
    out
}

/// Lowercase hex of `bytes`.
pub fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// `msg` with every quoted value (in backticks or double quotes) replaced
/// by `…`: serde's messages quote the offending value, which may be a
/// secret. A quoted field name (`missing field \`x\``) is kept.
pub fn strip_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut quote: Option<(char, bool)> = None;
    for ch in msg.chars() {
        match (quote, ch) {
            (None, '`' | '"') => {
                let names_a_field = out.ends_with("field ");
                quote = Some((ch, names_a_field));
                out.push(ch);
                if !names_a_field {
                    out.push('…');
                }
            }
            (Some((q, _)), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some((_, true)), c) => out.push(c),
            (Some((_, false)), _) => {}
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_not_constant_and_hex_is_lowercase() {
        let a: [u8; 8] = random_bytes();
        let b: [u8; 8] = random_bytes();
        assert_ne!(a, b);
        assert_eq!(hex_lower(&[0x00, 0xab, 0x4f]), "00ab4f");
        assert!(decode_base64("AAH/").is_ok() && decode_base64("AAE").is_ok());
    }

    #[test]
    fn strip_quoted_drops_quoted_values_of_both_kinds() {
        assert_eq!(
            strip_quoted("invalid type: string \"pw\", expected u16"),
            "invalid type: string \"…\", expected u16"
        );
        assert_eq!(strip_quoted("unknown variant `pw`"), "unknown variant `…`");
        assert_eq!(
            strip_quoted("missing field `link_definitions` at line 1"),
            "missing field `link_definitions` at line 1"
        );
    }
}
