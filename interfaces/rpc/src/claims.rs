//! Invocation claims: the wasmbus JWT that binds an invocation's origin,
//! target, operation and body to a trusted issuer (CONTRACT.md section 6).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::RpcError;
use crate::wire::Invocation;

const HEADER: &str = r#"{"typ":"jwt","alg":"Ed25519"}"#;
const WASCAP_REVISION: u32 = 3;

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

/// The JWT claims of an invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Expiry, seconds since the epoch (extension: checked when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Unique id of these claims, remembered against replay.
    pub jti: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Issuer public key; must be one of the provider's `cluster_issuers`.
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

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The invocation hash: uppercase hex SHA-256 of `origin_url ‖ target_url ‖ operation ‖ msg`.
pub fn invocation_hash(origin_url: &str, target_url: &str, operation: &str, msg: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(origin_url.as_bytes());
    h.update(target_url.as_bytes());
    h.update(operation.as_bytes());
    h.update(msg);
    let digest = h.finalize();
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
    }
    out
}

/// Builds and signs the claims for `inv` with body `msg` (the whole body, also
/// when it travels chunked), and stores the JWT in `inv.encoded_claims`.
/// `ttl_secs` adds an `exp` claim.
pub fn sign_invocation(
    inv: &mut Invocation,
    msg: &[u8],
    issuer: &nkeys::KeyPair,
    ttl_secs: Option<u64>,
) -> Result<(), RpcError> {
    let origin_url = inv.origin.url();
    let target_url = format!("{}/{}", inv.target.url(), inv.operation);
    let hash = invocation_hash(&origin_url, &target_url, &inv.operation, msg);
    let iat = now_secs();
    let claims = Claims {
        exp: ttl_secs.map(|t| iat + t),
        jti: uuid::Uuid::new_v4().simple().to_string(),
        iat,
        iss: issuer.public_key(),
        sub: inv.id.clone(),
        nbf: None,
        wascap: InvocationClaims {
            target_url,
            origin_url,
            hash,
        },
        wascap_revision: Some(WASCAP_REVISION),
    };
    inv.encoded_claims = encode_jwt(&claims, issuer)?;
    Ok(())
}

/// Encodes and signs claims as a JWT.
pub fn encode_jwt(claims: &Claims, issuer: &nkeys::KeyPair) -> Result<String, RpcError> {
    let body = serde_json::to_vec(claims).map_err(|e| RpcError::internal(e.to_string()))?;
    let mut jwt = URL_SAFE_NO_PAD.encode(HEADER);
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(body));
    let sig = issuer
        .sign(jwt.as_bytes())
        .map_err(|e| RpcError::internal(format!("signing claims: {e}")))?;
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(jwt)
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// A JWT split and decoded, its signature not yet checked.
struct Parsed<'a> {
    claims: Claims,
    signed: &'a str,
    signature: Vec<u8>,
}

fn parse_jwt(jwt: &str) -> Result<Parsed<'_>, RpcError> {
    let bad = |why: &str| RpcError::unauthorized(format!("claims: {why}"));
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a JWT"));
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("undecodable header"))?;
    if !header.alg.eq_ignore_ascii_case("ed25519") {
        return Err(bad("unsupported algorithm"));
    }
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("undecodable claims"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| bad("undecodable signature"))?;
    Ok(Parsed {
        claims,
        signed: &jwt[..h.len() + 1 + c.len()],
        signature,
    })
}

fn check_signature(p: &Parsed<'_>, key: &nkeys::KeyPair) -> Result<(), RpcError> {
    key.verify(p.signed.as_bytes(), &p.signature)
        .map_err(|_| RpcError::unauthorized("claims: bad signature"))
}

/// Decodes a JWT and checks its signature against its own `iss`. Does not
/// check the issuer is trusted, nor what the claims say.
pub fn decode_jwt(jwt: &str) -> Result<Claims, RpcError> {
    let p = parse_jwt(jwt)?;
    let key = nkeys::KeyPair::from_public_key(&p.claims.iss)
        .map_err(|_| RpcError::unauthorized("claims: issuer is not a key"))?;
    check_signature(&p, &key)?;
    Ok(p.claims)
}

/// Checks invocations' claims: trusted issuer, signature, URLs, hash, target,
/// expiry, clock skew and replay.
pub struct Verifier {
    // Keys decoded once: decoding (point decompression) costs as much as a
    // fifth of a verification.
    issuers: HashMap<String, nkeys::KeyPair>,
    my_key: String,
    skew_secs: u64,
    window_secs: u64,
    replay: Mutex<ReplayCache>,
}

impl Verifier {
    /// A verifier for provider `my_key` trusting `issuers`. `window_secs` bounds
    /// how old an `iat` may be, and how long a `jti` is remembered.
    pub fn new(issuers: &[String], my_key: &str, window_secs: u64) -> Self {
        Self {
            issuers: issuers
                .iter()
                .filter_map(|i| Some((i.clone(), nkeys::KeyPair::from_public_key(i).ok()?)))
                .collect(),
            my_key: my_key.to_string(),
            skew_secs: 30,
            window_secs: window_secs.max(1),
            replay: Mutex::new(ReplayCache::default()),
        }
    }

    /// Verifies `inv`, whose full body is `msg`. On success the `jti` is
    /// remembered, so a second identical invocation is refused.
    pub fn verify(&self, inv: &Invocation, msg: &[u8]) -> Result<Claims, RpcError> {
        if inv.encoded_claims.is_empty() {
            return Err(RpcError::unauthorized("invocation carries no claims"));
        }
        let parsed = parse_jwt(&inv.encoded_claims)?;
        let Some(key) = self.issuers.get(&parsed.claims.iss) else {
            return Err(RpcError::unauthorized(format!(
                "issuer {} is not a trusted cluster issuer",
                parsed.claims.iss
            )));
        };
        check_signature(&parsed, key)?;
        let claims = parsed.claims;
        if inv.target.public_key != self.my_key {
            return Err(RpcError::unauthorized(format!(
                "invocation targets {}, not this provider",
                inv.target.public_key
            )));
        }
        check_binding(&claims, inv, msg)?;
        let now = now_secs();
        if let Some(exp) = claims.exp
            && exp <= now
        {
            return Err(RpcError::unauthorized("claims expired"));
        }
        if claims.iat > now + self.skew_secs {
            return Err(RpcError::unauthorized("claims issued in the future"));
        }
        if claims.iat + self.window_secs + self.skew_secs < now {
            return Err(RpcError::unauthorized(
                "claims too old (outside the replay window)",
            ));
        }
        let mut replay = self
            .replay
            .lock()
            .map_err(|_| RpcError::internal("replay cache poisoned"))?;
        if !replay.insert(&claims.jti, now, self.window_secs + 2 * self.skew_secs) {
            return Err(RpcError::unauthorized("replayed claims (jti already seen)"));
        }
        Ok(claims)
    }
}

/// Checks that the claims bind this invocation's own fields and body.
pub fn check_binding(claims: &Claims, inv: &Invocation, msg: &[u8]) -> Result<(), RpcError> {
    if claims.sub != inv.id {
        return Err(RpcError::unauthorized(
            "claims subject is not this invocation",
        ));
    }
    let origin_url = inv.origin.url();
    let target_url = format!("{}/{}", inv.target.url(), inv.operation);
    if claims.wascap.origin_url != origin_url {
        return Err(RpcError::unauthorized("origin URL does not match claims"));
    }
    if claims.wascap.target_url != target_url {
        return Err(RpcError::unauthorized("target URL does not match claims"));
    }
    let hash = invocation_hash(&origin_url, &target_url, &inv.operation, msg);
    if !claims.wascap.hash.eq_ignore_ascii_case(&hash) {
        return Err(RpcError::unauthorized("body hash does not match claims"));
    }
    Ok(())
}

/// Remembers `jti`s for a bounded time, as 64-bit keyed hashes bucketed by second.
#[derive(Default)]
struct ReplayCache {
    hasher: RandomState,
    seen: HashMap<u64, u64>,
    by_second: VecDeque<(u64, Vec<u64>)>,
}

impl ReplayCache {
    /// Records `jti`; false when it was already recorded.
    fn insert(&mut self, jti: &str, now: u64, keep_secs: u64) -> bool {
        while let Some((sec, _)) = self.by_second.front() {
            if sec + keep_secs >= now {
                break;
            }
            if let Some((_, keys)) = self.by_second.pop_front() {
                for k in keys {
                    self.seen.remove(&k);
                }
            }
        }
        let key = self.hasher.hash_one(jti);
        if self.seen.insert(key, now).is_some() {
            return false;
        }
        match self.by_second.back_mut() {
            Some((sec, keys)) if *sec == now => keys.push(key),
            _ => self.by_second.push_back((now, vec![key])),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WasmCloudEntity;

    fn signed(issuer: &nkeys::KeyPair, target: &str) -> Invocation {
        let mut inv = Invocation {
            origin: WasmCloudEntity::actor(nkeys::KeyPair::new_module().public_key()),
            target: WasmCloudEntity::provider(target, "default", "wasmcloud:example"),
            operation: "Echo.Echo".into(),
            msg: b"hello".to_vec(),
            id: uuid::Uuid::new_v4().to_string(),
            host_id: issuer.public_key(),
            ..Invocation::default()
        };
        let msg = inv.msg.clone();
        sign_invocation(&mut inv, &msg, issuer, None).unwrap();
        inv
    }

    fn setup() -> (nkeys::KeyPair, String, Verifier) {
        let issuer = nkeys::KeyPair::new_cluster();
        let me = nkeys::KeyPair::new_service().public_key();
        let v = Verifier::new(&[issuer.public_key()], &me, 60);
        (issuer, me, v)
    }

    fn code(r: Result<Claims, RpcError>) -> String {
        r.err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "ok".into())
    }

    #[test]
    fn signed_invocation_verifies_once_then_is_a_replay() {
        let (issuer, me, v) = setup();
        let inv = signed(&issuer, &me);
        assert!(v.verify(&inv, &inv.msg).is_ok());
        assert!(code(v.verify(&inv, &inv.msg)).starts_with("unauthorized: replayed"));
    }

    #[test]
    fn tampered_body_wrong_issuer_wrong_target_and_bad_signature_are_unauthorized() {
        let (issuer, me, v) = setup();
        let inv = signed(&issuer, &me);
        assert!(code(v.verify(&inv, b"hellO")).contains("hash"));

        let stranger = nkeys::KeyPair::new_cluster();
        let inv = signed(&stranger, &me);
        assert!(code(v.verify(&inv, &inv.msg)).contains("not a trusted"));

        let other = nkeys::KeyPair::new_service().public_key();
        let inv = signed(&issuer, &other);
        assert!(code(v.verify(&inv, &inv.msg)).contains("not this provider"));

        let mut inv = signed(&issuer, &me);
        let mut sig_flipped = inv.encoded_claims.clone().into_bytes();
        let last = sig_flipped.len() - 3;
        sig_flipped[last] = if sig_flipped[last] == b'A' {
            b'B'
        } else {
            b'A'
        };
        inv.encoded_claims = String::from_utf8(sig_flipped).unwrap();
        assert!(code(v.verify(&inv, &inv.msg)).contains("signature"));

        let mut inv = signed(&issuer, &me);
        inv.operation = "Echo.Other".into();
        assert!(code(v.verify(&inv, &inv.msg)).contains("target URL"));
    }

    #[test]
    fn expired_future_and_stale_claims_are_unauthorized() {
        let (issuer, me, v) = setup();
        let base = signed(&issuer, &me);
        let claims = decode_jwt(&base.encoded_claims).unwrap();
        for (mutate, expect) in [
            (
                Box::new(|c: &mut Claims| c.exp = Some(c.iat - 1)) as Box<dyn Fn(&mut Claims)>,
                "expired",
            ),
            (Box::new(|c: &mut Claims| c.iat += 3600), "future"),
            (Box::new(|c: &mut Claims| c.iat -= 3600), "too old"),
        ] {
            let mut c = claims.clone();
            c.jti = uuid::Uuid::new_v4().to_string();
            mutate(&mut c);
            let mut inv = base.clone();
            inv.encoded_claims = encode_jwt(&c, &issuer).unwrap();
            assert!(code(v.verify(&inv, &inv.msg)).contains(expect), "{expect}");
        }
    }

    #[test]
    fn harness_style_empty_contract_id_verifies() {
        let (issuer, me, v) = setup();
        let mut inv = signed(&issuer, &me);
        inv.target.contract_id.clear();
        let msg = inv.msg.clone();
        sign_invocation(&mut inv, &msg, &issuer, None).unwrap();
        let claims = v.verify(&inv, &msg).unwrap();
        assert_eq!(
            claims.wascap.target_url,
            format!("wasmbus:///default/{me}/Echo.Echo")
        );
    }

    #[test]
    fn replay_cache_forgets_after_its_window() {
        let mut c = ReplayCache::default();
        assert!(c.insert("a", 100, 10));
        assert!(!c.insert("a", 105, 10));
        assert!(c.insert("b", 120, 10));
        assert!(c.insert("a", 120, 10), "a expired from the cache");
        assert_eq!(c.seen.len(), 2);
    }
}
