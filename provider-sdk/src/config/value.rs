//! One string value, converted to whatever the field asks for, its errors
//! naming the key they belong to (never the value).

use std::borrow::Cow;

use serde::de::value::Error as DeError;
use serde::de::{self, Deserializer, IntoDeserializer, Visitor};

/// Marks an error message as tagged with its key: `{MARK}{key}{MARK}{reason}`.
pub(super) const MARK: char = '\u{1f}';

/// One value of the map, with the (lowercased) key it was given under.
pub(super) struct StrValue<'a> {
    pub(super) key: &'a str,
    pub(super) value: Cow<'a, str>,
}

impl StrValue<'_> {
    fn fail(&self, reason: impl std::fmt::Display) -> DeError {
        de::Error::custom(format!("{MARK}{}{MARK}{reason}", self.key))
    }

    /// Tags an error from a visitor with this key, unless a nested value did.
    fn tag(key: &str, e: DeError) -> DeError {
        let msg = e.to_string();
        if msg.starts_with(MARK) {
            e
        } else {
            de::Error::custom(format!("{MARK}{key}{MARK}{msg}"))
        }
    }
}

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
                match self.value.trim().parse::<$ty>() {
                    Ok(n) => visitor.$visit(n).map_err(|e| Self::tag(self.key, e)),
                    Err(_) => Err(self.fail(format!(
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
        let key = self.key;
        visitor
            .visit_string(self.value.into_owned())
            .map_err(|e| Self::tag(key, e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => visitor.visit_bool(true),
            "false" | "no" | "off" | "0" | "" => visitor.visit_bool(false),
            _ => Err(self.fail("expected true/false, yes/no, on/off or 1/0")),
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
        let key = self.key;
        if self.value.trim().is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
        .map_err(|e| Self::tag(key, e))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let key = self.key;
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| Self::tag(key, e))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let key = self.key;
        let s = self.value.trim();
        if s.starts_with('[') {
            return self
                .json()?
                .deserialize_seq(visitor)
                .map_err(|e| self.fail(e));
        }
        let items: Vec<StrValue<'_>> = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| StrValue {
                key,
                value: Cow::Owned(p.to_string()),
            })
            .collect();
        visitor
            .visit_seq(de::value::SeqDeserializer::new(items.into_iter()))
            .map_err(|e| Self::tag(key, e))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.json()?
            .deserialize_map(visitor)
            .map_err(|e| self.fail(e))
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
        let s: String = self.value.trim().to_ascii_lowercase();
        visitor
            .visit_enum(s.into_deserializer())
            .map_err(|e: DeError| Self::tag(self.key, e))
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
        i128 u128
    }
}

impl StrValue<'_> {
    fn json(&self) -> Result<serde_json::Value, DeError> {
        serde_json::from_str(self.value.trim()).map_err(|_| self.fail("expected JSON text"))
    }
}
