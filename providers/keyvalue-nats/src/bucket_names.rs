//! Interface bucket identifiers as NATS KV bucket names.
//!
//! An identifier is any non-empty UTF-8 string of at most 255 bytes
//! (`wasi:keyvalue`'s `open`); a KV bucket name is `[A-Za-z0-9_-]+`, and it
//! becomes a stream name and a directory on the server, so it stays short.
//! The mapping is injective:
//!
//! - the empty bucket (the legacy keyspace) is `default_bucket`, as written;
//! - a named bucket is `b_` then its escaped identifier: `A-Z a-z 0-9 -` pass
//!   through, every other byte of the UTF-8 encoding is `_XX` (uppercase hex,
//!   `_` itself is `_5F`). `default_bucket` may not start with `b_`, so a
//!   named bucket never meets the legacy one;
//! - a name that would exceed [`MAX_NAME_LEN`] keeps the first part of the
//!   escaping (cut between escapes) and ends in `_h` and 16 hex digits of the
//!   identifier's SHA-256. No escaping contains `_h` (escapes are uppercase
//!   hex), so a hashed name never meets an unhashed one.

use sha2::{Digest, Sha256};

/// Prefix of every named bucket's KV name; `default_bucket` may not start with it.
pub const NAMED_PREFIX: &str = "b_";

/// Longest KV name a named bucket maps to (before `bucket_prefix`).
pub const MAX_NAME_LEN: usize = 64;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn passes_through(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// The KV name (without `bucket_prefix`) of named bucket `id` (non-empty).
pub fn named(id: &str) -> String {
    let mut out = String::with_capacity(NAMED_PREFIX.len() + id.len());
    out.push_str(NAMED_PREFIX);
    // Where each escape ends, so a cut never splits one.
    let mut boundaries = Vec::with_capacity(id.len());
    for &b in id.as_bytes() {
        if passes_through(b) {
            out.push(char::from(b));
        } else {
            out.push('_');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        boundaries.push(out.len());
    }
    if out.len() <= MAX_NAME_LEN {
        return out;
    }
    let digest = Sha256::digest(id.as_bytes());
    let mut suffix = String::from("_h");
    for b in &digest[..8] {
        suffix.push(char::from(HEX[usize::from(b >> 4)].to_ascii_lowercase()));
        suffix.push(char::from(HEX[usize::from(b & 15)].to_ascii_lowercase()));
    }
    let room = MAX_NAME_LEN - suffix.len();
    let cut = boundaries
        .iter()
        .rev()
        .copied()
        .find(|&end| end <= room)
        .unwrap_or(NAMED_PREFIX.len());
    out.truncate(cut);
    out.push_str(&suffix);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_kv_name(n: &str) -> bool {
        !n.is_empty()
            && n.len() <= MAX_NAME_LEN
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    #[test]
    fn every_identifier_maps_to_a_valid_name_and_no_two_meet() {
        let ids = [
            "a",
            "A",
            "default",
            "orders",
            "app:sessions",
            "app_sessions",
            "app_3Asessions",
            "tenant/42",
            "dot.ted",
            "has space",
            "café",
            "鍵",
            "_",
            "_5F",
            "b_x",
            "-",
            &"x".repeat(255),
            &"x".repeat(254),
            &"é".repeat(127),
            &format!("{}y", "x".repeat(254)),
        ];
        let mut seen = std::collections::HashMap::new();
        for id in ids {
            let n = named(id);
            assert!(valid_kv_name(&n), "{id:?} -> {n:?}");
            assert!(n.starts_with(NAMED_PREFIX));
            if let Some(other) = seen.insert(n.clone(), id) {
                panic!("{other:?} and {id:?} both map to {n}");
            }
        }
    }

    #[test]
    fn short_names_read_as_their_identifier() {
        assert_eq!(named("orders"), "b_orders");
        assert_eq!(named("app:sessions"), "b_app_3Asessions");
        assert_eq!(named("tenant/42"), "b_tenant_2F42");
        assert_eq!(named("café"), "b_caf_C3_A9");
        assert_eq!(named("_"), "b__5F");
    }

    #[test]
    fn long_identifiers_are_cut_between_escapes_and_hashed() {
        let long = named(&"é".repeat(40));
        assert!(long.len() <= MAX_NAME_LEN, "{long}");
        assert!(long.contains("_h"), "{long}");
        let body = &long[NAMED_PREFIX.len()..long.find("_h").unwrap()];
        assert!(body.len().is_multiple_of(3), "cut inside an escape: {long}");
        assert_ne!(named(&"é".repeat(40)), named(&"é".repeat(41)));
    }
}
