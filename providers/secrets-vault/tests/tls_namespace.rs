#![allow(clippy::unwrap_used)]
//! secrets-vault over TLS with a custom CA (`ca_file`), and in a namespace
//! (`namespace` → `X-Vault-Namespace`), against `bao server -dev -dev-tls`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use integration::{Host, ProviderRef, Target, binary};
use secrets::SecretsClient;

/// A private OpenBao dev server with TLS (its own generated CA); killed on drop.
struct TlsVault {
    child: Child,
    dir: PathBuf,
    addr: String,
    token: String,
}

impl TlsVault {
    fn start() -> Self {
        let port = integration::servers::free_port().unwrap();
        let dir = std::env::temp_dir().join(format!(
            "secrets-vault-tls-{}",
            &integration::new_actor()[1..16]
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let token = format!("root-{}", &integration::new_actor()[1..20]);
        let child = Command::new("bao")
            .args([
                "server",
                "-dev",
                "-dev-tls",
                &format!("-dev-tls-cert-dir={}", dir.display()),
                &format!("-dev-root-token-id={token}"),
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bao is installed (scripts/services.sh)");
        let v = Self {
            child,
            dir,
            addr: format!("https://127.0.0.1:{port}"),
            token,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while v.bao(None, &["status"]).is_err() {
            assert!(Instant::now() < deadline, "OpenBao with TLS did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        v
    }

    fn ca(&self) -> String {
        self.dir.join("vault-ca.pem").display().to_string()
    }

    /// Runs the `bao` CLI against this server (in `namespace`).
    fn bao(&self, namespace: Option<&str>, args: &[&str]) -> Result<(), String> {
        let mut cmd = Command::new("bao");
        cmd.args(args)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", &self.token)
            .env("BAO_CACERT", self.ca())
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
}

impl Drop for TlsVault {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn reads_over_tls_with_a_custom_ca_and_in_a_namespace() {
    let vault = TlsVault::start();
    vault
        .bao(
            None,
            &["kv", "put", "-mount=secret", "tls/db", "pw=over-tls"],
        )
        .unwrap();
    vault.bao(None, &["namespace", "create", "team"]).unwrap();
    vault
        .bao(
            Some("team"),
            &["secrets", "enable", "-path=secret", "kv-v2"],
        )
        .unwrap();
    vault
        .bao(
            Some("team"),
            &["kv", "put", "-mount=secret", "tls/db", "pw=in-team"],
        )
        .unwrap();

    let host = Host::for_tests().await.unwrap();
    let hd = host.host_data("default");
    let pref = ProviderRef::new(&hd.provider_key, "default", secrets::CONTRACT_ID);
    let bin = binary("secrets-vault", "secrets-vault", Target::Bin).unwrap();
    let _p = host.launch(&bin, hd).await.unwrap();
    let ca = vault.ca();
    let base = [
        ("addr", vault.addr.as_str()),
        ("token", vault.token.as_str()),
        ("allowed_paths", "tls/*"),
    ];
    let read = async |extra: &[(&str, &str)]| {
        let actor = integration::new_actor();
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
