//! `lattice check`: a contract suite against any provider, and `lattice
//! demo`, the SDK's example provider end to end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use lattice_conformance::Suite as _;
use lattice_conformance::httpserver::HttpSuite;
use lattice_conformance::keyvalue::KvSuite;
use lattice_conformance::messaging::MessagingSuite;
use lattice_conformance::secrets::SecretsSuite;
use lattice_fixtures::VaultFixture;
use lattice_host::{Host, ProviderRef, new_actor};

#[derive(Subcommand)]
pub enum Suite {
    /// The wasmcloud:keyvalue suite (legacy and wasi:keyvalue operations).
    Keyvalue {
        #[command(flatten)]
        target: Box<TargetArgs>,
        /// Capabilities the provider does not have (comma list of ttl, cas,
        /// collections, buckets): they must be refused, not faked.
        #[arg(long, value_delimiter = ',')]
        without: Vec<String>,
    },
    /// The wasmcloud:messaging suite (plain NATS or AMQP clients as peers).
    Messaging {
        #[command(flatten)]
        target: Box<TargetArgs>,
        /// Where the plain peers connect: the application NATS
        /// (`nats://…`) or the broker (`amqp://…`) the provider's links talk
        /// to (default: the lattice NATS).
        #[arg(long, alias = "app-nats-url")]
        peer_url: Option<String>,
    },
    /// The wasmcloud:httpserver suite (plain HTTP/1.1 to 127.0.0.1).
    Httpserver {
        #[command(flatten)]
        target: Box<TargetArgs>,
    },
    /// The wasmcloud:secrets suite (seeds secrets in a Vault KV v2 mount).
    Secrets {
        #[command(flatten)]
        target: Box<TargetArgs>,
        /// Vault address the suite writes secrets to (`127.0.0.1:8200`).
        #[arg(long)]
        vault_addr: String,
        /// A Vault token allowed to write under the mount.
        #[arg(long, env = "VAULT_TOKEN", hide_env_values = true)]
        vault_token: String,
        /// The KV v2 mount.
        #[arg(long, default_value = "secret")]
        vault_mount: String,
    },
}

#[derive(Args)]
pub struct TargetArgs {
    /// Launch this provider binary on a fresh lattice.
    #[arg(long, conflicts_with_all = ["provider_key", "lattice"])]
    launch: Option<PathBuf>,
    /// Provider-wide config for a launched provider (JSON text).
    #[arg(long, requires = "launch")]
    config_json: Option<String>,
    /// Lattice of a running provider.
    #[arg(long, requires = "provider_key")]
    lattice: Option<String>,
    /// Public key of a running provider.
    #[arg(long, requires = "lattice")]
    provider_key: Option<String>,
    /// Seed of a cluster key the running provider trusts (it signs the calls).
    #[arg(long, env = "LATTICE_CLUSTER_SEED", hide_env_values = true)]
    cluster_seed: Option<String>,
    /// Link name.
    #[arg(long, default_value = "default")]
    link_name: String,
    /// Link value for the suite's actor (repeatable).
    #[arg(long = "link", value_name = "KEY=VALUE")]
    link_values: Vec<String>,
    /// Only cases whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Label in the report (`keyvalue/<label>/case`).
    #[arg(long, default_value = "provider")]
    label: String,
}

/// A provider under test: launched here, or already on a lattice.
struct UnderTest {
    host: Arc<Host>,
    pref: ProviderRef,
    values: Vec<(String, String)>,
    _proc: Option<lattice_host::ProviderProcess>,
}

impl UnderTest {
    async fn connect(nats_url: &str, t: &TargetArgs, contract: &str) -> Result<Self> {
        let values: Vec<(String, String)> = t
            .link_values
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .with_context(|| format!("--link wants KEY=VALUE, got {kv:?}"))
            })
            .collect::<Result<_>>()?;
        match (&t.launch, &t.lattice, &t.provider_key) {
            (Some(bin), _, _) => {
                let host = Host::builder().nats_url(nats_url).connect().await?;
                let mut hd = host.host_data(&t.link_name);
                hd.config_json = t.config_json.clone();
                let pref = ProviderRef::new(&hd.provider_key, &t.link_name, contract);
                let proc = host.launch(bin, hd).await?;
                Ok(Self {
                    host: Arc::new(host),
                    pref,
                    values,
                    _proc: Some(proc),
                })
            }
            (None, Some(lattice), Some(key)) => {
                let seed = t
                    .cluster_seed
                    .as_deref()
                    .context("--cluster-seed (or LATTICE_CLUSTER_SEED) is needed to sign calls")?;
                let kp = nkeys::KeyPair::from_seed(seed)
                    .context("--cluster-seed is not a valid seed")?;
                let host = Host::builder()
                    .nats_url(nats_url)
                    .lattice(lattice)
                    .cluster_key(kp)
                    .connect()
                    .await?;
                let pref = ProviderRef::new(key, &t.link_name, contract);
                Ok(Self {
                    host: Arc::new(host),
                    pref,
                    values,
                    _proc: None,
                })
            }
            _ => bail!("give --launch BINARY, or --lattice and --provider-key"),
        }
    }

    fn values(&self) -> Vec<(&str, &str)> {
        self.values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

fn finish(report: lattice_conformance::Report) -> Result<()> {
    println!("{report}");
    if !report.passed() {
        // An error, not process::exit: the launched provider is dropped (killed) first.
        bail!("{} case(s) failed", report.failures().len());
    }
    Ok(())
}

pub async fn check(nats_url: &str, suite: Suite) -> Result<()> {
    match suite {
        Suite::Keyvalue { target, without } => check_keyvalue(nats_url, *target, &without).await,
        Suite::Messaging { target, peer_url } => {
            let u = UnderTest::connect(nats_url, &target, messaging_interface::CONTRACT_ID).await?;
            let app = peer_url.unwrap_or_else(|| nats_url.to_string());
            let s = MessagingSuite::link(u.host.clone(), &u.pref, &app, &u.values()).await?;
            finish(s.run(&target.label, target.filter.as_deref()).await)
        }
        Suite::Httpserver { target } => {
            let u =
                UnderTest::connect(nats_url, &target, httpserver_interface::CONTRACT_ID).await?;
            let s = HttpSuite::new(u.host.clone(), &u.pref, &u.values());
            let report = s.run(&target.label, target.filter.as_deref()).await;
            u.host.delete_chunk_bucket().await?;
            finish(report)
        }
        Suite::Secrets {
            target,
            vault_addr,
            vault_token,
            vault_mount,
        } => {
            let mut u =
                UnderTest::connect(nats_url, &target, secrets_interface::CONTRACT_ID).await?;
            let vault = VaultFixture {
                addr: vault_addr,
                token: vault_token,
                mount: vault_mount,
            };
            // The provider reads from the Vault the suite writes to, unless
            // --link says otherwise.
            let given = |k: &str| u.values.iter().any(|(key, _)| key.eq_ignore_ascii_case(k));
            let mut defaults = Vec::new();
            if !given("addr") {
                defaults.push(("addr".to_string(), vault.url()));
            }
            if !given("token") {
                defaults.push(("token".to_string(), vault.token.clone()));
            }
            if !given("mount") {
                defaults.push(("mount".to_string(), vault.mount.clone()));
            }
            u.values.extend(defaults);
            let s = SecretsSuite::new(u.host.clone(), &u.pref, vault, &u.values());
            finish(s.run(&target.label, target.filter.as_deref()).await)
        }
    }
}

async fn check_keyvalue(nats_url: &str, t: TargetArgs, without: &[String]) -> Result<()> {
    let mut caps = keyvalue_interface::Capabilities::ALL;
    for w in without {
        match w.as_str() {
            "ttl" => caps.ttl = false,
            "cas" => caps.cas = false,
            "collections" => caps.collections = false,
            "buckets" => caps.buckets = false,
            other => bail!("unknown capability {other:?} (ttl, cas, collections, buckets)"),
        }
    }
    let u = UnderTest::connect(nats_url, &t, keyvalue_interface::CONTRACT_ID).await?;
    let suite = KvSuite::link(&u.host, &u.pref, &u.values(), caps).await?;
    let report = suite.run(&t.label, t.filter.as_deref()).await;
    suite.cleanup().await?;
    u.host.delete_chunk_bucket().await?;
    finish(report)
}

pub async fn demo(nats_url: &str) -> Result<()> {
    let host = Host::builder().nats_url(nats_url).connect().await?;
    println!("lattice   {} on {nats_url}", host.lattice());
    let hd = host.host_data("default");
    let echo = ProviderRef::new(&hd.provider_key, "default", "example:echo");
    let mut proc = host.launch(&lattice_fixtures::example("echo")?, hd).await?;
    println!(
        "launched  echo provider {} (pid {})",
        echo.key,
        proc.pid().unwrap_or(0)
    );
    let health = host.health(&echo).await?;
    println!("health    healthy={}", health.healthy);

    let actor = new_actor();
    host.link_actor(&echo, &actor, &[("prefix", "echo: ")])
        .await?;
    println!("linked    actor {actor}");

    let started = Instant::now();
    let out = host
        .call(&echo, &actor, "Echo.Echo", b"hello, lattice".to_vec())
        .await?;
    println!(
        "called    Echo.Echo -> {:?} in {:?}",
        String::from_utf8_lossy(&out),
        started.elapsed()
    );

    let stranger = new_actor();
    match host
        .call(&echo, &stranger, "Echo.Echo", b"hi".to_vec())
        .await
    {
        Err(e) => println!("unlinked  {stranger} -> {e}"),
        Ok(_) => bail!("an unlinked actor was served"),
    }

    let big = vec![b'x'; 4 * 1024 * 1024];
    let started = Instant::now();
    let out = host.call(&echo, &actor, "Echo.Echo", big).await?;
    println!(
        "chunked   4 MiB body echoed ({} bytes back) in {:?}",
        out.len(),
        started.elapsed()
    );

    host.shutdown(&echo, None, Some(2000)).await?;
    let status = proc.wait(std::time::Duration::from_secs(10)).await?;
    println!("shutdown  provider exited with {status}");
    host.delete_chunk_bucket().await?;
    Ok(())
}
