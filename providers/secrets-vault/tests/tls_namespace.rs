#![allow(clippy::unwrap_used)]
//! secrets-vault over TLS with a custom CA (`ca_file`), and in a namespace
//! (`namespace` → `X-Vault-Namespace`), against `bao server -dev -dev-tls`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lattice_conformance::host::ProviderRef;
use lattice_fixtures::VaultServer;
use secrets_interface::SecretsClient;

/// Runs the `bao` CLI against `vault` (in `namespace`), over its TLS.
fn bao(vault: &VaultServer, namespace: Option<&str>, args: &[&str]) -> Result<(), String> {
    let tls = vault.tls.as_ref().expect("a TLS server");
    let mut cmd = Command::new("bao");
    cmd.args(args)
        .env("BAO_ADDR", &tls.url)
        .env("BAO_TOKEN", &vault.fixture.token)
        .env("BAO_CACERT", &tls.ca_file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(ns) = namespace {
        cmd.env("BAO_NAMESPACE", ns);
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A private OpenBao with TLS, ready to answer the CLI.
async fn tls_vault() -> VaultServer {
    let vault = VaultServer::start_tls().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while bao(&vault, None, &["status"]).is_err() {
        assert!(Instant::now() < deadline, "OpenBao with TLS did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    vault
}

#[tokio::test]
async fn reads_over_tls_with_a_custom_ca_and_in_a_namespace() {
    let vault = tls_vault().await;
    bao(
        &vault,
        None,
        &["kv", "put", "-mount=secret", "tls/db", "pw=over-tls"],
    )
    .unwrap();
    bao(&vault, None, &["namespace", "create", "team"]).unwrap();
    bao(
        &vault,
        Some("team"),
        &["secrets", "enable", "-path=secret", "kv-v2"],
    )
    .unwrap();
    bao(
        &vault,
        Some("team"),
        &["kv", "put", "-mount=secret", "tls/db", "pw=in-team"],
    )
    .unwrap();

    let host = lattice_conformance::test_host().await.unwrap();
    let hd = host.host_data("default");
    let pref = ProviderRef::new(&hd.provider_key, "default", secrets_interface::CONTRACT_ID);
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_secrets-vault"));
    let _p = host.launch(&bin, hd).await.unwrap();
    let tls = vault.tls.as_ref().unwrap();
    let ca = tls.ca_file.display().to_string();
    let base = [
        ("addr", tls.url.as_str()),
        ("token", vault.fixture.token.as_str()),
        ("allowed_paths", "tls/*"),
    ];
    let read = async |extra: &[(&str, &str)]| {
        let actor = lattice_conformance::host::new_actor();
        let values: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        host.link_actor(&pref, &actor, &values).await.unwrap();
        SecretsClient::new(host.rpc().clone(), &actor, &pref.key, "default")
            .get_open("tls/db", Some("pw"), None)
            .await
    };

    let v = read(&[("ca_file", &ca)]).await.unwrap();
    assert_eq!(v.as_str(), Some("over-tls"));
    let v = read(&[("ca_file", &ca), ("namespace", "team")])
        .await
        .unwrap();
    assert_eq!(v.as_str(), Some("in-team"));
    assert!(host.health(&pref).await.unwrap().healthy);
    // Without the CA, the server's certificate is not trusted (and health
    // reports the link's Vault unreachable).
    assert!(read(&[]).await.is_err());
    assert!(!host.health(&pref).await.unwrap().healthy);
}
