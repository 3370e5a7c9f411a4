//! Benchmark: secrets-vault beside a bare Vault read, in one run, as ratios,
//! with CPU time per call for each process.
//!
//! - provider: `Secrets.Get` of one field through the lattice (signed
//!   invocation, allow-list, KV v2 read, seal), opened by the caller; once
//!   with Ed25519 claims (wasmbus 0.x) and once with HS256 (`require_mac`),
//!   one provider process (single-threaded) each;
//! - ideal: the same KV v2 read (`GET /v1/secret/data/{path}`) from this
//!   process over kept-alive HTTP/1.1 connections, one per call in flight.
//!
//! Both against a private OpenBao dev server (`bao` on PATH), whose CPU is
//! reported too (`vault`). The load generator is this process,
//! single-threaded.
//!
//! ```sh
//! cargo build --release -p lattice-bench -p secrets-vault && target/release/bench-secrets [--json]
//! ```

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use lattice_bench::{
    Auth, Baseline, Common, HttpConn, Provider, Row, http_connect, http_get, measure, measure_with,
    own_pid, soak,
};
use lattice_fixtures::{VaultFixture, VaultServer};
use secrets_interface::SecretsClient;

#[derive(Parser)]
#[command(about = "secrets-vault vs a bare Vault read, one run, as ratios")]
struct Cli {
    #[command(flatten)]
    common: Common,
}

/// The secret both paths read, and its one field.
const PATH: &str = "bench/db";
const FIELD: &str = "pw";

/// One provider under test, signed one way, and its client.
struct Under {
    p: Provider,
    client: Arc<SecretsClient>,
}

async fn launch(common: &Common, auth: Auth, vault: &VaultFixture) -> Result<Under> {
    let p = Provider::launch(
        common,
        auth,
        "secrets-vault",
        secrets_interface::CONTRACT_ID,
        None,
    )
    .await?;
    let actor = lattice_host::new_actor();
    let mut ld = p.host.link(
        &p.pref,
        &actor,
        &[("addr", &vault.url()), ("allowed_paths", "bench/*")],
    );
    ld.secrets.insert(
        "token".into(),
        p.host.seal_for(&p.proc.host_data, &vault.token)?,
    );
    let ack = p.host.put_link(&p.pref, &ld).await?;
    anyhow::ensure!(ack.accepted, "link refused: {:?}", ack.error);
    let client = Arc::new(SecretsClient::new(
        p.host.rpc().clone(),
        &actor,
        &p.pref.key,
        "default",
    ));
    client
        .get_open(PATH, Some(FIELD), None)
        .await
        .context("a first read through the provider")?;
    Ok(Under { p, client })
}

/// The bare KV v2 read on `conn`: whether the field came back.
async fn bare_read(mut conn: HttpConn, vault: Arc<VaultFixture>) -> (HttpConn, bool) {
    let path = format!("/v1/{}/data/{PATH}", vault.mount);
    let headers = [
        ("host", vault.addr.as_str()),
        ("x-vault-token", vault.token.as_str()),
    ];
    let ok = http_get(&mut conn, &path, &headers)
        .await
        .is_some_and(|body| {
            serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|v| v["data"]["data"][FIELD].is_string())
        });
    (conn, ok)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let c = &cli.common;
    let vault = VaultServer::start().await?;
    let vault_pid = vault.pid().context("the Vault server is not running")?;
    let fixture = Arc::new(vault.fixture.clone());
    fixture
        .put(PATH, serde_json::json!({ FIELD: "bench-value" }))
        .await?;
    let mut unders = Vec::new();
    for &auth in &c.auth {
        unders.push(launch(c, auth, &fixture).await?);
    }

    if !c.json {
        println!(
            "secrets-vault vs bare Vault KV v2 read, {} operations or {} s each; CPU µs per call",
            c.requests, c.seconds
        );
    }
    Row::header(c.json);
    for &n in &c.in_flight {
        let conns = http_connect(&fixture.addr, n).await?;
        let f = fixture.clone();
        let base = Baseline::measure(
            "secrets",
            "get",
            n,
            c.json,
            &[("vault", vault_pid), ("loadgen", own_pid())],
            measure_with(conns, c.requests, c.seconds, move |conn, _| {
                bare_read(conn, f.clone())
            }),
        )
        .await;
        for u in &unders {
            let client = u.client.clone();
            let load = measure(n, c.requests, c.seconds, move |_| {
                let client = client.clone();
                async move { client.get_open(PATH, Some(FIELD), None).await.is_ok() }
            });
            let procs = [
                ("provider", u.p.pid),
                ("vault", vault_pid),
                ("loadgen", own_pid()),
            ];
            base.row(u.p.auth, &procs, load).await;
        }
    }
    if let Some(secs) = c.soak_secs
        && let Some(u) = unders.iter().find(|u| u.p.auth == Auth::Hs256)
    {
        let client = u.client.clone();
        soak("secrets", u.p.pid, secs, move |_| {
            let client = client.clone();
            async move { client.get_open(PATH, Some(FIELD), None).await.is_ok() }
        })
        .await
        .print(c.json);
    }
    for u in unders {
        u.p.shutdown().await?;
    }
    drop(vault);
    Ok(())
}
