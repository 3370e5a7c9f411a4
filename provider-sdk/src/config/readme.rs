//! Keeping a provider README's table of keys in step with its config struct.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

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
