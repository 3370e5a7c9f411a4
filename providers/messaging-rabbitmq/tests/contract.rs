#![allow(clippy::unwrap_used)]
//! messaging-rabbitmq against the messaging contract suite (beside
//! messaging-nats), the swap from messaging-nats by a relink under load,
//! redelivery and dead-lettering, durable queues across a provider restart,
//! and a private broker restarted under the provider.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lapin::options::{BasicGetOptions, ConfirmSelectOptions, QueueDeleteOptions};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use lattice_conformance::Suite;
use lattice_conformance::host::new_actor;
use lattice_conformance::host::{Host, ProviderProcess, ProviderRef};
use lattice_conformance::messaging::{MessagingSuite, flaky_actor};
use lattice_fixtures::{NatsServer, RabbitServer};
use messaging_interface::types::SubMessage;
use tokio::sync::mpsc;

/// The broker every test that does not break it shares.
const SHARED: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

async fn launch_named(host: &Host, link_name: &str, bin: &str) -> (ProviderRef, ProviderProcess) {
    let hd = host.host_data(link_name);
    let pref = ProviderRef::new(
        &hd.provider_key,
        link_name,
        messaging_interface::CONTRACT_ID,
    );
    let p = host
        .launch(std::path::Path::new(bin), hd)
        .env("RUST_LOG", "info,messaging_rabbitmq=debug")
        .await
        .unwrap();
    (pref, p)
}

async fn launch(host: &Host) -> (ProviderRef, ProviderProcess) {
    launch_named(host, "default", env!("CARGO_BIN_EXE_messaging-rabbitmq")).await
}

fn fail_with_output(report: &lattice_conformance::Report, p: &ProviderProcess) -> ! {
    let lines: Vec<String> = p
        .output()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("link"))
        .map(String::from)
        .collect();
    panic!("{report}\nprovider log:\n{}", lines.join("\n"));
}

#[tokio::test]
async fn messaging_suite_passes_on_rabbitmq_and_on_nats_case_by_case() {
    let host = Arc::new(lattice_conformance::test_host().await.unwrap());
    let (pref, p) = launch(&host).await;
    let suite = MessagingSuite::link(host.clone(), &pref, SHARED, &[("uri", SHARED)])
        .await
        .unwrap();
    let rabbit = suite.run("rabbitmq", None).await;
    if !rabbit.passed() {
        fail_with_output(&rabbit, &p);
    }
    // The same cases against messaging-nats, for the side-by-side table.
    let app = NatsServer::start().unwrap();
    let nats_bin = lattice_fixtures::binary("messaging-nats").unwrap();
    let (npref, np) = launch_named(&host, "nats", nats_bin.to_str().unwrap()).await;
    let suite = MessagingSuite::link(host.clone(), &npref, &app.url(), &[("URI", &app.url())])
        .await
        .unwrap();
    let nats = suite.run("nats", None).await;
    if !nats.passed() {
        fail_with_output(&nats, &np);
    }
    println!("{rabbit}\n{nats}\n");
    // Every case ran on both, none skipped on either.
    let case =
        |o: &lattice_conformance::Outcome| o.name.rsplit_once('/').map(|(_, c)| c.to_string());
    println!("{:<64} {:>10} {:>10}", "case", "rabbitmq", "nats");
    assert_eq!(rabbit.outcomes.len(), nats.outcomes.len());
    for (r, n) in rabbit.outcomes.iter().zip(&nats.outcomes) {
        assert_eq!(case(r), case(n));
        let ms = |o: &lattice_conformance::Outcome| format!("{} ms", o.elapsed.as_millis());
        println!(
            "{:<64} {:>10} {:>10}",
            case(r).unwrap_or_default(),
            ms(r),
            ms(n)
        );
    }
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<(SubMessage, bool)>) -> (SubMessage, bool) {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery in time")
        .unwrap()
}

/// A plain AMQP client: the application side.
struct Plain {
    conn: Connection,
    ch: Channel,
}

impl Plain {
    async fn connect(uri: &str) -> Plain {
        let conn = Connection::connect(uri, ConnectionProperties::default())
            .await
            .unwrap();
        let ch = conn.create_channel().await.unwrap();
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        Plain { conn, ch }
    }

    /// Publishes to `amq.topic` (persistent) and waits for the confirm.
    async fn publish(&self, key: &str, body: &[u8]) -> anyhow::Result<()> {
        let persistent = BasicProperties::default().with_delivery_mode(2);
        lattice_fixtures::amqp::publish_confirmed(&self.ch, "amq.topic", key, body, persistent)
            .await
    }

    /// Takes one message from `queue`, if the queue exists and holds one
    /// (on a channel of its own: a missing queue closes the channel).
    async fn get(&self, queue: &str) -> Option<lapin::message::BasicGetMessage> {
        let ch = self.conn.create_channel().await.unwrap();
        ch.basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .ok()
            .flatten()
    }

    async fn delete(&self, queue: &str) {
        let _ = self
            .ch
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await;
    }
}

#[tokio::test]
async fn a_failed_message_comes_back_until_handled_and_is_dead_lettered_after_max_deliver() {
    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, _p) = launch(&host).await;
    let ns = lattice_fixtures::fresh_name("orders");
    let plain = Plain::connect(SHARED).await;

    // Fails twice, handled the third time (max_deliver 5): three deliveries, then acked.
    let (actor, mut rx, _h) = flaky_actor(&host, 2).await.unwrap();
    let queue = format!("{ns}.q1");
    let sub = format!("{ns}.#|{queue}");
    host.link_actor(
        &pref,
        &actor,
        &[("subscription", &sub), ("max_deliver", "5")],
    )
    .await
    .unwrap();
    plain.publish(&format!("{ns}.1"), b"first").await.unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let (m, ok) = recv(&mut rx).await;
        assert_eq!(
            m.subject,
            format!("{ns}.1"),
            "the original routing key every time"
        );
        outcomes.push(ok);
    }
    assert_eq!(outcomes, vec![false, false, true]);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "delivered again after it was handled"
    );
    host.del_link(&pref, &actor).await.unwrap();
    assert!(
        plain.get(&queue).await.is_none(),
        "the handled message was acked"
    );

    // Always failing, max_deliver 2: two deliveries, then the dead-letter queue.
    let (actor2, mut rx2, _h2) = flaky_actor(&host, usize::MAX).await.unwrap();
    let queue2 = format!("{ns}.q2");
    let sub2 = format!("{ns}.#|{queue2}");
    host.link_actor(
        &pref,
        &actor2,
        &[("subscription", &sub2), ("max_deliver", "2")],
    )
    .await
    .unwrap();
    plain.publish(&format!("{ns}.2"), b"second").await.unwrap();
    assert!(!recv(&mut rx2).await.1);
    assert!(!recv(&mut rx2).await.1);
    let dead_letter = format!("{queue2}.dead-letter");
    let deadline = Instant::now() + Duration::from_secs(10);
    let dead = loop {
        if let Some(m) = plain.get(&dead_letter).await {
            break m;
        }
        assert!(Instant::now() < deadline, "nothing in {dead_letter}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dead.delivery.data, b"second");
    let key = dead
        .delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-lattice-dead-letter-key").cloned());
    assert_eq!(
        key,
        Some(lapin::types::AMQPValue::LongString(
            format!("{ns}.2").as_str().into()
        ))
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx2.recv())
            .await
            .is_err(),
        "delivered a third time"
    );
    host.del_link(&pref, &actor2).await.unwrap();
    assert!(plain.get(&queue2).await.is_none(), "the original was acked");

    // A dead-letter exchange that does not exist is refused at link time,
    // not discovered when the first message would be lost.
    let missing = format!("{ns}.no-such-exchange");
    let refused = host
        .link_actor(
            &pref,
            &new_actor(),
            &[("subscription", &sub2), ("dead_letter_exchange", &missing)],
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("dead_letter_exchange"), "{refused}");
    for q in [&queue, &queue2, &dead_letter] {
        plain.delete(q).await;
    }
}

#[tokio::test]
async fn a_shared_queue_keeps_messages_published_while_the_provider_is_down() {
    let host = lattice_conformance::test_host().await.unwrap();
    let ns = lattice_fixtures::fresh_name("events");
    let plain = Plain::connect(SHARED).await;
    let (actor, mut rx, _h) = flaky_actor(&host, 0).await.unwrap();
    let queue = format!("{ns}.durable");
    let sub = format!("{ns}.#|{queue}");
    let values = [("subscription", sub.as_str()), ("durable", "true")];

    let (pref, mut p) = launch(&host).await;
    host.link_actor(&pref, &actor, &values).await.unwrap();
    plain.publish(&format!("{ns}.a"), b"before").await.unwrap();
    assert_eq!(recv(&mut rx).await.0.body, b"before");
    host.shutdown(&pref, None, Some(2000)).await.unwrap();
    assert!(p.wait(Duration::from_secs(10)).await.unwrap().success());

    for i in 0..5 {
        plain
            .publish(&format!("{ns}.b"), format!("while-down-{i}").as_bytes())
            .await
            .unwrap();
    }
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
    host.del_link(&pref2, &actor).await.unwrap();
    plain.delete(&queue).await;
}

#[tokio::test]
async fn subscriptions_come_back_after_a_broker_restart() {
    let mut broker = RabbitServer::start().unwrap();
    let uri = broker.url();
    let host = lattice_conformance::test_host().await.unwrap();
    let (pref, p) = launch(&host).await;
    let pid = p.pid();
    let (actor, mut rx, _h) = flaky_actor(&host, 0).await.unwrap();
    host.link_actor(
        &pref,
        &actor,
        &[
            ("uri", uri.as_str()),
            ("subscription", "app.events|app.workers"),
            ("durable", "true"),
        ],
    )
    .await
    .unwrap();
    {
        let plain = Plain::connect(&uri).await;
        plain.publish("app.events", b"one").await.unwrap();
        assert_eq!(recv(&mut rx).await.0.body, b"one");
    }

    broker.stop();
    let down = host.health(&pref).await.unwrap();
    assert!(!down.healthy, "healthy with the broker stopped");
    broker.restart().unwrap();
    // The provider reconnects and restores its queue and consumer by itself.
    let plain = Plain::connect(&uri).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "no delivery within 30 s of the restart:\n{}",
            p.output()
        );
        n += 1;
        plain
            .publish("app.events", format!("again-{n}").as_bytes())
            .await
            .unwrap();
        if let Ok(Some((m, _))) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await
        {
            assert!(m.body.starts_with(b"again-"));
            break;
        }
    }
    assert!(host.health(&pref).await.unwrap().healthy);
    assert_eq!(p.pid(), pid, "the provider was not restarted");

    // durable=true: the queue and its persistent messages outlive a broker
    // restart while no link consumes them.
    host.del_link(&pref, &actor).await.unwrap();
    while tokio::time::timeout(Duration::from_millis(300), rx.recv())
        .await
        .is_ok_and(|m| m.is_some())
    {}
    for i in 0..3 {
        plain
            .publish("app.events", format!("kept-{i}").as_bytes())
            .await
            .unwrap();
    }
    drop(plain);
    broker.stop();
    broker.restart().unwrap();
    host.link_actor(
        &pref,
        &actor,
        &[
            ("uri", uri.as_str()),
            ("subscription", "app.events|app.workers"),
            ("durable", "true"),
        ],
    )
    .await
    .unwrap();
    let mut kept = Vec::new();
    while kept.len() < 3 {
        let body = String::from_utf8_lossy(&recv(&mut rx).await.0.body).to_string();
        // An `again-*` left in the queue before the restart may come first.
        if body.starts_with("kept-") {
            kept.push(body);
        }
    }
    kept.sort();
    assert_eq!(kept, vec!["kept-0", "kept-1", "kept-2"]);
}

#[tokio::test]
async fn an_actor_relinked_from_nats_to_rabbitmq_under_load_handles_each_later_order_once() {
    let host = Arc::new(lattice_conformance::test_host().await.unwrap());
    let (rabbit, rp) = launch(&host).await;
    let nats_bin = lattice_fixtures::binary("messaging-nats").unwrap();
    let (nats, np) = launch_named(&host, "nats", nats_bin.to_str().unwrap()).await;
    let pids = (rp.pid(), np.pid());
    let nats_url = lattice_fixtures::nats_url();
    let ns = lattice_fixtures::fresh_name("orders");
    let queue = format!("{ns}.consumer");

    // The consumer: counts each order it handles.
    let actor = new_actor();
    let handled = Arc::new(std::sync::Mutex::new(HashMap::<u32, u32>::new()));
    let counts = handled.clone();
    let _served = host
        .serve_actor(
            &actor,
            move |_: provider_sdk::rpc::Invocation, body: Vec<u8>| {
                let counts = counts.clone();
                async move {
                    let m: SubMessage = provider_sdk::rpc::wire::deserialize(&body)?;
                    let seq: u32 = String::from_utf8_lossy(&m.body).parse().unwrap_or(u32::MAX);
                    *counts.lock().unwrap().entry(seq).or_default() += 1;
                    Ok(Vec::new())
                }
            },
        )
        .await
        .unwrap();
    host.link_actor(
        &nats,
        &actor,
        &[
            ("URI", nats_url.as_str()),
            ("SUBSCRIPTION", &format!("{ns}.>")),
        ],
    )
    .await
    .unwrap();

    // The producer publishes each order on both sources (as during a
    // migration), at most 3000 orders and at most 6 s.
    let next_seq = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let producer = {
        let (next_seq, ns) = (next_seq.clone(), ns.clone());
        let nats_client = async_nats::connect(&nats_url).await.unwrap();
        let plain = Plain::connect(SHARED).await;
        tokio::spawn(async move {
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            loop {
                let seq = next_seq.load(Ordering::SeqCst);
                if seq >= 3000 || started.elapsed() > Duration::from_secs(6) {
                    return seq;
                }
                tick.tick().await;
                let body = seq.to_string();
                let subject = format!("{ns}.{}", seq % 7);
                nats_client
                    .publish(subject.clone(), body.clone().into())
                    .await
                    .unwrap();
                plain.publish(&subject, body.as_bytes()).await.unwrap();
                next_seq.store(seq + 1, Ordering::SeqCst);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;

    // The relink: to RabbitMQ (a durable shared queue), then away from NATS.
    let sub = format!("{ns}.#|{queue}");
    host.link_actor(
        &rabbit,
        &actor,
        &[("subscription", &sub), ("durable", "true")],
    )
    .await
    .unwrap();
    host.del_link(&nats, &actor).await.unwrap();
    let boundary = next_seq.load(Ordering::SeqCst) + 1;
    let last = producer.await.unwrap();
    assert!(
        last > boundary + 500,
        "too little load after the relink: {boundary}..{last}"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let missing = {
            let h = handled.lock().unwrap();
            (boundary..last).filter(|s| !h.contains_key(s)).count()
        };
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} orders after the relink never handled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let h = handled.lock().unwrap().clone();
    let twice: Vec<u32> = (boundary..last).filter(|s| h[s] != 1).collect();
    assert!(
        twice.is_empty(),
        "handled more than once after the relink: {twice:?}"
    );
    assert!(!h.contains_key(&u32::MAX));
    assert_eq!((rp.pid(), np.pid()), pids, "no provider restarted");
    assert!(host.health(&rabbit).await.unwrap().healthy);
    assert!(host.health(&nats).await.unwrap().healthy);
    println!(
        "relinked at order {boundary}; orders {boundary}..{last} each handled once; {} before",
        h.keys().filter(|s| **s < boundary).count()
    );
    host.del_link(&rabbit, &actor).await.unwrap();
    Plain::connect(SHARED).await.delete(&queue).await;
}
