#![allow(clippy::unwrap_used)]
//! The `lattice` command as an operator runs it: `keys init`, `up` of a
//! manifest with every provider, `call`, `ps`, `link ls` from a second
//! process, supervision after SIGKILL, `replace` under load, and the bad
//! inputs that must stop it before anything starts.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod lattice_cli;
use lattice_cli::{Lattice, kill9, text};

use httpserver_interface::{HttpRequest, HttpResponse};
use keyvalue_interface::KeyValueClient;
use lattice_fixtures::VaultServer;
use lattice_host::new_actor;
use lattice_rpc::{Invocation, RpcError};

// Commands run blocking while this process serves actors and responders:
// two worker threads keep those answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_of_every_provider_comes_up_and_answers_from_the_shell() {
    let l = Lattice::new();
    let vault = VaultServer::start().await.unwrap();
    vault
        .fixture
        .put("app/db", serde_json::json!({"pw": "s3cret"}))
        .await
        .unwrap();
    let port = lattice_fixtures::free_port().unwrap();
    let actor = new_actor();
    let echo_subject = format!("{}.echo", l.prefix);
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

[[link]]
actor = "{actor}"
provider = "kv"

[[link]]
actor = "{actor}"
provider = "kv-nats"
values = {{ url = "{nats}", bucket_prefix = "{prefix}_" }}

[[link]]
actor = "{actor}"
provider = "msg"
values = {{ uri = "{nats}" }}

[[link]]
actor = "{actor}"
provider = "http"
values = {{ address = "127.0.0.1:{port}" }}

[[link]]
actor = "{actor}"
provider = "secrets"
values = {{ addr = "{vault_url}", allowed_paths = "app/db" }}
secrets = {{ token = {{ env = "TEST_VAULT_TOKEN" }} }}
"#,
        redis = lattice_fixtures::redis_url(),
        nats = lattice_fixtures::nats_url(),
        prefix = l.prefix,
        vault_url = vault.fixture.url(),
    ));
    let up = l
        .up(&manifest, &[("TEST_VAULT_TOKEN", &vault.fixture.token)])
        .await;
    for name in ["kv", "kv-nats", "msg", "http", "secrets"] {
        assert_eq!(l.running(name).len(), 1, "{name} is not running");
    }

    // keyvalue, both stores.
    for kv in ["kv", "kv-nats"] {
        l.ok(&[
            "call",
            kv,
            "KeyValue.Set",
            r#"{"key":"greeting","value":"hello","expires":0}"#,
        ]);
        let got = l.json(&["call", kv, "KeyValue.Get", r#""greeting""#]);
        assert_eq!(got[0]["value"], "hello", "{kv}");
    }
    // messaging: a request answered by a plain NATS responder.
    let nats = async_nats::connect(lattice_fixtures::nats_url())
        .await
        .unwrap();
    let mut sub = nats.subscribe(echo_subject.clone()).await.unwrap();
    let responder = {
        let nats = nats.clone();
        tokio::spawn(async move {
            use futures_util::StreamExt;
            if let Some(m) = sub.next().await {
                let body = [b"echo: ".as_slice(), &m.payload].concat();
                nats.publish(m.reply.unwrap(), body.into()).await.unwrap();
                nats.flush().await.unwrap();
            }
        })
    };
    nats.flush().await.unwrap();
    let reply = l.json(&[
        "call",
        "msg",
        "Messaging.Request",
        &format!(r#"{{"subject":"{echo_subject}","body":"ping","timeoutMs":2000}}"#),
    ]);
    assert_eq!(reply[0]["body"], "echo: ping", "{reply:?}");
    responder.await.unwrap();
    // secrets: read through the link's sealed token, opened by the CLI.
    let secret = l.json(&[
        "call",
        "secrets",
        "Secrets.Get",
        r#"{"key":"app/db","field":"pw"}"#,
    ]);
    assert_eq!(secret[0]["value"], "s3cret", "{secret:?}");
    // An error code decides the exit status: a path the link does not allow.
    let denied = l.run(&[
        "call",
        "secrets",
        "Secrets.Get",
        r#"{"key":"other/x","field":"pw"}"#,
    ]);
    assert_eq!(denied.status.code(), Some(7), "{}", text(&denied));
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("secrets.access-denied"),
        "{}",
        text(&denied)
    );

    // httpserver: curl, answered by an actor the host library serves.
    let host = l.host().await;
    let http = l.json(&["link", "ls", "http"]).into_iter().next().unwrap();
    host.links().insert(
        http["provider_key"].as_str().unwrap(),
        http["link_name"].as_str().unwrap(),
        &actor,
    );
    let _served = host
        .serve_actor(&actor, |inv: Invocation, body: Vec<u8>| async move {
            if inv.operation != httpserver_interface::ops::HANDLE_REQUEST {
                return Err(RpcError::unknown_operation(inv.operation));
            }
            let req: HttpRequest = lattice_rpc::wire::deserialize(&body)?;
            lattice_rpc::wire::serialize(&HttpResponse::with_status(
                200,
                format!("hello from the actor at {}", req.path),
            ))
        })
        .await
        .unwrap();
    let curl = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            &format!("http://127.0.0.1:{port}/hi"),
        ])
        .output()
        .unwrap();
    assert!(curl.status.success(), "{}", text(&curl));
    assert_eq!(
        String::from_utf8_lossy(&curl.stdout),
        "hello from the actor at /hi"
    );

    // A second `lattice` process, with a state directory of its own, sees
    // what `lattice up` made: it lives in NATS, not on this machine.
    let other_dir = l.dir.join("elsewhere");
    let links = l
        .command(&["link", "ls", "--json"])
        .env("LATTICE_STATE_DIR", &other_dir)
        .output()
        .unwrap();
    assert!(links.status.success(), "{}", text(&links));
    let links: Vec<serde_json::Value> = String::from_utf8_lossy(&links.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(links.len(), 5);
    let secrets_link = links.iter().find(|x| x["provider"] == "secrets").unwrap();
    assert_eq!(secrets_link["secrets"], serde_json::json!(["token"]));
    let ps = l
        .command(&["ps", "--json"])
        .env("LATTICE_STATE_DIR", &other_dir)
        .output()
        .unwrap();
    let rows = String::from_utf8_lossy(&ps.stdout);
    assert_eq!(rows.lines().count(), 5, "{rows}");
    assert!(rows.lines().all(|r| r.contains("\"healthy\"")), "{rows}");
    // The token is in the state only sealed.
    let state = l.ok(&["link", "ls", "--json"]);
    assert!(!state.contains(&vault.fixture.token));
    drop(up);
}

// Commands run blocking while this process serves actors and responders:
// two worker threads keep those answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_provider_is_restarted_with_its_links_and_replace_fails_no_call() {
    let l = Lattice::new();
    let actor = new_actor();
    let manifest = l.manifest(&format!(
        "[[provider]]\nname = \"kv\"\nbinary = \"keyvalue-redis\"\nconfig = {{ url = \"{}\" }}\n\n[[link]]\nactor = \"{actor}\"\nprovider = \"kv\"\n",
        lattice_fixtures::redis_url()
    ));
    let mut up = l.up(&manifest, &[]).await;
    l.ok(&[
        "call",
        "kv",
        "KeyValue.Set",
        r#"{"key":"survivor","value":"yes","expires":0}"#,
    ]);
    let first = l.running("kv");
    let pid = first[0]["pid"].as_u64().unwrap();

    // SIGKILL: the supervisor starts it again, and it has its link back
    // without anyone relinking (the call is from the linked actor).
    kill9(pid);
    up.wait_for("exited", Duration::from_secs(10)).await;
    up.wait_for("restarted", Duration::from_secs(30)).await;
    let got = l.json(&["call", "kv", "KeyValue.Get", r#""survivor""#]);
    assert_eq!(got[0]["value"], "yes");
    let second = l.running("kv");
    let restarted_pid = second[0]["pid"].as_u64().unwrap();
    assert_ne!(restarted_pid, pid);

    // replace under a bounded load: no failed call, and the new pid serves.
    let host = l.host().await;
    let rec = l.json(&["link", "ls", "kv"]).into_iter().next().unwrap();
    let kv = Arc::new(KeyValueClient::new(
        host.rpc().clone(),
        &actor,
        rec["provider_key"].as_str().unwrap(),
        "default",
    ));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (kv, ok, failed, stop) = (kv.clone(), ok.clone(), failed.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            for _ in 0..200_000 {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                match kv.get("survivor").await {
                    Ok(Some(v)) if v == "yes" => ok.fetch_add(1, Ordering::Relaxed),
                    other => {
                        eprintln!("failed call: {other:?}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let replaced = {
        let cmd = l.command(&["replace", "kv", "--drain-ms", "3000", "--json"]);
        tokio::task::spawn_blocking(move || {
            let mut cmd = cmd;
            cmd.output().unwrap()
        })
        .await
        .unwrap()
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    assert!(replaced.status.success(), "{}", text(&replaced));
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(failed, 0, "{ok} calls succeeded, {failed} failed");
    assert!(ok > 100, "the load ran ({ok} calls)");
    let after = l.running("kv");
    assert_eq!(after.len(), 1, "{after:?}");
    let new_pid = after[0]["pid"].as_u64().unwrap();
    assert_ne!(new_pid, restarted_pid);
    let reply: serde_json::Value =
        serde_json::from_slice(replaced.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(reply["started"][0]["pid"].as_u64(), Some(new_pid));
    assert_eq!(reply["stopped"][0]["pid"].as_u64(), Some(restarted_pid));

    // stop: its host does not start it again.
    l.ok(&["stop", "kv"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(l.running("kv").is_empty());
    let e = l.run(&["call", "kv", "KeyValue.Get", r#""survivor""#]);
    assert_eq!(e.status.code(), Some(5), "{}", text(&e));

    // Ctrl-C drains and exits 0.
    up.signal("-INT");
    let status = tokio::time::timeout(Duration::from_secs(30), up.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

// Commands run blocking while this process serves actors and responders:
// two worker threads keep those answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_one_clear_line_and_starts_nothing() {
    let l = Lattice::new();
    let actor = new_actor();
    let fails = |args: &[&str], env: &[(&str, &str)], want: &str| {
        let mut cmd = l.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: want {want:?} in {err}");
        let last = err.lines().last().unwrap_or("");
        assert!(last.starts_with("error: "), "{args:?}: {err}");
        assert!(
            !err.contains("stack backtrace") && !err.contains("panicked"),
            "{err}"
        );
    };
    let up = |body: &str, want: &str| {
        let m = l.manifest(body);
        fails(
            &["up", m.to_str().unwrap()],
            &[("RUST_BACKTRACE", "1")],
            want,
        );
    };
    let redis = lattice_fixtures::redis_url();

    up(
        "[[provider]]\nbinary = \"no-such-provider\"\n",
        "no binary named \"no-such-provider\"",
    );
    up(
        "[[provider]]\nbinary = \"./bin/missing\"\n",
        "lattice.toml:4: provider \"missing\": binary",
    );
    up(
        "[[provider]]\nbinary = \"keyvalue-redis\"\n[[link]\nactor = \"x\"\n",
        "lattice.toml: line 6",
    );
    up(
        &format!(
            "[[provider]]\nbinary = \"keyvalue-redis\"\n\n[[link]]\nactor = \"{actor}\"\nprovider = \"redis\"\n"
        ),
        "lattice.toml:9: the link names provider \"redis\", which this manifest does not declare",
    );
    up(
        &format!(
            "[[provider]]\nname = \"kv\"\nbinary = \"keyvalue-redis\"\nconfig = {{ url = \"{redis}\" }}\n\n[[link]]\nactor = \"{actor}\"\nprovider = \"kv\"\nvalues = {{ connect_timeout_ms = \"soon\" }}\n"
        ),
        "connect_timeout_ms",
    );
    up(
        &format!(
            "[[provider]]\nname = \"kv\"\nbinary = \"keyvalue-redis\"\n\n[[link]]\nactor = \"{actor}\"\nprovider = \"kv\"\nsecrets = {{ password = {{ env = \"SURELY_UNSET_VAR_FOR_TEST\" }} }}\n"
        ),
        "SURELY_UNSET_VAR_FOR_TEST",
    );
    // Nothing of any of these started: the lattice has no state at all.
    fails(&["ps"], &[], "has no state");
    fails(
        &["call", "nope", "KeyValue.Get", "\"a\""],
        &[],
        "has no state",
    );

    // Keys: missing, then readable by others.
    let m = l.manifest("");
    fails(
        &["up", m.to_str().unwrap()],
        &[("LATTICE_KEYS", "/nonexistent/keys.toml")],
        "no keys file at /nonexistent/keys.toml",
    );
    std::fs::set_permissions(l.keys(), std::fs::Permissions::from_mode(0o644)).unwrap();
    fails(&["ps"], &[], "chmod 600");
    fails(&["keys", "init"], &[], "--force");
    std::fs::set_permissions(l.keys(), std::fs::Permissions::from_mode(0o600)).unwrap();

    // With a lattice up: an unknown provider is named with the known ones.
    let manifest = l.manifest(&format!(
        "[[provider]]\nname = \"kv\"\nbinary = \"keyvalue-redis\"\nconfig = {{ url = \"{redis}\" }}\n"
    ));
    let _up = l.up(&manifest, &[]).await;
    fails(
        &["call", "nope", "KeyValue.Get", "\"a\""],
        &[],
        "no provider named \"nope\" on lattice",
    );
    fails(
        &["call", "kv", "KeyValue.Get", "\"a\""],
        &[],
        "no actor is linked to kv",
    );
    fails(
        &["call", "kv", "KeyValue.Get", "{not json"],
        &[],
        "not JSON",
    );
    fails(
        &["link", "put", "kv", &actor, "connect_timeout_ms=soon"],
        &[],
        "kv refused the link",
    );
    assert!(
        l.json(&["link", "ls"]).is_empty(),
        "a refused link is not recorded"
    );
    // A second `lattice up` of the same lattice on this machine is refused.
    let second = l.run(&["up", manifest.to_str().unwrap()]);
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another `lattice up`"),
        "{}",
        text(&second)
    );
    assert_eq!(l.running("kv").len(), 1, "no twin was started");
}
