#![allow(clippy::unwrap_used)]
//! keyvalue-nats against the keyvalue contract suite and its own link
//! behaviour. Every test starts private `nats-server`s with JetStream, so no
//! bucket is left on a shared server.

use std::time::{Duration, Instant};

use keyvalue_interface::{Capabilities, KeyValueClient};
use lattice_conformance::Suite;
use lattice_conformance::host::new_actor;
use lattice_conformance::host::{Host, ProviderProcess, ProviderRef};
use lattice_conformance::keyvalue::{CASES, KvSuite};
use lattice_fixtures::NatsServer;

const CAPS: Capabilities = Capabilities {
    ttl: false,
    cas: true,
    collections: false,
    buckets: true,
};

/// A host on `lattice`'s NATS with keyvalue-nats launched on it.
async fn launch(lattice: &NatsServer) -> (Host, ProviderRef, ProviderProcess) {
    let host = Host::builder()
        .nats_url(lattice.url())
        .connect()
        .await
        .unwrap();
    let hd = host.host_data("default");
    let pref = ProviderRef::new(&hd.provider_key, "default", keyvalue_interface::CONTRACT_ID);
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_keyvalue-nats"));
    let proc = host.launch(&bin, hd).await.unwrap();
    (host, pref, proc)
}

fn client(host: &Host, pref: &ProviderRef, actor: &str) -> KeyValueClient {
    KeyValueClient::new(host.rpc().clone(), actor, &pref.key, &pref.link_name)
}

#[tokio::test]
async fn keyvalue_suite_passes_against_nats_kv() {
    let nats = NatsServer::start().unwrap();
    let (host, pref, proc) = launch(&nats).await;
    let suite = KvSuite::link(&host, &pref, &[], CAPS).await.unwrap();
    let report = suite.run("nats", None).await;
    println!("{report}");
    assert!(report.passed(), "{report}\n{}", proc.output());
    assert_eq!(report.outcomes.len(), CASES.len());
}

#[tokio::test]
async fn link_with_url_stores_in_that_server_and_bad_values_keep_the_old_link() {
    let lattice = NatsServer::start().unwrap();
    let app = NatsServer::start().unwrap();
    let (host, pref, proc) = launch(&lattice).await;
    let actor = new_actor();
    host.link_actor(
        &pref,
        &actor,
        &[("url", &app.url()), ("bucket_prefix", "app_")],
    )
    .await
    .unwrap();
    let kv = client(&host, &pref, &actor);
    kv.store_set("", "greeting.en", b"hello", None)
        .await
        .unwrap();
    kv.store_set("orders", "o/1", b"one", None).await.unwrap();

    // A plain NATS KV client on the application server reads what was written.
    let js = async_nats::jetstream::new(async_nats::connect(app.url()).await.unwrap());
    let default = js.get_key_value("app_default").await.unwrap();
    let got = default.get("greeting=2Een").await.unwrap();
    assert_eq!(got.as_deref(), Some(&b"hello"[..]));
    let orders = js.get_key_value("app_b_orders").await.unwrap();
    assert_eq!(
        orders.get("o/1").await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
    // And nothing went to the lattice's server.
    let lattice_js = async_nats::jetstream::new(host.nats().clone());
    assert!(lattice_js.get_key_value("app_default").await.is_err());

    // An invalid value is refused with the reason; the previous link stays.
    let refused = host
        .put_link(&pref, &host.link(&pref, &actor, &[("storage", "tape")]))
        .await
        .unwrap();
    assert!(!refused.accepted);
    let reason = refused.error.unwrap_or_default();
    assert!(reason.contains("storage"), "{reason}");
    assert_eq!(
        kv.store_get("", "greeting.en").await.unwrap().as_deref(),
        Some(&b"hello"[..]),
        "{}",
        proc.output()
    );
}

#[tokio::test]
async fn a_value_over_the_server_max_payload_is_a_bad_request() {
    let nats = NatsServer::start().unwrap();
    let (host, pref, _proc) = launch(&nats).await;
    let actor = new_actor();
    host.link_actor(&pref, &actor, &[]).await.unwrap();
    let kv = client(&host, &pref, &actor);
    let big = vec![7u8; 1024 * 1024 + 1];
    let err = kv.store_set("", "big", &big, None).await.unwrap_err();
    assert_eq!(err.code.as_str(), "bad-request", "{err}");
    assert_eq!(kv.store_get("", "big").await.unwrap(), None);
}

/// Polls `health` until it matches `healthy`, at most 15 s.
async fn wait_health(host: &Host, pref: &ProviderRef, healthy: bool) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let h = host.health(pref).await.unwrap();
        if h.healthy == healthy {
            return h.message;
        }
        assert!(
            Instant::now() < deadline,
            "health stayed {h:?}, wanted healthy={healthy}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn health_reports_an_application_server_that_is_down() {
    let lattice = NatsServer::start().unwrap();
    let mut app = NatsServer::start().unwrap();
    let (host, pref, _proc) = launch(&lattice).await;
    let actor = new_actor();
    host.link_actor(&pref, &actor, &[("url", &app.url())])
        .await
        .unwrap();
    wait_health(&host, &pref, true).await;

    app.stop();
    let reason = wait_health(&host, &pref, false).await.unwrap_or_default();
    assert!(reason.contains(&app.url()), "{reason}");
    let kv = client(&host, &pref, &actor);
    let err = kv.store_get("", "k").await.unwrap_err();
    assert!(
        ["unavailable", "timeout"].contains(&err.code.as_str()),
        "{err}"
    );

    app.restart().unwrap();
    wait_health(&host, &pref, true).await;
    kv.store_set("", "k", b"back", None).await.unwrap();
    assert_eq!(
        kv.store_get("", "k").await.unwrap().as_deref(),
        Some(&b"back"[..])
    );

    // Once its last link is gone, the connection is no longer checked.
    host.del_link(&pref, &actor).await.unwrap();
    app.stop();
    wait_health(&host, &pref, true).await;
}
