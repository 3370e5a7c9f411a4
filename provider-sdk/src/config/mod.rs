//! One parser for every string-map configuration: link values, provider
//! config (`config_json`, `config.put`) and `--config k=v` flags.
//!
//! A provider declares one serde struct; this module fills it from a
//! `{str: str}` map so that struct and parser cannot drift:
//! - keys match case-insensitively (`URL`, `Url` and `url` are one key);
//!   archived key names are `#[serde(alias = "...")]` in lowercase;
//! - values are strings converted on demand: numbers, booleans
//!   (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, and the empty string
//!   for false), comma lists (or JSON arrays) for `Vec`, JSON text for maps
//!   and nested structs, the empty string for `None`;
//! - unknown keys are returned, for the caller to log as a warning (hosts add
//!   their own keys), never rejected;
//! - an error names the key at fault and never its value.

mod readme;
mod value;

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::de::value::{Error as DeError, MapDeserializer};

use lattice_rpc::codec::strip_quoted;
pub use lattice_rpc::secret::{looks_secret, redact_url};
pub use readme::{check_readme, field_names, readme_keys};
use value::{MARK, StrValue};

/// Why configuration could not be used. Names the key at fault, never a value.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A key's value cannot be used.
    #[error("invalid configuration: {key}: {reason}")]
    Invalid {
        /// The key (lowercased), such as `timeout_ms`.
        key: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// A key the settings need is absent.
    #[error("invalid configuration: {key} is required{}", detail_suffix(.reason))]
    Missing {
        /// The key.
        key: String,
        /// Why it is needed, when that is not obvious.
        reason: Option<String>,
    },
    /// The same key twice, spelled with different case.
    #[error("invalid configuration: key {key:?} is given twice with different case")]
    Duplicate {
        /// The key (lowercased).
        key: String,
    },
    /// Text that must be a JSON object is not one.
    #[error("invalid configuration: {what} is not a JSON object: {reason}")]
    NotAnObject {
        /// Where the text came from (`config_json`, `config.put`).
        what: String,
        /// The parser's reason (position, not content).
        reason: String,
    },
    /// The settings are valid but could not be put to use: a server
    /// refused the connection, an address could not be bound.
    #[error("{0}")]
    Unusable(String),
    /// The provider takes no live provider-wide configuration.
    #[error("this provider has no live provider-wide configuration")]
    NotSupported,
}

fn detail_suffix(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

impl ConfigError {
    /// The value of `key` cannot be used, because `reason`.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// `key` is required (`reason`: why, when that helps).
    pub fn missing(key: impl Into<String>, reason: Option<&str>) -> Self {
        Self::Missing {
            key: key.into(),
            reason: reason.map(str::to_string),
        }
    }

    /// The settings could not be put to use (`why` holds no secret).
    pub fn unusable(why: impl Into<String>) -> Self {
        Self::Unusable(why.into())
    }

    /// The key at fault, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } | Self::Missing { key, .. } | Self::Duplicate { key } => {
                Some(key)
            }
            _ => None,
        }
    }
}

/// A parsed configuration and the keys it did not know.
#[derive(Debug)]
pub struct Parsed<T> {
    /// The configuration.
    pub value: T,
    /// Keys (lowercased) that no field took.
    pub unknown_keys: Vec<String>,
}

impl<T> Parsed<T> {
    /// The configuration, after logging a warning that names the unknown
    /// keys of `what` (a link, `config_json`), if any.
    pub fn warn_unknown(self, what: &str) -> T {
        if !self.unknown_keys.is_empty() {
            tracing::warn!(keys = ?self.unknown_keys, "{what} has keys this provider does not use");
        }
        self.value
    }
}

/// Fills `T` from a string map (see the module docs).
pub fn from_map<T: DeserializeOwned>(
    values: &HashMap<String, String>,
) -> Result<Parsed<T>, ConfigError> {
    let mut lowered: Vec<(String, &str)> = values
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    lowered.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = lowered.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ConfigError::Duplicate {
            key: w[0].0.clone(),
        });
    }
    let map = MapDeserializer::<_, DeError>::new(lowered.iter().map(|(k, v)| {
        (
            k.as_str(),
            StrValue {
                key: k.as_str(),
                value: std::borrow::Cow::Borrowed(*v),
            },
        )
    }));
    let mut unknown_keys = Vec::new();
    let value = serde_ignored::deserialize(map, |path| unknown_keys.push(path.to_string()))
        .map_err(|e: DeError| classify(&e.to_string()))?;
    Ok(Parsed {
        value,
        unknown_keys,
    })
}

/// Turns a deserializer's message into a [`ConfigError`] naming the key.
fn classify(msg: &str) -> ConfigError {
    if let Some(rest) = msg.strip_prefix(MARK)
        && let Some((key, reason)) = rest.split_once(MARK)
    {
        return ConfigError::invalid(key, strip_quoted(reason));
    }
    if let Some(rest) = msg.strip_prefix("missing field `")
        && let Some(key) = rest.strip_suffix('`')
    {
        return ConfigError::missing(key, None);
    }
    ConfigError::invalid("(config)", strip_quoted(msg))
}

/// Fills `T` from `(key, value)` pairs, as [`from_map`] does (handy in tests
/// and for values built in code).
pub fn from_pairs<T: DeserializeOwned>(pairs: &[(&str, &str)]) -> Result<Parsed<T>, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    from_map(&map)
}

/// Fills `T` from JSON text holding an object (from `what`: `config_json`,
/// a file); scalars become strings, nested values their JSON text, then
/// [`from_map`] applies.
pub fn from_json<T: DeserializeOwned>(what: &str, json: &str) -> Result<Parsed<T>, ConfigError> {
    let trimmed = json.trim();
    if trimmed.is_empty() {
        return from_map(&HashMap::new());
    }
    let obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(trimmed).map_err(|e| ConfigError::NotAnObject {
            what: what.to_string(),
            reason: format!("line {} column {}", e.line(), e.column()),
        })?;
    from_map(&json_to_map(&obj))
}

/// Checks values (a JSON object, as [`from_json`] reads it) against `T`
/// without building anything: what `PROVIDER --check` runs. Returns the
/// keys `T` does not use.
pub fn check_json<T: DeserializeOwned>(json: &str) -> Result<Vec<String>, ConfigError> {
    from_json::<T>("the values", json).map(|p| p.unknown_keys)
}

/// Flattens a JSON object into a string map as [`from_json`] does.
pub fn json_to_map(obj: &serde_json::Map<String, serde_json::Value>) -> HashMap<String, String> {
    obj.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

#[cfg(test)]
mod tests;
