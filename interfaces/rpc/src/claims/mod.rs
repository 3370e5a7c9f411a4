//! Invocation claims: the JWT that binds an invocation's origin, target,
//! operation and body to whoever signed it (contract section 6), signed with
//! Ed25519 (wasmbus 0.x) or HS256 under per-provider keys (section 6a), and
//! the claims that authenticate control messages (section 6b).
//!
//! Signing writes the claims JSON in one fixed layout and verification reads
//! it without copying, checks what is cheap before any cryptography, and
//! remembers accepted `jti`s in a compact replay cache ([`replay`]).

mod json;
mod mac;
mod replay;
mod signer;
mod verify;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use mac::{LatticeKey, MacKey, MacKeyError};
pub use signer::{Signer, SigningKey, sign, sign_control, sign_invocation};
pub use verify::{MacCheck, Verifier, VerifierBuilder};

use crate::error::RpcError;
use crate::view::EntityRef;

/// The JWT header of Ed25519 claims, and its base64url form.
#[cfg(test)]
const HEADER_ED25519: &str = r#"{"typ":"jwt","alg":"Ed25519"}"#;
const HEADER_ED25519_B64: &str = "eyJ0eXAiOiJqd3QiLCJhbGciOiJFZDI1NTE5In0";
/// The JWT header of HS256 claims, and its base64url form.
#[cfg(test)]
const HEADER_HS256: &str = r#"{"typ":"jwt","alg":"HS256"}"#;
const HEADER_HS256_B64: &str = "eyJ0eXAiOiJqd3QiLCJhbGciOiJIUzI1NiJ9";

/// The claims format revision written.
pub const WASCAP_REVISION: u32 = 3;

/// How claims are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// The issuer's ed25519 signature (wasmbus 0.x).
    Ed25519,
    /// HMAC-SHA256 under a per-provider key (extension, section 6a).
    Hs256,
}

/// The `wascap` section of invocation claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationClaims {
    /// URL of the target entity, `/`, and the operation.
    pub target_url: String,
    /// URL of the origin entity.
    pub origin_url: String,
    /// Uppercase hex SHA-256 of origin URL, target URL, operation and body.
    pub hash: String,
}

/// The JWT claims of an invocation, owned (for tools and tests that build
/// or inspect tokens; the hot path neither builds nor reads this struct).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Unique id of these claims, remembered against replay.
    pub jti: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Who signed: a trusted cluster key, or (HS256 from a provider) the provider's key.
    pub iss: String,
    /// The invocation id.
    pub sub: String,
    /// Not before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// What the claims bind.
    pub wascap: InvocationClaims,
    /// Claims format revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wascap_revision: Option<u32>,
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Identifiers unique to this process and, through a random prefix drawn at
/// start, across processes: no system call and no allocation but the text.
struct Ids {
    prefix: u64,
    next: AtomicU64,
}

fn ids() -> &'static Ids {
    static IDS: std::sync::OnceLock<Ids> = std::sync::OnceLock::new();
    IDS.get_or_init(|| {
        let seed: [u8; 16] = crate::codec::random_bytes();
        Ids {
            prefix: u64::from_le_bytes(seed[..8].try_into().unwrap_or_default()),
            next: AtomicU64::new(u64::from_le_bytes(seed[8..].try_into().unwrap_or_default())),
        }
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut String, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        out.push(char::from(HEX[((v >> (i * 4)) & 15) as usize]));
    }
}

/// A fresh `jti`: 32 hex digits.
pub fn fresh_jti() -> String {
    let ids = ids();
    let n = ids.next.fetch_add(1, Ordering::Relaxed);
    let mut out = String::with_capacity(32);
    push_hex(&mut out, ids.prefix, 16);
    push_hex(&mut out, n, 16);
    out
}

/// A fresh invocation id in UUID form (version 4 layout).
pub fn fresh_invocation_id() -> String {
    let ids = ids();
    let n = ids.next.fetch_add(1, Ordering::Relaxed);
    let (hi, lo) = (ids.prefix, n);
    let mut out = String::with_capacity(36);
    push_hex(&mut out, hi >> 32, 8);
    out.push('-');
    push_hex(&mut out, (hi >> 16) & 0xffff, 4);
    out.push('-');
    push_hex(&mut out, 0x4000 | (hi & 0x0fff), 4);
    out.push('-');
    push_hex(&mut out, 0x8000 | ((lo >> 48) & 0x3fff), 4);
    out.push('-');
    push_hex(&mut out, lo & 0xffff_ffff_ffff, 12);
    out
}

/// Appends the URL of `entity` (section 5), and `/{operation}` when given.
pub(crate) fn push_url(out: &mut String, entity: EntityRef<'_>, operation: Option<&str>) {
    out.push_str("wasmbus://");
    if !entity.is_actor() {
        push_mapped(out, entity.contract_id, true);
        out.push('/');
        push_mapped(out, entity.link_name, false);
        out.push('/');
    }
    out.push_str(entity.public_key);
    if let Some(op) = operation {
        out.push('/');
        out.push_str(op);
    }
}

/// Appends `src` lowercased, ' ' as '_', and ':' as '/' when `colon`.
fn push_mapped(out: &mut String, src: &str, colon: bool) {
    if src
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        out.push_str(src);
        return;
    }
    for c in src.chars() {
        match c {
            ':' if colon => out.push('/'),
            ' ' => out.push('_'),
            c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            c => out.extend(c.to_lowercase()),
        }
    }
}

/// Consumes from `rest` the mapped form of `src` (lowercased, ' ' as '_',
/// and ':' as '/' when `colon`); false when `rest` does not start with it.
fn eat_mapped(rest: &mut &str, src: &str, colon: bool) -> bool {
    let mut chars = rest.chars();
    for c in src.chars() {
        let ok = match c {
            ':' if colon => chars.next() == Some('/'),
            ' ' => chars.next() == Some('_'),
            c if c.is_ascii() => chars.next() == Some(c.to_ascii_lowercase()),
            c => c.to_lowercase().all(|l| chars.next() == Some(l)),
        };
        if !ok {
            return false;
        }
    }
    *rest = chars.as_str();
    true
}

/// True when `claimed` is exactly the URL [`push_url`] writes, compared
/// without building it.
pub(crate) fn url_is(claimed: &str, entity: EntityRef<'_>, operation: Option<&str>) -> bool {
    let Some(mut rest) = claimed.strip_prefix("wasmbus://") else {
        return false;
    };
    if !entity.is_actor() {
        if !eat_mapped(&mut rest, entity.contract_id, true) {
            return false;
        }
        let Some(r) = rest.strip_prefix('/') else {
            return false;
        };
        rest = r;
        if !eat_mapped(&mut rest, entity.link_name, false) {
            return false;
        }
        let Some(r) = rest.strip_prefix('/') else {
            return false;
        };
        rest = r;
    }
    let Some(rest) = rest.strip_prefix(entity.public_key) else {
        return false;
    };
    match operation {
        None => rest.is_empty(),
        Some(op) => rest.strip_prefix('/') == Some(op),
    }
}

/// The invocation hash: uppercase hex SHA-256 of `origin_url ‖ target_url ‖ operation ‖ msg`.
pub fn invocation_hash(origin_url: &str, target_url: &str, operation: &str, msg: &[u8]) -> String {
    upper_hex(&digest(origin_url, target_url, operation, msg))
}

fn digest(origin_url: &str, target_url: &str, operation: &str, msg: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(origin_url.as_bytes());
    h.update(target_url.as_bytes());
    h.update(operation.as_bytes());
    h.update(msg);
    h.finalize().into()
}

fn upper_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
    }
    out
}

/// The value of each hex digit (either case), 0xff for anything else.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Reads 64 hex digits (either case) into 32 bytes.
fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (i, o) in out.iter_mut().enumerate() {
        let (hi, lo) = (
            HEX_VALUE[b[2 * i] as usize],
            HEX_VALUE[b[2 * i + 1] as usize],
        );
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 15);
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// A JWT split into its three segments, the header read.
struct Token<'a> {
    alg: Algorithm,
    /// `header.claims`, exactly as received: what the signature covers.
    signed: &'a str,
    claims_b64: &'a str,
    signature_b64: &'a str,
}

fn unauthorized(why: &str) -> RpcError {
    RpcError::unauthorized(format!("claims: {why}"))
}

impl<'a> Token<'a> {
    /// Splits `jwt` and reads its header's `alg` (compared exactly; other
    /// header fields are ignored).
    fn split(jwt: &'a str) -> Result<Self, RpcError> {
        let mut parts = jwt.splitn(3, '.');
        let (Some(h), Some(c), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(unauthorized("not a JWT"));
        };
        if s.contains('.') {
            return Err(unauthorized("not a JWT"));
        }
        let alg = match h {
            HEADER_HS256_B64 => Algorithm::Hs256,
            HEADER_ED25519_B64 => Algorithm::Ed25519,
            other => {
                #[derive(Deserialize)]
                struct Header<'h> {
                    #[serde(borrow)]
                    alg: std::borrow::Cow<'h, str>,
                }
                let bytes = URL_SAFE_NO_PAD
                    .decode(other)
                    .map_err(|_| unauthorized("undecodable header"))?;
                let header: Header<'_> = serde_json::from_slice(&bytes)
                    .map_err(|_| unauthorized("undecodable header"))?;
                match &*header.alg {
                    "HS256" => Algorithm::Hs256,
                    "Ed25519" => Algorithm::Ed25519,
                    _ => return Err(unauthorized("unsupported algorithm")),
                }
            }
        };
        Ok(Self {
            alg,
            signed: &jwt[..h.len() + 1 + c.len()],
            claims_b64: c,
            signature_b64: s,
        })
    }

    /// Decodes the claims segment into `buf` when it fits (no allocation),
    /// else into a vector.
    fn claims_json<'b>(&self, buf: &'b mut [u8]) -> Result<Cow<'b, [u8]>, RpcError> {
        decode_into(self.claims_b64, buf).ok_or_else(|| unauthorized("undecodable claims"))
    }

    /// Decodes the signature segment into `buf` (HS256: 32 bytes, Ed25519: 64).
    fn signature<'b>(&self, buf: &'b mut [u8]) -> Result<Cow<'b, [u8]>, RpcError> {
        decode_into(self.signature_b64, buf).ok_or_else(|| unauthorized("undecodable signature"))
    }
}

/// base64url (no padding) of `text`, into `buf` when it fits.
fn decode_into<'b>(text: &str, buf: &'b mut [u8]) -> Option<Cow<'b, [u8]>> {
    if text.len() / 4 * 3 + 3 <= buf.len() {
        let n = URL_SAFE_NO_PAD.decode_slice(text, buf).ok()?;
        Some(Cow::Borrowed(&buf[..n]))
    } else {
        URL_SAFE_NO_PAD.decode(text).ok().map(Cow::Owned)
    }
}

/// Decodes a JWT's claims without checking its signature or what it says
/// (for tools and tests that inspect or alter tokens).
pub fn decode_jwt(jwt: &str) -> Result<Claims, RpcError> {
    let token = Token::split(jwt)?;
    serde_json::from_slice(&token.claims_json(&mut [])?)
        .map_err(|_| unauthorized("undecodable claims"))
}

/// The algorithm a JWT's header names.
pub fn algorithm_of(jwt: &str) -> Result<Algorithm, RpcError> {
    Token::split(jwt).map(|t| t.alg)
}

/// Encodes and signs `claims` (for tools and tests; calls are signed with
/// [`sign_invocation`]).
pub fn encode_jwt(claims: &Claims, key: &SigningKey) -> Result<String, RpcError> {
    let mut json = String::with_capacity(512);
    json::InvocationClaimsOut {
        exp: claims.exp,
        jti: &claims.jti,
        iat: claims.iat,
        iss: &claims.iss,
        sub: &claims.sub,
        nbf: claims.nbf,
        target_url: &claims.wascap.target_url,
        origin_url: &claims.wascap.origin_url,
        hash: &claims.wascap.hash,
    }
    .write(&mut json);
    signer::seal_token(&json, key)
}

#[cfg(test)]
mod tests;
