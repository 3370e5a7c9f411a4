//! Verification of invocation and control-message claims, in the order
//! section 6a sets: what is cheap (shape, algorithm, issuer, target, time, a
//! `jti` already seen) before any cryptography, then the signature in
//! constant time, then the binding, and only then is the `jti` recorded.

use std::collections::HashMap;
use std::sync::RwLock;

use super::json::{ClaimsIn, ControlClaimsIn};
use super::mac::{LatticeKey, MacKey};
use super::replay::ReplayCache;
use super::{Algorithm, Token, digest, now_secs, parse_hex32, unauthorized, url_is};
use crate::error::RpcError;
use crate::view::{CallView, EntityRef};

/// Clock skew tolerated between signer and verifier, seconds.
pub const SKEW_SECS: u64 = 30;
/// Default replay window, seconds.
pub const DEFAULT_WINDOW_SECS: u64 = 60;

/// Which HS256 key checks a call.
pub enum MacCheck {
    /// No MAC key: HS256 claims are refused.
    None,
    /// A provider: calls to it are MAC'd with its own `K_p`, `iss` a trusted
    /// cluster issuer.
    Own(MacKey),
    /// A host serving actors: a provider's call is MAC'd with that
    /// provider's `K_p` (origin key and link name, derived from the lattice
    /// key), `iss` the provider's own key.
    PerOrigin(LatticeKey),
}

/// Builds a [`Verifier`].
pub struct VerifierBuilder {
    own_key: String,
    issuers: Vec<String>,
    mac: MacCheck,
    require_mac: bool,
    window_secs: u64,
}

impl VerifierBuilder {
    /// Trusts these cluster issuers: Ed25519 claims they sign, and (with
    /// [`MacCheck::Own`]) the `iss` of HS256 claims.
    pub fn issuers(mut self, issuers: &[String]) -> Self {
        self.issuers = issuers.to_vec();
        self
    }

    /// How HS256 claims are checked (default: refused).
    pub fn mac(mut self, mac: MacCheck) -> Self {
        self.mac = mac;
        self
    }

    /// Refuses Ed25519 claims (and control messages without claims).
    pub fn require_mac(mut self, require: bool) -> Self {
        self.require_mac = require;
        self
    }

    /// How old an `iat` may be, and how long a `jti` is remembered, seconds
    /// (at least 1; default 60).
    pub fn window_secs(mut self, secs: u64) -> Self {
        self.window_secs = secs.max(1);
        self
    }

    /// The verifier.
    pub fn build(self) -> Verifier {
        Verifier {
            // Keys decoded once: decoding costs a fifth of a verification.
            trusted: self
                .issuers
                .iter()
                .filter_map(|i| Some((i.clone(), nkeys::KeyPair::from_public_key(i).ok()?)))
                .collect(),
            own_key: self.own_key,
            mac: self.mac,
            origin_keys: RwLock::default(),
            require_mac: self.require_mac,
            window_secs: self.window_secs,
            // An `iat` passes the age check while `iat + window + skew >= now`:
            // exactly that long, and no longer, is a `jti` worth keeping.
            replay: ReplayCache::new(self.window_secs + SKEW_SECS),
        }
    }
}

/// Checks the claims of invocations addressed to one entity.
pub struct Verifier {
    own_key: String,
    trusted: HashMap<String, nkeys::KeyPair>,
    mac: MacCheck,
    /// Derived keys of origins ([`MacCheck::PerOrigin`]), by key then link name.
    origin_keys: RwLock<HashMap<String, HashMap<String, MacKey>>>,
    require_mac: bool,
    window_secs: u64,
    replay: ReplayCache,
}

/// The key an accepted algorithm checks the signature with.
enum Check<'a> {
    Ed25519(&'a nkeys::KeyPair),
    Mac(MacKey),
}

impl Verifier {
    /// A builder for a verifier of invocations addressed to `own_key`.
    pub fn builder(own_key: &str) -> VerifierBuilder {
        VerifierBuilder {
            own_key: own_key.to_string(),
            issuers: Vec::new(),
            mac: MacCheck::None,
            require_mac: false,
            window_secs: DEFAULT_WINDOW_SECS,
        }
    }

    /// Whether calls without HS256 claims are refused.
    pub fn requires_mac(&self) -> bool {
        self.require_mac
    }

    /// Whether this verifier checks HS256 claims at all.
    pub fn has_mac(&self) -> bool {
        !matches!(self.mac, MacCheck::None)
    }

    /// `jti`s remembered now, and the heap bytes they take.
    pub fn replay_memory(&self) -> (usize, usize) {
        (self.replay.len(), self.replay.heap_bytes())
    }

    /// Origins whose derived keys are kept (tests).
    #[cfg(test)]
    pub(crate) fn cached_origins(&self) -> usize {
        self.origin_keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Forgets old `jti`s in every shard at `now` (tests).
    #[cfg(test)]
    pub(crate) fn tidy_replay(&self, now: u64) {
        self.replay.tidy_all(now);
    }

    fn origin_key(&self, lattice: &LatticeKey, key: &str, link_name: &str) -> MacKey {
        let link_name = if link_name.is_empty() {
            "default"
        } else {
            link_name
        };
        {
            let keys = self.origin_keys.read().unwrap_or_else(|p| p.into_inner());
            if let Some(k) = keys.get(key).and_then(|l| l.get(link_name)) {
                return k.clone();
            }
        }
        let k = lattice.provider_key(key, link_name);
        let mut keys = self.origin_keys.write().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= 4096 {
            keys.clear();
        }
        keys.entry(key.to_string())
            .or_default()
            .insert(link_name.to_string(), k.clone());
        k
    }

    /// Step 3: the key for `alg` and `iss`, or why there is none.
    fn key_for(
        &self,
        alg: Algorithm,
        iss: &str,
        origin: EntityRef<'_>,
    ) -> Result<Check<'_>, RpcError> {
        match alg {
            Algorithm::Hs256 => match &self.mac {
                MacCheck::None => Err(RpcError::unauthorized(
                    "HS256 claims, and this provider has no MAC key",
                )),
                MacCheck::Own(k) => {
                    if self.trusted.contains_key(iss) {
                        Ok(Check::Mac(k.clone()))
                    } else {
                        Err(RpcError::unauthorized(format!(
                            "issuer {iss} is not a trusted cluster issuer"
                        )))
                    }
                }
                MacCheck::PerOrigin(lattice) => {
                    if iss == origin.public_key {
                        Ok(Check::Mac(self.origin_key(
                            lattice,
                            origin.public_key,
                            origin.link_name,
                        )))
                    } else {
                        Err(RpcError::unauthorized(
                            "HS256 claims from a provider must name it as their issuer",
                        ))
                    }
                }
            },
            Algorithm::Ed25519 => {
                if self.require_mac {
                    return Err(RpcError::unauthorized(
                        "Ed25519 claims refused: HS256 is required here",
                    ));
                }
                self.trusted.get(iss).map(Check::Ed25519).ok_or_else(|| {
                    RpcError::unauthorized(format!("issuer {iss} is not a trusted cluster issuer"))
                })
            }
        }
    }

    /// Step 5: expiry, not-before, and the age of `iat`.
    fn check_time(
        &self,
        exp: Option<u64>,
        nbf: Option<u64>,
        iat: u64,
        now: u64,
    ) -> Result<(), RpcError> {
        if exp.is_some_and(|exp| exp <= now) {
            return Err(RpcError::unauthorized("claims expired"));
        }
        if nbf.is_some_and(|nbf| nbf > now + SKEW_SECS) {
            return Err(RpcError::unauthorized("claims not valid yet"));
        }
        if iat > now + SKEW_SECS {
            return Err(RpcError::unauthorized("claims issued in the future"));
        }
        if iat + self.window_secs + SKEW_SECS < now {
            return Err(RpcError::unauthorized(
                "claims too old (outside the replay window)",
            ));
        }
        Ok(())
    }

    /// Step 7: the signature over `header.claims` as received.
    fn check_signature(check: &Check<'_>, token: &Token<'_>) -> Result<(), RpcError> {
        let mut buf = [0u8; 64];
        let sig = token.signature(&mut buf)?;
        let ok = match check {
            Check::Ed25519(kp) => kp.verify(token.signed.as_bytes(), &sig).is_ok(),
            Check::Mac(k) => k.verify(token.signed.as_bytes(), &sig),
        };
        if ok {
            Ok(())
        } else {
            Err(unauthorized("bad signature"))
        }
    }

    /// Verifies `inv`, whose whole body is `msg`. On success its `jti` is
    /// remembered, so the same claims are refused the second time.
    pub fn verify(&self, inv: &CallView<'_>, msg: &[u8]) -> Result<(), RpcError> {
        self.verify_at(inv, msg, now_secs())
    }

    /// [`Verifier::verify`] at time `now` (seconds since the epoch).
    pub(crate) fn verify_at(
        &self,
        inv: &CallView<'_>,
        msg: &[u8],
        now: u64,
    ) -> Result<(), RpcError> {
        // 1. Claims present and decodable; 2. the algorithm.
        if inv.encoded_claims.is_empty() {
            return Err(RpcError::unauthorized("invocation carries no claims"));
        }
        let token = Token::split(inv.encoded_claims)?;
        let mut buf = [0u8; 1024];
        let json = token.claims_json(&mut buf)?;
        let claims: ClaimsIn<'_> =
            serde_json::from_slice(&json).map_err(|_| unauthorized("undecodable claims"))?;
        // 3. A key for this algorithm and issuer.
        let check = self.key_for(token.alg, &claims.iss, inv.origin)?;
        // 4. Addressed to this entity.
        if inv.target.public_key != self.own_key {
            return Err(RpcError::unauthorized(format!(
                "invocation targets {}, not this provider",
                inv.target.public_key
            )));
        }
        // 5. Time; 6. not already accepted (a look-up only).
        self.check_time(claims.exp, claims.nbf, claims.iat, now)?;
        let jti = self.replay.key(&claims.jti);
        if self.replay.seen(jti, claims.iat) {
            return Err(RpcError::unauthorized("replayed claims (jti already seen)"));
        }
        // 7. The signature.
        Self::check_signature(&check, &token)?;
        // 8. What the claims bind.
        if claims.sub != inv.id {
            return Err(RpcError::unauthorized(
                "claims subject is not this invocation",
            ));
        }
        let w = &claims.wascap;
        if !url_is(&w.origin_url, inv.origin, None) {
            return Err(RpcError::unauthorized("origin URL does not match claims"));
        }
        if !url_is(&w.target_url, inv.target, Some(inv.operation)) {
            return Err(RpcError::unauthorized("target URL does not match claims"));
        }
        let claimed = parse_hex32(&w.hash).ok_or_else(|| unauthorized("malformed hash"))?;
        if claimed != digest(&w.origin_url, &w.target_url, inv.operation, msg) {
            return Err(RpcError::unauthorized("body hash does not match claims"));
        }
        // 9. Remembered, unless a concurrent twin was first.
        if !self.replay.record(jti, claims.iat, now) {
            return Err(RpcError::unauthorized("replayed claims (jti already seen)"));
        }
        Ok(())
    }

    /// Verifies the `Lattice-Claims` header of a control message (section
    /// 6b) received on `subject` with `payload`. `None` is a message without
    /// the header: accepted unless HS256 is required.
    pub fn verify_control(
        &self,
        token: Option<&str>,
        subject: &str,
        payload: &[u8],
    ) -> Result<(), RpcError> {
        self.verify_control_at(token, subject, payload, now_secs())
    }

    /// [`Verifier::verify_control`] at time `now`.
    pub(crate) fn verify_control_at(
        &self,
        token: Option<&str>,
        subject: &str,
        payload: &[u8],
        now: u64,
    ) -> Result<(), RpcError> {
        let Some(token) = token else {
            return if self.require_mac {
                Err(RpcError::unauthorized(
                    "control message without Lattice-Claims, and HS256 is required",
                ))
            } else {
                Ok(())
            };
        };
        let token = Token::split(token)?;
        let mut buf = [0u8; 1024];
        let json = token.claims_json(&mut buf)?;
        let claims: ControlClaimsIn<'_> =
            serde_json::from_slice(&json).map_err(|_| unauthorized("undecodable claims"))?;
        let MacCheck::Own(key) = &self.mac else {
            return Err(RpcError::unauthorized(
                "control claims, and this provider has no MAC key",
            ));
        };
        if token.alg != Algorithm::Hs256 {
            return Err(unauthorized("control claims must be HS256"));
        }
        if !self.trusted.contains_key(&*claims.iss) {
            return Err(RpcError::unauthorized(format!(
                "issuer {} is not a trusted cluster issuer",
                claims.iss
            )));
        }
        self.check_time(claims.exp, claims.nbf, claims.iat, now)?;
        let jti = self.replay.key(&claims.jti);
        if self.replay.seen(jti, claims.iat) {
            return Err(RpcError::unauthorized("replayed claims (jti already seen)"));
        }
        Self::check_signature(&Check::Mac(key.clone()), &token)?;
        if claims.sub != subject {
            return Err(RpcError::unauthorized(
                "control claims were made for another subject",
            ));
        }
        let claimed = parse_hex32(&claims.hash).ok_or_else(|| unauthorized("malformed hash"))?;
        let actual: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(payload).into()
        };
        if claimed != actual {
            return Err(RpcError::unauthorized("payload hash does not match claims"));
        }
        if !self.replay.record(jti, claims.iat, now) {
            return Err(RpcError::unauthorized("replayed claims (jti already seen)"));
        }
        Ok(())
    }
}
