use super::*;
use lattice_rpc::Secret;
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
    assert_eq!(err.key(), Some("timeout_ms"));
    let msg = err.to_string();
    assert!(!msg.contains("s3cr3t"), "{msg}");
    assert!(msg.contains("u64") && msg.contains("timeout_ms"), "{msg}");

    for (pairs, key) in [
        (&[("mode", "s3cr3t-mode")][..], "mode"),
        (&[("readonly_mode", "s3cr3t")][..], "readonly_mode"),
        (
            &[("Subscription", "[\"a\", 3, \"s3cr3t\"]")][..],
            "subscription",
        ),
    ] {
        let err = from_map::<Example>(&map(pairs)).unwrap_err();
        assert_eq!(err.key(), Some(key), "{err}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
}

#[test]
fn json_config_flattens_to_the_same_parser() {
    let p: Parsed<Example> = from_json(
        "config_json",
        r#"{"url":"redis://h","timeout_ms":10,"readonly_mode":true}"#,
    )
    .unwrap();
    assert_eq!(p.value.timeout_ms, 10);
    assert!(p.value.readonly_mode);
    assert!(from_json::<Example>("config_json", "[1]").is_err());
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
fn missing_and_duplicate_keys_are_named() {
    #[derive(Debug, Deserialize)]
    struct Needs {
        #[allow(dead_code)]
        addr: String,
    }
    let err = from_map::<Needs>(&map(&[])).unwrap_err();
    assert_eq!(err, ConfigError::missing("addr", None));
    let err = from_map::<Needs>(&map(&[("addr", "a"), ("ADDR", "b")])).unwrap_err();
    assert_eq!(err, ConfigError::Duplicate { key: "addr".into() });
    let err = from_json::<Needs>("config_json", "{\"addr\": ").unwrap_err();
    assert!(matches!(err, ConfigError::NotAnObject { .. }), "{err}");
}
