//! Cases of the legacy `KeyValue.*` operations.

use std::time::Duration;

use anyhow::{Result, bail};
use keyvalue_interface::error::{NOT_AN_INTEGER, WRONG_TYPE};
use lattice_rpc::{ErrorCode, RpcError};

use super::{KvSuite, NOT_SUPPORTED};
use crate::ensure_eq;
use crate::eventually;
use crate::expect_code;

pub(super) async fn set_then_get(c: &KvSuite) -> Result<()> {
    let k = c.key("a");
    c.client.set(&k, "value-a", 0).await?;
    ensure_eq!(c.client.get(&k).await?, Some("value-a".to_string()));
    Ok(())
}

pub(super) async fn get_missing_key_returns_none(c: &KvSuite) -> Result<()> {
    ensure_eq!(c.client.get(&c.key("never-set")).await?, None);
    Ok(())
}

pub(super) async fn set_overwrites_the_previous_value(c: &KvSuite) -> Result<()> {
    let k = c.key("ow");
    c.client.set(&k, "one", 0).await?;
    c.client.set(&k, "two", 0).await?;
    ensure_eq!(c.client.get(&k).await?, Some("two".to_string()));
    Ok(())
}

pub(super) async fn del_reports_whether_the_key_existed(c: &KvSuite) -> Result<()> {
    let k = c.key("del");
    c.client.set(&k, "x", 0).await?;
    ensure_eq!(c.client.del(&k).await?, true);
    ensure_eq!(c.client.del(&k).await?, false);
    ensure_eq!(c.client.get(&k).await?, None);
    Ok(())
}

pub(super) async fn contains_follows_set_and_del(c: &KvSuite) -> Result<()> {
    let k = c.key("contains");
    ensure_eq!(c.client.contains(&k).await?, false);
    c.client.set(&k, "x", 0).await?;
    ensure_eq!(c.client.contains(&k).await?, true);
    c.client.del(&k).await?;
    ensure_eq!(c.client.contains(&k).await?, false);
    Ok(())
}

pub(super) async fn increment_starts_from_zero_and_accumulates(c: &KvSuite) -> Result<()> {
    let k = c.key("counter");
    ensure_eq!(c.client.increment(&k, 5).await?, 5);
    ensure_eq!(c.client.increment(&k, -7).await?, -2);
    ensure_eq!(c.client.get(&k).await?, Some("-2".to_string()));
    Ok(())
}

pub(super) async fn increment_of_a_non_integer_is_an_error_and_changes_nothing(
    c: &KvSuite,
) -> Result<()> {
    let k = c.key("not-int");
    c.client.set(&k, "twelve", 0).await?;
    expect_code(c.client.increment(&k, 1).await, &[NOT_AN_INTEGER])?;
    ensure_eq!(c.client.get(&k).await?, Some("twelve".to_string()));
    Ok(())
}

pub(super) async fn legacy_set_with_expires_expires(c: &KvSuite) -> Result<()> {
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

pub(super) async fn lists_add_range_delete_and_clear(c: &KvSuite) -> Result<()> {
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

pub(super) async fn list_range_accepts_negative_indexes(c: &KvSuite) -> Result<()> {
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
    // Negative start and stop together, and the edges past either end.
    ensure_eq!(c.client.list_range(&l, -3, -2).await?, vec!["2", "3"]);
    ensure_eq!(c.client.list_range(&l, -100, -4).await?, vec!["0", "1"]);
    ensure_eq!(
        c.client.list_range(&l, 0, -100).await?,
        Vec::<String>::new()
    );
    ensure_eq!(c.client.list_range(&l, -1, -2).await?, Vec::<String>::new());
    ensure_eq!(c.client.list_range(&l, 2, 100).await?, vec!["2", "3", "4"]);
    ensure_eq!(c.client.list_range(&l, 5, -1).await?, Vec::<String>::new());
    Ok(())
}

pub(super) fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

pub(super) async fn sets_add_delete_and_query(c: &KvSuite) -> Result<()> {
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

pub(super) async fn set_intersection_and_union(c: &KvSuite) -> Result<()> {
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

pub(super) async fn list_operation_on_a_string_key_is_wrong_type(c: &KvSuite) -> Result<()> {
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

pub(super) async fn non_utf8_value_read_by_legacy_get_is_bad_request(c: &KvSuite) -> Result<()> {
    let k = c.key("latin1");
    c.client.store_set("", &k, b"caf\xe9", None).await?;
    expect_code(c.client.get(&k).await, &["bad-request"])
}

pub(super) async fn unknown_operation_is_refused(c: &KvSuite) -> Result<()> {
    let r: Result<(), RpcError> = c.client.call("KeyValue.Teleport", "x").await;
    match r {
        Err(e) if e.code == ErrorCode::UnknownOperation => Ok(()),
        other => bail!("expected unknown-operation, got {other:?}"),
    }
}

pub(super) async fn malformed_argument_is_bad_request(c: &KvSuite) -> Result<()> {
    // A number where a SetRequest map is expected.
    let r: Result<(), RpcError> = c.client.call(keyvalue_interface::ops::SET, &42u32).await;
    expect_code(r, &["bad-request"])
}
