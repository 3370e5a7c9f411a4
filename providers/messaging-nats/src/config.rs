//! Link values, compatible with the archived wasmCloud NATS provider
//! (`SUBSCRIPTION`, `URI`, `CLIENT_JWT`, `CLIENT_SEED`, `TLS_CA`,
//! `TLS_CA_FILE`; keys match case-insensitively), plus this provider's own.

use std::time::Duration;

use provider_sdk::Secret;
use provider_sdk::config::{ConfigError, redact_url};
use serde::Deserialize;

const DEFAULT_MAX_CONCURRENT: u32 = 64;
const DEFAULT_ACK_WAIT_MS: u64 = 30_000;
const DEFAULT_MAX_DELIVER: i64 = 5;

/// One link's (or the provider's default) settings.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LinkValues {
    /// Subjects delivered to the actor: a comma list of `subject` or
    /// `subject|queue` (queue group).
    #[serde(default, alias = "subscriptions")]
    pub subscription: Vec<String>,
    /// Application NATS URL; absent: the lattice NATS connection.
    #[serde(default, alias = "url")]
    pub uri: Option<String>,
    /// More server URLs of the same cluster, all used for failover (comma list).
    #[serde(default)]
    pub cluster_uris: Vec<String>,
    /// User JWT for the application NATS (with `client_seed`).
    #[serde(default)]
    pub client_jwt: Option<Secret<String>>,
    /// User nkey seed for the application NATS.
    #[serde(default)]
    pub client_seed: Option<Secret<String>>,
    /// Path of a NATS credentials file (JWT and seed).
    #[serde(default)]
    pub credsfile: Option<String>,
    /// User name (with `password`).
    #[serde(default)]
    pub user: Option<String>,
    /// Password (send it as a sealed link secret).
    #[serde(default)]
    pub password: Option<Secret<String>>,
    /// PEM of a CA that signs the application NATS certificate.
    #[serde(default)]
    pub tls_ca: Option<String>,
    /// Path of a PEM CA file for the application NATS.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// Handler calls to the actor in flight at once for this link (default 64).
    #[serde(default)]
    pub max_concurrent: Option<u32>,
    /// Timeout of each handler call to the actor, milliseconds (default: the
    /// host's `default_rpc_timeout_ms`).
    #[serde(default)]
    pub handler_timeout_ms: Option<u64>,
    /// JetStream stream to consume from (with `consumer`): at-least-once delivery.
    #[serde(default)]
    pub stream: Option<String>,
    /// Durable consumer name on `stream` (created when missing).
    #[serde(default)]
    pub consumer: Option<String>,
    /// How long the server waits for an ack before redelivering, milliseconds (default 30000).
    #[serde(default)]
    pub ack_wait_ms: Option<u64>,
    /// Deliveries of one message at most (default 5); after the last failure
    /// the message goes to `dead_letter_subject`.
    #[serde(default)]
    pub max_deliver: Option<i64>,
    /// Where a message goes after `max_deliver` failed deliveries (default `{stream}.dead-letter`).
    #[serde(default)]
    pub dead_letter_subject: Option<String>,
}

/// A subscription: subject and optional queue group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Subject (wildcards allowed).
    pub subject: String,
    /// Queue group.
    pub queue: Option<String>,
}

/// JetStream consumption settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durable {
    /// Stream.
    pub stream: String,
    /// Durable consumer.
    pub consumer: String,
    /// Ack wait.
    pub ack_wait: Duration,
    /// Max deliveries.
    pub max_deliver: i64,
    /// Dead-letter subject.
    pub dead_letter: String,
}

/// How to connect to the application NATS; equal settings share a connection.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ConnSettings {
    /// Server URLs (first is `uri`).
    pub urls: Vec<String>,
    /// JWT and seed.
    pub jwt: Option<(String, String)>,
    /// Seed alone (nkey auth).
    pub seed: Option<String>,
    /// Credentials file.
    pub credsfile: Option<String>,
    /// User and password.
    pub user_password: Option<(String, String)>,
    /// The CA as PEM text (the link's `tls_ca`).
    pub tls_ca: Option<String>,
    /// CA file path.
    pub tls_ca_file: Option<String>,
}

impl std::fmt::Debug for ConnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnSettings")
            .field("urls", &self.redacted())
            .finish_non_exhaustive()
    }
}

impl ConnSettings {
    /// The URLs without credentials.
    pub fn redacted(&self) -> String {
        self.urls
            .iter()
            .map(|u| redact_url(u))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A link's validated settings.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// Subscriptions.
    pub subscriptions: Vec<Subscription>,
    /// Application NATS; `None`: the lattice connection.
    pub conn: Option<ConnSettings>,
    /// Concurrency limit for handler calls.
    pub max_concurrent: u32,
    /// Handler call timeout.
    pub handler_timeout: Option<Duration>,
    /// JetStream consumption.
    pub durable: Option<Durable>,
}

fn valid_subject(s: &str, wildcards: bool) -> bool {
    !s.is_empty()
        && !s.contains(char::is_whitespace)
        && s.split('.').all(|t| !t.is_empty())
        && (wildcards || s.split('.').all(|t| t != "*" && t != ">"))
}

impl LinkValues {
    /// Validates and resolves the link's values.
    pub fn resolve(self) -> Result<LinkSettings, ConfigError> {
        let err = |key: &str, why: String| Err(ConfigError::invalid(key, why));
        let mut subscriptions = Vec::new();
        for spec in &self.subscription {
            let (subject, queue) = match spec.split_once('|') {
                Some((s, q)) => (s.trim(), Some(q.trim())),
                None => (spec.trim(), None),
            };
            if !valid_subject(subject, true) {
                return err(
                    "subscription",
                    format!("{subject:?} is not a valid NATS subject"),
                );
            }
            if let Some(q) = queue
                && (q.is_empty() || q.contains(char::is_whitespace))
            {
                return err(
                    "subscription",
                    format!("queue group {q:?} of {subject:?} is not valid"),
                );
            }
            subscriptions.push(Subscription {
                subject: subject.to_string(),
                queue: queue.map(str::to_string),
            });
        }
        let conn = match (&self.uri, self.cluster_uris.is_empty()) {
            (None, true) => {
                if self.client_jwt.is_some()
                    || self.client_seed.is_some()
                    || self.credsfile.is_some()
                    || self.user.is_some()
                {
                    return Err(ConfigError::missing(
                        "uri",
                        Some("credentials were given, and without uri they would not be used"),
                    ));
                }
                None
            }
            _ => {
                let mut urls: Vec<String> = self.uri.iter().cloned().collect();
                urls.extend(self.cluster_uris.iter().cloned());
                for u in &urls {
                    if u.parse::<async_nats::ServerAddr>().is_err() {
                        return err("uri", format!("{} is not a NATS URL", redact_url(u)));
                    }
                }
                let jwt = match (&self.client_jwt, &self.client_seed) {
                    (Some(j), Some(s)) => Some((j.expose().clone(), s.expose().clone())),
                    (Some(_), None) => {
                        return Err(ConfigError::missing(
                            "client_seed",
                            Some("client_jwt needs it"),
                        ));
                    }
                    _ => None,
                };
                let seed = match (&self.client_jwt, &self.client_seed) {
                    (None, Some(s)) => Some(s.expose().clone()),
                    _ => None,
                };
                for s in jwt.iter().map(|(_, s)| s).chain(seed.iter()) {
                    if nkeys::KeyPair::from_seed(s).is_err() {
                        return err("client_seed", "not a valid nkey seed".into());
                    }
                }
                let user_password = match (&self.user, &self.password) {
                    (Some(u), Some(p)) => Some((u.clone(), p.expose().clone())),
                    (None, None) => None,
                    _ => return err("user", "user and password go together".into()),
                };
                Some(ConnSettings {
                    urls,
                    jwt,
                    seed,
                    credsfile: self.credsfile.clone(),
                    user_password,
                    tls_ca: self.tls_ca.clone(),
                    tls_ca_file: self.tls_ca_file.clone(),
                })
            }
        };
        let durable = match (&self.stream, &self.consumer) {
            (Some(stream), Some(consumer)) => {
                let max_deliver = self.max_deliver.unwrap_or(DEFAULT_MAX_DELIVER);
                if max_deliver < 1 {
                    return err("max_deliver", "must be at least 1".into());
                }
                let dead_letter = self
                    .dead_letter_subject
                    .clone()
                    .unwrap_or_else(|| format!("{stream}.dead-letter"));
                if !valid_subject(&dead_letter, false) {
                    return err(
                        "dead_letter_subject",
                        format!("{dead_letter:?} is not a valid subject"),
                    );
                }
                Some(Durable {
                    stream: stream.clone(),
                    consumer: consumer.clone(),
                    ack_wait: Duration::from_millis(
                        self.ack_wait_ms.unwrap_or(DEFAULT_ACK_WAIT_MS).max(1),
                    ),
                    max_deliver,
                    dead_letter,
                })
            }
            (None, None) => None,
            _ => return err("stream", "stream and consumer go together".into()),
        };
        let max_concurrent = self.max_concurrent.unwrap_or(DEFAULT_MAX_CONCURRENT);
        if max_concurrent == 0 {
            return err("max_concurrent", "must be at least 1".into());
        }
        Ok(LinkSettings {
            subscriptions,
            conn,
            max_concurrent,
            handler_timeout: self.handler_timeout_ms.map(Duration::from_millis),
            durable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<LinkSettings, ConfigError> {
        provider_sdk::config::from_pairs::<LinkValues>(pairs)?
            .value
            .resolve()
    }

    #[test]
    fn archived_keys_and_queue_groups_parse() {
        let s = parse(&[
            ("SUBSCRIPTION", "a.b, c.*|workers,d.>"),
            ("URI", "nats://127.0.0.1:4222"),
        ])
        .unwrap();
        assert_eq!(s.subscriptions.len(), 3);
        assert_eq!(s.subscriptions[1].queue.as_deref(), Some("workers"));
        assert_eq!(s.conn.unwrap().urls, vec!["nats://127.0.0.1:4222"]);
        assert!(parse(&[]).unwrap().conn.is_none());
    }

    #[test]
    fn invalid_values_are_refused_with_a_reason() {
        for (pairs, why) in [
            (
                vec![("subscription", "bad subject")],
                "not a valid NATS subject",
            ),
            (vec![("subscription", "a..b")], "not a valid NATS subject"),
            (vec![("client_seed", "SUXXX")], "without uri"),
            (
                vec![("uri", "nats://h:4222"), ("client_seed", "not-a-seed")],
                "not a valid nkey seed",
            ),
            (vec![("stream", "S")], "go together"),
            (vec![("max_concurrent", "0")], "at least 1"),
        ] {
            let e = parse(&pairs).unwrap_err().to_string();
            assert!(e.contains(why), "{pairs:?}: {e}");
        }
    }

    #[test]
    fn readme_documents_every_key() {
        provider_sdk::config::check_readme::<LinkValues>(include_str!("../README.md")).unwrap();
    }
}
