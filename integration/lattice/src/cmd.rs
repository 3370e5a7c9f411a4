//! The commands other than `up`: each reads the lattice's shared state and
//! acts through the contract (links, calls, health) or through the host
//! that owns an instance (stop, replace).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;
use lattice_host::Host;
use lattice_rpc::secret::SealingKey;
use serde_json::{Value, json};

use crate::local::{self, StateDir};
use crate::out::{self, Out};
use crate::{Cli, Command, KeysCmd, LinkCmd, call, check, hostctl, links, up};
use lattice_host::keys::{Keys, Location};
use lattice_host::state::{ProviderRecord, State};

const DEFAULT_NATS: &str = "nats://127.0.0.1:4222";

/// Runs one command; the exit status on success (calls map error codes).
pub async fn run(cli: Cli) -> Result<u8> {
    let out = Out { json: cli.json };
    let nats_url = cli.nats_url.clone();
    let url = || nats_url.clone().unwrap_or_else(|| DEFAULT_NATS.to_string());
    match cli.command {
        Command::Keys {
            cmd: KeysCmd::Init { force },
        } => {
            let loc = Location::find(cli.keys.as_deref())?;
            let keys = Keys::init(loc, force)?;
            out.value(
                format!(
                    "wrote {} (mode 0600): cluster key {}; copy it to every host of the lattice",
                    keys.location.path.display(),
                    keys.cluster.public_key()
                ),
                &json!({"path": keys.location.path, "cluster_key": keys.cluster.public_key()}),
            );
            Ok(0)
        }
        Command::Up { manifest } => {
            let keys = load_keys(cli.keys.as_deref(), out)?;
            let dir = StateDir::find(cli.state_dir.as_deref())?;
            up::run(
                up::UpArgs {
                    manifest,
                    nats_url: cli.nats_url,
                },
                keys,
                dir,
                out,
            )
            .await?;
            Ok(0)
        }
        Command::Check { suite } => {
            check::check(&url(), suite).await?;
            Ok(0)
        }
        Command::Demo => {
            check::demo(&url()).await?;
            Ok(0)
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "lattice", &mut std::io::stdout());
            Ok(0)
        }
        Command::Logs {
            provider,
            follow,
            lines,
        } => {
            let dir = StateDir::find(cli.state_dir.as_deref())?;
            logs(&dir, &cli.lattice, &provider, follow, lines).await?;
            Ok(0)
        }
        command => {
            let keys = load_keys(cli.keys.as_deref(), out)?;
            let ctx = Ctx::connect(&url(), &cli.lattice, keys).await?;
            match command {
                Command::Link { cmd } => ctx.link(cmd, out).await,
                Command::Call {
                    provider,
                    operation,
                    arg,
                    actor,
                    raw,
                    timeout_ms,
                } => {
                    ctx.call(
                        &provider,
                        &operation,
                        arg.as_deref(),
                        actor.as_deref(),
                        raw,
                        Duration::from_millis(timeout_ms),
                        out,
                    )
                    .await
                }
                Command::Ps => ctx.ps(out).await,
                Command::Health => ctx.health(out).await,
                Command::Stop { provider, drain_ms } => {
                    ctx.to_hosts(hostctl::STOP, &provider, None, None, drain_ms, out)
                        .await
                }
                Command::Replace {
                    provider,
                    binary,
                    wasm,
                    drain_ms,
                } => {
                    let wasm = match wasm {
                        Some(w) => Some(
                            std::fs::canonicalize(&w)
                                .map_err(|e| anyhow::anyhow!("--wasm {w}: {e}"))?
                                .display()
                                .to_string(),
                        ),
                        None => None,
                    };
                    ctx.to_hosts(hostctl::REPLACE, &provider, binary, wasm, drain_ms, out)
                        .await
                }
                _ => unreachable!("handled above"),
            }
        }
    }
}

fn load_keys(flag: Option<&std::path::Path>, out: Out) -> Result<Keys> {
    let loc = Location::find(flag)?;
    out.note(format!("keys: {}", loc.describe()));
    Keys::load(loc)
}

/// A connection to the lattice as a host holding its keys.
struct Ctx {
    host: Host,
    state: State,
    keys: Keys,
    prefix: String,
}

impl Ctx {
    async fn connect(nats_url: &str, prefix: &str, keys: Keys) -> Result<Self> {
        let host = Host::builder()
            .nats_url(nats_url)
            .lattice(prefix)
            .cluster_key(keys.cluster.clone())
            .lattice_key(keys.lattice.clone())
            .connect()
            .await?;
        let state = State::open(host.nats(), prefix).await?;
        Ok(Self {
            host,
            state,
            keys,
            prefix: prefix.to_string(),
        })
    }

    async fn provider(&self, name: &str) -> Result<ProviderRecord> {
        if let Some(p) = self.state.provider(name).await? {
            return Ok(p);
        }
        let mut known: Vec<String> = self
            .state
            .providers()
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect();
        known.sort();
        bail!(
            "no provider named {name:?} on lattice {} (known: {})",
            self.prefix,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    }

    /// An actor key as given, or the actor of the component named so.
    async fn actor(&self, actor_or_component: &str) -> Result<String> {
        if actor_or_component.starts_with('M')
            && nkeys::KeyPair::from_public_key(actor_or_component).is_ok()
        {
            return Ok(actor_or_component.to_string());
        }
        match self.state.provider(actor_or_component).await? {
            Some(rec) => rec.actor.with_context(|| {
                format!("{actor_or_component} is a provider; a link goes from an actor or component to a provider")
            }),
            None => bail!(
                "{actor_or_component:?} is neither an actor key (M…) nor a component of lattice {}",
                self.prefix
            ),
        }
    }

    async fn link(&self, cmd: LinkCmd, out: Out) -> Result<u8> {
        match cmd {
            LinkCmd::Put {
                provider,
                actor,
                values,
                secrets,
            } => {
                let p = self.provider(&provider).await?;
                let actor = self.actor(&actor).await?;
                let mut vals = BTreeMap::new();
                for v in values {
                    let (k, v) = v
                        .split_once('=')
                        .with_context(|| format!("link value {v:?} is not KEY=VALUE"))?;
                    vals.insert(k.to_string(), v.to_string());
                }
                let mut sealed = Vec::new();
                for s in secrets {
                    let (k, source) = s.split_once('=').with_context(|| {
                        format!("--secret {s:?} is not KEY=env:VAR or KEY=file:PATH")
                    })?;
                    let value = if let Some(var) = source.strip_prefix("env:") {
                        std::env::var(var).with_context(|| {
                            format!("--secret {k}: the environment variable {var} is not set")
                        })?
                    } else if let Some(path) = source.strip_prefix("file:") {
                        let v = std::fs::read_to_string(path)
                            .with_context(|| format!("--secret {k}: cannot read {path}"))?;
                        v.strip_suffix('\n').map(str::to_string).unwrap_or(v)
                    } else {
                        bail!(
                            "--secret {k}: the source must be env:VAR or file:PATH (never the value itself)"
                        );
                    };
                    sealed.push((k.to_string(), value));
                }
                let outcome =
                    links::put(&self.host, &self.state, &p, &actor, &vals, sealed).await?;
                out.value(
                    format!("link {actor} -> {provider}: {outcome}"),
                    &json!({"actor": actor, "provider": provider, "outcome": outcome.to_string()}),
                );
                Ok(0)
            }
            LinkCmd::Del { provider, actor } => {
                let p = self.provider(&provider).await?;
                let actor = self.actor(&actor).await?;
                let outcome = links::del(&self.host, &self.state, &p, &actor).await?;
                out.value(
                    format!("link {actor} -> {provider} deleted: {outcome}"),
                    &json!({"actor": actor, "provider": provider, "outcome": outcome.to_string()}),
                );
                Ok(0)
            }
            LinkCmd::Ls { provider } => {
                let mut all = self.state.links().await?;
                if let Some(name) = &provider {
                    all.retain(|l| &l.provider_name == name);
                }
                all.sort_by(|a, b| {
                    (&a.provider_name, &a.actor_id).cmp(&(&b.provider_name, &b.actor_id))
                });
                if out.json {
                    for l in &all {
                        println!(
                            "{}",
                            json!({
                                "provider": l.provider_name, "provider_key": l.provider_id,
                                "link_name": l.link_name, "contract_id": l.contract_id,
                                "actor": l.actor_id, "values": l.values,
                                "secrets": l.secrets.keys().collect::<Vec<_>>(),
                            })
                        );
                    }
                } else {
                    let rows: Vec<Vec<String>> = all
                        .iter()
                        .map(|l| {
                            let mut keys: Vec<String> = l.values.keys().cloned().collect();
                            keys.extend(l.secrets.keys().map(|k| format!("{k} (sealed)")));
                            vec![
                                l.provider_name.clone(),
                                l.link_name.clone(),
                                l.actor_id.clone(),
                                keys.join(", "),
                            ]
                        })
                        .collect();
                    println!(
                        "{}",
                        out::table(&["PROVIDER", "LINK", "ACTOR", "VALUES"], &rows)
                    );
                }
                Ok(0)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        provider: &str,
        operation: &str,
        arg: Option<&str>,
        actor: Option<&str>,
        raw: Option<std::path::PathBuf>,
        timeout: Duration,
        out: Out,
    ) -> Result<u8> {
        let p = self.provider(provider).await?;
        let reply_key = SealingKey::generate();
        let secrets_get = operation == secrets_interface::ops::GET;
        let msg = match raw {
            Some(path) => std::fs::read(&path)
                .with_context(|| format!("--raw: cannot read {}", path.display()))?,
            None => {
                let arg: Value = match arg {
                    Some(text) => serde_json::from_str(text).map_err(|e| {
                        anyhow::anyhow!("the argument is not JSON (column {}): {e}", e.column())
                    })?,
                    None => Value::Null,
                };
                if secrets_get {
                    call::secrets_get(arg, reply_key.public_key())?
                } else {
                    match call::encode(operation, arg) {
                        Some(bytes) => bytes?,
                        None => bail!(
                            "{operation} is not an operation this command knows how to encode; pass its MessagePack argument with --raw FILE"
                        ),
                    }
                }
            }
        };
        let actor = match actor {
            Some(a) => a.to_string(),
            None => {
                let linked: Vec<String> = self
                    .state
                    .links_of(&p.provider_key, &p.link_name)
                    .await?
                    .into_iter()
                    .map(|l| l.actor_id)
                    .collect();
                match linked.as_slice() {
                    [one] => one.clone(),
                    [] => bail!(
                        "no actor is linked to {provider}: link one (lattice link put {provider} ACTOR) or pass --actor"
                    ),
                    many => bail!(
                        "{} actors are linked to {provider}; pick one with --actor: {}",
                        many.len(),
                        many.join(", ")
                    ),
                }
            }
        };
        let pref = links::pref(&p);
        let result =
            tokio::time::timeout(timeout, self.host.call(&pref, &actor, operation, msg)).await;
        let reply = match result {
            Err(_) => {
                eprintln!("error: timeout: no answer within {timeout:?}");
                return Ok(call::exit_code(&lattice_rpc::ErrorCode::Timeout));
            }
            Ok(Err(e)) => {
                if out.json {
                    println!(
                        "{}",
                        json!({"error": {"code": e.code.as_str(), "message": e.message}})
                    );
                } else {
                    eprintln!("error: {e}");
                }
                return Ok(call::exit_code(&e.code));
            }
            Ok(Ok(bytes)) => bytes,
        };
        let value = if secrets_get {
            let resp: secrets_interface::types::GetResponse =
                lattice_rpc::wire::deserialize_reply(&reply)?;
            let v = secrets_interface::SecretValue::open_with(
                &resp.sealed,
                &reply_key,
                &resp.sender_xkey,
            )?;
            json!({"value": call::bytes_json(v.as_bytes()), "version": resp.version})
        } else {
            call::reply_json(&reply)?
        };
        if out.json {
            println!("{value}");
        } else {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
            );
        }
        Ok(0)
    }

    async fn ps(&self, out: Out) -> Result<u8> {
        let providers = self.state.providers().await?;
        let records = self.state.instances().await?;
        let mut rows = Vec::new();
        let now = up::now_ms();
        for p in &providers {
            let answers = self
                .host
                .health_all(&links::pref(p), Duration::from_millis(500))
                .await
                .unwrap_or_default();
            let mut seen = std::collections::HashSet::new();
            for r in records.iter().filter(|r| r.name == p.name) {
                let h = answers
                    .iter()
                    .find(|h| h.instance_id.as_deref() == Some(r.instance_id.as_str()));
                seen.insert(r.instance_id.clone());
                rows.push(json!({
                    "provider": p.name, "instance_id": r.instance_id, "host_id": r.host_id,
                    "pid": h.and_then(|h| h.pid).unwrap_or(r.pid),
                    "uptime_ms": now.saturating_sub(h.and_then(|h| h.started_at_ms).unwrap_or(r.started_at_ms)),
                    "health": match h { Some(h) if h.healthy => "healthy", Some(_) => "unhealthy", None => "no answer" },
                    "message": h.and_then(|h| h.message.clone()),
                    "in_flight": h.and_then(|h| h.in_flight),
                    "links": h.and_then(|h| h.links),
                    "restarts": r.restarts,
                }));
            }
            // Instances that answer but no host recorded (started by hand, or a 0.x host).
            for h in answers
                .iter()
                .filter(|h| !h.instance_id.as_ref().is_some_and(|i| seen.contains(i)))
            {
                rows.push(json!({
                    "provider": p.name, "instance_id": h.instance_id, "host_id": null,
                    "pid": h.pid, "uptime_ms": h.started_at_ms.map(|s| now.saturating_sub(s)),
                    "health": if h.healthy { "healthy" } else { "unhealthy" },
                    "message": h.message, "in_flight": h.in_flight, "links": h.links, "restarts": null,
                }));
            }
            if !records.iter().any(|r| r.name == p.name) && answers.is_empty() {
                rows.push(
                    json!({"provider": p.name, "instance_id": null, "health": "not running"}),
                );
            }
        }
        if out.json {
            for r in &rows {
                println!("{r}");
            }
        } else {
            let s = |v: &Value| match v {
                Value::Null => "-".to_string(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        s(&r["provider"]),
                        r["instance_id"]
                            .as_str()
                            .map_or("-".into(), |i| out::short(i).to_string()),
                        r["host_id"]
                            .as_str()
                            .map_or("-".into(), |h| out::short(h).to_string()),
                        s(&r["pid"]),
                        r["uptime_ms"].as_u64().map_or("-".into(), out::duration),
                        s(&r["health"]),
                        s(&r["in_flight"]),
                        s(&r["links"]),
                        s(&r["restarts"]),
                    ]
                })
                .collect();
            println!(
                "{}",
                out::table(
                    &[
                        "PROVIDER",
                        "INSTANCE",
                        "HOST",
                        "PID",
                        "UPTIME",
                        "HEALTH",
                        "IN-FLIGHT",
                        "LINKS",
                        "RESTARTS"
                    ],
                    &table
                )
            );
        }
        Ok(0)
    }

    async fn health(&self, out: Out) -> Result<u8> {
        let mut bad = 0;
        let mut providers = self.state.providers().await?;
        providers.sort_by(|a, b| a.name.cmp(&b.name));
        for p in &providers {
            let answers = self
                .host
                .health_all(&links::pref(p), Duration::from_millis(500))
                .await
                .unwrap_or_default();
            let healthy = !answers.is_empty() && answers.iter().all(|h| h.healthy);
            if !healthy {
                bad += 1;
            }
            let messages: Vec<String> = answers.iter().filter_map(|h| h.message.clone()).collect();
            let text = match answers.len() {
                0 => format!("{}: no instance answers", p.name),
                n => format!(
                    "{}: {} ({n} instance{}){}",
                    p.name,
                    if healthy { "healthy" } else { "unhealthy" },
                    if n == 1 { "" } else { "s" },
                    if messages.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", messages.join("; "))
                    }
                ),
            };
            out.event(
                "health",
                text,
                json!({"provider": p.name, "healthy": healthy, "instances": answers.len(), "messages": messages}),
            );
        }
        Ok(if bad == 0 { 0 } else { 1 })
    }

    /// Sends `stop` or `replace` to every host running `provider`.
    async fn to_hosts(
        &self,
        verb: &str,
        provider: &str,
        binary: Option<String>,
        wasm: Option<String>,
        drain_ms: u64,
        out: Out,
    ) -> Result<u8> {
        let p = self.provider(provider).await?;
        let mut hosts: Vec<String> = self
            .state
            .instances()
            .await?
            .into_iter()
            .filter(|r| r.name == p.name)
            .map(|r| r.host_id)
            .collect();
        hosts.sort();
        hosts.dedup();
        if hosts.is_empty() {
            bail!("no host runs an instance of {provider}");
        }
        let req = hostctl::Request {
            name: p.name.clone(),
            drain_ms,
            binary,
            wasm,
        };
        let ready = crate::manifest::ready_within(Some(&p.contract_id)) + Duration::from_secs(60);
        let timeout = Duration::from_millis(drain_ms) + ready;
        let mut failed = 0;
        for host_id in hosts {
            let reply = hostctl::send(
                self.host.nats(),
                &self.keys,
                &self.prefix,
                &host_id,
                verb,
                &req,
                timeout,
            )
            .await;
            match reply {
                Ok(r) if r.ok => {
                    let pids = |v: &[hostctl::Touched]| {
                        v.iter()
                            .map(|t| t.pid.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let text = if verb == hostctl::REPLACE {
                        format!(
                            "{provider} on host {}: new pid {}; old pid {} drained",
                            out::short(&host_id),
                            pids(&r.started),
                            pids(&r.stopped)
                        )
                    } else {
                        format!(
                            "{provider} on host {}: stopped pid {}",
                            out::short(&host_id),
                            pids(&r.stopped)
                        )
                    };
                    out.event(
                        verb,
                        text,
                        json!({"provider": provider, "host_id": host_id, "started": r.started, "stopped": r.stopped}),
                    );
                }
                Ok(r) => {
                    failed += 1;
                    eprintln!(
                        "error: {provider} on host {host_id}: {}",
                        r.error.unwrap_or_else(|| "refused".into())
                    );
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("error: {e:#}");
                }
            }
        }
        Ok(if failed == 0 { 0 } else { 1 })
    }
}

async fn logs(
    dir: &StateDir,
    prefix: &str,
    provider: &str,
    follow: bool,
    lines: usize,
) -> Result<()> {
    let path = dir.log_path(prefix, provider);
    if !path.exists() {
        bail!(
            "no log for {provider:?} of lattice {prefix} in {} (logs are kept on the machine whose `lattice up` runs it)",
            dir.path().display()
        );
    }
    let (text, mut offset) = local::tail(&path, lines)?;
    print!("{text}");
    if !follow {
        return Ok(());
    }
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Ok(mut f) = std::fs::File::open(&path) else {
            continue;
        };
        let len = f.metadata()?.len();
        if len < offset {
            // Rotated: start from the top of the new file.
            offset = 0;
        }
        if len > offset {
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            offset += buf.len() as u64;
            print!("{}", String::from_utf8_lossy(&buf));
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
    }
}
