#![allow(clippy::unwrap_used)]
//! A provider's life end to end: back-pressure, draining shutdown, replacement
//! under load, startup failures, a lattice NATS restart.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use lattice_host::{Host, ProviderProcess, ProviderRef, new_actor};
use lattice_rpc::ErrorCode;
use lattice_rpc::wire;

#[tokio::test]
async fn shutdown_answers_all_fifty_in_flight_calls_then_exits_zero() {
    let mut e = echo().await;
    let mut replies = publish_delays(&e, 50, 300).await;
    e.host.shutdown(&e.pref, None, Some(10_000)).await.unwrap();
    let answers = collect(&mut replies, 50, Duration::from_secs(5)).await;
    let failed: Vec<_> = answers.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
    let status = e.proc.wait(Duration::from_secs(10)).await.unwrap();
    assert!(status.success(), "exit: {status}");
}

#[tokio::test]
async fn max_inflight_reached_answers_overloaded_at_once_and_nothing_hangs() {
    let e = echo_with(|hd| hd.max_inflight = Some(4)).await;
    let mut replies = publish_delays(&e, 12, 1500).await;
    let answers = collect(&mut replies, 12, Duration::from_secs(10)).await;
    let overloaded: Vec<_> = answers
        .iter()
        .filter(|(_, r)| matches!(r, Err(e) if e.code == ErrorCode::Overloaded))
        .collect();
    let ok: Vec<_> = answers.iter().filter(|(_, r)| r.is_ok()).collect();
    assert_eq!(ok.len(), 4, "{answers:?}");
    assert_eq!(overloaded.len(), 8, "{answers:?}");
    let first_ok = ok.iter().map(|(t, _)| *t).min().unwrap();
    assert!(
        overloaded.iter().all(|(t, _)| *t < first_ok),
        "overloaded answers must not wait for the slow calls"
    );
}

#[tokio::test]
async fn replacing_an_instance_under_load_fails_no_call() {
    let host = lattice_conformance::test_host().await.unwrap();
    let actor = new_actor();
    let mut hd_a = host.host_data("default");
    let pref = ProviderRef::new(&hd_a.provider_key, "default", CONTRACT);
    hd_a.link_definitions = vec![host.link(&pref, &actor, &[("prefix", "")])];
    let mut hd_b = hd_a.clone();
    hd_b.instance_id = "instance-b".into();
    let instance_a = hd_a.instance_id.clone();
    let bin = lattice_fixtures::example("echo").unwrap();
    let mut a = host.launch(&bin, hd_a).await.unwrap();
    let _b = host.launch(&bin, hd_b).await.unwrap();
    let host = Arc::new(host);

    const CALLS: usize = 3000;
    const WORKERS: usize = 16;
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Arc::new(tokio::sync::Notify::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (host, pref, actor, done, failures, started) = (
            host.clone(),
            pref.clone(),
            actor.clone(),
            done.clone(),
            failures.clone(),
            started.clone(),
        );
        workers.push(tokio::spawn(async move {
            for i in (w..CALLS).step_by(WORKERS) {
                if Instant::now() > deadline {
                    break;
                }
                let body = wire::serialize(&2u32).unwrap();
                match host.call(&pref, &actor, "Echo.Delay", body).await {
                    Ok(_) => {}
                    Err(e) => failures.lock().unwrap().push(format!("call {i}: {e}")),
                }
                if done.fetch_add(1, Ordering::SeqCst) + 1 == CALLS / 5 {
                    started.notify_one();
                }
            }
        }));
    }
    // Replace instance A once a fifth of the load has gone through.
    started.notified().await;
    host.shutdown(&pref, Some(&instance_a), Some(5000))
        .await
        .unwrap();
    let status = a.wait(Duration::from_secs(10)).await.unwrap();
    assert!(status.success(), "instance A exit: {status}");
    for w in workers {
        w.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert_eq!(
        done.load(Ordering::SeqCst),
        CALLS,
        "load loop hit its time bound"
    );
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(host.health(&pref).await.unwrap().healthy);
}

#[tokio::test]
async fn garbage_on_stdin_exits_nonzero_with_one_clear_line() {
    let bin = lattice_fixtures::example("echo").unwrap();
    let host = lattice_conformance::test_host().await.unwrap();
    let mut missing_field = host.host_data("default");
    missing_field.provider_key = "not-a-key".into();
    let mut unreachable = host.host_data("default");
    unreachable.lattice_rpc_url = "127.0.0.1:1".into();
    unreachable.lattice_rpc_user_seed = nkeys::KeyPair::new_user().seed().unwrap();
    let cases = [
        ("%%% garbage %%%".to_string(), "not valid base64"),
        (
            "eyJub3QiOiJob3N0IGRhdGEifQ".to_string(),
            "not valid JSON host data",
        ),
        (missing_field.encode(), "provider_key"),
        (unreachable.encode(), "NATS unreachable"),
    ];
    for (line, expect) in cases {
        let mut p = ProviderProcess::spawn_raw(&bin, &line, &[]).await.unwrap();
        let status = p.wait(Duration::from_secs(15)).await.unwrap();
        assert!(!status.success(), "{expect}: exited 0");
        let out = p.output();
        let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{expect}: {out}");
        assert!(lines[0].starts_with("error: "), "{out}");
        assert!(lines[0].contains(expect), "{expect}: {out}");
        assert!(!out.contains("panicked") && !out.contains("SU"), "{out}");
    }
}

#[tokio::test]
async fn provider_survives_a_lattice_nats_restart_without_restarting() {
    let mut nats = lattice_fixtures::NatsServer::start().unwrap();
    let host = Host::builder()
        .nats_url(nats.url())
        .connect()
        .await
        .unwrap();
    let mut hd = host.host_data("default");
    let pref = ProviderRef::new(&hd.provider_key, "default", CONTRACT);
    let actor = new_actor();
    hd.link_definitions = vec![host.link(&pref, &actor, &[("prefix", "")])];
    let mut proc = host
        .launch(&lattice_fixtures::example("echo").unwrap(), hd)
        .await
        .unwrap();
    let before = host.health(&pref).await.unwrap();
    assert_eq!(
        host.call(&pref, &actor, "Echo.Echo", b"1".to_vec())
            .await
            .unwrap(),
        b"1"
    );

    nats.restart().unwrap();
    // Both sides reconnect on their own; calls work again within a bounded time.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match host.call(&pref, &actor, "Echo.Echo", b"2".to_vec()).await {
            Ok(out) => {
                assert_eq!(out, b"2");
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(
                    matches!(e.code, ErrorCode::Unavailable | ErrorCode::Timeout),
                    "{e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("not back within 20 s: {e}"),
        }
    }
    assert!(proc.try_status().is_none(), "provider exited");
    // No restart: the provider reports the same process and start time.
    let after = host.health(&pref).await.unwrap();
    assert!(before.started_at_ms.is_some());
    assert_eq!(
        (after.pid, after.started_at_ms),
        (before.pid, before.started_at_ms)
    );
}

#[tokio::test]
async fn private_openbao_dev_server_starts_and_stores_versions() {
    // The Vault fixture the secrets suite seeds secrets with.
    let vault = lattice_fixtures::VaultServer::start().await.unwrap();
    let v1 = vault
        .fixture
        .put("app/db", serde_json::json!({"password": "one"}))
        .await
        .unwrap();
    let v2 = vault
        .fixture
        .put("app/db", serde_json::json!({"password": "two"}))
        .await
        .unwrap();
    assert_eq!((v1, v2), (1, 2));
}
