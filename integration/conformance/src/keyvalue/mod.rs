//! The keyvalue contract suite (`wasmcloud:keyvalue`, legacy and WASI shapes).
//!
//! Capability flags are checked both ways: a declared capability must work;
//! an undeclared one must answer `keyvalue.unsupported` or
//! `unknown-operation`, never wrong data.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use keyvalue_interface::error::UNSUPPORTED;
use keyvalue_interface::{Capabilities, KeyValueClient};

use crate::cases;

mod legacy;
mod wasi;
use lattice_host::{Host, ProviderRef};
use legacy::*;
use wasi::*;

/// Everything a keyvalue case needs: a client linked to the provider under
/// test, its declared capabilities, and a namespace unique to this run.
pub struct KvSuite {
    /// The client, as a freshly linked actor.
    pub client: KeyValueClient,
    /// What the provider declares.
    pub caps: Capabilities,
    ns: String,
    buckets: std::sync::Mutex<BTreeSet<String>>,
}

impl KvSuite {
    /// Links a fresh actor to `provider` with `link_values` and returns the suite context.
    pub async fn link(
        host: &Host,
        provider: &ProviderRef,
        link_values: &[(&str, &str)],
        caps: Capabilities,
    ) -> Result<Self> {
        let actor = lattice_host::new_actor();
        host.link_actor(provider, &actor, link_values)
            .await
            .context("linking the suite's actor")?;
        let client = KeyValueClient::new(
            host.rpc().clone(),
            &actor,
            &provider.key,
            &provider.link_name,
        );
        let ns = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        Ok(Self {
            client,
            caps,
            ns,
            buckets: Default::default(),
        })
    }

    /// A key unique to this run.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.ns)
    }

    /// A bucket unique to this run (cleaned up by [`KvSuite::cleanup`]).
    pub fn bucket(&self, name: &str) -> String {
        let b = self.bucket_name(name);
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(b.clone());
        b
    }

    /// The name [`KvSuite::bucket`] gives `name`, without cleaning it up
    /// (for identifiers a provider must refuse).
    pub fn bucket_name(&self, name: &str) -> String {
        format!("{}-{name}", self.ns)
    }

    /// Deletes every key this run wrote, through the provider (so it works
    /// on any backend): the run's keys in the empty bucket, and every key of
    /// the run's buckets. Buckets themselves stay (the interface cannot drop one).
    pub async fn cleanup(&self) -> Result<usize> {
        let buckets: Vec<String> = self
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        let mut deleted = 0;
        let prefix = format!("{}:", self.ns);
        let targets = std::iter::once((String::new(), Some(prefix.as_str())))
            .chain(buckets.into_iter().map(|b| (b, None)));
        for (bucket, prefix) in targets {
            if !bucket.is_empty() && !self.caps.buckets {
                continue;
            }
            loop {
                let page = self
                    .client
                    .list_keys(&bucket, prefix, None, Some(1000))
                    .await
                    .map_err(|e| anyhow!("listing {bucket:?} for cleanup: {e}"))?;
                if page.keys.is_empty() {
                    break;
                }
                let keys: Vec<&str> = page.keys.iter().map(String::as_str).collect();
                self.client
                    .delete_many(&bucket, &keys)
                    .await
                    .map_err(|e| anyhow!("cleaning up {bucket:?}: {e}"))?;
                deleted += keys.len();
            }
        }
        Ok(deleted)
    }
}

pub(super) const NOT_SUPPORTED: [&str; 2] = [UNSUPPORTED, "unknown-operation"];

impl crate::Suite for KvSuite {
    const INTERFACE: &'static str = "keyvalue";
    const CASE_TIMEOUT: Duration = Duration::from_secs(60);

    fn cases() -> &'static [crate::Case<Self>] {
        CASES
    }
}

cases! {
    KvSuite;
    set_then_get: "KeyValue.Set then KeyValue.Get returns the value",
    get_missing_key_returns_none: "KeyValue.Get of a missing key is exists=false, not an error",
    set_overwrites_the_previous_value: "a second Set replaces the value",
    del_reports_whether_the_key_existed: "KeyValue.Del answers true then false, and the key is gone",
    contains_follows_set_and_del: "KeyValue.Contains is true after Set and false after Del",
    increment_starts_from_zero_and_accumulates: "KeyValue.Increment of a missing key starts at 0; the value reads back as decimal text",
    increment_of_a_non_integer_is_an_error_and_changes_nothing: "Increment on a non-integer answers keyvalue.not-an-integer and leaves the value",
    legacy_set_with_expires_expires: "expires > 0 makes the key disappear (ttl) or is refused as unsupported",
    lists_add_range_delete_and_clear: "ListAdd/ListRange/ListDel/ListClear behave like Redis lists (or are unsupported)",
    list_range_accepts_negative_indexes: "ListRange counts negative indexes from the end, inclusive",
    sets_add_delete_and_query: "SetAdd/SetDel/SetQuery count and list members (or are unsupported)",
    set_intersection_and_union: "SetIntersection and SetUnion combine sets; missing sets are empty",
    list_operation_on_a_string_key_is_wrong_type: "ListAdd on a key holding a string answers keyvalue.wrong-type and keeps the string",
    store_set_get_exists_delete: "wasi store.set/get/exists/delete round-trip bytes",
    legacy_keys_live_in_the_empty_bucket: "a KeyValue.Set value reads through store.get on bucket \"\" and back",
    buckets_are_isolated: "the same key in two buckets and the empty bucket holds three values",
    bucket_identifier_over_255_bytes_is_no_such_store: "a bucket identifier over 255 bytes answers keyvalue.no-such-store",
    any_utf8_bucket_identifier_up_to_255_bytes_works: "buckets named with ':', '.', '/', spaces, '%', glob characters, unicode and exactly 255 bytes each hold, list and delete their own keys",
    bucket_identifiers_that_look_alike_never_meet: "(a, b:c) vs (a:b, c), a bucket vs its escaped spelling, long twins, and `default` vs the empty bucket stay apart",
    store_ttl_expires_the_key: "ttl_ms makes the key disappear within a bounded wait (or is unsupported)",
    atomics_increment_from_missing_negative_and_non_integer: "atomics.increment starts at 0, accepts negative deltas, refuses non-integers",
    compare_and_swap_creates_swaps_and_reports_conflicts: "CAS creates when absent, swaps on a match, refuses a mismatch with the current value (or is unsupported)",
    concurrent_compare_and_swap_has_exactly_one_winner: "of 16 concurrent CAS from the same old value exactly one swaps",
    list_keys_pages_with_cursor_and_prefix_over_1000_keys: "list-keys returns every key once across pages, honouring prefix and limit",
    batch_set_get_and_delete_many: "set-many, get-many (absent as none, in order) and delete-many",
    binary_values_keep_every_byte: "a value holding every byte 0..=255 round-trips",
    one_mib_value_round_trips: "a 1 MiB value (chunked on the wire) round-trips",
    empty_key_and_empty_value_are_valid: "the empty key and the empty value are stored and read back",
    unicode_keys_round_trip: "keys with non-ASCII text are stored, read and listed as given",
    non_utf8_value_read_by_legacy_get_is_bad_request: "KeyValue.Get of bytes that are not UTF-8 answers bad-request",
    unknown_operation_is_refused: "an operation the interface lacks answers unknown-operation",
    malformed_argument_is_bad_request: "an argument that does not decode answers bad-request",
}
