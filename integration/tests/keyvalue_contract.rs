#![allow(clippy::unwrap_used)]
//! The keyvalue contract suite against the in-memory reference provider.
//! The suite itself is validated here: the reference declares every
//! capability and must pass every case.

use integration::suite::keyvalue::KvSuite;
use integration::{Host, ProviderRef, Target, binary};

#[tokio::test]
async fn keyvalue_suite_passes_against_the_in_memory_reference() {
    let host = Host::for_tests().await.unwrap();
    let hd = host.host_data("default");
    let pref = ProviderRef::new(&hd.provider_key, "default", keyvalue::CONTRACT_ID);
    let bin = binary("keyvalue", "keyvalue-memory", Target::Example).unwrap();
    let _p = host.launch(&bin, hd).await.unwrap();
    let suite = KvSuite::link(&host, &pref, &[], keyvalue::Capabilities::ALL)
        .await
        .unwrap();
    let report = suite.run("memory", None).await;
    println!("{report}");
    let cleaned = suite.cleanup().await.unwrap();
    assert!(report.passed(), "{report}");
    assert!(cleaned > 1250, "cleanup removed only {cleaned} keys");
    assert_eq!(
        report.outcomes.len(),
        integration::suite::keyvalue::CASES.len()
    );
    host.delete_chunk_bucket().await.unwrap();
}

/// The suite checks capabilities both ways: run against the same reference
/// while declaring no capability, every capability case must fail (the store
/// does what it was declared not to), and every other case must still pass.
#[tokio::test]
async fn keyvalue_suite_catches_a_store_that_does_what_it_does_not_declare() {
    let host = Host::for_tests().await.unwrap();
    let hd = host.host_data("default");
    let pref = ProviderRef::new(&hd.provider_key, "default", keyvalue::CONTRACT_ID);
    let bin = binary("keyvalue", "keyvalue-memory", Target::Example).unwrap();
    let _p = host.launch(&bin, hd).await.unwrap();
    let none = keyvalue::Capabilities {
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
    assert_eq!(
        failed,
        vec![
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
        ],
        "{report}"
    );
    host.delete_chunk_bucket().await.unwrap();
}
