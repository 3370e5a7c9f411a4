//! Configuration: one struct for provider-wide defaults (`config_json`) and
//! link values, parsed by the SDK's one parser; [`VaultLink::resolve`]
//! validates it once, at link time.

use std::time::Duration;

use provider_sdk::Secret;
use provider_sdk::config::ConfigError;
use serde::Deserialize;

/// Vault's conventional address, used when neither link nor provider names one.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8200";
const DEFAULT_MOUNT: &str = "secret";
const DEFAULT_TIMEOUT_MS: u64 = 5000;

/// How the provider logs in to Vault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// A token given in `token`.
    #[default]
    Token,
    /// AppRole: `role_id` and `secret_id`.
    Approle,
    /// JWT: `jwt` and `role`.
    Jwt,
}

/// A link's values (and the provider-wide defaults, same keys). Every field
/// is optional; a link's value wins over the provider's, except
/// `allowed_paths`, which only a link grants.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VaultLink {
    /// Vault's address, `http://host:port` or `https://host:port`
    /// (default `http://127.0.0.1:8200`).
    #[serde(default)]
    pub addr: Option<String>,
    /// The Vault token (`auth=token`). Send it as a sealed link secret.
    #[serde(default)]
    pub token: Option<Secret<String>>,
    /// The KV v2 mount secrets are read from (default `secret`).
    #[serde(default)]
    pub mount: Option<String>,
    /// Vault Enterprise / OpenBao namespace, sent as `X-Vault-Namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// A PEM file of CA certificates to trust for `https` (default: the
    /// system's roots).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The keys this link may read: a comma list of exact paths, or prefixes
    /// ending in `*`. Absent or empty allows nothing.
    #[serde(default)]
    pub allowed_paths: Option<Vec<String>>,
    /// Login method: `token` (default), `approle` or `jwt`.
    #[serde(default)]
    pub auth: Option<AuthKind>,
    /// AppRole role id (`auth=approle`).
    #[serde(default)]
    pub role_id: Option<String>,
    /// AppRole secret id (`auth=approle`). Send it as a sealed link secret.
    #[serde(default)]
    pub secret_id: Option<Secret<String>>,
    /// The JWT to log in with (`auth=jwt`). Send it as a sealed link secret.
    #[serde(default)]
    pub jwt: Option<Secret<String>>,
    /// The JWT auth role (`auth=jwt`).
    #[serde(default)]
    pub role: Option<String>,
    /// Where the login method is mounted (default `approle` or `jwt`).
    #[serde(default)]
    pub auth_mount: Option<String>,
    /// Keep values read for this many milliseconds (default 0: no cache); a
    /// read that reports a newer version drops the cached current value.
    #[serde(default)]
    pub cache_ttl_ms: Option<u64>,
    /// How long one Vault request may take, milliseconds (default 5000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Where Vault is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// `https` when true.
    pub tls: bool,
    /// Host name or IP.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// CA file for `https`.
    pub ca_file: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Login credentials.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A fixed token.
    Token(Secret<String>),
    /// AppRole login at `auth/{mount}/login`.
    AppRole {
        /// Auth mount.
        mount: String,
        /// Role id.
        role_id: String,
        /// Secret id.
        secret_id: Secret<String>,
    },
    /// JWT login at `auth/{mount}/login`.
    Jwt {
        /// Auth mount.
        mount: String,
        /// Role.
        role: String,
        /// The JWT.
        jwt: Secret<String>,
    },
}

impl Auth {
    /// The method's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::Token(_) => "token",
            Auth::AppRole { .. } => "approle",
            Auth::Jwt { .. } => "jwt",
        }
    }
}

/// The allow-list of a link: exact paths and prefixes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl AllowList {
    /// From the `allowed_paths` entries.
    pub fn new(entries: &[String]) -> Self {
        let mut list = Self::default();
        for e in entries.iter().map(|e| e.trim().trim_start_matches('/')) {
            match e.strip_suffix('*') {
                Some(prefix) => list.prefixes.push(prefix.to_string()),
                None if !e.is_empty() => list.exact.push(e.to_string()),
                None => {}
            }
        }
        list
    }

    /// True when `key` may be read.
    pub fn allows(&self, key: &str) -> bool {
        self.exact.iter().any(|e| e == key) || self.prefixes.iter().any(|p| key.starts_with(p))
    }
}

/// A link's validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where Vault is.
    pub endpoint: Endpoint,
    /// How to log in.
    pub auth: Auth,
    /// KV v2 mount.
    pub mount: String,
    /// What the link may read.
    pub allowed: AllowList,
    /// Cache lifetime; `None`: no cache.
    pub cache_ttl: Option<Duration>,
}

fn non_empty(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A mount path or address: no leading or trailing `/`.
fn unslashed(v: Option<&String>) -> Option<String> {
    non_empty(v)
        .map(|s| s.trim_matches('/').to_string())
        .filter(|s| !s.is_empty())
}

fn secret(v: Option<&Secret<String>>) -> Option<Secret<String>> {
    v.filter(|s| !s.expose().trim().is_empty())
        .map(|s| Secret::new(s.expose().trim().to_string()))
}

impl VaultLink {
    /// Where Vault is, from the link's values over the provider's.
    pub fn endpoint(&self, p: &VaultLink) -> Result<Endpoint, ConfigError> {
        let addr = unslashed(self.addr.as_ref().or(p.addr.as_ref()))
            .unwrap_or_else(|| DEFAULT_ADDR.to_string());
        let (tls, rest) = if let Some(r) = addr.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = addr.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(ConfigError::invalid(
                "addr",
                "must start with http:// or https://",
            ));
        };
        if rest.contains(['/', '@', '?', '#']) {
            return Err(ConfigError::invalid(
                "addr",
                "must be scheme://host:port with no path or credentials",
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, port)) if !port.contains(']') => (
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                port.parse::<u16>()
                    .map_err(|_| ConfigError::invalid("addr", "invalid port"))?,
            ),
            _ => (
                rest.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                if tls { 443 } else { 80 },
            ),
        };
        if host.is_empty() {
            return Err(ConfigError::invalid("addr", "no host"));
        }
        let timeout_ms = self
            .timeout_ms
            .or(p.timeout_ms)
            .unwrap_or(DEFAULT_TIMEOUT_MS);
        if timeout_ms == 0 {
            return Err(ConfigError::invalid("timeout_ms", "must be at least 1"));
        }
        let ca_file = non_empty(self.ca_file.as_ref().or(p.ca_file.as_ref()));
        if let Some(path) = &ca_file
            && !std::path::Path::new(path).is_file()
        {
            return Err(ConfigError::invalid(
                "ca_file",
                format!("{path:?} is not a readable file"),
            ));
        }
        Ok(Endpoint {
            tls,
            host,
            port,
            namespace: non_empty(self.namespace.as_ref().or(p.namespace.as_ref())),
            ca_file,
            timeout: Duration::from_millis(timeout_ms),
        })
    }

    /// The link's settings over the provider's, validated.
    pub fn resolve(&self, p: &VaultLink) -> Result<Settings, ConfigError> {
        let endpoint = self.endpoint(p)?;
        let kind = self.auth.or(p.auth).unwrap_or_default();
        let auth_mount = unslashed(self.auth_mount.as_ref().or(p.auth_mount.as_ref()));
        let why = format!("auth={kind:?} needs it").to_lowercase();
        let missing = |key: &str| ConfigError::missing(key, Some(&why));
        let auth = match kind {
            AuthKind::Token => Auth::Token(
                secret(self.token.as_ref().or(p.token.as_ref())).ok_or_else(|| missing("token"))?,
            ),
            AuthKind::Approle => Auth::AppRole {
                mount: auth_mount.unwrap_or_else(|| "approle".into()),
                role_id: non_empty(self.role_id.as_ref().or(p.role_id.as_ref()))
                    .ok_or_else(|| missing("role_id"))?,
                secret_id: secret(self.secret_id.as_ref().or(p.secret_id.as_ref()))
                    .ok_or_else(|| missing("secret_id"))?,
            },
            AuthKind::Jwt => Auth::Jwt {
                mount: auth_mount.unwrap_or_else(|| "jwt".into()),
                role: non_empty(self.role.as_ref().or(p.role.as_ref()))
                    .ok_or_else(|| missing("role"))?,
                jwt: secret(self.jwt.as_ref().or(p.jwt.as_ref())).ok_or_else(|| missing("jwt"))?,
            },
        };
        let cache_ms = self.cache_ttl_ms.or(p.cache_ttl_ms).unwrap_or(0);
        Ok(Settings {
            endpoint,
            auth,
            mount: unslashed(self.mount.as_ref().or(p.mount.as_ref()))
                .unwrap_or_else(|| DEFAULT_MOUNT.into()),
            allowed: AllowList::new(self.allowed_paths.as_deref().unwrap_or_default()),
            cache_ttl: (cache_ms > 0).then(|| Duration::from_millis(cache_ms)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(pairs: &[(&str, &str)]) -> VaultLink {
        provider_sdk::config::from_pairs(pairs).unwrap().value
    }

    #[test]
    fn link_values_override_provider_defaults_and_allow_list_is_link_only() {
        let provider = link(&[
            ("addr", "https://vault.example:8201"),
            ("token", "s.provider"),
            ("allowed_paths", "*"),
            ("cache_ttl_ms", "250"),
        ]);
        let s = link(&[("ADDR", "http://127.0.0.1:9"), ("mount", "kv")])
            .resolve(&provider)
            .unwrap();
        assert_eq!(
            (s.endpoint.host.as_str(), s.endpoint.port),
            ("127.0.0.1", 9)
        );
        assert!(!s.endpoint.tls);
        assert_eq!(s.mount, "kv");
        assert_eq!(s.cache_ttl, Some(Duration::from_millis(250)));
        assert!(matches!(&s.auth, Auth::Token(t) if t.expose() == "s.provider"));
        assert!(
            !s.allowed.allows("anything"),
            "allowed_paths came from the provider"
        );
        let d = link(&[("token", "t")])
            .resolve(&VaultLink::default())
            .unwrap();
        assert_eq!(d.endpoint.port, 8200);
        assert_eq!(d.mount, "secret");
        assert_eq!(d.cache_ttl, None);
    }

    #[test]
    fn allow_list_matches_exact_paths_and_star_prefixes() {
        let a = AllowList::new(&["app/db".into(), "team/*".into(), " ".into()]);
        assert!(a.allows("app/db"));
        assert!(!a.allows("app/db/child"));
        assert!(!a.allows("app"));
        assert!(a.allows("team/x/y"));
        assert!(!a.allows("teamx"));
        assert!(!AllowList::new(&[]).allows("app/db"));
    }

    #[test]
    fn auth_methods_need_their_credentials_and_errors_hold_no_secret() {
        let s = link(&[
            ("auth", "AppRole"),
            ("role_id", "r"),
            ("secret_id", "hunter2"),
        ])
        .resolve(&VaultLink::default())
        .unwrap();
        assert!(matches!(&s.auth, Auth::AppRole { mount, .. } if mount == "approle"));
        assert!(!format!("{s:?}").contains("hunter2"));
        let e = link(&[("auth", "jwt"), ("jwt", "eyJ-secret")])
            .resolve(&VaultLink::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("role") && !e.contains("eyJ"), "{e}");
        let e = VaultLink::default()
            .resolve(&VaultLink::default())
            .unwrap_err();
        assert!(e.to_string().contains("token"));
        for bad in ["ftp://h", "http://u:pw@h:1", "http://h:x", "http://h/v1"] {
            let e = link(&[("addr", bad), ("token", "t")])
                .resolve(&VaultLink::default())
                .unwrap_err()
                .to_string();
            assert!(!e.contains("pw"), "{e}");
        }
    }

    #[test]
    fn readme_documents_every_key() {
        provider_sdk::config::check_readme::<VaultLink>(include_str!("../README.md")).unwrap();
    }
}
