#![allow(clippy::unwrap_used)]
//! A real WebAssembly component on the lattice, as an operator runs it:
//! `lattice up` of a manifest with the example `notes` component (Python,
//! built by `scripts/build-components.sh`) and every provider it uses.
//!
//! curl → httpserver → the component → keyvalue-redis → Redis; relinked
//! live to keyvalue-nats, the next request lands in NATS; its events reach
//! a plain NATS subscriber, and messages reach its handler export;
//! a request past the time or memory limit is a 500 and the host goes on; its secret comes from OpenBao; a trap is a 500
//! and the next request a 200; an import with no link answers the
//! interface's error; `lattice replace --wasm` rolls out a new version
//! under load with no failed request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lattice_fixtures::VaultServer;
use lattice_fixtures::http1;

mod lattice_cli;
use lattice_cli::Lattice;

async fn req(addr: &str, method: &str, path: &str, body: &[u8]) -> http1::Response {
    http1::request(addr, method, path, &[], body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"))
}

fn body(r: &http1::Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// `lattice ps --json`: the pid of each running process by name.
fn pids(l: &Lattice) -> std::collections::BTreeMap<String, u64> {
    l.json(&["ps"])
        .into_iter()
        .filter_map(|r| Some((r["provider"].as_str()?.to_string(), r["pid"].as_u64()?)))
        .collect()
}

/// Every message payload of the JetStream key-value buckets whose names
/// start with `prefix`.
async fn kv_payloads(nats: &async_nats::Client, prefix: &str) -> Vec<Vec<u8>> {
    let js = async_nats::jetstream::new(nats.clone());
    let names: Vec<String> = js
        .stream_names()
        .filter_map(|n| async move { n.ok() })
        .collect()
        .await;
    let mut out = Vec::new();
    for name in names
        .into_iter()
        .filter(|n| n.starts_with(&format!("KV_{prefix}")))
    {
        let mut stream = js.get_stream(&name).await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        for seq in state.first_sequence..=state.last_sequence {
            if let Ok(m) = stream.get_raw_message(seq).await {
                out.push(m.payload.to_vec());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_component_serves_http_through_every_provider_and_moves_between_them() {
    let notes = lattice_fixtures::component("notes").unwrap();
    let notes_v2 = lattice_fixtures::component("notes-v2").unwrap();
    let l = Lattice::new();
    let vault = VaultServer::start().await.unwrap();
    vault
        .fixture
        .put("notes/api", serde_json::json!({"token": "t0ken"}))
        .await
        .unwrap();
    let port = lattice_fixtures::free_port().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let bucket = l.prefix.clone();
    let events = format!("{}.saved", l.prefix);
    let commands = format!("{}.commands", l.prefix);
    let manifest = l.manifest(&format!(
        r#"
[[provider]]
name = "kv"
binary = "keyvalue-redis"
config = {{ url = "{redis}" }}

[[provider]]
name = "kv-nats"
binary = "keyvalue-nats"

[[provider]]
name = "msg"
binary = "messaging-nats"

[[provider]]
name = "http"
binary = "httpserver"

[[provider]]
name = "secrets"
binary = "secrets-vault"

[[component]]
name = "notes"
wasm = "{wasm}"
config = {{ bucket = "{bucket}", events_subject = "{events}", secret_key = "notes/api#token" }}
time_limit_ms = 1000

[[link]]
component = "notes"
provider = "kv"

[[link]]
component = "notes"
provider = "msg"
values = {{ uri = "{nats}", subscription = "{commands}" }}

[[link]]
component = "notes"
provider = "http"
values = {{ address = "{addr}" }}

[[link]]
component = "notes"
provider = "secrets"
values = {{ addr = "{vault_url}", allowed_paths = "notes/api" }}
secrets = {{ token = {{ env = "TEST_VAULT_TOKEN" }} }}
"#,
        redis = lattice_fixtures::redis_url(),
        nats = lattice_fixtures::nats_url(),
        wasm = notes.display(),
        commands = commands,
        vault_url = vault.fixture.url(),
    ));
    let mut up = l
        .up(&manifest, &[("TEST_VAULT_TOKEN", &vault.fixture.token)])
        .await;
    let before = pids(&l);
    for name in ["kv", "kv-nats", "msg", "http", "secrets", "notes"] {
        assert!(
            before.contains_key(name),
            "{name} is not running: {before:?}"
        );
    }

    let nats = async_nats::connect(lattice_fixtures::nats_url())
        .await
        .unwrap();
    let mut saved = nats.subscribe(events.clone()).await.unwrap();
    nats.flush().await.unwrap();
    let mut redis = redis::Client::open(lattice_fixtures::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();

    // The component host applies its links from the state a moment after
    // `up` put them: wait until httpserver reaches it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while req(&addr, "GET", "/version", b"").await.status != 200 {
        assert!(Instant::now() < deadline, "the component never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // curl → httpserver → notes → keyvalue-redis → Redis.
    let r = req(&addr, "PUT", "/notes/first", b"hello from wasm").await;
    assert_eq!(r.status, 201, "{}", body(&r));
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg(format!("kvb:{bucket}:note:first"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"hello from wasm"[..]));
    let r = req(&addr, "GET", "/notes/first", b"").await;
    assert_eq!((r.status, body(&r).as_str()), (200, "hello from wasm"));

    // Its event reached a plain NATS subscriber.
    let event = tokio::time::timeout(Duration::from_secs(5), saved.next())
        .await
        .expect("no event within 5 s")
        .unwrap();
    let event: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(event, serde_json::json!({"note": "first", "bytes": 15}));

    // A message on its subscription reaches wasmcloud:messaging/handler.
    nats.publish(commands.clone(), "by-message=sent over NATS".into())
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), saved.next())
        .await
        .expect("the message handler published no event within 5 s")
        .unwrap();
    let event: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(
        event,
        serde_json::json!({"note": "by-message", "bytes": 14})
    );
    let r = req(&addr, "GET", "/notes/by-message", b"").await;
    assert_eq!((r.status, body(&r).as_str()), (200, "sent over NATS"));

    // wasi:keyvalue/atomics through the same link.
    for want in ["1\n", "2\n"] {
        let r = req(&addr, "POST", "/count", b"").await;
        assert_eq!((r.status, body(&r).as_str()), (200, want));
    }

    // The secret, read through secrets-vault, never shown: its fingerprint.
    let r = req(&addr, "GET", "/secret", b"").await;
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(body(&r), "secret sha256 b46c09677343261f\n");
    assert!(!body(&r).contains("t0ken"));

    // A trap is a 500 for that request only.
    let r = req(&addr, "GET", "/trap", b"").await;
    assert_eq!(r.status, 500);
    let r = req(&addr, "GET", "/notes/first", b"").await;
    assert_eq!((r.status, body(&r).as_str()), (200, "hello from wasm"));

    // Limits: a request that spins is stopped at the time limit (1 s in
    // this manifest), one that asks for 2 GiB is refused by the memory
    // limit (256 MiB by default); both are 500s and the host goes on.
    let t = Instant::now();
    let r = req(&addr, "GET", "/spin", b"").await;
    assert_eq!(r.status, 500, "{}", body(&r));
    assert!(
        t.elapsed() >= Duration::from_millis(950) && t.elapsed() < Duration::from_millis(1900),
        "stopped after {:?}",
        t.elapsed()
    );
    let r = req(&addr, "GET", "/hog", b"").await;
    assert_eq!(r.status, 500, "{}", body(&r));
    let r = req(&addr, "GET", "/notes/first", b"").await;
    assert_eq!((r.status, body(&r).as_str()), (200, "hello from wasm"));

    // With no secrets link, the import answers its interface's error.
    l.ok(&["link", "del", "secrets", "notes"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let r = loop {
        let r = req(&addr, "GET", "/secret", b"").await;
        if r.status != 200 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(r.status, 503, "{}", body(&r));
    assert!(
        body(&r).contains("Upstream: not-linked"),
        "the component saw {:?}",
        body(&r)
    );

    // Relinked live to keyvalue-nats: the next notes land in NATS.
    let nats_prefix = format!("{}_", l.prefix);
    l.ok(&[
        "link",
        "put",
        "kv-nats",
        "notes",
        &format!("url={}", lattice_fixtures::nats_url()),
        &format!("bucket_prefix={nats_prefix}"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // The Redis note is not in NATS: a 404 says the import moved.
        let r = req(&addr, "GET", "/notes/first", b"").await;
        if r.status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "still answered from Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = req(&addr, "PUT", "/notes/second", b"stored in nats").await;
    assert_eq!(r.status, 201, "{}", body(&r));
    let in_redis: bool = redis::cmd("EXISTS")
        .arg(format!("kvb:{bucket}:note:second"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!in_redis, "the note went to Redis after the relink");
    let payloads = kv_payloads(&nats, &nats_prefix).await;
    assert!(
        payloads.iter().any(|p| p == b"stored in nats"),
        "no KV_{nats_prefix}* bucket holds the note ({} messages)",
        payloads.len()
    );
    let r = req(&addr, "GET", "/notes/second", b"").await;
    assert_eq!((r.status, body(&r).as_str()), (200, "stored in nats"));
    assert_eq!(pids(&l), before, "a process restarted during the relink");

    // A new version of the component, rolled out under load.
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (failures, done, stop, addr) =
            (failures.clone(), done.clone(), stop.clone(), addr.clone());
        load.push(tokio::spawn(async move {
            let mut versions = std::collections::BTreeSet::new();
            let started = Instant::now();
            // Bounded: at most 20 000 requests or 240 s per task.
            for _ in 0..20_000 {
                if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(240) {
                    break;
                }
                match http1::request(&addr, "GET", "/version", &[], b"").await {
                    Ok(r) if r.status == 200 => {
                        versions.insert(String::from_utf8_lossy(&r.body).trim().to_string());
                    }
                    Ok(r) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("during replace: {} {}", r.status, body(&r));
                    }
                    Err(e) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("during replace: {e:#}");
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            versions
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let replaced = {
        let l_cmd = l.command(&[
            "replace",
            "notes",
            "--wasm",
            notes_v2.to_str().unwrap(),
            "--drain-ms",
            "3000",
        ]);
        tokio::task::spawn_blocking(move || {
            let mut c = l_cmd;
            c.output().unwrap()
        })
        .await
        .unwrap()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut versions = std::collections::BTreeSet::new();
    for t in load {
        versions.extend(t.await.unwrap());
    }
    assert!(
        replaced.status.success(),
        "{}",
        lattice_cli::text(&replaced)
    );
    let n = done.load(Ordering::Relaxed);
    eprintln!("replace under load: {n} requests, versions seen {versions:?}");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during the replace"
    );
    assert!(n > 50, "too little load to mean anything ({n})");
    assert!(
        versions.contains("notes 1") && versions.contains("notes 2"),
        "{versions:?}"
    );
    let r = req(&addr, "GET", "/version", b"").await;
    assert_eq!(body(&r), "notes 2\n");
    let after = pids(&l);
    assert_ne!(
        after["notes"], before["notes"],
        "the component host was not replaced"
    );
    for name in ["kv", "kv-nats", "msg", "http", "secrets"] {
        assert_eq!(after[name], before[name], "{name} restarted");
    }
    up.signal("-TERM");
    up.wait_for("down", Duration::from_secs(60)).await;
}
