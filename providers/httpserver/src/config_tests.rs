use super::*;

fn link(pairs: &[(&str, &str)]) -> HttpLink {
    match provider_sdk::config::from_pairs(pairs) {
        Ok(p) => p.value,
        Err(e) => panic!("{e}"),
    }
}

fn resolve(pairs: &[(&str, &str)]) -> Result<LinkSettings, String> {
    link(pairs).resolve().map_err(|e| e.to_string())
}

#[test]
fn sizes_parse_in_powers_of_1024() {
    assert_eq!(parse_size("512"), Some(512));
    assert_eq!(parse_size("1K"), Some(1024));
    assert_eq!(parse_size("20M"), Some(20 << 20));
    assert_eq!(parse_size("1g"), Some(1 << 30));
    assert_eq!(parse_size("2MB"), Some(2 << 20));
    assert_eq!(parse_size("M"), None);
    assert_eq!(parse_size("lots"), None);
    assert_eq!(parse_size("99999999999999G"), None);
}

#[test]
fn defaults_listen_on_loopback_only() {
    let s = resolve(&[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.addr, DEFAULT_ADDRESS);
    assert!(s.addr.ip().is_loopback());
    assert_eq!(s.route.path_prefix, "/");
    assert_eq!(s.route.max_content_len, DEFAULT_MAX_CONTENT_LEN);
    assert!(s.route.max_content_len >= 1 << 20);
    assert!(s.listener.tls.is_none());
    let s = resolve(&[("PORT", "9001")]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.addr.to_string(), "127.0.0.1:9001");
}

#[test]
fn keys_are_case_insensitive_and_values_validated() {
    let s = resolve(&[
        ("ADDRESS", "127.0.0.1:8081"),
        ("Max_Content_Len", "1K"),
        ("readonly_mode", "true"),
        ("timeout_ms", "300"),
        ("path_prefix", "/api/"),
        ("host", "App.Example"),
        ("cache_control", "no-store"),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.addr.port(), 8081);
    assert_eq!(s.route.max_content_len, 1024);
    assert!(s.route.readonly);
    assert_eq!(s.route.timeout, Some(Duration::from_millis(300)));
    assert_eq!(s.route.path_prefix, "/api");
    assert_eq!(s.route.host.as_deref(), Some("app.example"));
    for (k, v, want) in [
        ("address", "localhost", "address"),
        ("max_content_len", "big", "max_content_len"),
        ("timeout_ms", "0", "timeout_ms"),
        ("path_prefix", "api", "path_prefix"),
        ("cert_file", "/nonexistent.pem", "TLS"),
        ("config_json", "[1]", "config_json"),
        ("config_b64", "!!!", "config_b64"),
        ("allowed_methods", "GET,NOT A METHOD", "allowed_methods"),
    ] {
        let err = resolve(&[(k, v)]).err().unwrap_or_default();
        assert!(err.contains(want), "{k}={v}: {err:?}");
    }
}

#[test]
fn archived_json_forms_with_nested_cors_and_precedence() {
    let json = r#"{"address":"127.0.0.1:7000","cors":{"allowed_origins":["https://a.example"],
        "max_age_secs":60},"max_content_len":"2M","readonly_mode":true}"#;
    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
    for (k, v) in [("config_json", json), ("CONFIG_B64", b64.as_str())] {
        let s = resolve(&[(k, v), ("max_content_len", "3M")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.addr.port(), 7000);
        assert!(s.route.cors.enabled());
        assert!(s.route.readonly);
        // A value of its own wins over the JSON.
        assert_eq!(s.route.max_content_len, 3 << 20);
    }
    let file = std::env::temp_dir().join(format!("httpserver-cfg-{}.json", std::process::id()));
    std::fs::write(&file, r#"{"port": 7001, "timeout_ms": 50}"#).unwrap_or_else(|e| panic!("{e}"));
    let path = file.to_string_lossy().to_string();
    let s = resolve(&[
        ("config_file", &path),
        ("config_json", r#"{"timeout_ms": 70}"#),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&file);
    assert_eq!(s.addr.port(), 7001);
    assert_eq!(s.route.timeout, Some(Duration::from_millis(70)));
}

/// The field names of a `Deserialize` struct, as serde sees them.

#[test]
fn readme_documents_every_key() {
    assert!(provider_sdk::config::field_names::<HttpLink>().len() > 20);
    provider_sdk::config::check_readme::<HttpLink>(include_str!("../README.md"))
        .unwrap_or_else(|e| panic!("{e}"));
}
