#![allow(clippy::unwrap_used)]
//! keyvalue-redis against the keyvalue contract suite and Redis failures.

use std::time::{Duration, Instant};

use keyvalue_interface::KeyValueClient;
use lattice_conformance::Suite;
use lattice_conformance::host::{Host, ProviderRef};
use lattice_conformance::keyvalue::KvSuite;
use provider_sdk::ErrorCode;

async fn launch(
    host: &Host,
    config_json: Option<String>,
) -> (ProviderRef, lattice_conformance::host::ProviderProcess) {
    let mut hd = host.host_data("default");
    hd.config_json = config_json;
    let pref = ProviderRef::new(&hd.provider_key, "default", keyvalue_interface::CONTRACT_ID);
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_keyvalue-redis"));
    let p = host.launch(&bin, hd).await.unwrap();
    (pref, p)
}

async fn suite_against_redis(host: Host, label: &str) {
    let (pref, _p) = launch(&host, None).await;
    let url = lattice_fixtures::redis_url();
    // The legacy upper-case key name of the archived provider.
    let suite = KvSuite::link(
        &host,
        &pref,
        &[("URL", &url)],
        keyvalue_interface::Capabilities::ALL,
    )
    .await
    .unwrap();
    let report = suite.run(label, None).await;
    println!("{report}");
    let cleaned = suite.cleanup().await.unwrap();
    assert!(report.passed(), "{report}");
    assert!(cleaned > 1250, "cleanup removed only {cleaned} keys");
    host.delete_chunk_bucket().await.unwrap();
}

#[tokio::test]
async fn keyvalue_suite_passes_against_redis() {
    // HS256 claims; the provider refuses anything else.
    suite_against_redis(lattice_conformance::test_host().await.unwrap(), "redis").await;
}

#[tokio::test]
async fn keyvalue_suite_passes_against_redis_from_a_wasmbus_0x_host() {
    // Ed25519 claims from the cluster key, as a wasmbus 0.x host signs.
    suite_against_redis(
        lattice_conformance::test_host_ed25519().await.unwrap(),
        "redis-ed25519",
    )
    .await;
}

#[tokio::test]
async fn redis_down_answers_unavailable_in_time_and_recovers_without_restart() {
    let mut redis = lattice_fixtures::RedisServer::start().unwrap();
    let host = lattice_conformance::test_host().await.unwrap();
    let config = serde_json::json!({"url": redis.url(), "response_timeout_ms": 500, "connect_timeout_ms": 500});
    let (pref, mut proc) = launch(&host, Some(config.to_string())).await;
    let before = host.health(&pref).await.unwrap();
    let actor = lattice_conformance::host::new_actor();
    host.link_actor(&pref, &actor, &[]).await.unwrap();
    let kv = KeyValueClient::new(host.rpc().clone(), &actor, &pref.key, "default");
    kv.set("k", "v", 0).await.unwrap();
    assert!(host.health(&pref).await.unwrap().healthy);

    redis.stop();
    let started = Instant::now();
    let err = kv.get("k").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started.elapsed()
    );
    let health = host.health(&pref).await.unwrap();
    assert!(!health.healthy, "healthy while Redis is down");
    assert!(health.message.unwrap_or_default().contains("PING"));

    redis.restart().unwrap();
    // The data was not persisted (a fresh server); what matters is that calls work again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match kv.set("k", "back", 0).await {
            Ok(()) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "not back within 20 s: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(kv.get("k").await.unwrap().as_deref(), Some("back"));
    let after = host.health(&pref).await.unwrap();
    assert!(after.healthy);
    assert!(proc.try_status().is_none());
    // No restart: the provider reports the same process, started at the same time.
    assert_eq!(
        (after.pid, after.started_at_ms),
        (before.pid, before.started_at_ms)
    );
    assert!(after.pid.is_some() && after.started_at_ms.is_some());
}

#[tokio::test]
async fn invalid_url_is_refused_at_link_time_and_the_old_link_keeps_working() {
    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, _p) = launch(&host, None).await;
    let actor = lattice_conformance::host::new_actor();
    host.link_actor(&pref, &actor, &[("url", &lattice_fixtures::redis_url())])
        .await
        .unwrap();
    let ack = host
        .put_link(
            &pref,
            &host.link(&pref, &actor, &[("url", "http://:hunter2@nowhere")]),
        )
        .await
        .unwrap();
    assert!(!ack.accepted);
    let why = ack.error.unwrap_or_default();
    assert!(
        why.contains("not a valid Redis URL") && !why.contains("hunter2"),
        "{why}"
    );
    let kv = KeyValueClient::new(host.rpc().clone(), &actor, &pref.key, "default");
    let key = format!("still-{}", lattice_conformance::host::new_actor());
    kv.set(&key, "works", 0).await.unwrap();
    assert!(kv.del(&key).await.unwrap());
}
