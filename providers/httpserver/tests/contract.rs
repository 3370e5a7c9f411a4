#![allow(clippy::unwrap_used)]
//! The httpserver contract suite, routing, relinking and draining.

mod common;

use std::time::Duration;

use common::{actor, free_addr, launch, refused, wait_listening};
use lattice_conformance::Suite;
use lattice_conformance::httpserver::HttpSuite;
use lattice_fixtures::http1;

#[tokio::test]
async fn httpserver_suite_passes() {
    let l = launch().await;
    let suite = HttpSuite::new(l.host.clone(), &l.pref, &[]);
    let report = suite.run("httpserver", None).await;
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert_eq!(report.outcomes.len(), 13);
    l.host.delete_chunk_bucket().await.unwrap();
}

async fn get(addr: &str, path: &str, host: Option<&str>) -> http1::Response {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        host.unwrap_or(addr)
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    http1::parse(&raw, false).unwrap()
}

#[tokio::test]
async fn routes_by_longest_prefix_and_host_and_refuses_duplicates() {
    let l = launch().await;
    let addr = free_addr();
    let (root, api, named) = (
        actor(&l.host, "root", Duration::ZERO).await,
        actor(&l.host, "api", Duration::ZERO).await,
        actor(&l.host, "named", Duration::ZERO).await,
    );
    l.host
        .link_actor(&l.pref, &root.key, &[("address", &addr)])
        .await
        .unwrap();
    l.host
        .link_actor(
            &l.pref,
            &api.key,
            &[("address", &addr), ("path_prefix", "/api/")],
        )
        .await
        .unwrap();
    l.host
        .link_actor(
            &l.pref,
            &named.key,
            &[("address", &addr), ("HOST", "App.Example")],
        )
        .await
        .unwrap();
    wait_listening(&addr).await;
    for (path, host, want) in [
        ("/x", None, "root"),
        ("/apix", None, "root"),
        ("/api", None, "api"),
        ("/api/v1?q=1", None, "api"),
        ("/x", Some("app.example:80"), "named"),
        ("/api/v1", Some("app.example"), "named"),
        ("/x", Some("other.example"), "root"),
    ] {
        let r = get(&addr, path, host).await;
        assert_eq!(r.status, 200, "{path} {host:?}");
        assert_eq!(r.header("x-actor"), Some(want), "{path} {host:?}");
    }

    // Same address, host and prefix from another actor: refused, clearly.
    let intruder = actor(&l.host, "intruder", Duration::ZERO).await;
    let ack = l
        .host
        .put_link(
            &l.pref,
            &l.host.link(
                &l.pref,
                &intruder.key,
                &[("address", &addr), ("path_prefix", "/api")],
            ),
        )
        .await
        .unwrap();
    assert!(!ack.accepted);
    let why = ack.error.unwrap_or_default();
    assert!(
        why.contains("already served by actor") && why.contains(&api.key),
        "{why}"
    );
    assert_eq!(
        get(&addr, "/api/v1", None).await.header("x-actor"),
        Some("api")
    );

    // Another TLS or limit setting on a shared address is refused too.
    let ack = l
        .host
        .put_link(
            &l.pref,
            &l.host.link(
                &l.pref,
                &intruder.key,
                &[
                    ("address", &addr),
                    ("path_prefix", "/other"),
                    ("max_headers", "5"),
                ],
            ),
        )
        .await
        .unwrap();
    assert!(!ack.accepted, "a listener-setting conflict was accepted");

    // Unlinking one route: its paths fall back to the next best route.
    assert!(l.host.del_link(&l.pref, &api.key).await.unwrap().accepted);
    assert_eq!(
        get(&addr, "/api/v1", None).await.header("x-actor"),
        Some("root")
    );
    assert!(!refused(&addr).await);
}

#[tokio::test]
async fn relink_to_another_actor_on_the_same_address_needs_no_restart() {
    let mut l = launch().await;
    let before = l.host.health(&l.pref).await.unwrap();
    let addr = free_addr();
    let first = actor(&l.host, "first", Duration::ZERO).await;
    l.host
        .link_actor(&l.pref, &first.key, &[("address", &addr)])
        .await
        .unwrap();
    wait_listening(&addr).await;
    assert_eq!(get(&addr, "/", None).await.header("x-actor"), Some("first"));

    // The same actor relinked with other values on the same route: replaced in place.
    l.host
        .link_actor(
            &l.pref,
            &first.key,
            &[("address", &addr), ("readonly_mode", "true")],
        )
        .await
        .unwrap();
    let r = http1::request(&addr, "POST", "/", &[], b"x").await.unwrap();
    assert_eq!(r.status, 405);

    // Last route gone: the listener is closed when del_link is answered.
    assert!(l.host.del_link(&l.pref, &first.key).await.unwrap().accepted);
    assert!(
        refused(&addr).await,
        "{addr} still accepts after its last route went"
    );

    let second = actor(&l.host, "second", Duration::ZERO).await;
    l.host
        .link_actor(&l.pref, &second.key, &[("address", &addr)])
        .await
        .unwrap();
    wait_listening(&addr).await;
    let r = http1::request(&addr, "POST", "/", &[], b"hi")
        .await
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"second:hi"[..]));
    assert!(l.proc.try_status().is_none());
    // No restart: the provider reports the same process and start time.
    let after = l.host.health(&l.pref).await.unwrap();
    assert!(before.started_at_ms.is_some());
    assert_eq!(
        (after.pid, after.started_at_ms),
        (before.pid, before.started_at_ms)
    );
}

#[tokio::test]
async fn unlink_lets_requests_in_flight_finish_then_closes() {
    let l = launch().await;
    let addr = free_addr();
    let mut slow = actor(&l.host, "slow", Duration::from_millis(700)).await;
    l.host
        .link_actor(&l.pref, &slow.key, &[("address", &addr)])
        .await
        .unwrap();
    wait_listening(&addr).await;
    let a = addr.clone();
    let in_flight =
        tokio::spawn(async move { http1::request(&a, "PUT", "/work", &[], b"data").await });
    tokio::time::timeout(Duration::from_secs(5), slow.seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(l.host.del_link(&l.pref, &slow.key).await.unwrap().accepted);
    let r = in_flight.await.unwrap().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"slow:data"[..]));
    assert!(refused(&addr).await);
}

#[tokio::test]
async fn shutdown_drains_and_closes_every_listener() {
    let mut l = launch().await;
    let (addr1, addr2) = (free_addr(), free_addr());
    let mut a = actor(&l.host, "a", Duration::from_millis(500)).await;
    let b = actor(&l.host, "b", Duration::ZERO).await;
    l.host
        .link_actor(&l.pref, &a.key, &[("address", &addr1)])
        .await
        .unwrap();
    l.host
        .link_actor(&l.pref, &b.key, &[("port", &addr2[10..])])
        .await
        .unwrap();
    wait_listening(&addr1).await;
    wait_listening(&addr2).await;
    let a1 = addr1.clone();
    let in_flight = tokio::spawn(async move { http1::request(&a1, "GET", "/", &[], b"").await });
    tokio::time::timeout(Duration::from_secs(5), a.seen.recv())
        .await
        .unwrap()
        .unwrap();
    l.host.shutdown(&l.pref, None, Some(5000)).await.unwrap();
    assert_eq!(in_flight.await.unwrap().unwrap().status, 200);
    l.proc.wait(Duration::from_secs(10)).await.unwrap();
    assert!(refused(&addr1).await && refused(&addr2).await);
}
