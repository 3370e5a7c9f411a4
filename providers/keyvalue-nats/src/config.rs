//! Link values and provider-wide config: one struct, [`LinkValues`], read
//! from `config_json` (provider-wide defaults) and from each link (which
//! override them key by key), then validated once into [`Settings`].

use async_nats::jetstream::stream::StorageType;
use provider_sdk::config::redact_url;
use provider_sdk::{ConfigError, Secret};
use serde::Deserialize;

/// Keys of a link (and of `config_json`). Every key is optional; an absent
/// or empty value falls back to `config_json`, then to the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LinkValues {
    /// NATS server(s) holding the buckets, `nats://host:port` (comma list for
    /// a cluster). Default: the lattice connection, reused.
    #[serde(alias = "cluster_uri")]
    pub url: Option<Secret<String>>,
    /// The KV bucket that the empty bucket `""` (the legacy keyspace) maps to,
    /// as written: 1-64 of `A-Z a-z 0-9 _ -`, not starting with `b_` (named
    /// buckets' names start so). Default `default`.
    #[serde(alias = "bucket")]
    pub default_bucket: Option<String>,
    /// Replicas of a bucket this provider creates. Default 1.
    pub replicas: Option<u32>,
    /// Storage of a bucket this provider creates: `file` (default) or `memory`.
    pub storage: Option<String>,
    /// Put before every KV bucket name, e.g. `app1_`. Default empty.
    pub bucket_prefix: Option<String>,
    /// User JWT for a `url` connection (send it as a sealed link secret).
    #[serde(alias = "client_jwt")]
    pub jwt: Option<Secret<String>>,
    /// Nkey seed for a `url` connection: signs the JWT's nonce, or alone
    /// authenticates as that nkey (send it as a sealed link secret).
    #[serde(alias = "client_seed")]
    pub seed: Option<Secret<String>>,
}

/// Credentials and address of an application NATS connection. Equal values
/// share one connection. Never printed whole: [`Connect::redacted_url`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Connect {
    /// The URL(s), as given.
    pub url: String,
    /// The user JWT, if any.
    pub jwt: Option<String>,
    /// The nkey seed, if any.
    pub seed: Option<String>,
}

impl Connect {
    /// The URL with any password replaced, for logs and errors.
    pub fn redacted_url(&self) -> String {
        self.url
            .split(',')
            .map(|u| redact_url(u.trim()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("url", &self.redacted_url())
            .field("jwt", &self.jwt.as_ref().map(|_| "<redacted>"))
            .field("seed", &self.seed.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// How a link's buckets are named and created.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// Put before every KV bucket name.
    pub prefix: String,
    /// The KV bucket (without prefix) of the empty bucket.
    pub default_bucket: String,
    /// Replicas of new buckets.
    pub replicas: usize,
    /// Storage of new buckets.
    pub storage: StorageType,
}

impl Buckets {
    /// The KV bucket that interface bucket `bucket` lives in (see
    /// [`crate::bucket_names`]: no two identifiers share one).
    pub fn kv_name(&self, bucket: &str) -> String {
        if bucket.is_empty() {
            format!("{}{}", self.prefix, self.default_bucket)
        } else {
            format!("{}{}", self.prefix, crate::bucket_names::named(bucket))
        }
    }
}

/// A validated link configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The application connection; `None`: the lattice connection.
    pub connect: Option<Connect>,
    /// Bucket naming and creation.
    pub buckets: Buckets,
}

/// Longest `bucket_prefix`. A KV bucket name is the prefix and at most
/// [`crate::bucket_names::MAX_NAME_LEN`] more characters (longer names are
/// hashed), so a stream name (`KV_` and the bucket) stays well under NATS's
/// 255.
const MAX_PREFIX_LEN: usize = 64;

fn bucket_chars_ok(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn non_empty(s: Option<Secret<String>>) -> Option<String> {
    s.map(Secret::into_inner).filter(|v| !v.trim().is_empty())
}

impl LinkValues {
    /// Each key of `self`, else the same key of `defaults`.
    pub fn or(self, defaults: &LinkValues) -> LinkValues {
        let d = defaults.clone();
        LinkValues {
            url: self.url.or(d.url),
            default_bucket: self.default_bucket.or(d.default_bucket),
            replicas: self.replicas.or(d.replicas),
            storage: self.storage.or(d.storage),
            bucket_prefix: self.bucket_prefix.or(d.bucket_prefix),
            jwt: self.jwt.or(d.jwt),
            seed: self.seed.or(d.seed),
        }
    }

    /// Checks every value and applies the defaults.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let invalid = |key: &str, why: &str| Err(ConfigError::invalid(key, why));
        let prefix = self.bucket_prefix.unwrap_or_default();
        if prefix.len() > MAX_PREFIX_LEN || !bucket_chars_ok(&prefix) {
            return invalid(
                "bucket_prefix",
                &format!("must be at most {MAX_PREFIX_LEN} of A-Z a-z 0-9 _ -"),
            );
        }
        let default_bucket = self.default_bucket.unwrap_or_else(|| "default".into());
        if default_bucket.is_empty()
            || default_bucket.len() > 64
            || !bucket_chars_ok(&default_bucket)
        {
            return invalid("default_bucket", "must be 1-64 of A-Z a-z 0-9 _ -");
        }
        if default_bucket.starts_with(crate::bucket_names::NAMED_PREFIX) {
            return invalid(
                "default_bucket",
                "must not start with b_ (the names of named buckets start so)",
            );
        }
        let replicas = match self.replicas.unwrap_or(1) {
            n @ 1..=5 => n as usize,
            _ => return invalid("replicas", "must be between 1 and 5 (NATS's limit)"),
        };
        let storage = match self.storage.as_deref().map(str::trim) {
            None | Some("") => StorageType::File,
            Some(s) if s.eq_ignore_ascii_case("file") => StorageType::File,
            Some(s) if s.eq_ignore_ascii_case("memory") => StorageType::Memory,
            Some(_) => return invalid("storage", "is not one of: file, memory"),
        };
        let (jwt, seed) = (non_empty(self.jwt), non_empty(self.seed));
        let connect = match non_empty(self.url) {
            None if jwt.is_some() || seed.is_some() => {
                return Err(ConfigError::missing(
                    "url",
                    Some("jwt and seed apply to a url connection"),
                ));
            }
            None => None,
            Some(url) => {
                let c = Connect { url, jwt, seed };
                check_connect(&c)?;
                Some(c)
            }
        };
        Ok(Settings {
            connect,
            buckets: Buckets {
                prefix,
                default_bucket,
                replicas,
                storage,
            },
        })
    }
}

fn check_connect(c: &Connect) -> Result<(), ConfigError> {
    for part in c.url.split(',') {
        if let Err(e) = part.trim().parse::<async_nats::ServerAddr>() {
            return Err(ConfigError::invalid(
                "url",
                format!(
                    "{:?} is not a NATS server address: {e}",
                    redact_url(part.trim())
                ),
            ));
        }
    }
    if c.jwt.is_some() && c.seed.is_none() {
        return Err(ConfigError::missing(
            "seed",
            Some("jwt needs the seed that signs for it"),
        ));
    }
    if c.seed
        .as_ref()
        .is_some_and(|seed| nkeys::KeyPair::from_seed(seed).is_err())
    {
        return Err(ConfigError::invalid("seed", "not a valid nkey seed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use provider_sdk::config::{from_json, from_map};

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        provider_sdk::config::from_pairs::<LinkValues>(pairs)?
            .value
            .validate()
    }

    #[test]
    fn defaults_use_the_lattice_connection_and_bucket_default() {
        let s = parse(&[]).unwrap();
        assert!(s.connect.is_none());
        assert_eq!(s.buckets.kv_name(""), "default");
        assert_eq!(s.buckets.kv_name("orders"), "b_orders");
        assert_eq!(s.buckets.kv_name("default"), "b_default");
        assert_eq!(s.buckets.replicas, 1);
        assert_eq!(s.buckets.storage, StorageType::File);
    }

    #[test]
    fn prefix_applies_to_every_bucket_including_the_default() {
        let s = parse(&[("bucket_prefix", "app1_"), ("DEFAULT_BUCKET", "legacy")]).unwrap();
        assert_eq!(s.buckets.kv_name(""), "app1_legacy");
        assert_eq!(s.buckets.kv_name("x"), "app1_b_x");
    }

    #[test]
    fn invalid_values_are_refused_with_the_key_named() {
        for (pairs, names) in [
            (vec![("storage", "tape")], "storage"),
            (vec![("replicas", "0")], "replicas"),
            (vec![("replicas", "many")], "replicas"),
            (vec![("url", "http://127.0.0.1:4222")], "url"),
            (vec![("bucket_prefix", "a.b")], "bucket_prefix"),
            (vec![("default_bucket", "has space")], "default_bucket"),
            (vec![("default_bucket", "b_orders")], "default_bucket"),
            (vec![("seed", "SUAxyz")], "url"),
            (vec![("url", "127.0.0.1:4222"), ("jwt", "eyJ")], "jwt"),
            (vec![("url", "127.0.0.1:4222"), ("seed", "nope")], "seed"),
        ] {
            let err = parse(&pairs).unwrap_err().to_string();
            assert!(err.contains(names), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn url_passwords_never_reach_errors_or_debug() {
        let err = parse(&[("url", "http://u:hunter2@h:4222")])
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let s = parse(&[("url", "nats://u:hunter2@h:4222,nats://h2:4222")]).unwrap();
        let c = s.connect.unwrap();
        assert_eq!(c.redacted_url(), "nats://***@h:4222,nats://h2:4222");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn link_values_override_config_json_key_by_key() {
        let defaults: LinkValues = from_json(
            "config_json",
            r#"{"replicas": 3, "storage": "memory", "bucket_prefix": "p_"}"#,
        )
        .unwrap()
        .value;
        let link: LinkValues = from_map(&HashMap::from([("storage".into(), "file".into())]))
            .unwrap()
            .value;
        let s = link.or(&defaults).validate().unwrap();
        assert_eq!(s.buckets.replicas, 3);
        assert_eq!(s.buckets.storage, StorageType::File);
        assert_eq!(s.buckets.prefix, "p_");
    }

    #[test]
    fn archived_key_names_are_aliases() {
        let s = parse(&[("CLUSTER_URI", "nats://127.0.0.1:4333"), ("bucket", "old")]).unwrap();
        assert_eq!(s.connect.unwrap().url, "nats://127.0.0.1:4333");
        assert_eq!(s.buckets.default_bucket, "old");
    }

    #[test]
    fn readme_table_lists_exactly_the_struct_keys() {
        provider_sdk::config::check_readme::<LinkValues>(include_str!("../README.md")).unwrap();
    }
}
