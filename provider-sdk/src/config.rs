//! One parser for every string-map configuration: link values, provider
//! config (`config_json`, `config.put`) and `--config k=v` flags.
//!
//! A provider declares one serde struct; this module fills it from a
//! `{str: str}` map so that struct and parser cannot drift:
//! - keys match case-insensitively (`URL`, `Url` and `url` are one key);
//!   archived key names are `#[serde(alias = "...")]` in lowercase;
//! - values are strings converted on demand: numbers, booleans
//!   (`true/false/yes/no/1/0`), comma lists for `Vec`, JSON text for maps and
//!   nested structs, an empty string for `None`;
//! - unknown keys are returned, for the caller to log as a warning (hosts add
//!   their own keys), never rejected.

use std::collections::HashMap;

use serde::de::value::{Error as DeError, MapDeserializer};
use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, Visitor};

/// Why configuration could not be used. Never contains a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// A parsed configuration and the keys it did not know.
#[derive(Debug)]
pub struct Parsed<T> {
    /// The configuration.
    pub value: T,
    /// Keys (lowercased) that no field took.
    pub unknown_keys: Vec<String>,
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
        return Err(ConfigError(format!(
            "key {:?} is given twice with different case",
            w[0].0
        )));
    }
    let map = MapDeserializer::<_, DeError>::new(
        lowered
            .into_iter()
            .map(|(k, v)| (k, StrValue(std::borrow::Cow::Borrowed(v)))),
    );
    let mut unknown_keys = Vec::new();
    let value = serde_ignored::deserialize(map, |path| unknown_keys.push(path.to_string()))
        .map_err(|e: DeError| ConfigError(scrub(&e.to_string())))?;
    Ok(Parsed {
        value,
        unknown_keys,
    })
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

/// Fills `T` from JSON text holding an object; scalars become strings, nested
/// values their JSON text, then [`from_map`] applies.
pub fn from_json<T: DeserializeOwned>(json: &str) -> Result<Parsed<T>, ConfigError> {
    let trimmed = json.trim();
    if trimmed.is_empty() {
        return from_map(&HashMap::new());
    }
    let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(trimmed)
        .map_err(|e| ConfigError(format!("config is not a JSON object: {e}")))?;
    from_map(&json_to_map(&obj))
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

/// True when a plain (unsealed) value looks like a credential: a secret-like
/// key name or a URL carrying a password.
pub fn looks_secret(key: &str, value: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let secret_name = [
        "password", "passwd", "token", "secret", "seed", "jwt", "priv",
    ]
    .iter()
    .any(|s| k.contains(s));
    secret_name && !value.is_empty() || url_has_password(value)
}

/// True when `value` is a URL with a password (`scheme://user:pass@host`).
pub fn url_has_password(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':') || !userinfo.is_empty())
}

/// Replaces a URL's userinfo with `***`, for logs and errors.
pub fn redact_url(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[end..]),
        None => value.to_string(),
    }
}

// serde's messages quote the offending value ("invalid digit ... `abc`");
// keep the field name, drop anything quoted.
fn scrub(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_quote = false;
    for ch in msg.chars() {
        if ch == '`' {
            if !in_quote {
                out.push_str("`…");
            }
            in_quote = !in_quote;
            if !in_quote {
                out.push('`');
            }
            continue;
        }
        if !in_quote {
            out.push(ch);
        }
    }
    out
}

/// The keys config struct `T` accepts: its fields' serde names and their
/// aliases, in declaration order; for tests that keep a README's key table in step with the
/// struct.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe;
    #[derive(Debug)]
    struct Fields(&'static [&'static str]);
    impl std::fmt::Display for Fields {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field probe")
        }
    }
    impl std::error::Error for Fields {}
    impl de::Error for Fields {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Fields(&[])
        }
    }
    impl<'de> Deserializer<'de> for Probe {
        type Error = Fields;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Fields(fields)) => fields,
        Ok(_) => &[],
    }
}

/// The keys of a README's configuration table (the table whose first
/// header cell is `key`): the first cell of each row, without backticks.
pub fn readme_keys(readme: &str) -> Vec<String> {
    readme
        .lines()
        .skip_while(|l| {
            !l.trim_start_matches('|')
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("key ")
        })
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_string)
        .collect()
}

/// Checks a provider README against its config struct `T`: every key of the
/// README's table is one `T` accepts, and every key `T` accepts (aliases
/// too) is named in the README, so the two cannot drift apart silently.
pub fn check_readme<T: DeserializeOwned>(readme: &str) -> Result<(), String> {
    let accepted = field_names::<T>();
    if accepted.is_empty() {
        return Err("not a struct with named fields".into());
    }
    let table = readme_keys(readme);
    let unknown: Vec<&String> = table
        .iter()
        .filter(|k| !accepted.contains(&k.as_str()))
        .collect();
    let undocumented: Vec<&&str> = accepted
        .iter()
        .filter(|k| !readme.contains(&format!("`{k}`")))
        .collect();
    if unknown.is_empty() && undocumented.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "README table has keys the struct does not accept: {unknown:?}; \
             the struct accepts keys the README never names: {undocumented:?}"
        ))
    }
}

/// One string value, converted to whatever the field asks for.
struct StrValue<'a>(std::borrow::Cow<'a, str>);

impl<'de> IntoDeserializer<'de, DeError> for StrValue<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parse_num {
    ($($method:ident => $visit:ident : $ty:ty),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
                let s = self.0.trim();
                match s.parse::<$ty>() {
                    Ok(n) => visitor.$visit(n),
                    Err(_) => Err(de::Error::custom(format!(
                        "expected {}, got a value that is not one",
                        stringify!($ty)
                    ))),
                }
            }
        )*
    };
}

impl<'de> Deserializer<'de> for StrValue<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_string(self.0.into_owned())
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => visitor.visit_bool(true),
            "false" | "no" | "off" | "0" | "" => visitor.visit_bool(false),
            _ => Err(de::Error::custom("expected true or false")),
        }
    }

    parse_num! {
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.trim().is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let s = self.0.trim();
        if s.starts_with('[') {
            return json_value(s)?
                .deserialize_seq(visitor)
                .map_err(de::Error::custom);
        }
        let items: Vec<StrValue<'static>> = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| StrValue(std::borrow::Cow::Owned(p.to_string())))
            .collect();
        visitor.visit_seq(de::value::SeqDeserializer::new(items.into_iter()))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        json_value(&self.0)?
            .deserialize_map(visitor)
            .map_err(de::Error::custom)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let s: String = self.0.trim().to_ascii_lowercase();
        visitor.visit_enum(s.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
        i128 u128
    }
}

fn json_value(s: &str) -> Result<serde_json::Value, DeError> {
    serde_json::from_str(s.trim()).map_err(|_| de::Error::custom("expected JSON text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Example {
        url: Option<Secret<String>>,
        #[serde(default)]
        timeout_ms: u64,
        #[serde(default)]
        readonly_mode: bool,
        #[serde(default, alias = "subscription")]
        subscriptions: Vec<String>,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
        Safe,
    }

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_are_case_insensitive_and_values_typed() {
        let p: Parsed<Example> = from_map(&map(&[
            ("URL", "redis://127.0.0.1:6379"),
            ("Timeout_MS", "250"),
            ("readonly_mode", "yes"),
            ("SUBSCRIPTION", "a.b, c.d|q"),
            ("mode", "Safe"),
        ]))
        .unwrap();
        let c = p.value;
        assert_eq!(c.url.unwrap().expose(), "redis://127.0.0.1:6379");
        assert_eq!(c.timeout_ms, 250);
        assert!(c.readonly_mode);
        assert_eq!(c.subscriptions, vec!["a.b", "c.d|q"]);
        assert_eq!(c.mode, Some(Mode::Safe));
        assert!(p.unknown_keys.is_empty());
    }

    #[test]
    fn unknown_keys_are_reported_not_rejected() {
        #[derive(Debug, Deserialize)]
        struct Small {
            #[serde(default)]
            url: String,
        }
        let p: Parsed<Small> = from_map(&map(&[("url", "x"), ("config_b64", "e30")])).unwrap();
        assert_eq!(p.value.url, "x");
        assert_eq!(p.unknown_keys, vec!["config_b64"]);
    }

    #[test]
    fn bad_values_name_the_field_but_not_the_value() {
        let err = from_map::<Example>(&map(&[("timeout_ms", "s3cr3t-ish")])).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains("s3cr3t"), "{msg}");
        assert!(msg.contains("u64"), "{msg}");
    }

    #[test]
    fn json_config_flattens_to_the_same_parser() {
        let p: Parsed<Example> =
            from_json(r#"{"url":"redis://h","timeout_ms":10,"readonly_mode":true}"#).unwrap();
        assert_eq!(p.value.timeout_ms, 10);
        assert!(p.value.readonly_mode);
        assert!(from_json::<Example>("[1]").is_err());
    }

    #[test]
    fn field_names_lists_the_struct_fields() {
        assert_eq!(
            field_names::<Example>(),
            &[
                "url",
                "timeout_ms",
                "readonly_mode",
                "subscription",
                "subscriptions",
                "mode"
            ]
        );
        assert_eq!(
            readme_keys("| key |\n|---|\n| `url` | x |\n| `mode` | y |\ntext"),
            vec!["url", "mode"]
        );
    }

    #[test]
    fn credentials_in_urls_are_detected_and_redacted() {
        assert!(url_has_password("redis://:pw@127.0.0.1:6379/0"));
        assert!(!url_has_password("redis://127.0.0.1:6379/0"));
        assert!(looks_secret("client_seed", "SU..."));
        assert!(!looks_secret("subscription", "a.b"));
        assert_eq!(
            redact_url("redis://u:pw@h:1/0?x=1"),
            "redis://***@h:1/0?x=1"
        );
    }
}
