//! The keyvalue contract on Redis.
//!
//! Keys: the empty bucket is the bare key, so data of the archived wasmCloud
//! provider stays readable; bucket `b` is the prefix `kvb:{b escaped}:`,
//! where the escaping turns `%` into `%25` and `:` into `%3A` and leaves
//! every other byte. The escaped bucket holds no `:`, so the first `:` after
//! `kvb:` ends it, and no two (bucket, key) pairs share a Redis key (bucket
//! `a` key `b:c` is `kvb:a:b:c`, bucket `a:b` key `c` is `kvb:a%3Ab:c`).
//! Legacy keys that start with `kvb:` are reserved and not listed in the
//! empty bucket.

use std::sync::Arc;
use std::time::Duration;

use keyvalue_interface::types::KeyPage;
use keyvalue_interface::{Capabilities, CasOutcome, KeyValueStore, KvError};
use redis::AsyncCommands;

use crate::connections::Shared;
use crate::error::kv_error;

const BUCKET_PREFIX: &str = "kvb:";
/// Keys examined per SCAN round trip.
const SCAN_COUNT: u32 = 500;
/// SCAN round trips in one page at most; a page may then be short (with a cursor).
const SCAN_ROUNDS: usize = 64;

// Compare-and-swap in one atomic step. ARGV[1]: "1" when an old value is
// expected; ARGV[2]: the old value; ARGV[3]: the new value.
// Returns {swapped (0/1), current value or false}.
const CAS_SCRIPT: &str = r"
local cur = redis.call('GET', KEYS[1])
local expect_present = ARGV[1] == '1'
if (not expect_present and cur == false) or (expect_present and cur == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[3])
  return {1, ARGV[3]}
end
return {0, cur}
";

/// A link's view of Redis.
pub struct RedisStore {
    shared: Arc<Shared>,
    cas: redis::Script,
}

impl RedisStore {
    /// A store on `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            cas: redis::Script::new(CAS_SCRIPT),
        }
    }

    fn conn(&self) -> redis::aio::ConnectionManager {
        self.shared.conn.clone()
    }
}

/// The Redis key of `key` in `bucket`.
pub fn redis_key(bucket: &str, key: &str) -> String {
    if bucket.is_empty() {
        return key.to_string();
    }
    let mut out = String::with_capacity(BUCKET_PREFIX.len() + bucket.len() + key.len() + 1);
    out.push_str(BUCKET_PREFIX);
    for ch in bucket.chars() {
        match ch {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            c => out.push(c),
        }
    }
    out.push(':');
    out.push_str(key);
    out
}

/// `s` with glob metacharacters escaped, for SCAN MATCH.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn ttl_ms(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|t| (t.as_millis() as u64).max(1))
}

impl KeyValueStore for RedisStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let k = redis_key(bucket, key);
        self.conn().get(&k).await.map_err(|e| kv_error(e, key))
    }

    async fn set(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        let k = redis_key(bucket, key);
        let mut cmd = redis::cmd("SET");
        cmd.arg(&k).arg(value);
        if let Some(ms) = ttl_ms(ttl) {
            // Expiry in the same command as the write: atomic.
            cmd.arg("PX").arg(ms);
        }
        cmd.query_async::<()>(&mut self.conn())
            .await
            .map_err(|e| kv_error(e, key))
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        let n: u32 = self
            .conn()
            .del(redis_key(bucket, key))
            .await
            .map_err(|e| kv_error(e, key))?;
        Ok(n > 0)
    }

    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        self.conn()
            .exists(redis_key(bucket, key))
            .await
            .map_err(|e| kv_error(e, key))
    }

    async fn list_keys(
        &self,
        bucket: &str,
        prefix: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        // The cursor is `{scan cursor}.{matches already taken from that SCAN
        // batch}`: SCAN's COUNT is only a hint, so a batch can overrun the
        // page; the next page re-runs the same batch and skips what it gave.
        let strip = redis_key(bucket, "").len();
        let pattern = format!("{}*", glob_escape(&redis_key(bucket, prefix.unwrap_or(""))));
        let bad = || KvError::BadRequest("cursor did not come from list-keys".into());
        let (mut scan_cursor, mut skip) = match cursor {
            None => (0u64, 0usize),
            Some(c) => {
                let (a, b) = c.split_once('.').ok_or_else(bad)?;
                (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?)
            }
        };
        let limit = limit as usize;
        let mut keys = Vec::with_capacity(limit.min(1024));
        let mut conn = self.conn();
        for _ in 0..SCAN_ROUNDS {
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(scan_cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .query_async(&mut conn)
                .await
                .map_err(|e| kv_error(e, ""))?;
            let matched = batch.into_iter().filter_map(|raw| {
                // A key that is not UTF-8 is not one this interface wrote.
                let k = String::from_utf8(raw).ok()?;
                if bucket.is_empty() && k.starts_with(BUCKET_PREFIX) {
                    return None;
                }
                Some(k[strip..].to_string())
            });
            for (taken, k) in matched.enumerate().skip(skip) {
                if keys.len() == limit {
                    return Ok(KeyPage {
                        keys,
                        cursor: Some(format!("{scan_cursor}.{taken}")),
                    });
                }
                keys.push(k);
            }
            skip = 0;
            scan_cursor = next;
            if scan_cursor == 0 {
                return Ok(KeyPage { keys, cursor: None });
            }
        }
        Ok(KeyPage {
            keys,
            cursor: Some(format!("{scan_cursor}.0")),
        })
    }

    async fn increment(&self, bucket: &str, key: &str, delta: i64) -> Result<i64, KvError> {
        self.conn()
            .incr(redis_key(bucket, key), delta)
            .await
            .map_err(|e| kv_error(e, key))
    }

    async fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<CasOutcome, KvError> {
        let expect = if old.is_some() { "1" } else { "0" };
        let (swapped, current): (u8, Option<Vec<u8>>) = self
            .cas
            .key(redis_key(bucket, key))
            .arg(expect)
            .arg(old.unwrap_or_default())
            .arg(new)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| kv_error(e, key))?;
        Ok(CasOutcome {
            swapped: swapped == 1,
            current,
        })
    }

    async fn get_many(
        &self,
        bucket: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let ks: Vec<String> = keys.iter().map(|k| redis_key(bucket, k)).collect();
        redis::cmd("MGET")
            .arg(&ks)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| kv_error(e, ""))
    }

    async fn set_many(
        &self,
        bucket: &str,
        entries: Vec<(String, Vec<u8>)>,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (k, v) in entries {
            let cmd = pipe.cmd("SET").arg(redis_key(bucket, &k)).arg(v);
            if let Some(ms) = ttl_ms(ttl) {
                cmd.arg("PX").arg(ms);
            }
            cmd.ignore();
        }
        pipe.query_async::<()>(&mut self.conn())
            .await
            .map_err(|e| kv_error(e, ""))
    }

    async fn delete_many(&self, bucket: &str, keys: Vec<String>) -> Result<(), KvError> {
        if keys.is_empty() {
            return Ok(());
        }
        let ks: Vec<String> = keys.iter().map(|k| redis_key(bucket, k)).collect();
        self.conn()
            .del::<_, ()>(ks)
            .await
            .map_err(|e| kv_error(e, ""))
    }

    async fn list_add(&self, list: &str, value: &str) -> Result<u32, KvError> {
        self.conn()
            .rpush(list, value)
            .await
            .map_err(|e| kv_error(e, list))
    }

    async fn list_del(&self, list: &str, value: &str) -> Result<bool, KvError> {
        let n: u32 = self
            .conn()
            .lrem(list, 1, value)
            .await
            .map_err(|e| kv_error(e, list))?;
        Ok(n > 0)
    }

    async fn list_range(&self, list: &str, start: i32, stop: i32) -> Result<Vec<String>, KvError> {
        self.conn()
            .lrange(list, start as isize, stop as isize)
            .await
            .map_err(|e| kv_error(e, list))
    }

    async fn set_add(&self, set: &str, value: &str) -> Result<u32, KvError> {
        self.conn()
            .sadd(set, value)
            .await
            .map_err(|e| kv_error(e, set))
    }

    async fn set_del(&self, set: &str, value: &str) -> Result<u32, KvError> {
        self.conn()
            .srem(set, value)
            .await
            .map_err(|e| kv_error(e, set))
    }

    async fn set_query(&self, set: &str) -> Result<Vec<String>, KvError> {
        self.conn()
            .smembers(set)
            .await
            .map_err(|e| kv_error(e, set))
    }

    async fn set_intersection(&self, sets: Vec<String>) -> Result<Vec<String>, KvError> {
        if sets.is_empty() {
            return Ok(Vec::new());
        }
        self.conn().sinter(sets).await.map_err(|e| kv_error(e, ""))
    }

    async fn set_union(&self, sets: Vec<String>) -> Result<Vec<String>, KvError> {
        if sets.is_empty() {
            return Ok(Vec::new());
        }
        self.conn().sunion(sets).await.map_err(|e| kv_error(e, ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_map_to_disjoint_prefixes_and_the_empty_bucket_is_the_bare_key() {
        assert_eq!(redis_key("", "user:1"), "user:1");
        assert_eq!(redis_key("b1", "user:1"), "kvb:b1:user:1");
        assert_ne!(redis_key("a", "b:c"), redis_key("a-b", "c"));
        // The pair the escaping exists for, and its own escape character.
        assert_eq!(redis_key("a", "b:c"), "kvb:a:b:c");
        assert_eq!(redis_key("a:b", "c"), "kvb:a%3Ab:c");
        assert_ne!(redis_key("a%3Ab", "c"), redis_key("a:b", "c"));
        assert_eq!(redis_key("café/42 x", "k"), "kvb:café/42 x:k");
    }

    #[test]
    fn glob_metacharacters_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
