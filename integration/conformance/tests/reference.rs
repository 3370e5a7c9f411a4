#![allow(clippy::unwrap_used)]
//! The keyvalue contract suite against the in-memory reference provider.
//! The suite itself is validated here: the reference declares every
//! capability and must pass every case.

use lattice_conformance::Suite;
use lattice_conformance::host::{Host, ProviderProcess, ProviderRef};
use lattice_conformance::keyvalue::{CASES, KvSuite};

/// The in-memory reference provider on a fresh lattice.
async fn reference() -> (Host, ProviderRef, ProviderProcess) {
    let host = Host::builder()
        .nats_url(lattice_fixtures::nats_url())
        .connect()
        .await
        .unwrap();
    let hd = host.host_data("default");
    let pref = ProviderRef::new(&hd.provider_key, "default", keyvalue_interface::CONTRACT_ID);
    let bin = lattice_fixtures::example("keyvalue-memory").unwrap();
    let p = host.launch(&bin, hd).await.unwrap();
    (host, pref, p)
}

#[tokio::test]
async fn keyvalue_suite_passes_against_the_in_memory_reference() {
    let (host, pref, _p) = reference().await;
    let suite = KvSuite::link(&host, &pref, &[], keyvalue_interface::Capabilities::ALL)
        .await
        .unwrap();
    let report = suite.run("memory", None).await;
    println!("{report}");
    let cleaned = suite.cleanup().await.unwrap();
    assert!(report.passed(), "{report}");
    assert!(cleaned > 1250, "cleanup removed only {cleaned} keys");
    assert_eq!(report.outcomes.len(), CASES.len());
    host.delete_chunk_bucket().await.unwrap();
}

/// The suite checks capabilities both ways: run against the same reference
/// while declaring no capability, every capability case must fail (the store
/// does what it was declared not to), and every other case must still pass.
#[tokio::test]
async fn keyvalue_suite_catches_a_store_that_does_what_it_does_not_declare() {
    let (host, pref, _p) = reference().await;
    let none = keyvalue_interface::Capabilities {
        ttl: false,
        cas: false,
        collections: false,
        buckets: false,
    };
    let suite = KvSuite::link(&host, &pref, &[], none).await.unwrap();
    let report = suite.run("memory-declaring-nothing", None).await;
    let mut failed: Vec<&str> = report
        .failures()
        .iter()
        .map(|o| o.name.rsplit('/').next().unwrap())
        .collect();
    failed.sort();
    let mut expected = vec![
        "any_utf8_bucket_identifier_up_to_255_bytes_works",
        "bucket_identifiers_that_look_alike_never_meet",
        "buckets_are_isolated",
        "compare_and_swap_creates_swaps_and_reports_conflicts",
        "concurrent_compare_and_swap_has_exactly_one_winner",
        "legacy_set_with_expires_expires",
        "list_operation_on_a_string_key_is_wrong_type",
        "list_range_accepts_negative_indexes",
        "lists_add_range_delete_and_clear",
        "set_intersection_and_union",
        "sets_add_delete_and_query",
        "store_ttl_expires_the_key",
    ];
    expected.sort();
    assert_eq!(failed, expected, "{report}");
    host.delete_chunk_bucket().await.unwrap();
}

#[tokio::test]
async fn a_filter_that_matches_no_case_fails_the_run() {
    let (host, pref, _p) = reference().await;
    let suite = KvSuite::link(&host, &pref, &[], keyvalue_interface::Capabilities::ALL)
        .await
        .unwrap();
    let report = suite.run("memory", Some("no_such_case")).await;
    assert!(!report.passed(), "{report}");
    assert!(report.to_string().contains("set_then_get"), "{report}");
    let report = suite.run("memory", Some("set_then_get")).await;
    assert!(report.passed(), "{report}");
    assert_eq!(report.outcomes.len(), 1);
}
