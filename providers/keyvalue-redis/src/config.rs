//! Configuration: one struct for provider-wide config (`config_json`) and
//! link values, parsed by the SDK's one parser (keys case-insensitive, so the
//! archived provider's `URL` works).

use std::time::Duration;

use provider_sdk::Secret;
use provider_sdk::config::{ConfigError, redact_url};
use serde::Deserialize;

/// Default Redis when neither the link nor the provider config names one.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379/";
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2000;
const DEFAULT_RESPONSE_TIMEOUT_MS: u64 = 2000;

/// Settings of a Redis connection; every field optional, a link's values
/// override the provider-wide ones.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RedisConfig {
    /// Redis URL: `redis://[user:password@]host:port[/db]`, or `rediss://`
    /// for TLS. A password belongs in a sealed link secret of the same name.
    #[serde(default)]
    pub url: Option<Secret<String>>,
    /// How long to wait for a connection to Redis, milliseconds (default 2000).
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// How long to wait for Redis to answer a command, milliseconds
    /// (default 2000); past it the call answers `unavailable`.
    #[serde(default)]
    pub response_timeout_ms: Option<u64>,
}

/// Validated settings of one connection; equal settings share a connection.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ConnectionSettings {
    /// The URL (may hold a password: never log it, use [`ConnectionSettings::redacted`]).
    pub url: String,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Response timeout.
    pub response_timeout: Duration,
}

impl std::fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionSettings")
            .field("url", &self.redacted())
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

impl ConnectionSettings {
    /// The URL without credentials.
    pub fn redacted(&self) -> String {
        redact_url(&self.url)
    }
}

impl RedisConfig {
    /// The link's settings over the provider's, validated.
    pub fn resolve(&self, provider: &RedisConfig) -> Result<ConnectionSettings, ConfigError> {
        let url = self
            .url
            .as_ref()
            .or(provider.url.as_ref())
            .map(|u| u.expose().trim().to_string())
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        if let Err(e) = redis::Client::open(url.as_str()) {
            // redis-rs's message does not include the URL; keep it that way.
            return Err(ConfigError::invalid(
                "url",
                format!(
                    "{} is not a valid Redis URL: {}",
                    redact_url(&url),
                    e.detail().unwrap_or("unparseable")
                ),
            ));
        }
        let ms = |own: Option<u64>, base: Option<u64>, default: u64, name: &str| match own
            .or(base)
            .unwrap_or(default)
        {
            0 => Err(ConfigError::invalid(name, "must be at least 1")),
            v => Ok(Duration::from_millis(v)),
        };
        Ok(ConnectionSettings {
            url,
            connect_timeout: ms(
                self.connect_timeout_ms,
                provider.connect_timeout_ms,
                DEFAULT_CONNECT_TIMEOUT_MS,
                "connect_timeout_ms",
            )?,
            response_timeout: ms(
                self.response_timeout_ms,
                provider.response_timeout_ms,
                DEFAULT_RESPONSE_TIMEOUT_MS,
                "response_timeout_ms",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(pairs: &[(&str, &str)]) -> RedisConfig {
        provider_sdk::config::from_pairs(pairs).unwrap().value
    }

    #[test]
    fn legacy_uppercase_url_key_is_accepted_and_link_overrides_provider() {
        let provider = link(&[
            ("url", "redis://provider:6379"),
            ("response_timeout_ms", "50"),
        ]);
        let s = link(&[("URL", "redis://link:6379/2")])
            .resolve(&provider)
            .unwrap();
        assert_eq!(s.url, "redis://link:6379/2");
        assert_eq!(s.response_timeout, Duration::from_millis(50));
        let s = RedisConfig::default()
            .resolve(&RedisConfig::default())
            .unwrap();
        assert_eq!(s.url, DEFAULT_URL);
    }

    #[test]
    fn bad_values_are_clear_errors_without_the_password() {
        let err = link(&[("url", "http://:hunter2@host")])
            .resolve(&RedisConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid Redis URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = link(&[("connect_timeout_ms", "0")])
            .resolve(&RedisConfig::default())
            .unwrap_err();
        assert!(err.to_string().contains("connect_timeout_ms"));
        assert!(format!("{:?}", link(&[("url", "redis://:pw@h")])).contains("redacted"));
    }

    #[test]
    fn readme_documents_every_key() {
        provider_sdk::config::check_readme::<RedisConfig>(include_str!("../README.md")).unwrap();
    }
}
