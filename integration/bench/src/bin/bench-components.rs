//! Benchmark: HTTP through a WebAssembly component beside the same chain
//! with a native actor, in one run, as a ratio, with CPU time per request
//! for each process.
//!
//! Both paths: an HTTP/1.1 `GET /version` comes into one httpserver
//! provider (HS256, its own single-threaded process), which sends a signed
//! `HttpServer.HandleRequest` over NATS to an actor, and the actor's answer
//! (`notes 1`) goes back to the client.
//!
//! - ideal (native): the actor is a Rust closure served in this process
//!   with `Host::serve_actor`.
//! - component: the actor is the example `notes` component (Python,
//!   componentize-py, `target/components/notes.wasm`) run by
//!   `lattice-components` (release build, its own process), one fresh
//!   instance per request.
//!
//! The load generator is this process, single-threaded: `--in-flight`
//! HTTP/1.1 keep-alive connections, one request in flight on each, bounded
//! in count and time. In the rows, `prov µs` is the component host's CPU
//! per request, `igen µs` includes the native actor's (it runs in the load
//! generator), and httpserver's CPU is shown for both paths.
//!
//! ```sh
//! cargo build --release -p lattice-bench -p httpserver -p lattice-components \
//!   && scripts/build-components.sh && target/release/bench-components [--json]
//! ```

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use httpserver_interface::{HttpRequest, HttpResponse};
use lattice_bench::{
    Auth, Baseline, Common, HttpConn, Row, http_connect, http_get, measure_with, own_pid,
    provider_binary, soak_with,
};
use lattice_host::keys::{Keys, Location};
use lattice_host::state::{LinkRecord, State};
use lattice_host::{Host, ProviderRef};

#[derive(Parser)]
#[command(about = "HTTP through a WebAssembly component vs a native actor, same chain, one run")]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// The component (default: target/components/notes.wasm).
    #[arg(long)]
    wasm: Option<std::path::PathBuf>,
}

const ANSWER: &[u8] = b"notes 1\n";

async fn get(mut conn: HttpConn, _i: usize) -> (HttpConn, bool) {
    let ok = http_get(&mut conn, "/version", &[("host", "bench")])
        .await
        .is_some_and(|body| body.as_ref() == ANSWER);
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
    let wasm = match &cli.wasm {
        Some(w) => w.clone(),
        None => lattice_fixtures::component("notes")?,
    };
    // A lattice of its own, with a keys file the component host reads.
    let dir = std::env::temp_dir().join(lattice_fixtures::fresh_name("bench-components-"));
    std::fs::create_dir_all(&dir)?;
    let keys = Keys::init(Location::find(Some(&dir.join("keys.toml")))?, true)?;
    let host = Host::builder()
        .nats_url(&c.nats_url)
        .cluster_key(nkeys::KeyPair::from_seed(&keys.cluster.seed()?)?)
        .lattice_key(keys.lattice.clone())
        .require_mac(true)
        .connect()
        .await?;
    let state = State::create(host.nats(), host.lattice()).await?;

    // One httpserver for both paths.
    let mut hd = host.host_data("default");
    hd.worker_threads = Some(c.worker_threads);
    let http = ProviderRef::new(
        &hd.provider_key,
        "default",
        httpserver_interface::CONTRACT_ID,
    );
    let http_proc = host
        .launch(&provider_binary("httpserver")?, hd)
        .ready_within(Duration::from_secs(60))
        .await?;
    let http_pid = http_proc.pid().context("httpserver exited at start")?;

    // The native actor, served here.
    let native = lattice_host::new_actor();
    let _served = host
        .serve_actor(
            &native,
            |_inv: lattice_rpc::Invocation, body: Vec<u8>| async move {
                let _req: HttpRequest = lattice_rpc::wire::deserialize(&body)?;
                lattice_rpc::wire::serialize(&HttpResponse::ok(ANSWER))
            },
        )
        .await?;
    let native_addr = format!("127.0.0.1:{}", lattice_fixtures::free_port()?);
    host.link_actor(&http, &native, &[("address", &native_addr)])
        .await?;

    // The component, run by lattice-components.
    let component = lattice_host::new_actor();
    let mut hd = host.host_data("default");
    hd.config_json = Some(
        serde_json::json!({
            "wasm": wasm.display().to_string(),
            "actor": component,
            "name": "notes",
            "keys_file": dir.join("keys.toml").display().to_string(),
        })
        .to_string(),
    );
    let started = std::time::Instant::now();
    let comp_proc = host
        .launch(&provider_binary("lattice-components")?, hd)
        .ready_within(Duration::from_secs(300))
        .await?;
    let comp_pid = comp_proc
        .pid()
        .context("lattice-components exited at start")?;
    // From launch to healthy: a compile on a cold cache, a load on a warm
    // one (run with a fresh XDG_CACHE_HOME to see the first).
    let ready_s = started.elapsed().as_secs_f64();
    if c.json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "components",
                "op": "start",
                "ready_s": ready_s,
                "wasm_bytes": std::fs::metadata(&wasm)?.len(),
            })
        );
    } else {
        println!(
            "lattice-components ready in {ready_s:.2} s ({})",
            wasm.display()
        );
    }
    let comp_addr = format!("127.0.0.1:{}", lattice_fixtures::free_port()?);
    state
        .put_link(&LinkRecord {
            actor_id: component.clone(),
            provider_id: http.key.clone(),
            provider_name: "http".into(),
            link_name: "default".into(),
            contract_id: httpserver_interface::CONTRACT_ID.into(),
            values: BTreeMap::from([("address".to_string(), comp_addr.clone())]),
            secrets: BTreeMap::new(),
        })
        .await?;
    host.link_actor(&http, &component, &[("address", &comp_addr)])
        .await?;
    // The component host sees the link through its watch: wait for a 200.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut conns = http_connect(&comp_addr, 1).await?;
        if http_get(&mut conns[0], "/version", &[("host", "bench")])
            .await
            .is_some_and(|b| b.as_ref() == ANSWER)
        {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the component did not answer within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    if !c.json {
        println!(
            "component (wasm, fresh instance per request) vs native actor, same httpserver, GET, {} requests or {} s each; CPU µs per call",
            c.requests, c.seconds
        );
    }
    Row::header(c.json);
    for &n in &c.in_flight {
        let conns = http_connect(&native_addr, n).await?;
        let base = Baseline::measure(
            "components",
            "get",
            n,
            c.json,
            &[("httpserver", http_pid), ("loadgen", own_pid())],
            measure_with(conns, c.requests, c.seconds, get),
        )
        .await;
        let conns = http_connect(&comp_addr, n).await?;
        base.row(
            Auth::Hs256,
            &[
                ("httpserver", http_pid),
                ("provider", comp_pid),
                ("loadgen", own_pid()),
            ],
            measure_with(conns, c.requests, c.seconds, get),
        )
        .await;
    }
    if let Some(secs) = c.soak_secs {
        let conns = http_connect(&comp_addr, 64).await?;
        soak_with("components", comp_pid, secs, conns, get)
            .await
            .print(c.json);
    }
    drop(comp_proc);
    drop(http_proc);
    let js = async_nats::jetstream::new(host.nats().clone());
    let _ = js.delete_key_value(state.bucket()).await;
    let _ = host.delete_chunk_bucket().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
