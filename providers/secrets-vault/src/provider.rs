//! The provider: a link is a Vault session (client, token, renewal), an
//! allow-list and an optional short cache; `Secrets.Get` checks the
//! allow-list, reads KV v2, picks the field and seals it to the requester.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use provider_sdk::config::ConfigError;
use provider_sdk::pool::SharedPool;
use provider_sdk::{Call, HealthCheckResponse, LinkConfig, Provider, ProviderContext, RpcError};
use secrets_interface::{GetRequest, GetResponse, SecretValue, SecretsBackend, SecretsError};

use provider_sdk::rpc::secret::SealingKey;

use crate::auth::Session;
use crate::config::{AllowList, Endpoint, VaultLink};
use crate::error::VaultError;
use crate::vault::{KvSecret, VaultClient};

/// secrets-vault.
pub struct VaultProvider {
    xkey: Arc<SealingKey>,
    defaults: RwLock<VaultLink>,
    /// The provider-wide Vault (when `config_json` names one), for health.
    default_client: RwLock<Option<Arc<VaultClient>>>,
    /// Clients by endpoint, shared by the links that use the same one.
    clients: SharedPool<Endpoint, VaultClient>,
}

impl Default for VaultProvider {
    fn default() -> Self {
        Self {
            xkey: Arc::new(SealingKey::generate()),
            defaults: RwLock::default(),
            default_client: RwLock::default(),
            clients: SharedPool::default(),
        }
    }
}

impl VaultProvider {
    fn defaults(&self) -> VaultLink {
        self.defaults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn client(&self, endpoint: Endpoint) -> Result<Arc<VaultClient>, ConfigError> {
        self.clients
            .get_or_make(&endpoint, || VaultClient::new(endpoint.clone()))
            .map_err(|e| ConfigError::unusable(e.to_string()))
    }
}

impl Provider for VaultProvider {
    const CONTRACT_ID: &'static str = secrets_interface::CONTRACT_ID;
    type Link = LinkState;

    async fn init(&mut self, ctx: &ProviderContext) -> Result<(), ConfigError> {
        if let Some(seed) = &ctx.host_data().provider_xkey_seed {
            let key = nkeys::XKey::from_seed(seed)
                .ok()
                .and_then(|k| SealingKey::new(&k).ok())
                .ok_or_else(|| ConfigError::invalid("provider_xkey_seed", "not an xkey seed"))?;
            self.xkey = Arc::new(key);
        } else {
            tracing::info!(
                "no provider_xkey_seed in the host data: sealing replies with a key made at start"
            );
        }
        if let Some(defaults) = ctx.provider_config::<VaultLink>()? {
            if defaults.addr.is_some() {
                let endpoint = defaults.endpoint(&VaultLink::default())?;
                let client = self.client(endpoint)?;
                *self
                    .default_client
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) = Some(client);
            }
            *self.defaults.write().unwrap_or_else(|p| p.into_inner()) = defaults;
        }
        Ok(())
    }

    async fn put_link(
        &self,
        _: &ProviderContext,
        link: &LinkConfig,
    ) -> Result<LinkState, ConfigError> {
        let settings = link.parse::<VaultLink>()?.resolve(&self.defaults())?;
        let client = self.client(settings.endpoint.clone())?;
        tracing::info!(
            actor = %link.actor_id(),
            vault = %client.addr(),
            mount = %settings.mount,
            auth = settings.auth.kind(),
            "link reads from Vault"
        );
        let session = Session::new(client, settings.auth);
        let renewal = session.spawn_renewal();
        Ok(LinkState {
            session,
            mount: settings.mount,
            allowed: settings.allowed,
            cache: settings.cache_ttl.map(Cache::new),
            xkey: self.xkey.clone(),
            renewal,
        })
    }

    async fn handle(&self, call: Call<'_, LinkState>) -> Result<Vec<u8>, RpcError> {
        secrets_interface::dispatch(
            call.state(),
            call.operation,
            &call.msg,
            call.origin.public_key,
        )
        .await
    }

    async fn health(&self) -> HealthCheckResponse {
        let mut clients = self.clients.live();
        if clients.is_empty()
            && let Some(c) = self
                .default_client
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        {
            clients.push(c);
        }
        for c in &clients {
            if let Err(e) = c.health().await {
                return HealthCheckResponse::unhealthy(format!(
                    "Vault at {} failed sys/health: {e}",
                    c.addr()
                ));
            }
        }
        HealthCheckResponse::healthy()
    }
}

/// One link's state.
pub struct LinkState {
    session: Arc<Session>,
    mount: String,
    allowed: AllowList,
    cache: Option<Cache>,
    xkey: Arc<SealingKey>,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for LinkState {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// A key Vault would read as another path is refused before matching.
fn check_key(key: &str) -> Result<(), SecretsError> {
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(SecretsError::BadRequest(
            "key has an empty, `.` or `..` segment".into(),
        ));
    }
    Ok(())
}

/// The requested field of a secret (all of them as JSON text when `None`).
fn select(
    data: &serde_json::Map<String, serde_json::Value>,
    field: Option<&str>,
) -> Result<SecretValue, SecretsError> {
    let Some(field) = field else {
        return serde_json::to_string(data)
            .map(SecretValue::String)
            .map_err(|_| SecretsError::Internal("encoding the secret as JSON".into()));
    };
    match data.get(field) {
        None => Err(SecretsError::NotFound(format!(
            "the secret has no field {field:?}"
        ))),
        Some(serde_json::Value::String(s)) => Ok(SecretValue::String(s.clone())),
        Some(serde_json::Value::Object(o)) if o.get("base64").is_some_and(|b| b.is_string()) => {
            let b64 = o.get("base64").and_then(|b| b.as_str()).unwrap_or_default();
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map(SecretValue::Bytes)
                .map_err(|_| {
                    SecretsError::Upstream(format!(
                        "field {field:?} holds a base64 value that is not standard base64"
                    ))
                })
        }
        Some(other) => Ok(SecretValue::String(other.to_string())),
    }
}

impl LinkState {
    async fn read(&self, key: &str, version: Option<u64>) -> Result<Arc<KvSecret>, SecretsError> {
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.get(key, version)) {
            return Ok(hit);
        }
        let client = self.session.client();
        let token = self.session.token().await?;
        let secret = match client.kv_read(&token, &self.mount, key, version).await {
            Err(e) if e.is_permission_denied() && self.session.can_login() => {
                let token = self.session.relogin(Some(&token)).await?;
                client.kv_read(&token, &self.mount, key, version).await
            }
            r => r,
        };
        let secret = Arc::new(secret.map_err(|e| match e {
            VaultError::Status { status: 404 } => {
                SecretsError::NotFound(format!("no secret at {key:?} (or not that version)"))
            }
            other => other.into(),
        })?);
        if let Some(c) = &self.cache {
            c.put(key, version, &secret);
        }
        Ok(secret)
    }
}

impl SecretsBackend for LinkState {
    async fn get(&self, req: GetRequest, actor_id: &str) -> Result<GetResponse, SecretsError> {
        check_key(&req.key)?;
        if !self.allowed.allows(&req.key) {
            tracing::debug!(actor = %actor_id, key = %req.key, "key outside the link's allowed_paths");
            return Err(SecretsError::AccessDenied(format!(
                "{:?} is not in the link's allowed_paths",
                req.key
            )));
        }
        let secret = self.read(&req.key, req.version).await?;
        let value = select(secret.data.expose(), req.field.as_deref())?;
        Ok(GetResponse {
            sealed: value.seal_with(&self.xkey, &req.reply_xkey)?,
            version: secret.version,
            sender_xkey: self.xkey.public_key().to_string(),
        })
    }
}

type CacheKey = (String, Option<u64>);

/// Values read, kept for a short time. A read reporting a version newer
/// than the cached current one drops that entry.
struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<CacheKey, (Instant, Arc<KvSecret>)>>,
}

const CACHE_MAX_ENTRIES: usize = 4096;

impl Cache {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    fn get(&self, key: &str, version: Option<u64>) -> Option<Arc<KvSecret>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&(key.to_string(), version))
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, s)| s.clone())
    }

    fn put(&self, key: &str, version: Option<u64>, secret: &Arc<KvSecret>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        let current = (key.to_string(), None);
        if entries
            .get(&current)
            .is_some_and(|(_, s)| s.version < secret.version)
        {
            entries.remove(&current);
        }
        if entries.len() < CACHE_MAX_ENTRIES {
            let now = Instant::now();
            entries.insert((key.to_string(), version), (now, secret.clone()));
            entries.insert(
                (key.to_string(), Some(secret.version)),
                (now, secret.clone()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider_sdk::Secret;

    fn data(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn fields_are_text_bytes_or_json_text() {
        let d = data(serde_json::json!({
            "s": "text", "b": {"base64": "AAH/"}, "n": 42, "t": true, "o": {"x": 1}
        }));
        assert_eq!(
            select(&d, Some("s")).unwrap(),
            SecretValue::String("text".into())
        );
        assert_eq!(
            select(&d, Some("b")).unwrap(),
            SecretValue::Bytes(vec![0, 1, 255])
        );
        assert_eq!(
            select(&d, Some("n")).unwrap(),
            SecretValue::String("42".into())
        );
        assert_eq!(
            select(&d, Some("t")).unwrap(),
            SecretValue::String("true".into())
        );
        assert_eq!(
            select(&d, Some("o")).unwrap(),
            SecretValue::String(r#"{"x":1}"#.into())
        );
        assert!(matches!(
            select(&d, Some("absent")),
            Err(SecretsError::NotFound(_))
        ));
        let whole = select(&d, None).unwrap();
        let back: serde_json::Value = serde_json::from_str(whole.as_str().unwrap()).unwrap();
        assert_eq!(back["n"], 42);
        let bad = data(serde_json::json!({"b": {"base64": "not base64 hunter2!"}}));
        let e = select(&bad, Some("b")).unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn keys_that_would_name_another_path_are_refused() {
        for bad in ["a/../b", "a//b", "/a", "a/", "./a"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        assert!(check_key("a/b.c/d..e").is_ok());
    }

    #[test]
    fn cache_drops_the_current_value_when_a_newer_version_is_read() {
        let secret = |v: u64| {
            Arc::new(KvSecret {
                data: Secret::new(serde_json::Map::new()),
                version: v,
            })
        };
        let c = Cache::new(Duration::from_secs(60));
        c.put("k", None, &secret(1));
        assert_eq!(c.get("k", None).map(|s| s.version), Some(1));
        assert_eq!(c.get("k", Some(1)).map(|s| s.version), Some(1));
        c.put("k", Some(2), &secret(2));
        assert!(c.get("k", None).is_none(), "stale current value kept");
        let short = Cache::new(Duration::from_millis(1));
        short.put("k", None, &secret(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.get("k", None).is_none());
    }
}
