#![allow(clippy::unwrap_used)]
//! secrets-vault against the secrets contract suite on a private OpenBao,
//! token renewal, AppRole login, and logs that hold no secret.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use lattice_conformance::Suite;
use lattice_conformance::host::{Host, ProviderProcess, ProviderRef};
use lattice_conformance::secrets::SecretsSuite;
use lattice_fixtures::{VaultFixture, VaultServer};
use secrets_interface::SecretsClient;

async fn launch(
    host: &Host,
    env: &[(&str, &str)],
    config_json: Option<serde_json::Value>,
) -> (ProviderRef, ProviderProcess) {
    let mut hd = host.host_data("default");
    hd.config_json = config_json.map(|c| c.to_string());
    let pref = ProviderRef::new(&hd.provider_key, "default", secrets_interface::CONTRACT_ID);
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_secrets-vault"));
    let mut launch = host.launch(&bin, hd);
    for (k, v) in env {
        launch = launch.env(k, v);
    }
    let p = launch.await.unwrap();
    (pref, p)
}

/// A private OpenBao; a second try when the first does not come up (five
/// start at once on two cores, and a free port can be taken meanwhile).
async fn start_vault() -> VaultServer {
    match VaultServer::start().await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("OpenBao did not start ({e:#}); trying again");
            VaultServer::start().await.unwrap()
        }
    }
}

fn client(host: &Host, pref: &ProviderRef, actor: &str) -> SecretsClient {
    SecretsClient::new(host.rpc().clone(), actor, &pref.key, &pref.link_name)
}

async fn api_json(
    vault: &VaultFixture,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let r = vault.api(method, path, body.as_ref()).await.unwrap();
    assert!(
        (200..300).contains(&r.status),
        "{method} {path}: HTTP {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    if r.body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&r.body).unwrap()
    }
}

#[tokio::test]
async fn secrets_suite_passes_against_openbao() {
    let vault = start_vault().await;
    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, _p) = launch(&host, &[], None).await;
    let (url, token) = (vault.fixture.url(), vault.fixture.token.clone());
    let suite = SecretsSuite::new(
        Arc::new(host),
        &pref,
        vault.fixture.clone(),
        &[("addr", &url), ("token", &token)],
    );
    let report = suite.run("vault", None).await;
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert_eq!(report.outcomes.len(), 12);
}

#[tokio::test]
async fn no_secret_or_token_appears_in_trace_logs() {
    let vault = start_vault().await;
    let host = Arc::new(lattice_conformance::test_host().await.unwrap());
    let (url, token) = (vault.fixture.url(), vault.fixture.token.clone());
    // The suite's links carry the token as a plain value (it crosses the
    // lattice in clear, so the provider warns); even at RUST_LOG=trace it
    // must not reach the logs: the SDK keeps async-nats, which would print
    // payloads, at debug. The link below sends it sealed.
    let (pref, proc) = launch(&host, &[("RUST_LOG", "trace")], None).await;
    let suite = SecretsSuite::new(
        host.clone(),
        &pref,
        vault.fixture.clone(),
        &[("addr", &url), ("token", &token)],
    );
    let report = suite.run("vault-trace", None).await;
    assert!(report.passed(), "{report}");

    // Our own values too, read whole and by field, and a failed read.
    let own = format!("own-secret-{}", uuid_like());
    vault
        .fixture
        .put("logs/own", serde_json::json!({"pw": own, "n": 7}))
        .await
        .unwrap();
    let actor = lattice_conformance::host::new_actor();
    let mut ld = host.link(
        &pref,
        &actor,
        &[("addr", &url), ("allowed_paths", "logs/*")],
    );
    ld.secrets.insert(
        "token".into(),
        host.seal_for(&proc.host_data, &token).unwrap(),
    );
    assert!(host.put_link(&pref, &ld).await.unwrap().accepted);
    let c = client(&host, &pref, &actor);
    assert_eq!(
        c.get_open("logs/own", Some("pw"), None)
            .await
            .unwrap()
            .as_str(),
        Some(own.as_str())
    );
    assert!(
        c.get_open("logs/own", None, None)
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .contains(&own)
    );
    assert!(c.get_open("logs/own", Some("nope"), None).await.is_err());

    let bin: Vec<u8> = (0..=255u8).collect();
    let bin_b64 = base64::engine::general_purpose::STANDARD.encode(&bin);
    let output = proc.output();
    assert!(
        output.contains("TRACE"),
        "trace logging was not on:\n{output}"
    );
    for needle in [
        token.as_str(),
        own.as_str(),
        "s3cr3t-str",
        "for-you-only",
        "clear-text-marker-",
        bin_b64.as_str(),
    ] {
        assert!(
            !output.contains(needle),
            "the provider's output holds a secret ({needle}): {}",
            output
                .lines()
                .filter(|l| l.contains(needle))
                .map(|l| l.replace(needle, "<<HERE>>"))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn uuid_like() -> String {
    lattice_conformance::host::new_actor()[1..20].to_string()
}

#[tokio::test]
async fn a_short_lived_token_is_renewed_and_keeps_working_past_its_ttl() {
    let vault = start_vault().await;
    let created = api_json(
        &vault.fixture,
        "POST",
        "auth/token/create",
        Some(serde_json::json!({"ttl": "4s", "renewable": true, "policies": ["root"]})),
    )
    .await;
    let child = created["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    vault
        .fixture
        .put("renew/db", serde_json::json!({"pw": "renewed"}))
        .await
        .unwrap();
    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, proc) = launch(&host, &[], None).await;
    let actor = lattice_conformance::host::new_actor();
    // The token travels as a sealed link secret.
    let mut ld = host.link(
        &pref,
        &actor,
        &[("addr", &vault.fixture.url()), ("allowed_paths", "renew/*")],
    );
    ld.secrets.insert(
        "token".into(),
        host.seal_for(&proc.host_data, &child).unwrap(),
    );
    let ack = host.put_link(&pref, &ld).await.unwrap();
    assert!(ack.accepted, "{:?}", ack.error);
    let c = client(&host, &pref, &actor);
    let started = Instant::now();
    assert_eq!(
        c.get_open("renew/db", Some("pw"), None)
            .await
            .unwrap()
            .as_str(),
        Some("renewed")
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(started.elapsed() > Duration::from_secs(4));
    let v = c.get_open("renew/db", Some("pw"), None).await;
    assert_eq!(v.unwrap().as_str(), Some("renewed"), "{}", proc.output());
    // And Vault agrees the token is alive with time left.
    let looked = api_json(
        &vault.fixture,
        "POST",
        "auth/token/lookup",
        Some(serde_json::json!({"token": child})),
    )
    .await;
    assert!(looked["data"]["ttl"].as_u64().unwrap() > 0);
    assert!(!proc.output().contains(&child));
}

#[tokio::test]
async fn approle_logs_in_and_logs_in_again_past_the_max_ttl() {
    let vault = start_vault().await;
    let f = &vault.fixture;
    api_json(
        f,
        "POST",
        "sys/auth/approle",
        Some(serde_json::json!({"type": "approle"})),
    )
    .await;
    let policy = r#"path "secret/data/app/*" { capabilities = ["read"] }"#;
    api_json(
        f,
        "PUT",
        "sys/policies/acl/reader",
        Some(serde_json::json!({"policy": policy})),
    )
    .await;
    api_json(
        f,
        "POST",
        "auth/approle/role/app",
        Some(serde_json::json!({"token_policies": ["reader"], "token_ttl": "2s", "token_max_ttl": "3s"})),
    )
    .await;
    let role_id =
        api_json(f, "GET", "auth/approle/role/app/role-id", None).await["data"]["role_id"]
            .as_str()
            .unwrap()
            .to_string();
    let secret_id =
        api_json(f, "POST", "auth/approle/role/app/secret-id", None).await["data"]["secret_id"]
            .as_str()
            .unwrap()
            .to_string();
    f.put("app/db", serde_json::json!({"pw": "via-approle"}))
        .await
        .unwrap();

    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, proc) = launch(&host, &[], None).await;
    let actor = lattice_conformance::host::new_actor();
    let mut ld = host.link(
        &pref,
        &actor,
        &[
            ("addr", &f.url()),
            ("auth", "approle"),
            ("role_id", &role_id),
            ("allowed_paths", "app/*, other/*"),
        ],
    );
    ld.secrets.insert(
        "secret_id".into(),
        host.seal_for(&proc.host_data, &secret_id).unwrap(),
    );
    let ack = host.put_link(&pref, &ld).await.unwrap();
    assert!(ack.accepted, "{:?}", ack.error);
    let c = client(&host, &pref, &actor);
    assert_eq!(
        c.get_open("app/db", Some("pw"), None)
            .await
            .unwrap()
            .as_str(),
        Some("via-approle")
    );
    // The policy does not cover other/: Vault's 403 is secrets.upstream.
    f.put("other/x", serde_json::json!({"k": "v"}))
        .await
        .unwrap();
    let e = c.get_open("other/x", Some("k"), None).await.unwrap_err();
    assert!(
        secrets_interface::error::is_code(&e, secrets_interface::error::UPSTREAM),
        "{e}"
    );
    assert!(!e.message.contains(&secret_id));
    // Past the role's max TTL the first token is dead; a fresh login serves.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let v = c.get_open("app/db", Some("pw"), None).await;
    assert_eq!(
        v.unwrap().as_str(),
        Some("via-approle"),
        "{}",
        proc.output()
    );
    assert!(host.health(&pref).await.unwrap().healthy);
    assert!(!proc.output().contains(&secret_id));
}

#[tokio::test]
async fn vault_down_is_unavailable_and_unhealthy() {
    let vault = start_vault().await;
    let f = vault.fixture.clone();
    f.put("down/x", serde_json::json!({"k": "v"}))
        .await
        .unwrap();
    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, _p) = launch(&host, &[], None).await;
    let actor = lattice_conformance::host::new_actor();
    host.link_actor(
        &pref,
        &actor,
        &[
            ("addr", &f.url()),
            ("token", &f.token),
            ("allowed_paths", "down/*"),
            ("timeout_ms", "1000"),
        ],
    )
    .await
    .unwrap();
    let c = client(&host, &pref, &actor);
    assert!(c.get_open("down/x", Some("k"), None).await.is_ok());
    assert!(host.health(&pref).await.unwrap().healthy);
    drop(vault);
    let e = c.get_open("down/x", Some("k"), None).await.unwrap_err();
    assert_eq!(e.code, provider_sdk::ErrorCode::Unavailable, "{e}");
    let h = host.health(&pref).await.unwrap();
    assert!(!h.healthy);
    assert!(h.message.unwrap_or_default().contains("sys/health"));
}

#[tokio::test]
async fn cache_serves_until_a_read_reports_a_newer_version() {
    let vault = start_vault().await;
    let f = vault.fixture.clone();
    f.put("cached/x", serde_json::json!({"k": "one"}))
        .await
        .unwrap();
    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, _p) = launch(&host, &[], None).await;
    let actor = lattice_conformance::host::new_actor();
    let values = [
        ("addr", f.url()),
        ("token", f.token.clone()),
        ("allowed_paths", "cached/*".into()),
        ("cache_ttl_ms", "60000".into()),
    ];
    let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    host.link_actor(&pref, &actor, &values).await.unwrap();
    let c = client(&host, &pref, &actor);
    let get = async |version| c.get_open("cached/x", Some("k"), version).await.unwrap();
    assert_eq!(get(None).await.as_str(), Some("one"));
    let v2 = f
        .put("cached/x", serde_json::json!({"k": "two"}))
        .await
        .unwrap();
    assert_eq!(
        get(None).await.as_str(),
        Some("one"),
        "not served from the cache"
    );
    assert_eq!(get(Some(v2)).await.as_str(), Some("two"));
    assert_eq!(
        get(None).await.as_str(),
        Some("two"),
        "stale after a newer version was read"
    );
}
