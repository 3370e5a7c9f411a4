#![allow(clippy::unwrap_used)]
//! messaging-nats against the messaging contract suite, JetStream delivery
//! guarantees, and an application NATS restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lattice_conformance::Suite;
use lattice_conformance::host::new_actor;
use lattice_conformance::host::{Host, ProviderProcess, ProviderRef};
use lattice_conformance::messaging::{MessagingSuite, flaky_actor};
use lattice_fixtures::NatsServer;
use messaging_interface::types::SubMessage;
use tokio::sync::mpsc;

async fn launch(host: &Host) -> (ProviderRef, ProviderProcess) {
    let hd = host.host_data("default");
    let pref = ProviderRef::new(
        &hd.provider_key,
        "default",
        messaging_interface::CONTRACT_ID,
    );
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_messaging-nats"));
    let p = host
        .launch(&bin, hd)
        .env("RUST_LOG", "info,messaging_nats=debug")
        .await
        .unwrap();
    (pref, p)
}

#[tokio::test]
async fn messaging_suite_passes_on_a_separate_application_nats() {
    let app = NatsServer::start().unwrap();
    let host = Arc::new(lattice_conformance::test_host().await.unwrap());
    let (pref, p) = launch(&host).await;
    let suite = MessagingSuite::link(host.clone(), &pref, &app.url(), &[("URI", &app.url())])
        .await
        .unwrap();
    let report = suite.run("nats", None).await;
    println!("{report}");
    if !report.passed() {
        let warnings: Vec<String> = p
            .output()
            .lines()
            .filter(|l| {
                l.contains("WARN")
                    || l.contains("ERROR")
                    || l.contains("message received")
                    || l.contains("link")
            })
            .map(String::from)
            .collect();
        panic!("{report}\nprovider warnings:\n{}", warnings.join("\n"));
    }
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<(SubMessage, bool)>) -> (SubMessage, bool) {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery in time")
        .unwrap()
}

async fn stream_on(nats: &async_nats::Client, name: &str, subject: &str) {
    let js = async_nats::jetstream::new(nats.clone());
    js.create_stream(async_nats::jetstream::stream::Config {
        name: name.to_string(),
        subjects: vec![subject.to_string()],
        ..Default::default()
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn jetstream_redelivers_until_handled_and_dead_letters_after_max_deliver() {
    let app = NatsServer::start().unwrap();
    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, _p) = launch(&host).await;
    let plain = async_nats::connect(app.url()).await.unwrap();
    stream_on(&plain, "ORDERS", "orders.>").await;

    // Fails twice, handled the third time (max_deliver 5): delivered three times, acked.
    let (actor, mut rx, _h) = flaky_actor(&host, 2).await.unwrap();
    host.link_actor(
        &pref,
        &actor,
        &[
            ("uri", &app.url()),
            ("stream", "ORDERS"),
            ("consumer", "c1"),
            ("max_deliver", "5"),
        ],
    )
    .await
    .unwrap();
    plain.publish("orders.1", "first".into()).await.unwrap();
    plain.flush().await.unwrap();
    let outcomes: Vec<bool> = vec![
        recv(&mut rx).await.1,
        recv(&mut rx).await.1,
        recv(&mut rx).await.1,
    ];
    assert_eq!(outcomes, vec![false, false, true]);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "delivered again after it was handled"
    );
    host.del_link(&pref, &actor).await.unwrap();

    // Always failing with max_deliver 2: two deliveries, then the dead-letter subject.
    let mut dlq = plain.subscribe("dead.orders").await.unwrap();
    provider_sdk::rpc::subjects::server_sync(&plain, Duration::from_secs(10))
        .await
        .unwrap();
    let (actor2, mut rx2, _h2) = flaky_actor(&host, usize::MAX).await.unwrap();
    host.link_actor(
        &pref,
        &actor2,
        &[
            ("uri", &app.url()),
            ("stream", "ORDERS"),
            ("consumer", "c2"),
            ("max_deliver", "2"),
            ("dead_letter_subject", "dead.orders"),
        ],
    )
    .await
    .unwrap();
    // c2 starts from the stream's beginning: "first" again, then "second".
    plain.publish("orders.2", "second".into()).await.unwrap();
    plain.flush().await.unwrap();
    let mut dead = Vec::new();
    while dead.len() < 2 {
        let m = tokio::time::timeout(
            Duration::from_secs(10),
            futures_util::StreamExt::next(&mut dlq),
        )
        .await
        .expect("dead-lettered in time")
        .unwrap();
        let original = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Lattice-Dead-Letter-Subject"))
            .map(|v| v.as_str().to_string());
        dead.push((String::from_utf8_lossy(&m.payload).to_string(), original));
    }
    dead.sort();
    assert_eq!(
        dead,
        vec![
            ("first".into(), Some("orders.1".into())),
            ("second".into(), Some("orders.2".into()))
        ]
    );
    let mut tries = 0;
    while let Ok(Some((_, ok))) = tokio::time::timeout(Duration::from_millis(300), rx2.recv()).await
    {
        assert!(!ok);
        tries += 1;
    }
    assert_eq!(tries, 4, "two messages, two deliveries each");
}

#[tokio::test]
async fn jetstream_messages_published_while_the_provider_is_down_are_delivered_after_restart() {
    let app = NatsServer::start().unwrap();
    let host = lattice_conformance::test_host().await.unwrap();
    let plain = async_nats::connect(app.url()).await.unwrap();
    stream_on(&plain, "EVENTS", "events.>").await;
    let (actor, mut rx, _h) = flaky_actor(&host, 0).await.unwrap();
    // A short ack wait: a message the server handed to the stopped
    // instance's last pull request comes back within it (at least once).
    let values = [
        ("uri", app.url()),
        ("stream", "EVENTS".into()),
        ("consumer", "durable".into()),
        ("ack_wait_ms", "1000".into()),
    ];
    let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let (pref, mut p) = launch(&host).await;
    host.link_actor(&pref, &actor, &values).await.unwrap();
    plain.publish("events.a", "before".into()).await.unwrap();
    assert_eq!(recv(&mut rx).await.0.body, b"before");
    host.shutdown(&pref, None, Some(2000)).await.unwrap();
    assert!(p.wait(Duration::from_secs(10)).await.unwrap().success());

    for i in 0..5 {
        plain
            .publish("events.b", format!("while-down-{i}").into())
            .await
            .unwrap();
    }
    plain.flush().await.unwrap();

    let (pref2, _p2) = launch(&host).await;
    host.link_actor(&pref2, &actor, &values).await.unwrap();
    let mut got: Vec<String> = Vec::new();
    while got.len() < 5 {
        got.push(String::from_utf8_lossy(&recv(&mut rx).await.0.body).to_string());
    }
    got.sort();
    assert_eq!(
        got,
        (0..5)
            .map(|i| format!("while-down-{i}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn subscriptions_come_back_after_an_application_nats_restart() {
    let mut app = NatsServer::start().unwrap();
    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, p) = launch(&host).await;
    let (actor, mut rx, _h) = flaky_actor(&host, 0).await.unwrap();
    host.link_actor(
        &pref,
        &actor,
        &[("uri", &app.url()), ("subscription", "app.events")],
    )
    .await
    .unwrap();
    let plain = async_nats::connect(app.url()).await.unwrap();
    plain.publish("app.events", "one".into()).await.unwrap();
    assert_eq!(recv(&mut rx).await.0.body, b"one");

    app.restart().unwrap();
    // Both sides reconnect by themselves; publish until a message gets through.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "no delivery within 20 s of the restart"
        );
        n += 1;
        let _ = plain
            .publish("app.events", format!("again-{n}").into())
            .await;
        if let Ok(Some((m, _))) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
        {
            assert!(m.body.starts_with(b"again-"));
            break;
        }
    }
    assert!(host.health(&pref).await.unwrap().healthy);
    drop(p);
}

#[tokio::test]
async fn a_slow_actor_gets_at_most_max_concurrent_calls_and_loses_nothing() {
    let app = NatsServer::start().unwrap();
    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, _p) = launch(&host).await;
    let actor = new_actor();
    let (current, peak, done) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (c, pk, d) = (current.clone(), peak.clone(), done.clone());
    let _h = host
        .serve_actor(
            &actor,
            move |_: provider_sdk::rpc::Invocation, _: Vec<u8>| {
                let (c, pk, d) = (c.clone(), pk.clone(), d.clone());
                async move {
                    let now = c.fetch_add(1, Ordering::SeqCst) + 1;
                    pk.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    c.fetch_sub(1, Ordering::SeqCst);
                    d.fetch_add(1, Ordering::SeqCst);
                    Ok(Vec::new())
                }
            },
        )
        .await
        .unwrap();
    host.link_actor(
        &pref,
        &actor,
        &[
            ("uri", &app.url()),
            ("subscription", "work"),
            ("max_concurrent", "3"),
        ],
    )
    .await
    .unwrap();
    let plain = async_nats::connect(app.url()).await.unwrap();
    for i in 0..30 {
        plain.publish("work", format!("{i}").into()).await.unwrap();
    }
    plain.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while done.load(Ordering::SeqCst) < 30 {
        assert!(
            Instant::now() < deadline,
            "only {} of 30 handled",
            done.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        3,
        "concurrency limit not reached or exceeded"
    );
}

#[tokio::test]
async fn unlink_handles_every_message_already_delivered_before_it_returns() {
    let app = NatsServer::start().unwrap();
    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, _p) = launch(&host).await;
    let actor = new_actor();
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let _served = host
        .serve_actor(
            &actor,
            move |_: provider_sdk::rpc::Invocation, _: Vec<u8>| {
                let h = h.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    h.fetch_add(1, Ordering::SeqCst);
                    Ok(Vec::new())
                }
            },
        )
        .await
        .unwrap();
    host.link_actor(
        &pref,
        &actor,
        &[
            ("uri", &app.url()),
            ("subscription", "burst"),
            ("max_concurrent", "2"),
        ],
    )
    .await
    .unwrap();
    let plain = async_nats::connect(app.url()).await.unwrap();
    for i in 0..40 {
        plain.publish("burst", format!("{i}").into()).await.unwrap();
    }
    // The server has routed all 40 to the provider before the unlink is even sent.
    provider_sdk::rpc::subjects::server_sync(&plain, Duration::from_secs(10))
        .await
        .unwrap();
    let started = Instant::now();
    assert!(host.del_link(&pref, &actor).await.unwrap().accepted);
    // At 2 at a time and 20 ms each, 40 messages take about 400 ms: the
    // unlink waited for them instead of dropping what was buffered.
    assert_eq!(
        handled.load(Ordering::SeqCst),
        40,
        "unlink returned after {:?}",
        started.elapsed()
    );
}
