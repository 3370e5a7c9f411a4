//! `lattice up MANIFEST`: a foreground host. It checks the whole manifest,
//! launches the providers and waits until each is healthy, applies the
//! links, then supervises: an instance that exits or stops answering health
//! is started again (with backoff) and gets its links back from the shared
//! state. Ctrl-C or SIGTERM drains what it runs, in reverse order.
//!
//! Running it again on the same machine adopts the instances this host
//! already runs (its host id lives in the state directory) instead of
//! starting twins.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use lattice_host::{Host, ProviderProcess, ProviderRef};
use serde_json::json;

use crate::hostctl::{self, Gate, Reply, Touched};
use crate::links;
use crate::local::{self, StateDir};
use crate::manifest::{self, LinkSpec, Manifest, ProviderSpec};
use crate::out::Out;
use crate::provider_bin::{self, Described};
use lattice_host::keys::Keys;
use lattice_host::state::{InstanceRecord, ProviderRecord, State};

/// Health is asked this often of every instance.
const HEALTH_EVERY: Duration = Duration::from_secs(5);
/// Unanswered health checks in a row before an instance is killed and restarted.
const HEALTH_MISSES: u32 = 3;
/// The first restart waits this long; each further one twice as long.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// The longest wait between restarts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// An instance up this long resets its provider's backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// Drain allowed to each instance when `lattice up` stops.
const DRAIN_MS: u64 = 5000;

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A provider of the manifest, resolved and checked.
struct Prov {
    spec: ProviderSpec,
    pref: ProviderRef,
    binary: PathBuf,
    /// Instances wanted.
    desired: u32,
    /// Launches under way.
    starting: u32,
    restarts: u32,
    backoff: Duration,
    next_start: Option<Instant>,
}

/// A running instance this host supervises.
struct Inst {
    name: String,
    instance_id: String,
    pid: u32,
    started_at_ms: u64,
    started: Instant,
    binary: PathBuf,
    /// None when adopted from an earlier `lattice up`.
    proc: Option<ProviderProcess>,
    misses: u32,
}

#[derive(Default)]
struct Table {
    provs: Vec<Prov>,
    insts: Vec<Inst>,
}

impl Table {
    fn prov(&mut self, name: &str) -> Option<&mut Prov> {
        self.provs.iter_mut().find(|p| p.spec.name == name)
    }

    fn live(&self, name: &str) -> u32 {
        self.insts.iter().filter(|i| i.name == name).count() as u32
    }

    fn take(&mut self, instance_id: &str) -> Option<Inst> {
        let i = self
            .insts
            .iter()
            .position(|i| i.instance_id == instance_id)?;
        Some(self.insts.remove(i))
    }

    /// Takes every instance of `name` out of supervision.
    fn take_all(&mut self, name: &str) -> Vec<Inst> {
        let (taken, kept) = std::mem::take(&mut self.insts)
            .into_iter()
            .partition(|i| i.name == name);
        self.insts = kept;
        taken
    }
}

struct Shared {
    host: Host,
    state: State,
    prefix: String,
    dir: StateDir,
    out: Out,
    table: Mutex<Table>,
    draining: AtomicBool,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, inst: &Inst, status: &str, restarts: u32) -> InstanceRecord {
        let pref = self
            .table()
            .provs
            .iter()
            .find(|p| p.spec.name == inst.name)
            .map(|p| p.pref.clone());
        let (key, link) = pref.map_or((String::new(), String::new()), |p| (p.key, p.link_name));
        InstanceRecord {
            name: inst.name.clone(),
            provider_key: key,
            link_name: link,
            host_id: self.host.host_id(),
            instance_id: inst.instance_id.clone(),
            pid: inst.pid,
            started_at_ms: inst.started_at_ms,
            binary: inst.binary.display().to_string(),
            status: status.into(),
            restarts,
        }
    }

    /// Launches one instance of `name` with `binary` and waits until it answers health.
    async fn launch(&self, name: &str, binary: &Path) -> Result<Inst> {
        let (spec, pref) = {
            let t = self.table();
            let p = t
                .provs
                .iter()
                .find(|p| p.spec.name == name)
                .context("no such provider")?;
            (p.spec.clone(), p.pref.clone())
        };
        let mut hd = self.host.host_data_for(&pref.key, &pref.link_name);
        hd.config_json = spec.config.as_ref().map(|c| c.to_string());
        hd.link_definitions = self
            .state
            .links_of(&pref.key, &pref.link_name)
            .await?
            .iter()
            .map(links::definition)
            .collect::<Result<_>>()?;
        let instance_id = hd.instance_id.clone();
        let log = self.dir.log_path(&self.prefix, name);
        let mut launch = self
            .host
            .launch(binary, hd)
            .log_to(&log)
            .ready_within(manifest::ready_within(spec.contract.as_deref()));
        for (k, v) in &spec.env {
            launch = launch.env(k, v);
        }
        let proc = launch
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {e}\n(log: {})", log.display()))?;
        Ok(Inst {
            name: name.to_string(),
            instance_id,
            pid: proc.pid().unwrap_or(0),
            started_at_ms: now_ms(),
            started: Instant::now(),
            binary: binary.to_path_buf(),
            proc: Some(proc),
            misses: 0,
        })
    }

    /// Asks `inst` to shut down (draining `drain_ms`) and waits until its
    /// process is gone; kills it if it outlives the drain by 5 s.
    async fn stop(&self, mut inst: Inst, drain_ms: u64) {
        let pref = self
            .table()
            .provs
            .iter()
            .find(|p| p.spec.name == inst.name)
            .map(|p| p.pref.clone());
        if let Some(pref) = pref {
            let _ = self
                .host
                .shutdown(&pref, Some(&inst.instance_id), Some(drain_ms))
                .await;
        }
        let grace = Duration::from_millis(drain_ms) + Duration::from_secs(5);
        match inst.proc.as_mut() {
            Some(p) => {
                if p.wait(grace).await.is_err() {
                    p.kill().await;
                }
            }
            None => {
                let deadline = Instant::now() + grace;
                while local::process_alive(inst.pid) && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if local::process_alive(inst.pid) {
                    kill(inst.pid);
                }
            }
        }
        let _ = self
            .state
            .del_instance(&self.host.host_id(), &inst.instance_id)
            .await;
    }
}

impl Shared {
    /// [`Shared::stop`], then one `stopped` line: `{name}: {what} pid {pid}`.
    async fn stop_reported(&self, inst: Inst, drain_ms: u64, what: &str) -> Touched {
        let touched = Touched {
            instance_id: inst.instance_id.clone(),
            pid: inst.pid,
        };
        let name = inst.name.clone();
        self.stop(inst, drain_ms).await;
        self.out.event(
            "stopped",
            format!("{name}: {what} pid {}", touched.pid),
            json!({"provider": name, "pid": touched.pid, "instance_id": touched.instance_id}),
        );
        touched
    }
}

/// SIGKILL to a process of this host that was adopted (not a child of this
/// process); the pid is this machine's own record.
fn kill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Options of `lattice up`.
pub struct UpArgs {
    /// The manifest.
    pub manifest: PathBuf,
    /// NATS URL from the command line (over the manifest's).
    pub nats_url: Option<String>,
}

/// Everything checked before anything starts.
struct Checked {
    manifest: Manifest,
    binaries: Vec<(PathBuf, Described)>,
    secrets: Vec<Vec<(String, String)>>,
}

fn check(args: &UpArgs, out: Out) -> Result<Checked> {
    let manifest = Manifest::load(&args.manifest)?;
    let base = args
        .manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut binaries = Vec::new();
    for p in &manifest.providers {
        let bin = provider_bin::resolve(&p.binary, &base)
            .map_err(|e| anyhow::anyhow!("{}: provider {:?}: {e}", p.at, p.name))?;
        let described = provider_bin::describe(&bin, p.contract.as_deref())
            .map_err(|e| anyhow::anyhow!("{}: provider {:?}: {e}", p.at, p.name))?;
        if let Some(config) = &p.config {
            let pairs = provider_bin::config_pairs(config);
            provider_bin::check_values(&bin, &pairs)
                .map_err(|e| anyhow::anyhow!("{}: provider {:?}: config: {e}", p.at, p.name))?;
        }
        out.note(format!(
            "checked {}: {} {} ({})",
            p.name, described.name, described.version, described.contract_id
        ));
        binaries.push((bin, described));
    }
    let mut secrets = Vec::new();
    for l in &manifest.links {
        let i = manifest
            .providers
            .iter()
            .position(|p| p.name == l.provider)
            .context("link to an undeclared provider")?;
        let pairs: Vec<(String, String)> = l
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        provider_bin::check_values(&binaries[i].0, &pairs)
            .map_err(|e| anyhow::anyhow!("{}: link to {:?}: {e}", l.at, l.provider))?;
        secrets.push(l.read_secrets()?);
    }
    Ok(Checked {
        manifest,
        binaries,
        secrets,
    })
}

/// Runs `lattice up` until Ctrl-C or SIGTERM.
pub async fn run(args: UpArgs, keys: Keys, dir: StateDir, out: Out) -> Result<()> {
    let Checked {
        mut manifest,
        binaries,
        secrets,
    } = check(&args, out)?;
    // A component host signs its component's calls with the lattice's keys:
    // it reads the keys file this run uses.
    for p in &mut manifest.providers {
        if p.contract.as_deref() == Some(manifest::COMPONENT_CONTRACT)
            && let Some(serde_json::Value::Object(c)) = &mut p.config
        {
            c.insert(
                "keys_file".into(),
                json!(keys.location.path.display().to_string()),
            );
        }
    }
    for c in &manifest.components {
        out.note(format!(
            "component {}: actor {} ({})",
            c.name,
            c.actor,
            c.wasm.display()
        ));
    }
    let prefix = manifest.prefix.clone();
    let nats_url = args.nats_url.clone().unwrap_or(manifest.nats_url.clone());
    let _lock = dir.lock(&prefix)?;
    dir.ensure_logs(&prefix)?;
    let host_key = dir.host_key()?;
    let host = Host::builder()
        .nats_url(&nats_url)
        .lattice(&prefix)
        .cluster_key(keys.cluster.clone())
        .lattice_key(keys.lattice.clone())
        .require_mac(true)
        .host_key(host_key)
        .connect()
        .await?;
    let state = State::create(host.nats(), &prefix).await?;
    let host_id = host.host_id();
    out.event(
        "host",
        format!(
            "lattice {prefix} on {} as host {host_id} (state: {}, bucket {})",
            lattice_rpc::secret::redact_url(&nats_url),
            dir.path().display(),
            state.bucket()
        ),
        json!({"lattice": prefix, "host_id": host_id, "state_dir": dir.path(), "bucket": state.bucket()}),
    );

    // What each name stands for: a provider keeps its key across runs.
    let mut table = Table::default();
    for (spec, (binary, described)) in manifest.providers.iter().zip(&binaries) {
        let key = match state.provider(&spec.name).await? {
            Some(r) if r.link_name == spec.link_name && r.contract_id == described.contract_id => {
                r.provider_key
            }
            _ => nkeys::KeyPair::new_service().public_key(),
        };
        let pref = ProviderRef::new(&key, &spec.link_name, &described.contract_id);
        state
            .put_provider(&ProviderRecord {
                name: spec.name.clone(),
                provider_key: key,
                link_name: spec.link_name.clone(),
                contract_id: described.contract_id.clone(),
                binary: binary.display().to_string(),
                instances: spec.instances,
                declared_by: host_id.clone(),
                actor: manifest
                    .components
                    .iter()
                    .find(|c| c.name == spec.name)
                    .map(|c| c.actor.clone()),
            })
            .await?;
        table.provs.push(Prov {
            spec: spec.clone(),
            pref,
            binary: binary.clone(),
            desired: spec.instances,
            starting: 0,
            restarts: 0,
            backoff: BACKOFF_FIRST,
            next_start: None,
        });
    }
    let sh = Arc::new(Shared {
        host,
        state,
        prefix: prefix.clone(),
        dir,
        out,
        table: Mutex::new(table),
        draining: AtomicBool::new(false),
    });

    adopt(&sh).await?;

    // Start what is missing, in manifest order; on any failure stop what
    // this run started and report.
    let mut started_now: Vec<String> = Vec::new();
    let names: Vec<String> = manifest.providers.iter().map(|p| p.name.clone()).collect();
    let total = names.len();
    for (n, name) in names.iter().enumerate() {
        loop {
            let (missing, binary) = {
                let mut t = sh.table();
                let live = t.live(name);
                let p = t.prov(name).context("provider vanished")?;
                (p.desired.saturating_sub(live), p.binary.clone())
            };
            if missing == 0 {
                break;
            }
            let t0 = Instant::now();
            match sh.launch(name, &binary).await {
                Ok(inst) => {
                    sh.out.event(
                        "started",
                        format!(
                            "[{}/{total}] {name}: started pid {} (instance {}), healthy in {:.1} s",
                            n + 1,
                            inst.pid,
                            inst.instance_id,
                            t0.elapsed().as_secs_f64()
                        ),
                        json!({"provider": name, "pid": inst.pid, "instance_id": inst.instance_id}),
                    );
                    sh.state
                        .put_instance(&sh.record(&inst, "running", 0))
                        .await?;
                    started_now.push(inst.instance_id.clone());
                    sh.table().insts.push(inst);
                }
                Err(e) => {
                    rollback(&sh, &started_now).await;
                    return Err(e);
                }
            }
        }
    }

    // Links of the manifest, recorded in the shared state and applied.
    for (spec, secrets) in manifest.links.iter().zip(secrets) {
        if let Err(e) = apply_link(&sh, spec, secrets).await {
            rollback(&sh, &started_now).await;
            return Err(e);
        }
    }

    let ctl = serve_ctl(sh.clone(), &keys).await?;
    let supervisor = tokio::spawn(supervise(sh.clone()));
    let health = tokio::spawn(check_health(sh.clone()));
    sh.out.event(
        "ready",
        format!(
            "ready: {} providers, {} links; Ctrl-C or SIGTERM to stop",
            names.len(),
            manifest.links.len()
        ),
        json!({"providers": names.len(), "links": manifest.links.len()}),
    );

    wait_for_signal().await;
    sh.draining.store(true, Ordering::SeqCst);
    ctl.abort();
    supervisor.abort();
    health.abort();
    sh.out.event("draining", "draining…", json!({}));
    for name in names.iter().rev() {
        let insts = sh.table().take_all(name);
        for inst in insts {
            sh.stop_reported(inst, DRAIN_MS, "drained and stopped")
                .await;
        }
    }
    sh.out.event("down", "down", json!({}));
    Ok(())
}

async fn rollback(sh: &Shared, started: &[String]) {
    for id in started.iter().rev() {
        let inst = sh.table().take(id);
        if let Some(inst) = inst {
            let (name, pid) = (inst.name.clone(), inst.pid);
            sh.stop(inst, 1000).await;
            sh.out.note(format!(
                "{name}: stopped pid {pid} (nothing is left half-started)"
            ));
        }
    }
}

async fn apply_link(sh: &Shared, spec: &LinkSpec, secrets: Vec<(String, String)>) -> Result<()> {
    let record = sh
        .state
        .provider(&spec.provider)
        .await?
        .context("provider record vanished")?;
    let outcome = links::put(
        &sh.host,
        &sh.state,
        &record,
        &spec.actor,
        &spec.values,
        secrets,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}: {e:#}", spec.at))?;
    sh.out.event(
        "linked",
        format!("link {} -> {}: {outcome}", spec.actor, spec.provider),
        json!({"actor": spec.actor, "provider": spec.provider, "outcome": outcome.to_string()}),
    );
    Ok(())
}

/// Takes over the instances an earlier `lattice up` of this host left
/// running; stops those the manifest no longer wants; forgets dead ones.
async fn adopt(sh: &Shared) -> Result<()> {
    let me = sh.host.host_id();
    let records: Vec<InstanceRecord> = sh
        .state
        .instances()
        .await?
        .into_iter()
        .filter(|r| r.host_id == me)
        .collect();
    for rec in records {
        let pref = ProviderRef::new(&rec.provider_key, &rec.link_name, "");
        let answers = local::process_alive(rec.pid)
            && sh
                .host
                .instance_health(&pref, &rec.instance_id, Duration::from_secs(2))
                .await
                .is_ok_and(|h| h.pid.is_none_or(|p| p == rec.pid));
        if !answers {
            sh.state.del_instance(&me, &rec.instance_id).await?;
            continue;
        }
        let wanted = {
            let mut t = sh.table();
            let live = t.live(&rec.name);
            match t.prov(&rec.name) {
                Some(p) if p.pref.key == rec.provider_key && live < p.desired => {
                    let binary = PathBuf::from(&rec.binary);
                    t.insts.push(Inst {
                        name: rec.name.clone(),
                        instance_id: rec.instance_id.clone(),
                        pid: rec.pid,
                        started_at_ms: rec.started_at_ms,
                        started: Instant::now(),
                        binary,
                        proc: None,
                        misses: 0,
                    });
                    true
                }
                _ => false,
            }
        };
        if wanted {
            sh.out.event(
                "adopted",
                format!(
                    "{}: adopted pid {} (instance {}) from an earlier run",
                    rec.name, rec.pid, rec.instance_id
                ),
                json!({"provider": rec.name, "pid": rec.pid, "instance_id": rec.instance_id}),
            );
        } else {
            let _ = sh
                .host
                .shutdown(&pref, Some(&rec.instance_id), Some(DRAIN_MS))
                .await;
            sh.state.del_instance(&me, &rec.instance_id).await?;
            sh.out.event(
                "stopped",
                format!(
                    "{}: stopped pid {} left by an earlier run (not in the manifest now)",
                    rec.name, rec.pid
                ),
                json!({"provider": rec.name, "pid": rec.pid}),
            );
        }
    }
    Ok(())
}

/// Restarts instances that exited; rotates logs.
async fn supervise(sh: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_rotate = Instant::now();
    loop {
        tick.tick().await;
        if sh.draining.load(Ordering::SeqCst) {
            return;
        }
        let mut exited = Vec::new();
        let mut to_start = Vec::new();
        {
            let mut t = sh.table();
            let mut i = 0;
            while i < t.insts.len() {
                let inst = &mut t.insts[i];
                let status = match inst.proc.as_mut() {
                    Some(p) => p.try_status().map(|s| s.to_string()),
                    None => (!local::process_alive(inst.pid)).then(|| "gone".to_string()),
                };
                match status {
                    Some(status) => {
                        let inst = t.insts.remove(i);
                        let stable = inst.started.elapsed() >= STABLE_AFTER;
                        if let Some(p) = t.prov(&inst.name) {
                            if stable {
                                p.backoff = BACKOFF_FIRST;
                            }
                            p.restarts += 1;
                            p.next_start = Some(Instant::now() + p.backoff);
                            exited.push((inst, status, p.backoff, p.restarts));
                            p.backoff = (p.backoff * 2).min(BACKOFF_MAX);
                        }
                    }
                    None => i += 1,
                }
            }
            let now = Instant::now();
            let live: Vec<(String, u32)> = t
                .provs
                .iter()
                .map(|p| (p.spec.name.clone(), t.live(&p.spec.name)))
                .collect();
            for (name, live) in live {
                if let Some(p) = t.prov(&name)
                    && live + p.starting < p.desired
                    && p.next_start.is_none_or(|at| at <= now)
                {
                    p.starting += 1;
                    to_start.push((name, p.binary.clone(), p.restarts));
                }
            }
        }
        for (inst, status, wait, restarts) in exited {
            sh.out.event(
                "exited",
                format!(
                    "{}: pid {} exited ({status}); restarting in {:.1} s (restart {restarts})",
                    inst.name,
                    inst.pid,
                    wait.as_secs_f64()
                ),
                json!({"provider": inst.name, "pid": inst.pid, "status": status, "restart": restarts}),
            );
            let _ = sh
                .state
                .del_instance(&sh.host.host_id(), &inst.instance_id)
                .await;
        }
        for (name, binary, restarts) in to_start {
            let sh = sh.clone();
            tokio::spawn(async move {
                let result = sh.launch(&name, &binary).await;
                match result {
                    Ok(inst) => {
                        let (pid, id) = (inst.pid, inst.instance_id.clone());
                        let rec = sh.record(&inst, "running", restarts);
                        {
                            let mut t = sh.table();
                            if let Some(p) = t.prov(&name) {
                                p.starting = p.starting.saturating_sub(1);
                            }
                            t.insts.push(inst);
                        }
                        let _ = sh.state.put_instance(&rec).await;
                        sh.out.event(
                            "restarted",
                            format!(
                                "{name}: running again as pid {pid} (instance {id}), links restored"
                            ),
                            json!({"provider": name, "pid": pid, "instance_id": id}),
                        );
                    }
                    Err(e) => {
                        let wait = {
                            let mut t = sh.table();
                            let Some(p) = t.prov(&name) else { return };
                            p.starting = p.starting.saturating_sub(1);
                            p.next_start = Some(Instant::now() + p.backoff);
                            let wait = p.backoff;
                            p.backoff = (p.backoff * 2).min(BACKOFF_MAX);
                            wait
                        };
                        sh.out.event(
                            "start-failed",
                            format!(
                                "{name}: could not start ({e:#}); next try in {:.1} s",
                                wait.as_secs_f64()
                            ),
                            json!({"provider": name, "error": format!("{e:#}")}),
                        );
                    }
                }
            });
        }
        if last_rotate.elapsed() >= Duration::from_secs(10) {
            last_rotate = Instant::now();
            let names: Vec<String> = sh
                .table()
                .provs
                .iter()
                .map(|p| p.spec.name.clone())
                .collect();
            for name in names {
                let _ = local::rotate_if_large(&sh.dir.log_path(&sh.prefix, &name));
            }
        }
    }
}

/// Asks every instance for health; kills one that stopped answering (the
/// supervisor then restarts it). An instance that answers unhealthy (its
/// backend is down) is left alone: a restart would not mend its backend.
async fn check_health(sh: Arc<Shared>) {
    let mut tick = tokio::time::interval(HEALTH_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        let targets: Vec<(String, ProviderRef)> = {
            let t = sh.table();
            t.insts
                .iter()
                .filter_map(|i| {
                    t.provs
                        .iter()
                        .find(|p| p.spec.name == i.name)
                        .map(|p| (i.instance_id.clone(), p.pref.clone()))
                })
                .collect()
        };
        for (id, pref) in targets {
            let answered = sh
                .host
                .instance_health(&pref, &id, Duration::from_secs(2))
                .await
                .is_ok();
            let mut t = sh.table();
            let Some(inst) = t.insts.iter_mut().find(|i| i.instance_id == id) else {
                continue;
            };
            if answered {
                inst.misses = 0;
                continue;
            }
            inst.misses += 1;
            if inst.misses >= HEALTH_MISSES {
                let (name, pid) = (inst.name.clone(), inst.pid);
                match inst.proc.as_mut() {
                    // SIGKILL without waiting: the supervisor sees the exit.
                    Some(p) => p.start_kill(),
                    None => kill(pid),
                }
                inst.misses = 0;
                drop(t);
                sh.out.event(
                    "unresponsive",
                    format!("{name}: pid {pid} missed {HEALTH_MISSES} health checks; killed, it will be restarted"),
                    json!({"provider": name, "pid": pid}),
                );
            }
        }
    }
}

/// Serves `stop` and `replace` from other `lattice` processes.
async fn serve_ctl(sh: Arc<Shared>, keys: &Keys) -> Result<tokio::task::JoinHandle<()>> {
    let host_id = sh.host.host_id();
    let gate = Arc::new(Gate::new(keys, &host_id));
    let subject = hostctl::subject(&sh.prefix, &host_id, "*");
    let mut sub = sh
        .host
        .nats()
        .subscribe(subject.clone())
        .await
        .with_context(|| format!("cannot subscribe to {subject}"))?;
    lattice_rpc::subjects::server_sync(sh.host.nats(), Duration::from_secs(5))
        .await
        .context("NATS did not confirm the control subscription")?;
    Ok(tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let (sh, gate) = (sh.clone(), gate.clone());
            tokio::spawn(async move {
                let Some(reply_to) = msg.reply.clone() else {
                    return;
                };
                let verb = msg.subject.rsplit('.').next().unwrap_or("").to_string();
                let reply = match gate.check(&msg) {
                    Err(e) => {
                        sh.out.note(format!("refused a {verb} command: {e}"));
                        Reply::refused(e)
                    }
                    Ok(req) => match verb.as_str() {
                        hostctl::STOP => stop_provider(&sh, &req).await,
                        hostctl::REPLACE => replace_provider(&sh, &req).await,
                        other => Reply::refused(format!("unknown command {other:?}")),
                    },
                };
                let body = serde_json::to_vec(&reply).unwrap_or_default();
                let _ = sh.host.nats().publish(reply_to, body.into()).await;
            });
        }
    }))
}

async fn stop_provider(sh: &Shared, req: &hostctl::Request) -> Reply {
    let insts: Vec<Inst> = {
        let mut t = sh.table();
        let Some(p) = t.prov(&req.name) else {
            return Reply::refused(format!("this host runs no provider named {:?}", req.name));
        };
        p.desired = 0;
        t.take_all(&req.name)
    };
    if let Ok(Some(mut rec)) = sh.state.provider(&req.name).await {
        rec.instances = 0;
        let _ = sh.state.put_provider(&rec).await;
    }
    let mut stopped = Vec::new();
    for inst in insts {
        stopped.push(
            sh.stop_reported(inst, req.drain_ms, "stopped (lattice stop)")
                .await,
        );
    }
    Reply {
        ok: true,
        stopped,
        ..Reply::default()
    }
}

async fn replace_provider(sh: &Shared, req: &hostctl::Request) -> Reply {
    let (old, binary, previous) = {
        let mut t = sh.table();
        let old: Vec<String> = t
            .insts
            .iter()
            .filter(|i| i.name == req.name)
            .map(|i| i.instance_id.clone())
            .collect();
        let Some(p) = t.prov(&req.name) else {
            return Reply::refused(format!("this host runs no provider named {:?}", req.name));
        };
        if old.is_empty() {
            return Reply::refused(format!("no instance of {:?} runs on this host", req.name));
        }
        let binary = match &req.binary {
            Some(b) => match provider_bin::resolve(b, Path::new("")) {
                Ok(b) => b,
                Err(e) => return Reply::refused(format!("{b}: {e}")),
            },
            None => p.binary.clone(),
        };
        let previous = (p.spec.config.clone(), p.binary.clone());
        if let Some(wasm) = &req.wasm {
            if p.spec.contract.as_deref() != Some(manifest::COMPONENT_CONTRACT) {
                return Reply::refused(format!(
                    "{:?} is a provider, not a component: --wasm is for components",
                    req.name
                ));
            }
            if !Path::new(wasm).is_file() {
                return Reply::refused(format!("{wasm} is not a file on this host"));
            }
            if let Some(serde_json::Value::Object(c)) = &mut p.spec.config {
                c.insert("wasm".into(), json!(wasm));
            }
        }
        // Restarts from now on run the new binary (and component) too.
        p.binary = binary.clone();
        (old, binary, previous)
    };
    let mut reply = Reply {
        ok: true,
        ..Reply::default()
    };
    for old_id in old {
        match sh.launch(&req.name, &binary).await {
            Ok(inst) => {
                let rec = sh.record(&inst, "running", 0);
                let _ = sh.state.put_instance(&rec).await;
                reply.started.push(Touched {
                    instance_id: inst.instance_id.clone(),
                    pid: inst.pid,
                });
                sh.out.event(
                    "started",
                    format!(
                        "{}: new pid {} (instance {}) healthy; draining the old one",
                        req.name, inst.pid, inst.instance_id
                    ),
                    json!({"provider": req.name, "pid": inst.pid, "instance_id": inst.instance_id}),
                );
                sh.table().insts.push(inst);
            }
            Err(e) => {
                // When no new instance started, the old ones keep serving
                // and restarts run what they run. (When some did, the
                // instances now differ; restarts run the new version.)
                if reply.started.is_empty()
                    && let Some(p) = sh.table().prov(&req.name)
                {
                    (p.spec.config, p.binary) = previous;
                }
                reply.ok = false;
                reply.error = Some(format!(
                    "the new instance did not start: {e:#}; the old one keeps serving"
                ));
                return reply;
            }
        }
        let old_inst = sh.table().take(&old_id);
        if let Some(inst) = old_inst {
            let touched = sh
                .stop_reported(inst, req.drain_ms, "drained and stopped old")
                .await;
            reply.stopped.push(touched);
        }
    }
    reply
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
