//! Signing: who signs which call with which key (sections 6 and 6a), and the
//! tokens of control messages (section 6b).

use std::collections::HashMap;
use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::json::{self, InvocationClaimsOut};
use super::mac::{LatticeKey, MacKey};
use super::{
    HEADER_ED25519_B64, HEADER_HS256_B64, digest, fresh_jti, now_secs, push_url, upper_hex,
};
use crate::error::RpcError;
use crate::view::EntityRef;
use crate::wire::Invocation;

/// One key and the name it signs as.
pub enum SigningKey {
    /// Ed25519: the key's own public key is the issuer.
    Ed25519(Box<nkeys::KeyPair>),
    /// HS256 under `key`, the claims naming `iss`.
    Hs256 {
        /// Who computed the MAC (a cluster key, or a provider's own key).
        iss: String,
        /// The key.
        key: MacKey,
    },
}

impl SigningKey {
    /// The `iss` this key writes.
    pub fn issuer(&self) -> String {
        match self {
            SigningKey::Ed25519(kp) => kp.public_key(),
            SigningKey::Hs256 { iss, .. } => iss.clone(),
        }
    }
}

/// Whoever sends invocations: which key signs which call.
pub struct Signer {
    kind: Kind,
}

enum Kind {
    Ed25519 {
        key: Box<nkeys::KeyPair>,
        /// Its public key, encoded once.
        public: String,
    },
    Provider {
        provider_key: String,
        key: MacKey,
    },
    Host {
        cluster: Box<nkeys::KeyPair>,
        /// The cluster's public key, encoded once.
        public: String,
        lattice: LatticeKey,
        keys: KeyCache,
    },
}

impl Signer {
    /// Every call signed Ed25519 with `key` (wasmbus 0.x hosts, and providers
    /// without a MAC key).
    pub fn ed25519(key: nkeys::KeyPair) -> Self {
        Self {
            kind: Kind::Ed25519 {
                public: key.public_key(),
                key: Box::new(key),
            },
        }
    }

    /// A provider with a MAC key: every call it sends is HS256 under its own
    /// `K_p`, `iss` its provider key.
    pub fn provider(provider_key: &str, key: MacKey) -> Self {
        Self {
            kind: Kind::Provider {
                provider_key: provider_key.to_string(),
                key,
            },
        }
    }

    /// A host holding the lattice key: a call to a provider is HS256 under
    /// that provider's `K_p` (target key and link name), `iss` the cluster
    /// key; a call to an actor is signed Ed25519 with the cluster key, which
    /// the host's own actor servers trust.
    pub fn host(cluster: nkeys::KeyPair, lattice: LatticeKey) -> Self {
        Self {
            kind: Kind::Host {
                public: cluster.public_key(),
                cluster: Box::new(cluster),
                lattice,
                keys: KeyCache::default(),
            },
        }
    }

    /// The `iss` of the calls it sends to providers.
    pub fn issuer(&self) -> String {
        match &self.kind {
            Kind::Ed25519 { public, .. } | Kind::Host { public, .. } => public.clone(),
            Kind::Provider { provider_key, .. } => provider_key.clone(),
        }
    }

    /// Provider keys a host has derived and kept (tests).
    #[cfg(test)]
    pub(crate) fn cached_keys(&self) -> usize {
        match &self.kind {
            Kind::Host { keys, .. } => keys
                .keys
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .map(HashMap::len)
                .sum(),
            _ => 0,
        }
    }

    /// Which key signs a call to `target`.
    fn choose(&self, target: EntityRef<'_>) -> Chosen<'_> {
        match &self.kind {
            Kind::Ed25519 { key, public } => Chosen::Ed25519(key, public),
            Kind::Provider { provider_key, key } => Chosen::Hs256(provider_key, key.clone()),
            Kind::Host {
                cluster, public, ..
            } if target.is_actor() => Chosen::Ed25519(cluster, public),
            Kind::Host {
                public,
                lattice,
                keys,
                ..
            } => {
                let link = if target.link_name.is_empty() {
                    "default"
                } else {
                    target.link_name
                };
                Chosen::Hs256(public, keys.get(lattice, target.public_key, link))
            }
        }
    }
}

/// Derived provider keys, so a host derives each `K_p` once; looked up by
/// `&str` (provider key, then link name) without building a key.
#[derive(Default)]
struct KeyCache {
    keys: RwLock<HashMap<String, HashMap<String, MacKey>>>,
}

impl KeyCache {
    fn get(&self, lattice: &LatticeKey, provider: &str, link_name: &str) -> MacKey {
        {
            let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
            if let Some(k) = keys.get(provider).and_then(|l| l.get(link_name)) {
                return k.clone();
            }
        }
        let k = lattice.provider_key(provider, link_name);
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        // Bounded: a host talks to few providers; calls to made-up targets
        // cannot grow this without limit.
        if keys.len() >= 4096 {
            keys.clear();
        }
        keys.entry(provider.to_string())
            .or_default()
            .insert(link_name.to_string(), k.clone());
        k
    }
}

/// Which key signs one call, and the `iss` it writes.
enum Chosen<'a> {
    Ed25519(&'a nkeys::KeyPair, &'a str),
    Hs256(&'a str, MacKey),
}

impl Chosen<'_> {
    fn iss(&self) -> &str {
        match self {
            Chosen::Ed25519(_, iss) | Chosen::Hs256(iss, _) => iss,
        }
    }
}

/// `header.claims.signature` for claims JSON `json` under `key`.
pub(crate) fn seal_token(json: &str, key: &SigningKey) -> Result<String, RpcError> {
    match key {
        SigningKey::Ed25519(kp) => seal(json, &Chosen::Ed25519(kp, "")),
        SigningKey::Hs256 { iss, key } => seal(json, &Chosen::Hs256(iss, key.clone())),
    }
}

fn seal(json: &str, key: &Chosen<'_>) -> Result<String, RpcError> {
    let header = match key {
        Chosen::Ed25519(..) => HEADER_ED25519_B64,
        Chosen::Hs256(..) => HEADER_HS256_B64,
    };
    let mut jwt = String::with_capacity(header.len() + json.len() * 4 / 3 + 100);
    jwt.push_str(header);
    jwt.push('.');
    URL_SAFE_NO_PAD.encode_string(json.as_bytes(), &mut jwt);
    match key {
        Chosen::Ed25519(kp, _) => {
            let sig = kp
                .sign(jwt.as_bytes())
                .map_err(|e| RpcError::internal(format!("signing claims: {e}")))?;
            jwt.push('.');
            URL_SAFE_NO_PAD.encode_string(&sig, &mut jwt);
        }
        Chosen::Hs256(_, k) => {
            let tag = k.sign(jwt.as_bytes());
            jwt.push('.');
            URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut jwt);
        }
    }
    Ok(jwt)
}

/// The claims JWT of a call from `origin` to `target` of `operation`, id
/// `id`, whose whole body is `msg` (also when it travels chunked). `ttl_secs`
/// adds an `exp`.
pub fn sign(
    signer: &Signer,
    origin: EntityRef<'_>,
    target: EntityRef<'_>,
    operation: &str,
    id: &str,
    msg: &[u8],
    ttl_secs: Option<u64>,
) -> Result<String, RpcError> {
    let mut origin_url = String::with_capacity(64);
    push_url(&mut origin_url, origin, None);
    let mut target_url = String::with_capacity(128);
    push_url(&mut target_url, target, Some(operation));
    let hash = upper_hex(&digest(&origin_url, &target_url, operation, msg));
    let key = signer.choose(target);
    let iat = now_secs();
    let jti = fresh_jti();
    let mut json = String::with_capacity(256 + origin_url.len() + target_url.len());
    InvocationClaimsOut {
        exp: ttl_secs.map(|t| iat + t),
        jti: &jti,
        iat,
        iss: key.iss(),
        sub: id,
        nbf: None,
        target_url: &target_url,
        origin_url: &origin_url,
        hash: &hash,
    }
    .write(&mut json);
    seal(&json, &key)
}

/// Builds and signs the claims of `inv`, whose whole body is `msg`, and
/// stores the JWT in `inv.encoded_claims`. `ttl_secs` adds an `exp`.
pub fn sign_invocation(
    inv: &mut Invocation,
    msg: &[u8],
    signer: &Signer,
    ttl_secs: Option<u64>,
) -> Result<(), RpcError> {
    inv.encoded_claims = sign(
        signer,
        inv.origin.as_ref(),
        inv.target.as_ref(),
        &inv.operation,
        &inv.id,
        msg,
        ttl_secs,
    )?;
    Ok(())
}

/// The `Lattice-Claims` header value for a control message (section 6b):
/// HS256 under the provider's `K_p`, binding `subject` and `payload`.
pub fn sign_control(subject: &str, payload: &[u8], iss: &str, key: &MacKey) -> String {
    control_token(subject, payload, iss, key, &fresh_jti(), now_secs())
}

/// [`sign_control`] with a given `jti` and `iat`.
pub(crate) fn control_token(
    subject: &str,
    payload: &[u8],
    iss: &str,
    key: &MacKey,
    jti: &str,
    iat: u64,
) -> String {
    let hash = {
        use sha2::Digest;
        upper_hex(&sha2::Sha256::digest(payload))
    };
    let mut out = String::with_capacity(256);
    json::write_control(&mut out, jti, iat, iss, subject, &hash);
    // HS256 sealing cannot fail.
    seal(&out, &Chosen::Hs256(iss, key.clone())).unwrap_or_default()
}
