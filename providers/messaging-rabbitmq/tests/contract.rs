#![allow(clippy::unwrap_used)]
//! messaging-rabbitmq against the messaging contract suite (beside
//! messaging-nats), the swap from messaging-nats by a relink under load,
//! redelivery and dead-lettering, durable queues across a provider restart,
//! and a private broker restarted under the provider.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_conformance::Suite;
use lattice_conformance::host::new_actor;
use lattice_conformance::host::{Host, ProviderProcess, ProviderRef};
use lattice_conformance::messaging::MessagingSuite;
use lattice_fixtures::{NatsServer, RabbitServer};
use messaging_interface::types::SubMessage;
use provider_sdk::RpcError;
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
