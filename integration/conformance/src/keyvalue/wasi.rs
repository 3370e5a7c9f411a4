//! Cases of the `wasi:keyvalue` operations (buckets, binary values, atomics, batches).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use keyvalue_interface::error::{NO_SUCH_STORE, NOT_AN_INTEGER};

use super::{KvSuite, NOT_SUPPORTED};
use crate::ensure_eq;
use crate::eventually;
use crate::expect_code;

pub(super) async fn store_set_get_exists_delete(c: &KvSuite) -> Result<()> {
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

pub(super) async fn legacy_keys_live_in_the_empty_bucket(c: &KvSuite) -> Result<()> {
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

pub(super) async fn buckets_are_isolated(c: &KvSuite) -> Result<()> {
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

pub(super) async fn bucket_identifier_over_255_bytes_is_no_such_store(c: &KvSuite) -> Result<()> {
    let over = c.bucket_name(&"x".repeat(256));
    expect_code(c.client.store_get(&over, "k").await, &[NO_SUCH_STORE])
        .context("a 256+ byte bucket")?;
    let multibyte = c.bucket_name(&"é".repeat(128));
    expect_code(
        c.client.store_set(&multibyte, "k", b"v", None).await,
        &[NO_SUCH_STORE],
    )
    .context("128 two-byte characters")?;
    Ok(())
}

/// Bucket identifiers of every shape `wasi:keyvalue` allows: each holds its
/// own value, reads back, lists its key and deletes it.
pub(super) async fn any_utf8_bucket_identifier_up_to_255_bytes_works(c: &KvSuite) -> Result<()> {
    let max_tail = 255 - c.bucket_name("").len();
    let names = [
        c.bucket("app:sessions"),
        c.bucket("dot.ted"),
        c.bucket("tenant/42"),
        c.bucket("has space"),
        c.bucket("café-鍵-🔑"),
        c.bucket("percent%3A"),
        c.bucket("star*?[x]"),
        c.bucket(&"y".repeat(max_tail)),
        c.bucket(&format!("{}é", "y".repeat(max_tail - 2))),
    ];
    let k = c.key("in-odd-bucket");
    if !c.caps.buckets {
        return expect_code(
            c.client.store_set(&names[0], &k, b"v", None).await,
            &NOT_SUPPORTED,
        );
    }
    for (i, b) in names.iter().enumerate() {
        ensure_eq!(b.len() <= 255, true);
        c.client
            .store_set(b, &k, format!("v{i}").as_bytes(), None)
            .await
            .with_context(|| format!("set in bucket {b:?}"))?;
    }
    for (i, b) in names.iter().enumerate() {
        let got = c.client.store_get(b, &k).await?;
        if got.as_deref() != Some(format!("v{i}").as_bytes()) {
            bail!("bucket {b:?} holds {got:?}, expected v{i}");
        }
        ensure_eq!(c.client.store_exists(b, &k).await?, true);
        let page = c.client.list_keys(b, None, None, None).await?;
        if page.keys != vec![k.clone()] {
            bail!("bucket {b:?} lists {:?}", page.keys);
        }
    }
    for b in &names {
        c.client.store_delete(b, &k).await?;
        ensure_eq!(c.client.store_get(b, &k).await?, None);
    }
    Ok(())
}

/// Pairs a naive mapping would merge: (bucket `a`, key `b:c`) and (bucket
/// `a:b`, key `c`); a bucket and its escaped spelling; two long identifiers
/// equal but for their last character; the bucket named like the default
/// one and the empty (legacy) bucket.
pub(super) async fn bucket_identifiers_that_look_alike_never_meet(c: &KvSuite) -> Result<()> {
    if !c.caps.buckets {
        return expect_code(
            c.client.store_set(&c.bucket("a"), "k", b"v", None).await,
            &NOT_SUPPORTED,
        );
    }
    let tail = 255 - c.bucket_name("").len() - 1;
    let own = |b: &str, k: &str| (c.bucket(b), k.to_string());
    let pairs = [
        (own("a", "b:c"), own("a:b", "c")),
        (own("x:y", "k"), own("x%3Ay", "k")),
        (own("x:y", "k"), own("x_3Ay", "k")),
        (own("x.y", "k"), own("x/y", "k")),
        (
            own(&format!("{}1", "z".repeat(tail)), "k"),
            own(&format!("{}2", "z".repeat(tail)), "k"),
        ),
        // `default` is not this run's: it names the bucket a provider may map
        // the legacy keyspace to. The key is this run's own.
        (
            ("default".to_string(), c.key("dflt")),
            (String::new(), c.key("dflt")),
        ),
    ];
    for ((b1, k1), (b2, k2)) in &pairs {
        c.client.store_set(b1, k1, b"first", None).await?;
        c.client.store_set(b2, k2, b"second", None).await?;
        let got = c.client.store_get(b1, k1).await?;
        if got.as_deref() != Some(&b"first"[..]) {
            bail!("({b1:?}, {k1:?}) reads {got:?} after a write to ({b2:?}, {k2:?})");
        }
        c.client.store_delete(b1, k1).await?;
        ensure_eq!(c.client.store_get(b2, k2).await?, Some(b"second".to_vec()));
        c.client.store_delete(b2, k2).await?;
    }
    Ok(())
}

pub(super) async fn store_ttl_expires_the_key(c: &KvSuite) -> Result<()> {
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

pub(super) async fn atomics_increment_from_missing_negative_and_non_integer(
    c: &KvSuite,
) -> Result<()> {
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

pub(super) async fn compare_and_swap_creates_swaps_and_reports_conflicts(
    c: &KvSuite,
) -> Result<()> {
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

pub(super) async fn concurrent_compare_and_swap_has_exactly_one_winner(c: &KvSuite) -> Result<()> {
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

pub(super) async fn list_keys_pages_with_cursor_and_prefix_over_1000_keys(
    c: &KvSuite,
) -> Result<()> {
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

pub(super) async fn batch_set_get_and_delete_many(c: &KvSuite) -> Result<()> {
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

pub(super) async fn binary_values_keep_every_byte(c: &KvSuite) -> Result<()> {
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

pub(super) async fn one_mib_value_round_trips(c: &KvSuite) -> Result<()> {
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

pub(super) async fn empty_key_and_empty_value_are_valid(c: &KvSuite) -> Result<()> {
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

pub(super) async fn unicode_keys_round_trip(c: &KvSuite) -> Result<()> {
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
