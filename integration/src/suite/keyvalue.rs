//! The keyvalue contract suite (`wasmcloud:keyvalue`, legacy and WASI shapes).
//!
//! Capability flags are checked both ways: a declared capability must work;
//! an undeclared one must answer `keyvalue.unsupported` or
//! `unknown-operation`, never wrong data.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use keyvalue::error::{NO_SUCH_STORE, NOT_AN_INTEGER, UNSUPPORTED, WRONG_TYPE};
use keyvalue::{Capabilities, KeyValueClient};
use provider_sdk::{ErrorCode, RpcError};

use super::{cases, eventually};
use crate::ensure_eq;
use crate::host::{Host, ProviderRef};

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
        let actor = crate::new_actor();
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

    /// A bucket unique to this run.
    pub fn bucket(&self, name: &str) -> String {
        let b = format!("{}-{name}", self.ns);
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(b.clone());
        b
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

    /// Runs the suite (`filter`: only cases whose name contains it).
    pub async fn run(&self, label: &str, filter: Option<&str>) -> super::Report {
        super::run(
            &format!("keyvalue/{label}"),
            CASES,
            self,
            filter,
            Duration::from_secs(60),
        )
        .await
    }
}

fn expect_code<T: std::fmt::Debug>(r: Result<T, RpcError>, codes: &[&str]) -> Result<()> {
    match r {
        Ok(v) => bail!("expected an error {codes:?}, got Ok({v:?})"),
        Err(e) if codes.contains(&e.code.as_str()) => Ok(()),
        Err(e) => bail!("expected an error {codes:?}, got {e}"),
    }
}

const NOT_SUPPORTED: [&str; 2] = [UNSUPPORTED, "unknown-operation"];

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
    invalid_bucket_name_is_no_such_store: "a bucket name outside 1-64 of A-Z a-z 0-9 _ - answers keyvalue.no-such-store",
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

async fn set_then_get(c: &KvSuite) -> Result<()> {
    let k = c.key("a");
    c.client.set(&k, "value-a", 0).await?;
    ensure_eq!(c.client.get(&k).await?, Some("value-a".to_string()));
    Ok(())
}

async fn get_missing_key_returns_none(c: &KvSuite) -> Result<()> {
    ensure_eq!(c.client.get(&c.key("never-set")).await?, None);
    Ok(())
}

async fn set_overwrites_the_previous_value(c: &KvSuite) -> Result<()> {
    let k = c.key("ow");
    c.client.set(&k, "one", 0).await?;
    c.client.set(&k, "two", 0).await?;
    ensure_eq!(c.client.get(&k).await?, Some("two".to_string()));
    Ok(())
}

async fn del_reports_whether_the_key_existed(c: &KvSuite) -> Result<()> {
    let k = c.key("del");
    c.client.set(&k, "x", 0).await?;
    ensure_eq!(c.client.del(&k).await?, true);
    ensure_eq!(c.client.del(&k).await?, false);
    ensure_eq!(c.client.get(&k).await?, None);
    Ok(())
}

async fn contains_follows_set_and_del(c: &KvSuite) -> Result<()> {
    let k = c.key("contains");
    ensure_eq!(c.client.contains(&k).await?, false);
    c.client.set(&k, "x", 0).await?;
    ensure_eq!(c.client.contains(&k).await?, true);
    c.client.del(&k).await?;
    ensure_eq!(c.client.contains(&k).await?, false);
    Ok(())
}

async fn increment_starts_from_zero_and_accumulates(c: &KvSuite) -> Result<()> {
    let k = c.key("counter");
    ensure_eq!(c.client.increment(&k, 5).await?, 5);
    ensure_eq!(c.client.increment(&k, -7).await?, -2);
    ensure_eq!(c.client.get(&k).await?, Some("-2".to_string()));
    Ok(())
}

async fn increment_of_a_non_integer_is_an_error_and_changes_nothing(c: &KvSuite) -> Result<()> {
    let k = c.key("not-int");
    c.client.set(&k, "twelve", 0).await?;
    expect_code(c.client.increment(&k, 1).await, &[NOT_AN_INTEGER])?;
    ensure_eq!(c.client.get(&k).await?, Some("twelve".to_string()));
    Ok(())
}

async fn legacy_set_with_expires_expires(c: &KvSuite) -> Result<()> {
    let k = c.key("legacy-ttl");
    let r = c.client.set(&k, "short", 1).await;
    if !c.caps.ttl {
        expect_code(r, &NOT_SUPPORTED)?;
        ensure_eq!(c.client.get(&k).await?, None);
        return Ok(());
    }
    r?;
    ensure_eq!(c.client.get(&k).await?, Some("short".to_string()));
    let gone = eventually(Duration::from_secs(5), || async {
        Ok(c.client.get(&k).await?.is_none())
    })
    .await?;
    ensure_eq!(gone, true);
    Ok(())
}

async fn lists_add_range_delete_and_clear(c: &KvSuite) -> Result<()> {
    let l = c.key("list");
    let r = c.client.list_add(&l, "a").await;
    if !c.caps.collections {
        return expect_code(r, &NOT_SUPPORTED);
    }
    ensure_eq!(r?, 1);
    ensure_eq!(c.client.list_add(&l, "b").await?, 2);
    ensure_eq!(c.client.list_add(&l, "a").await?, 3);
    ensure_eq!(c.client.list_range(&l, 0, -1).await?, vec!["a", "b", "a"]);
    ensure_eq!(c.client.list_del(&l, "a").await?, true);
    ensure_eq!(c.client.list_range(&l, 0, 10).await?, vec!["b", "a"]);
    ensure_eq!(c.client.list_del(&l, "zz").await?, false);
    ensure_eq!(c.client.list_clear(&l).await?, true);
    ensure_eq!(c.client.list_range(&l, 0, -1).await?, Vec::<String>::new());
    ensure_eq!(c.client.list_clear(&l).await?, false);
    Ok(())
}

async fn list_range_accepts_negative_indexes(c: &KvSuite) -> Result<()> {
    let l = c.key("neg");
    if !c.caps.collections {
        return expect_code(c.client.list_range(&l, 0, -1).await, &NOT_SUPPORTED);
    }
    for v in ["0", "1", "2", "3", "4"] {
        c.client.list_add(&l, v).await?;
    }
    ensure_eq!(c.client.list_range(&l, -2, -1).await?, vec!["3", "4"]);
    ensure_eq!(c.client.list_range(&l, 1, 2).await?, vec!["1", "2"]);
    ensure_eq!(c.client.list_range(&l, 3, 1).await?, Vec::<String>::new());
    ensure_eq!(c.client.list_range(&l, -100, 0).await?, vec!["0"]);
    Ok(())
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn sets_add_delete_and_query(c: &KvSuite) -> Result<()> {
    let s = c.key("set");
    let r = c.client.set_add(&s, "x").await;
    if !c.caps.collections {
        return expect_code(r, &NOT_SUPPORTED);
    }
    ensure_eq!(r?, 1);
    ensure_eq!(c.client.set_add(&s, "x").await?, 0);
    ensure_eq!(c.client.set_add(&s, "y").await?, 1);
    ensure_eq!(sorted(c.client.set_query(&s).await?), vec!["x", "y"]);
    ensure_eq!(c.client.set_del(&s, "x").await?, 1);
    ensure_eq!(c.client.set_del(&s, "x").await?, 0);
    ensure_eq!(c.client.set_query(&s).await?, vec!["y"]);
    ensure_eq!(c.client.set_clear(&s).await?, true);
    ensure_eq!(c.client.set_query(&s).await?, Vec::<String>::new());
    Ok(())
}

async fn set_intersection_and_union(c: &KvSuite) -> Result<()> {
    let (a, b, missing) = (c.key("sa"), c.key("sb"), c.key("s-missing"));
    if !c.caps.collections {
        return expect_code(c.client.set_union(&[&a, &b]).await, &NOT_SUPPORTED);
    }
    for v in ["1", "2", "3"] {
        c.client.set_add(&a, v).await?;
    }
    for v in ["2", "3", "4"] {
        c.client.set_add(&b, v).await?;
    }
    ensure_eq!(
        sorted(c.client.set_intersection(&[&a, &b]).await?),
        vec!["2", "3"]
    );
    ensure_eq!(
        sorted(c.client.set_union(&[&a, &b]).await?),
        vec!["1", "2", "3", "4"]
    );
    ensure_eq!(
        c.client.set_intersection(&[&a, &missing]).await?,
        Vec::<String>::new()
    );
    ensure_eq!(
        sorted(c.client.set_union(&[&a, &missing]).await?),
        vec!["1", "2", "3"]
    );
    Ok(())
}

async fn list_operation_on_a_string_key_is_wrong_type(c: &KvSuite) -> Result<()> {
    let k = c.key("typed");
    c.client.set(&k, "plain", 0).await?;
    let r = c.client.list_add(&k, "x").await;
    if c.caps.collections {
        expect_code(r, &[WRONG_TYPE])?;
    } else {
        expect_code(r, &NOT_SUPPORTED)?;
    }
    ensure_eq!(c.client.get(&k).await?, Some("plain".to_string()));
    Ok(())
}

async fn store_set_get_exists_delete(c: &KvSuite) -> Result<()> {
    let b = if c.caps.buckets {
        c.bucket("basic")
    } else {
        String::new()
    };
    let k = c.key("bytes");
    ensure_eq!(c.client.store_exists(&b, &k).await?, false);
    c.client.store_set(&b, &k, b"\x00\x01v", None).await?;
    ensure_eq!(
        c.client.store_get(&b, &k).await?,
        Some(b"\x00\x01v".to_vec())
    );
    ensure_eq!(c.client.store_exists(&b, &k).await?, true);
    c.client.store_delete(&b, &k).await?;
    ensure_eq!(c.client.store_get(&b, &k).await?, None);
    // Deleting a missing key is not an error.
    c.client.store_delete(&b, &k).await?;
    Ok(())
}

async fn legacy_keys_live_in_the_empty_bucket(c: &KvSuite) -> Result<()> {
    let k = c.key("shared");
    c.client.set(&k, "from-legacy", 0).await?;
    ensure_eq!(
        c.client.store_get("", &k).await?,
        Some(b"from-legacy".to_vec())
    );
    c.client.store_set("", &k, b"from-wasi", None).await?;
    ensure_eq!(c.client.get(&k).await?, Some("from-wasi".to_string()));
    Ok(())
}

async fn buckets_are_isolated(c: &KvSuite) -> Result<()> {
    let (b1, b2) = (c.bucket("iso1"), c.bucket("iso2"));
    let k = c.key("same");
    let r = c.client.store_set(&b1, &k, b"one", None).await;
    if !c.caps.buckets {
        return expect_code(r, &NOT_SUPPORTED);
    }
    r?;
    c.client.store_set(&b2, &k, b"two", None).await?;
    c.client.store_set("", &k, b"legacy", None).await?;
    ensure_eq!(c.client.store_get(&b1, &k).await?, Some(b"one".to_vec()));
    ensure_eq!(c.client.store_get(&b2, &k).await?, Some(b"two".to_vec()));
    ensure_eq!(c.client.get(&k).await?, Some("legacy".to_string()));
    c.client.store_delete(&b1, &k).await?;
    ensure_eq!(c.client.store_get(&b2, &k).await?, Some(b"two".to_vec()));
    let page = c.client.list_keys(&b2, None, None, None).await?;
    ensure_eq!(page.keys, vec![k]);
    Ok(())
}

async fn invalid_bucket_name_is_no_such_store(c: &KvSuite) -> Result<()> {
    for bad in ["has space", "dot.ted", "star*", &"x".repeat(65)] {
        expect_code(c.client.store_get(bad, "k").await, &[NO_SUCH_STORE])
            .with_context(|| format!("bucket {bad:?}"))?;
    }
    Ok(())
}

async fn store_ttl_expires_the_key(c: &KvSuite) -> Result<()> {
    let b = if c.caps.buckets {
        c.bucket("ttl")
    } else {
        String::new()
    };
    let k = c.key("ttl");
    let r = c
        .client
        .store_set(&b, &k, b"soon gone", Some(Duration::from_millis(700)))
        .await;
    if !c.caps.ttl {
        expect_code(r, &NOT_SUPPORTED)?;
        ensure_eq!(c.client.store_get(&b, &k).await?, None);
        return Ok(());
    }
    r?;
    let kept = c.client.store_get(&b, &k).await?;
    ensure_eq!(kept, Some(b"soon gone".to_vec()));
    let gone = eventually(Duration::from_secs(5), || async {
        Ok(!c.client.store_exists(&b, &k).await?)
    })
    .await?;
    ensure_eq!(gone, true);
    Ok(())
}

async fn atomics_increment_from_missing_negative_and_non_integer(c: &KvSuite) -> Result<()> {
    let b = if c.caps.buckets {
        c.bucket("atom")
    } else {
        String::new()
    };
    let k = c.key("n");
    ensure_eq!(c.client.increment_by(&b, &k, 10).await?, 10);
    ensure_eq!(c.client.increment_by(&b, &k, -25).await?, -15);
    ensure_eq!(c.client.store_get(&b, &k).await?, Some(b"-15".to_vec()));
    let w = c.key("word");
    c.client.store_set(&b, &w, b"abc", None).await?;
    expect_code(c.client.increment_by(&b, &w, 1).await, &[NOT_AN_INTEGER])?;
    ensure_eq!(c.client.store_get(&b, &w).await?, Some(b"abc".to_vec()));
    Ok(())
}

async fn compare_and_swap_creates_swaps_and_reports_conflicts(c: &KvSuite) -> Result<()> {
    let b = if c.caps.buckets {
        c.bucket("cas")
    } else {
        String::new()
    };
    let k = c.key("cas");
    let r = c.client.compare_and_swap(&b, &k, None, b"v1").await;
    if !c.caps.cas {
        expect_code(r, &NOT_SUPPORTED)?;
        ensure_eq!(c.client.store_get(&b, &k).await?, None);
        return Ok(());
    }
    let created = r?;
    ensure_eq!(created.swapped, true);
    // Absent-only create fails once the key exists, reporting what is there.
    let again = c.client.compare_and_swap(&b, &k, None, b"other").await?;
    ensure_eq!(again.swapped, false);
    ensure_eq!(again.current.map(|v| v.into_vec()), Some(b"v1".to_vec()));
    let swapped = c
        .client
        .compare_and_swap(&b, &k, Some(b"v1"), b"v2")
        .await?;
    ensure_eq!(swapped.swapped, true);
    let conflict = c
        .client
        .compare_and_swap(&b, &k, Some(b"v1"), b"v3")
        .await?;
    ensure_eq!(conflict.swapped, false);
    ensure_eq!(conflict.current.map(|v| v.into_vec()), Some(b"v2".to_vec()));
    ensure_eq!(c.client.store_get(&b, &k).await?, Some(b"v2".to_vec()));
    Ok(())
}

async fn concurrent_compare_and_swap_has_exactly_one_winner(c: &KvSuite) -> Result<()> {
    let b = if c.caps.buckets {
        c.bucket("race")
    } else {
        String::new()
    };
    let k = c.key("race");
    if !c.caps.cas {
        return expect_code(
            c.client.compare_and_swap(&b, &k, None, b"x").await,
            &NOT_SUPPORTED,
        );
    }
    c.client.store_set(&b, &k, b"start", None).await?;
    let attempts = (0..16u8).map(|i| {
        let (b, k) = (b.clone(), k.clone());
        async move {
            c.client
                .compare_and_swap(&b, &k, Some(b"start"), &[b'w', i])
                .await
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let mut winners = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        if r?.swapped {
            winners.push(i as u8);
        }
    }
    ensure_eq!(winners.len(), 1);
    ensure_eq!(
        c.client.store_get(&b, &k).await?,
        Some(vec![b'w', winners[0]])
    );
    Ok(())
}

async fn list_keys_pages_with_cursor_and_prefix_over_1000_keys(c: &KvSuite) -> Result<()> {
    let b = if c.caps.buckets {
        c.bucket("page")
    } else {
        String::new()
    };
    let prefix = c.key("p/");
    let wanted: BTreeSet<String> = (0..1200).map(|i| format!("{prefix}{i:05}")).collect();
    let others: Vec<String> = (0..50).map(|i| c.key(&format!("q/{i}"))).collect();
    let all: Vec<&String> = wanted.iter().chain(others.iter()).collect();
    for chunk in all.chunks(200) {
        let entries: Vec<(&str, &[u8])> = chunk.iter().map(|k| (k.as_str(), &b"v"[..])).collect();
        c.client.set_many(&b, &entries, None).await?;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page_no in 0.. {
        if page_no > 100 {
            bail!("more than 100 pages of at most 100 keys for 1200 keys");
        }
        let page = c
            .client
            .list_keys(&b, Some(&prefix), cursor.as_deref(), Some(100))
            .await?;
        if page.keys.len() > 100 {
            bail!(
                "a page of {} keys exceeds the limit of 100",
                page.keys.len()
            );
        }
        seen.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    ensure_eq!(seen.len(), unique.len());
    if unique != wanted {
        let missing = wanted.difference(&unique).take(3).collect::<Vec<_>>();
        let extra = unique.difference(&wanted).take(3).collect::<Vec<_>>();
        bail!(
            "listed {} keys, wanted 1200; missing e.g. {missing:?}, extra e.g. {extra:?}",
            unique.len()
        );
    }
    if c.caps.buckets {
        // Without a prefix, the fresh bucket lists exactly what was written.
        let mut total = 0;
        let mut cursor: Option<String> = None;
        loop {
            let page = c
                .client
                .list_keys(&b, None, cursor.as_deref(), Some(1000))
                .await?;
            total += page.keys.len();
            match page.cursor {
                Some(next) if total <= 2000 => cursor = Some(next),
                _ => break,
            }
        }
        ensure_eq!(total, 1250);
    }
    Ok(())
}

async fn batch_set_get_and_delete_many(c: &KvSuite) -> Result<()> {
    let b = if c.caps.buckets {
        c.bucket("batch")
    } else {
        String::new()
    };
    let (k1, k2, k3) = (c.key("b1"), c.key("b2"), c.key("b3"));
    c.client
        .set_many(&b, &[(&k1, b"one"), (&k2, b"two")], None)
        .await?;
    let got = c.client.get_many(&b, &[&k1, &k3, &k2]).await?;
    ensure_eq!(
        got,
        vec![Some(b"one".to_vec()), None, Some(b"two".to_vec())]
    );
    c.client.delete_many(&b, &[&k1, &k2, &k3]).await?;
    ensure_eq!(c.client.get_many(&b, &[&k1, &k2]).await?, vec![None, None]);
    Ok(())
}

async fn binary_values_keep_every_byte(c: &KvSuite) -> Result<()> {
    let b = if c.caps.buckets {
        c.bucket("bin")
    } else {
        String::new()
    };
    let k = c.key("all-bytes");
    let value: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    c.client.store_set(&b, &k, &value, None).await?;
    ensure_eq!(c.client.store_get(&b, &k).await?, Some(value));
    Ok(())
}

async fn one_mib_value_round_trips(c: &KvSuite) -> Result<()> {
    let b = if c.caps.buckets {
        c.bucket("big")
    } else {
        String::new()
    };
    let k = c.key("mib");
    let value: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    c.client.store_set(&b, &k, &value, None).await?;
    let back = c
        .client
        .store_get(&b, &k)
        .await?
        .ok_or_else(|| anyhow!("1 MiB value missing"))?;
    ensure_eq!(back.len(), value.len());
    if back != value {
        bail!("1 MiB value came back different");
    }
    c.client.store_delete(&b, &k).await?;
    Ok(())
}

async fn empty_key_and_empty_value_are_valid(c: &KvSuite) -> Result<()> {
    // The empty key of a fresh bucket (on a store without buckets, an empty value only).
    if c.caps.buckets {
        let b = c.bucket("empty");
        c.client
            .store_set(&b, "", b"for the empty key", None)
            .await?;
        ensure_eq!(
            c.client.store_get(&b, "").await?,
            Some(b"for the empty key".to_vec())
        );
        ensure_eq!(c.client.store_exists(&b, "").await?, true);
        c.client.store_delete(&b, "").await?;
        ensure_eq!(c.client.store_exists(&b, "").await?, false);
    }
    let k = c.key("empty-value");
    c.client.set(&k, "", 0).await?;
    ensure_eq!(c.client.get(&k).await?, Some(String::new()));
    ensure_eq!(c.client.store_get("", &k).await?, Some(Vec::new()));
    Ok(())
}

async fn unicode_keys_round_trip(c: &KvSuite) -> Result<()> {
    let b = if c.caps.buckets {
        c.bucket("uni")
    } else {
        String::new()
    };
    let keys = [
        c.key("u/ключ"),
        c.key("u/鍵/キー"),
        c.key("u/emoji 🔑 key"),
        c.key("u/a.b*c>d"),
    ];
    for (i, k) in keys.iter().enumerate() {
        c.client.store_set(&b, k, &[i as u8], None).await?;
    }
    for (i, k) in keys.iter().enumerate() {
        ensure_eq!(c.client.store_get(&b, k).await?, Some(vec![i as u8]));
    }
    let page = c
        .client
        .list_keys(&b, Some(&c.key("u/")), None, Some(1000))
        .await?;
    let listed: BTreeSet<String> = page.keys.into_iter().collect();
    let wanted: BTreeSet<String> = keys.iter().cloned().collect();
    if listed != wanted {
        bail!("listed {listed:?}, wrote {wanted:?}");
    }
    Ok(())
}

async fn non_utf8_value_read_by_legacy_get_is_bad_request(c: &KvSuite) -> Result<()> {
    let k = c.key("latin1");
    c.client.store_set("", &k, b"caf\xe9", None).await?;
    expect_code(c.client.get(&k).await, &["bad-request"])
}

async fn unknown_operation_is_refused(c: &KvSuite) -> Result<()> {
    let r: Result<(), RpcError> = c.client.call("KeyValue.Teleport", "x").await;
    match r {
        Err(e) if e.code == ErrorCode::UnknownOperation => Ok(()),
        other => bail!("expected unknown-operation, got {other:?}"),
    }
}

async fn malformed_argument_is_bad_request(c: &KvSuite) -> Result<()> {
    // A number where a SetRequest map is expected.
    let r: Result<(), RpcError> = c.client.call(keyvalue::ops::SET, &42u32).await;
    expect_code(r, &["bad-request"])
}
