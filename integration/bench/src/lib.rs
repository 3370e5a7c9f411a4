//! What the benchmark binaries share:
//!
//! - a bounded closed-loop load ([`measure`]) with latency percentiles;
//! - CPU time per call of every process on the path, read from
//!   `/proc/<pid>/stat` over the measured interval ([`CpuWatch`]), and a
//!   process's resident memory ([`rss_bytes`]);
//! - one row format for every bench ([`Row`]): a table for people, or with
//!   `--json` one JSON object per row for scripts;
//! - the flags every bench takes ([`Common`]) and the two ways of signing
//!   the provider path is measured with ([`Auth`]);
//! - a provider under test, launched by a host of its own that signs one
//!   way, and shut down cleanly ([`Provider`]);
//! - starting this same binary in another role (the ideal path's
//!   responder) as its own process ([`spawn_self`]);
//! - kept-alive HTTP/1.1 connections for loads over HTTP ([`http_connect`],
//!   [`http_get`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use lattice_host::{Host, LatticeKey, ProviderProcess, ProviderRef};
use tokio::io::AsyncBufReadExt;

/// Throughput and latency of one measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measure {
    /// Completed operations per second.
    pub ops_per_sec: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Operations completed.
    pub ops: usize,
    /// Operations that failed.
    pub errors: usize,
}

/// Summarises latencies collected over `elapsed`.
pub fn summarize(mut latencies: Vec<Duration>, elapsed: Duration, errors: usize) -> Measure {
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Measure {
        ops_per_sec: latencies.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        p50: pct(0.50),
        p99: pct(0.99),
        ops: latencies.len(),
        errors,
    }
}

/// Runs `call(i)` from `in_flight` tasks until `requests` calls were made or
/// `seconds` passed; a call returns whether it succeeded.
pub async fn measure<F, Fut>(in_flight: usize, requests: usize, seconds: u64, call: F) -> Measure
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    measure_with(vec![(); in_flight], requests, seconds, move |(), i| {
        let call = call(i);
        async move { ((), call.await) }
    })
    .await
}

/// Like [`measure`], with one task per element of `states` (a kept-alive
/// connection, say): `call(state, i)` gets its task's state and hands it
/// back with whether it succeeded.
pub async fn measure_with<S, F, Fut>(
    states: Vec<S>,
    requests: usize,
    seconds: u64,
    call: F,
) -> Measure
where
    S: Send + 'static,
    F: Fn(S, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (S, bool)> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut state in states {
        let (call, next, errors) = (call.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests || Instant::now() > deadline {
                    break;
                }
                let t = Instant::now();
                let (s, ok) = call(state, i).await;
                state = s;
                if ok {
                    lat.push(t.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    summarize(all, started.elapsed(), errors.load(Ordering::Relaxed))
}

/// Runs `load` while watching `procs` (see [`CpuWatch`]): its measure, and
/// the CPU per call of each process.
pub async fn watched(
    procs: &[(&str, u32)],
    load: impl Future<Output = Measure>,
) -> (Measure, Vec<(String, f64)>) {
    let watch = CpuWatch::start(procs);
    let m = load.await;
    let cpu = watch.per_call(m.ops);
    (m, cpu)
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
fn ticks_per_sec() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds (user + system) process `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count from after its ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15 (1-based).
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / ticks_per_sec())
}

/// Resident memory of process `pid`, bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    Ok(kib * 1024)
}

/// Processes whose command name is `comm` (`nats-server`, `redis-server`).
pub fn pids_named(comm: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

/// CPU used by named processes over an interval. Every watch also counts
/// the servers on the path: all `nats-server` and `redis-server` processes
/// (`nats`, `redis`).
pub struct CpuWatch {
    start: Vec<(String, Vec<u32>, f64)>,
}

fn cpu_of(pids: &[u32]) -> f64 {
    pids.iter().map(|p| cpu_seconds(*p).unwrap_or(0.0)).sum()
}

impl CpuWatch {
    /// Starts watching `procs` (name, pid).
    pub fn start(procs: &[(&str, u32)]) -> Self {
        let mut start: Vec<(String, Vec<u32>, f64)> = procs
            .iter()
            .map(|(n, p)| (n.to_string(), vec![*p], cpu_seconds(*p).unwrap_or(0.0)))
            .collect();
        for server in ["nats-server", "redis-server"] {
            let pids = pids_named(server);
            let name = server.trim_end_matches("-server").to_string();
            let used = cpu_of(&pids);
            start.push((name, pids, used));
        }
        Self { start }
    }

    /// Microseconds of CPU per call for each process, over `calls` calls.
    pub fn per_call(&self, calls: usize) -> Vec<(String, f64)> {
        self.start
            .iter()
            .map(|(n, p, s)| {
                let used = cpu_of(p) - s;
                (n.clone(), used * 1e6 / calls.max(1) as f64)
            })
            .collect()
    }
}

/// How the provider path is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Auth {
    /// Ed25519 claims from the cluster key (wasmbus 0.x).
    Ed25519,
    /// HS256 claims under per-provider keys, `require_mac` on.
    Hs256,
}

impl Auth {
    /// Its name in rows.
    pub fn name(self) -> &'static str {
        match self {
            Auth::Ed25519 => "ed25519",
            Auth::Hs256 => "hs256",
        }
    }

    /// A host on a fresh lattice of `nats_url` that signs this way.
    pub async fn host(self, nats_url: &str) -> Result<Host> {
        let b = Host::builder().nats_url(nats_url);
        let b = match self {
            Auth::Ed25519 => b,
            Auth::Hs256 => b.lattice_key(LatticeKey::generate()).require_mac(true),
        };
        Ok(b.connect().await?)
    }
}

/// Flags every bench takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// NATS of the lattice.
    #[arg(long, default_value = "nats://127.0.0.1:4222", global = true)]
    pub nats_url: String,
    /// Operations per measurement at most.
    #[arg(long, default_value_t = 20_000, global = true)]
    pub requests: usize,
    /// Seconds per measurement at most.
    #[arg(long, default_value_t = 5, global = true)]
    pub seconds: u64,
    /// Calls in flight, one row each (comma list).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 64], global = true)]
    pub in_flight: Vec<usize>,
    /// How the provider path is signed, one row each (comma list).
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [Auth::Ed25519, Auth::Hs256], global = true)]
    pub auth: Vec<Auth>,
    /// One JSON object per row on stdout, instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// After the rows, run the HS256 provider path at 64 in flight for this
    /// many seconds and report the provider's resident memory before and after.
    #[arg(long, global = true)]
    pub soak_secs: Option<u64>,
    /// Tokio worker threads of the providers (0: single-threaded).
    #[arg(long, default_value_t = 0, global = true)]
    pub worker_threads: u32,
}

/// A provider under test: launched on link `default` by a host of its own
/// (a fresh lattice), which signs one way and calls it.
pub struct Provider {
    /// How its host signs.
    pub auth: Auth,
    /// The host that launched it.
    pub host: Host,
    /// How callers address it.
    pub pref: ProviderRef,
    /// Its process.
    pub proc: ProviderProcess,
    /// Its process id, for [`CpuWatch`] (`provider`).
    pub pid: u32,
}

impl Provider {
    /// Launches provider `binary` (see [`provider_binary`]) of `contract_id`
    /// with provider-wide `config`, on a host of `common.nats_url` that
    /// signs as `auth`; waits until it answers health.
    pub async fn launch(
        common: &Common,
        auth: Auth,
        binary: &str,
        contract_id: &str,
        config: Option<serde_json::Value>,
    ) -> Result<Self> {
        let host = auth.host(&common.nats_url).await?;
        let mut hd = host.host_data("default");
        hd.config_json = config.map(|c| c.to_string());
        hd.worker_threads = Some(common.worker_threads);
        let pref = ProviderRef::new(&hd.provider_key, "default", contract_id);
        let proc = host
            .launch(&provider_binary(binary)?, hd)
            .ready_within(Duration::from_secs(120))
            .await?;
        let pid = proc.pid().context("the provider exited at start")?;
        Ok(Self {
            auth,
            host,
            pref,
            proc,
            pid,
        })
    }

    /// A draining shutdown, waiting for the process to exit (so that a
    /// provider run under a profiler writes its profile); then deletes its
    /// lattice's chunk bucket, if any.
    pub async fn shutdown(mut self) -> Result<()> {
        self.host.shutdown(&self.pref, None, Some(2000)).await?;
        self.proc.wait(Duration::from_secs(60)).await?;
        self.host.delete_chunk_bucket().await?;
        Ok(())
    }
}

/// The ideal path of one operation at one concurrency, measured once; each
/// provider path is then measured and printed beside it ([`Baseline::row`]).
pub struct Baseline {
    bench: &'static str,
    op: String,
    in_flight: usize,
    json: bool,
    ideal: Measure,
    cpu: Vec<(String, f64)>,
}

impl Baseline {
    /// Measures the ideal path: `load` (a [`measure`] or [`measure_with`])
    /// while watching `procs`.
    pub async fn measure(
        bench: &'static str,
        op: &str,
        in_flight: usize,
        json: bool,
        procs: &[(&str, u32)],
        load: impl Future<Output = Measure>,
    ) -> Self {
        let (ideal, cpu) = watched(procs, load).await;
        Self {
            bench,
            op: op.to_string(),
            in_flight,
            json,
            ideal,
            cpu,
        }
    }

    /// Measures one provider path (`load` while watching `procs`), signed
    /// as `auth`, and prints its row beside the ideal path.
    pub async fn row(
        &self,
        auth: Auth,
        procs: &[(&str, u32)],
        load: impl Future<Output = Measure>,
    ) {
        let (provider, cpu) = watched(procs, load).await;
        Row::new(
            self.bench,
            &self.op,
            self.in_flight,
            auth,
            self.ideal,
            &self.cpu,
            provider,
            &cpu,
        )
        .print(self.json);
    }
}

/// One measured row: the provider path beside the ideal path, in one run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Row {
    /// The bench (`keyvalue`, `httpserver`, …).
    pub bench: &'static str,
    /// The operation (`get`, `publish`, …).
    pub op: String,
    /// Calls in flight (or connections).
    pub in_flight: usize,
    /// `ed25519` or `hs256`.
    pub auth: &'static str,
    /// Ideal path throughput, operations/s.
    pub ideal_ops: f64,
    /// Provider path throughput, operations/s.
    pub provider_ops: f64,
    /// `provider_ops / ideal_ops`.
    pub ratio: f64,
    /// Provider process CPU per call, µs.
    pub provider_cpu_us_per_call: f64,
    /// Ideal responder process CPU per call, µs.
    pub ideal_cpu_us_per_call: f64,
    /// Load generator CPU per call on the provider path, µs.
    pub loadgen_cpu_us_per_call: f64,
    /// Load generator CPU per call on the ideal path, µs.
    pub ideal_loadgen_cpu_us_per_call: f64,
    /// NATS server CPU per call on the provider path, µs.
    pub nats_cpu_us_per_call: f64,
    /// NATS server CPU per call on the ideal path, µs.
    pub ideal_nats_cpu_us_per_call: f64,
    /// Provider path median latency, µs.
    pub p50_us: f64,
    /// Provider path 99th percentile latency, µs.
    pub p99_us: f64,
    /// Ideal path median latency, µs.
    pub ideal_p50_us: f64,
    /// Failed calls (either path).
    pub errors: usize,
    /// Vault server CPU per call on the provider path, µs (benches with a
    /// `vault` process only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_cpu_us_per_call: Option<f64>,
    /// Vault server CPU per call on the ideal path, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ideal_vault_cpu_us_per_call: Option<f64>,
    /// RabbitMQ broker CPU per call on the provider path, µs (benches that
    /// watch a `rabbitmq` process only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rabbitmq_cpu_us_per_call: Option<f64>,
    /// RabbitMQ broker CPU per call on the ideal path, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ideal_rabbitmq_cpu_us_per_call: Option<f64>,
    /// httpserver provider CPU per call on the measured path, µs (benches
    /// where it is on both paths and not the provider measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub httpserver_cpu_us_per_call: Option<f64>,
    /// httpserver provider CPU per call on the ideal path, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ideal_httpserver_cpu_us_per_call: Option<f64>,
}

impl Row {
    /// A row from the two measurements and their CPU use.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        bench: &'static str,
        op: &str,
        in_flight: usize,
        auth: Auth,
        ideal: Measure,
        ideal_cpu: &[(String, f64)],
        provider: Measure,
        provider_cpu: &[(String, f64)],
    ) -> Self {
        let find =
            |v: &[(String, f64)], who: &str| v.iter().find(|(n, _)| n == who).map(|(_, c)| *c);
        let cpu = |v: &[(String, f64)], who: &str| find(v, who).unwrap_or(0.0);
        Self {
            bench,
            op: op.to_string(),
            in_flight,
            auth: auth.name(),
            ideal_ops: ideal.ops_per_sec,
            provider_ops: provider.ops_per_sec,
            ratio: provider.ops_per_sec / ideal.ops_per_sec.max(f64::EPSILON),
            provider_cpu_us_per_call: cpu(provider_cpu, "provider"),
            ideal_cpu_us_per_call: cpu(ideal_cpu, "ideal"),
            loadgen_cpu_us_per_call: cpu(provider_cpu, "loadgen"),
            ideal_loadgen_cpu_us_per_call: cpu(ideal_cpu, "loadgen"),
            nats_cpu_us_per_call: cpu(provider_cpu, "nats"),
            ideal_nats_cpu_us_per_call: cpu(ideal_cpu, "nats"),
            p50_us: provider.p50.as_secs_f64() * 1e6,
            p99_us: provider.p99.as_secs_f64() * 1e6,
            ideal_p50_us: ideal.p50.as_secs_f64() * 1e6,
            errors: ideal.errors + provider.errors,
            vault_cpu_us_per_call: find(provider_cpu, "vault"),
            ideal_vault_cpu_us_per_call: find(ideal_cpu, "vault"),
            rabbitmq_cpu_us_per_call: find(provider_cpu, "rabbitmq"),
            ideal_rabbitmq_cpu_us_per_call: find(ideal_cpu, "rabbitmq"),
            httpserver_cpu_us_per_call: find(provider_cpu, "httpserver"),
            ideal_httpserver_cpu_us_per_call: find(ideal_cpu, "httpserver"),
        }
    }

    /// Prints the table's header (not in JSON mode).
    pub fn header(json: bool) {
        if !json {
            println!(
                "{:<12} {:>5} {:>8} | {:>9} {:>9} {:>6} | {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8}",
                "op",
                "n",
                "auth",
                "ideal/s",
                "prov/s",
                "ratio",
                "prov µs",
                "ideal µs",
                "gen µs",
                "igen µs",
                "nats µs",
                "inats µs",
                "p50 µs",
                "p99 µs",
                "ip50 µs"
            );
        }
    }

    /// Prints the row: a table line, or one JSON object.
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string(self).unwrap_or_default());
            return;
        }
        let vault = match (self.vault_cpu_us_per_call, self.ideal_vault_cpu_us_per_call) {
            (Some(p), Some(i)) => format!("  vault µs {p:.1} (ideal {i:.1})"),
            _ => String::new(),
        };
        let vault = match (
            self.rabbitmq_cpu_us_per_call,
            self.ideal_rabbitmq_cpu_us_per_call,
        ) {
            (Some(p), Some(i)) => format!("{vault}  rabbitmq µs {p:.1} (ideal {i:.1})"),
            _ => vault,
        };
        let vault = match (
            self.httpserver_cpu_us_per_call,
            self.ideal_httpserver_cpu_us_per_call,
        ) {
            (Some(p), Some(i)) => format!("{vault}  httpserver µs {p:.1} (ideal {i:.1})"),
            _ => vault,
        };
        println!(
            "{:<12} {:>5} {:>8} | {:>9.0} {:>9.0} {:>5.0}% | {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} | {:>8.0} {:>8.0} {:>8.0}{vault}{}",
            self.op,
            self.in_flight,
            self.auth,
            self.ideal_ops,
            self.provider_ops,
            self.ratio * 100.0,
            self.provider_cpu_us_per_call,
            self.ideal_cpu_us_per_call,
            self.loadgen_cpu_us_per_call,
            self.ideal_loadgen_cpu_us_per_call,
            self.nats_cpu_us_per_call,
            self.ideal_nats_cpu_us_per_call,
            self.p50_us,
            self.p99_us,
            self.ideal_p50_us,
            if self.errors > 0 {
                format!("  ({} errors)", self.errors)
            } else {
                String::new()
            }
        );
    }
}

/// Memory of a provider under a long HS256 load.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SoakRow {
    /// The bench.
    pub bench: &'static str,
    /// Always `soak`.
    pub op: &'static str,
    /// Seconds of load.
    pub seconds: u64,
    /// Calls made.
    pub calls: usize,
    /// Calls that failed.
    pub errors: usize,
    /// Calls per second.
    pub provider_ops: f64,
    /// Provider RSS before the load, MiB.
    pub rss_before_mib: f64,
    /// Provider RSS after the load, MiB.
    pub rss_after_mib: f64,
}

impl SoakRow {
    /// Prints it (a line, or JSON).
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string(self).unwrap_or_default());
        } else {
            println!(
                "soak: {} calls in {} s ({:.0}/s, hs256, 64 in flight, {} errors): provider RSS {:.1} MiB before, {:.1} MiB after",
                self.calls,
                self.seconds,
                self.provider_ops,
                self.errors,
                self.rss_before_mib,
                self.rss_after_mib
            );
        }
    }
}

/// Runs the soak: `call` at 64 in flight for `secs` seconds (and at most
/// 100 000 calls a second), then the provider's RSS.
pub async fn soak<F, Fut>(bench: &'static str, provider_pid: u32, secs: u64, call: F) -> SoakRow
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    soak_with(bench, provider_pid, secs, vec![(); 64], move |(), i| {
        let call = call(i);
        async move { ((), call.await) }
    })
    .await
}

/// Like [`soak`], with one task per element of `states` (64 kept-alive
/// connections, say), as in [`measure_with`].
pub async fn soak_with<S, F, Fut>(
    bench: &'static str,
    provider_pid: u32,
    secs: u64,
    states: Vec<S>,
    call: F,
) -> SoakRow
where
    S: Send + 'static,
    F: Fn(S, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (S, bool)> + Send,
{
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let before = rss_bytes(provider_pid).map(mib).unwrap_or(0.0);
    let m = measure_with(states, (secs as usize) * 100_000, secs, call).await;
    let after = rss_bytes(provider_pid).map(mib).unwrap_or(0.0);
    SoakRow {
        bench,
        op: "soak",
        seconds: secs,
        calls: m.ops,
        errors: m.errors,
        provider_ops: m.ops_per_sec,
        rss_before_mib: before,
        rss_after_mib: after,
    }
}

/// Starts this binary again with `args` and waits until it prints `ready`.
/// The child is killed when the handle is dropped.
pub async fn spawn_self(args: &[&str]) -> Result<tokio::process::Child> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let out = child.stdout.take().context("child stdout")?;
    let mut line = String::new();
    tokio::io::BufReader::new(out).read_line(&mut line).await?;
    anyhow::ensure!(line.trim() == "ready", "{args:?} did not start");
    Ok(child)
}

/// The provider binary `name` to launch: `LATTICE_BENCH_PROVIDER_BIN` when
/// set (a wrapper script that runs it under a profiler, say), else the
/// built binary beside this bench.
pub fn provider_binary(name: &str) -> Result<std::path::PathBuf> {
    match std::env::var_os("LATTICE_BENCH_PROVIDER_BIN") {
        Some(p) => Ok(p.into()),
        None => lattice_fixtures::binary(name),
    }
}

/// This process's id, for [`CpuWatch`] (`loadgen`).
pub fn own_pid() -> u32 {
    std::process::id()
}

/// A kept-alive HTTP/1.1 connection ([`http_connect`]).
pub type HttpConn = SendRequest<Empty<Bytes>>;

/// `n` kept-alive HTTP/1.1 connections to `addr` (Nagle off), one per call
/// in flight.
pub async fn http_connect(addr: &str, n: usize) -> Result<Vec<HttpConn>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        conns.push(send);
    }
    Ok(conns)
}

/// GETs `path` with `headers` (`host` among them) on `conn`: the body, when
/// the answer is `200`.
pub async fn http_get(conn: &mut HttpConn, path: &str, headers: &[(&str, &str)]) -> Option<Bytes> {
    let mut req = hyper::Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Empty::new()).ok()?;
    conn.ready().await.ok()?;
    let resp = conn.send_request(req).await.ok()?;
    if resp.status() != hyper::StatusCode::OK {
        return None;
    }
    Some(resp.into_body().collect().await.ok()?.to_bytes())
}

/// The operations the messaging benches measure, on either broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessagingOp {
    /// A request answered by an echo.
    Request,
    /// A publish (confirmed where the broker confirms).
    Publish,
    /// A message delivered to a subscriber and handled.
    Subscribe,
}

impl MessagingOp {
    /// Every operation, in row order.
    pub const ALL: [Self; 3] = [Self::Request, Self::Publish, Self::Subscribe];

    /// Its name in rows.
    pub fn name(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Publish => "publish",
            Self::Subscribe => "subscribe",
        }
    }
}

/// How long a messaging bench call waits for its answer: a reply, or its
/// message handled.
pub const MESSAGING_CALL_TIMEOUT: Duration = Duration::from_secs(5);
