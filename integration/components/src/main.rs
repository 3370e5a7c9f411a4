//! lattice-components: runs one WebAssembly component as a lattice actor.
//!
//! `lattice up` starts one of these per `[[component]]` of its manifest and
//! supervises it like a provider (health, restart, drain, `replace`): it is
//! launched the way providers are, with host data, and its provider-wide
//! config names the component (see [`config::ComponentConfig`]). It serves
//! the component's actor subject, each call in a fresh instance, and turns
//! the component's imports into signed calls over its links, which it
//! follows live in the lattice's shared state.

mod bindings;
mod config;
mod engine;
mod imports;
mod links;
mod serve;

use std::sync::Arc;
use std::time::Duration;

use lattice_host::keys::{Keys, Location};
use lattice_host::state::State;
use lattice_host::{ActorHandle, Host};
use lattice_rpc::{HealthCheckResponse, RpcError};
use provider_sdk::{Call, ConfigError, LinkConfig, Provider, ProviderContext};

use crate::config::ComponentConfig;
use crate::serve::{Limits, Runner, Served};

#[global_allocator]
static ALLOC: provider_sdk::MiMalloc = provider_sdk::MiMalloc;

/// The contract the component host answers health and control under. It
/// takes no links of its own: providers link to the component's actor key.
const CONTRACT_ID: &str = "lattice:component";

/// How long a drain at shutdown waits for requests in flight, beyond the
/// time limit (every call ends within it).
const DRAIN_GRACE: Duration = Duration::from_millis(500);

#[derive(Default)]
struct ComponentHost {
    running: Option<Running>,
}

struct Running {
    name: String,
    served: tokio::sync::Mutex<Option<ActorHandle>>,
    drain: Duration,
    watch: tokio::task::JoinHandle<()>,
    routes: links::Routes,
    _host: Host,
}

impl Provider for ComponentHost {
    const CONTRACT_ID: &'static str = CONTRACT_ID;
    type Link = ();

    async fn init(&mut self, ctx: &ProviderContext) -> Result<(), ConfigError> {
        let Some(cfg) = ctx.provider_config::<ComponentConfig>()? else {
            return Err(ConfigError::Unusable(
                "no configuration: the component host needs at least `wasm` and `actor`".into(),
            ));
        };
        cfg.validate().map_err(ConfigError::Unusable)?;
        self.running = Some(
            start(ctx, cfg)
                .await
                .map_err(|e| ConfigError::Unusable(format!("{e:#}")))?,
        );
        Ok(())
    }

    async fn put_link(&self, _ctx: &ProviderContext, link: &LinkConfig) -> Result<(), ConfigError> {
        Err(ConfigError::Unusable(format!(
            "a component host takes no links; link providers to the component's actor instead (asked for {})",
            link.actor_id()
        )))
    }

    async fn handle(&self, call: Call<'_, ()>) -> Result<Vec<u8>, RpcError> {
        Err(RpcError::unknown_operation(format!(
            "{} is not an operation of the component host",
            call.operation
        )))
    }

    async fn health(&self) -> HealthCheckResponse {
        match &self.running {
            Some(r) if r.watch.is_finished() => {
                HealthCheckResponse::unhealthy(format!("{}: the link watch stopped", r.name))
            }
            Some(r) => HealthCheckResponse {
                message: Some(format!("{}: serving, {} links", r.name, r.routes.len())),
                ..HealthCheckResponse::healthy()
            },
            None => HealthCheckResponse::unhealthy("no component loaded"),
        }
    }

    async fn shutdown(&self) {
        if let Some(r) = &self.running {
            if let Some(served) = r.served.lock().await.take() {
                served.stop(r.drain).await;
            }
            r.watch.abort();
        }
    }
}

async fn start(ctx: &ProviderContext, cfg: ComponentConfig) -> anyhow::Result<Running> {
    let name = cfg.display_name();
    let keys = Keys::load(Location::find(cfg.keys_file.as_deref())?)?;
    let hd = ctx.host_data();
    let host = Host::builder()
        .nats_url(hd.lattice_rpc_url.clone())
        .lattice(ctx.lattice())
        .cluster_key(keys.cluster)
        .lattice_key(keys.lattice)
        .connect()
        .await?;
    let rpc_timeout_ms = hd
        .default_rpc_timeout_ms
        .unwrap_or(lattice_rpc::client::DEFAULT_TIMEOUT.as_millis() as u64);
    let time_ms = cfg.time_limit_ms(rpc_timeout_ms);
    let limits = Limits {
        memory_bytes: cfg.memory_limit_bytes(),
        time_ms,
        max_instances: cfg.max_instances(),
    };
    let engine = engine::engine(limits.max_instances, limits.memory_bytes)?;
    engine::start_epoch_ticker(&engine);
    let cache = cfg.cache_dir();
    let (component, source, took) = {
        let (engine, wasm, cache) = (engine.clone(), cfg.wasm.clone(), cache.clone());
        tokio::task::spawn_blocking(move || engine::load(&engine, &wasm, cache.as_deref()))
            .await??
    };
    tracing::info!(
        component = %name,
        wasm = %cfg.wasm.display(),
        took_ms = took.as_millis() as u64,
        "{}",
        match source {
            engine::Source::Compiled => "compiled (and cached)",
            engine::Source::Cached => "loaded from the compilation cache",
        }
    );
    let state = State::open(host.nats(), ctx.lattice()).await?;
    let routes = links::Routes::default();
    let watch = links::follow(&state, &cfg.actor, routes.clone(), host.links().clone()).await?;
    let app = Arc::new(imports::App::new(
        name.clone(),
        cfg.actor.clone(),
        host.rpc().clone(),
        routes.clone(),
        cfg.config_values().map_err(anyhow::Error::msg)?,
        Duration::from_millis(time_ms),
    ));
    let env: Vec<(String, String)> = cfg
        .env_values()
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .collect();
    let runner = Arc::new(Runner::new(&engine, &component, app, env, limits)?);
    let served = host.serve_actor(&cfg.actor, Served(runner.clone())).await?;
    tracing::info!(
        component = %name,
        actor = %cfg.actor,
        exports = ?runner.exports(),
        links = routes.len(),
        "serving"
    );
    Ok(Running {
        name,
        served: tokio::sync::Mutex::new(Some(served)),
        drain: Duration::from_millis(time_ms) + DRAIN_GRACE,
        watch,
        routes,
        _host: host,
    })
}

fn main() -> std::process::ExitCode {
    provider_sdk::run!(ComponentHost::default(), ComponentConfig)
}
