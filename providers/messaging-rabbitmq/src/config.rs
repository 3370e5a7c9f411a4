//! Link values (keys match case-insensitively), in the spirit of
//! messaging-nats's: `uri`, `subscription` (with `key|queue` for a shared
//! queue), back-pressure, handler timeout, redelivery and dead-lettering.

use std::time::Duration;

use provider_sdk::Secret;
use provider_sdk::config::{ConfigError, redact_url};
use serde::Deserialize;

const DEFAULT_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const DEFAULT_EXCHANGE: &str = "amq.topic";
const DEFAULT_PREFETCH: u16 = 64;
const DEFAULT_MAX_DELIVER: u32 = 5;
/// Appended to a shared queue's name for its dead-letter queue.
pub const DEAD_LETTER_SUFFIX: &str = ".dead-letter";

/// One link's (or the provider's default) settings.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LinkValues {
    /// Broker URL, `amqp://user:password@host:port/vhost` or `amqps://…`
    /// (the vhost URL-encoded: `%2f` is `/`). Default
    /// `amqp://guest:guest@127.0.0.1:5672/%2f`. Send it as a sealed secret
    /// when it carries a password.
    #[serde(default, alias = "url")]
    pub uri: Option<Secret<String>>,
    /// PEM of a CA that signs the broker's certificate (`amqps://`).
    #[serde(default)]
    pub tls_ca: Option<String>,
    /// Path of a PEM CA file for the broker (`amqps://`).
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// Exchange published to and bound from (default `amq.topic`); declared
    /// durable when it is not one of the broker's `amq.*` exchanges.
    #[serde(default)]
    pub exchange: Option<String>,
    /// Type of `exchange` when this provider declares it: `topic` (default),
    /// `direct`, `fanout` or `headers`.
    #[serde(default)]
    pub exchange_type: Option<String>,
    /// Routing keys delivered to the actor: a comma list of `key` (a queue of
    /// this link's own) or `key|queue` (a shared, named queue: links naming
    /// the same queue compete for its messages, as NATS queue groups do).
    /// Keys use the exchange's syntax (`*` one word, `#` zero or more).
    #[serde(default, alias = "subscriptions")]
    pub subscription: Vec<String>,
    /// Named queues survive a broker restart, and this link's publishes are
    /// persistent (default false).
    #[serde(default)]
    pub durable: Option<bool>,
    /// Deliveries handed to the actor and not yet acked, at most, for the
    /// whole link (default 64): the back-pressure bound.
    #[serde(default)]
    pub prefetch: Option<u16>,
    /// Timeout of each handler call to the actor, milliseconds (default: the
    /// host's `default_rpc_timeout_ms`).
    #[serde(default)]
    pub handler_timeout_ms: Option<u64>,
    /// Deliveries of one message at most (default 5): a message the actor
    /// failed is queued again until then, and dead-lettered after.
    #[serde(default)]
    pub max_deliver: Option<u32>,
    /// Exchange a message goes to after its last failed delivery (same
    /// routing key); default: the queue `{queue}.dead-letter`.
    #[serde(default)]
    pub dead_letter_exchange: Option<String>,
}

/// A subscription: binding key and, when shared, the queue's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Binding key.
    pub key: String,
    /// Shared queue.
    pub queue: Option<String>,
}

/// How to reach the broker; equal settings share a connection.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ConnSettings {
    /// The URI (may hold a password: never log it, use [`ConnSettings::redacted`]).
    pub uri: String,
    /// CA PEM text.
    pub tls_ca: Option<String>,
    /// CA file.
    pub tls_ca_file: Option<String>,
}

impl std::fmt::Debug for ConnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl ConnSettings {
    /// The URI without credentials, for logs and errors.
    pub fn redacted(&self) -> String {
        redact_url(&self.uri)
    }
}

/// Validated settings of one link.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// The broker.
    pub conn: ConnSettings,
    /// The exchange (`""` is the default exchange).
    pub exchange: String,
    /// Its type, when this provider declares it (not for `amq.*` or `""`).
    pub declare_exchange: Option<lapin::ExchangeKind>,
    /// Subscriptions.
    pub subscriptions: Vec<Subscription>,
    /// Durable queues and persistent publishes.
    pub durable: bool,
    /// Unacked deliveries at most.
    pub prefetch: u16,
    /// Handler timeout.
    pub handler_timeout: Option<Duration>,
    /// Deliveries at most.
    pub max_deliver: u32,
    /// Dead-letter exchange, when given.
    pub dead_letter_exchange: Option<String>,
}

fn valid_name(s: &str) -> bool {
    // AMQP short strings are at most 255 bytes; names with spaces or
    // control characters are legal but a trap.
    !s.is_empty() && s.len() <= 255 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl LinkValues {
    /// Validates and resolves the link's values.
    pub fn resolve(self) -> Result<LinkSettings, ConfigError> {
        let err = |key: &str, why: String| Err(ConfigError::invalid(key, why));
        let uri = self
            .uri
            .as_ref()
            .map(|u| u.expose().trim().to_string())
            .unwrap_or_else(|| DEFAULT_URI.to_string());
        // The value is never echoed: a URL that does not parse may not be
        // redacted right, and it may hold a password.
        if !(uri.starts_with("amqp://") || uri.starts_with("amqps://")) {
            return err("uri", "is not an amqp:// or amqps:// URL".into());
        }
        if uri.parse::<lapin::uri::AMQPUri>().is_err() {
            return err(
                "uri",
                "is not a valid AMQP URL (user, password and vhost URL-encoded)".into(),
            );
        }
        if (self.tls_ca.is_some() || self.tls_ca_file.is_some()) && !uri.starts_with("amqps://") {
            return err("tls_ca", "a CA is only used with an amqps:// uri".into());
        }
        let exchange = self
            .exchange
            .clone()
            .unwrap_or_else(|| DEFAULT_EXCHANGE.to_string());
        if !exchange.is_empty() && !valid_name(&exchange) {
            return err(
                "exchange",
                format!("{exchange:?} is not a usable exchange name"),
            );
        }
        let declare_exchange = if exchange.is_empty() || exchange.starts_with("amq.") {
            if self.exchange_type.is_some() {
                return err(
                    "exchange_type",
                    format!("{exchange:?} is the broker's own; its type cannot be chosen"),
                );
            }
            None
        } else {
            Some(match self.exchange_type.as_deref().unwrap_or("topic") {
                "topic" => lapin::ExchangeKind::Topic,
                "direct" => lapin::ExchangeKind::Direct,
                "fanout" => lapin::ExchangeKind::Fanout,
                "headers" => lapin::ExchangeKind::Headers,
                other => {
                    return err(
                        "exchange_type",
                        format!("{other:?} is not one of topic, direct, fanout, headers"),
                    );
                }
            })
        };
        let mut subscriptions = Vec::new();
        for spec in &self.subscription {
            let (key, queue) = match spec.split_once('|') {
                Some((k, q)) => (k.trim(), Some(q.trim())),
                None => (spec.trim(), None),
            };
            if key.is_empty() || key.len() > 255 || key.chars().any(char::is_whitespace) {
                return err(
                    "subscription",
                    format!("{key:?} is not a valid binding key"),
                );
            }
            // Room for the `.dead-letter` suffix within AMQP's 255 bytes.
            if let Some(q) = queue
                && (!valid_name(q)
                    || q.len() > 255 - DEAD_LETTER_SUFFIX.len()
                    || q.starts_with("amq."))
            {
                return err(
                    "subscription",
                    format!("queue {q:?} of {key:?} is not a usable queue name"),
                );
            }
            subscriptions.push(Subscription {
                key: key.to_string(),
                queue: queue.map(str::to_string),
            });
        }
        let prefetch = self.prefetch.unwrap_or(DEFAULT_PREFETCH);
        if prefetch == 0 {
            return err("prefetch", "must be at least 1".into());
        }
        let max_deliver = self.max_deliver.unwrap_or(DEFAULT_MAX_DELIVER);
        if max_deliver == 0 {
            return err("max_deliver", "must be at least 1".into());
        }
        if let Some(x) = &self.dead_letter_exchange
            && !valid_name(x)
        {
            return err(
                "dead_letter_exchange",
                format!("{x:?} is not a usable exchange name"),
            );
        }
        Ok(LinkSettings {
            conn: ConnSettings {
                uri,
                tls_ca: self.tls_ca.clone(),
                tls_ca_file: self.tls_ca_file.clone(),
            },
            exchange,
            declare_exchange,
            subscriptions,
            durable: self.durable.unwrap_or(false),
            prefetch,
            handler_timeout: self.handler_timeout_ms.map(Duration::from_millis),
            max_deliver,
            dead_letter_exchange: self.dead_letter_exchange.clone(),
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
    fn defaults_and_shared_queues_parse() {
        let s = parse(&[("SUBSCRIPTION", "orders.*, audit.#|auditors")]).unwrap();
        assert_eq!(s.conn.uri, DEFAULT_URI);
        assert_eq!(s.exchange, "amq.topic");
        assert!(s.declare_exchange.is_none());
        assert_eq!(
            s.subscriptions,
            vec![
                Subscription {
                    key: "orders.*".into(),
                    queue: None
                },
                Subscription {
                    key: "audit.#".into(),
                    queue: Some("auditors".into())
                }
            ]
        );
        assert_eq!((s.prefetch, s.max_deliver, s.durable), (64, 5, false));
        let s = parse(&[
            ("uri", "amqp://u:p@127.0.0.1:5673/vh"),
            ("exchange", "app"),
            ("exchange_type", "direct"),
            ("durable", "true"),
            ("prefetch", "8"),
            ("max_deliver", "2"),
            ("dead_letter_exchange", "app.dlx"),
        ])
        .unwrap();
        assert!(matches!(
            s.declare_exchange,
            Some(lapin::ExchangeKind::Direct)
        ));
        assert_eq!(s.conn.redacted(), "amqp://***@127.0.0.1:5673/vh");
        assert_eq!(format!("{:?}", s.conn), "amqp://***@127.0.0.1:5673/vh");
        assert_eq!(s.dead_letter_exchange.as_deref(), Some("app.dlx"));
    }

    #[test]
    fn invalid_values_are_refused_with_a_reason() {
        let long_queue = format!("k|{}", "q".repeat(244));
        for (pairs, why) in [
            (vec![("uri", "nats://127.0.0.1:4222")], "not an amqp://"),
            (vec![("uri", "amqp://h:notaport/")], "not a valid AMQP URL"),
            (vec![("tls_ca", "PEM")], "only used with an amqps://"),
            (vec![("exchange", "has space")], "not a usable exchange"),
            (vec![("exchange_type", "topic")], "broker's own"),
            (
                vec![("exchange", "app"), ("exchange_type", "x-delayed")],
                "not one of",
            ),
            (vec![("subscription", "a b")], "not a valid binding key"),
            (vec![("subscription", "a|amq.q")], "not a usable queue"),
            (vec![("subscription", &long_queue)], "not a usable queue"),
            (vec![("prefetch", "0")], "at least 1"),
            (vec![("max_deliver", "0")], "at least 1"),
            (
                vec![("dead_letter_exchange", "dead letters")],
                "not a usable exchange",
            ),
        ] {
            let e = parse(&pairs).unwrap_err().to_string();
            assert!(e.contains(why), "{pairs:?}: {e}");
        }
        // A password never reaches the error.
        for uri in [
            "http://u:hunter2@h/",
            "amqp://u:hun/hunter2@h",
            "u:hunter2@h",
        ] {
            let e = parse(&[("uri", uri)]).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn readme_documents_every_key() {
        provider_sdk::config::check_readme::<LinkValues>(include_str!("../README.md")).unwrap();
    }
}
