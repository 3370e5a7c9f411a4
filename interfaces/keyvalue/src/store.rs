//! The trait a keyvalue provider implements, on its per-link state.

use std::time::Duration;

use crate::Capabilities;
use crate::error::KvError;
use crate::types::KeyPage;

/// Result of a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasOutcome {
    /// Whether the new value was written.
    pub swapped: bool,
    /// The value now stored.
    pub current: Option<Vec<u8>>,
}

fn unsupported<T>(what: &str) -> Result<T, KvError> {
    Err(KvError::Unsupported(format!(
        "{what} is not supported by this store"
    )))
}

/// A key-value store. Bucket `""` is the legacy keyspace; other buckets are
/// isolated namespaces. Values are bytes; the legacy operations store UTF-8.
///
/// Methods return `impl Future + Send`, so an `impl` can use `async fn`.
/// Batches and the legacy collections have defaults: batches loop over the
/// single-key methods, collections answer [`KvError::Unsupported`].
pub trait KeyValueStore: Send + Sync + 'static {
    /// What this store supports.
    fn capabilities(&self) -> Capabilities;

    /// The value of `key`, if any.
    fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, KvError>> + Send;

    /// Writes `value`, with an expiry set atomically with the write when `ttl` is given.
    fn set(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<(), KvError>> + Send;

    /// Deletes `key` (any kind of value); true when it existed.
    fn delete(&self, bucket: &str, key: &str)
    -> impl Future<Output = Result<bool, KvError>> + Send;

    /// Whether `key` exists.
    fn exists(&self, bucket: &str, key: &str)
    -> impl Future<Output = Result<bool, KvError>> + Send;

    /// A page of keys, optionally with a prefix, continuing from `cursor`.
    fn list_keys(
        &self,
        bucket: &str,
        prefix: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<KeyPage, KvError>> + Send;

    /// Adds `delta` to the decimal integer at `key` (missing counts as 0).
    fn increment(
        &self,
        bucket: &str,
        key: &str,
        delta: i64,
    ) -> impl Future<Output = Result<i64, KvError>> + Send;

    /// Writes `new` only when the current value equals `old` (absent: the key
    /// must not exist), atomically.
    fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> impl Future<Output = Result<CasOutcome, KvError>> + Send {
        let _ = (bucket, key, old, new);
        async { unsupported("compare-and-swap") }
    }

    /// Values of `keys`, in order.
    fn get_many(
        &self,
        bucket: &str,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>, KvError>> + Send {
        async move {
            let mut out = Vec::with_capacity(keys.len());
            for k in &keys {
                out.push(self.get(bucket, k).await?);
            }
            Ok(out)
        }
    }

    /// Writes every entry.
    fn set_many(
        &self,
        bucket: &str,
        entries: Vec<(String, Vec<u8>)>,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<(), KvError>> + Send {
        async move {
            for (k, v) in entries {
                self.set(bucket, &k, v, ttl).await?;
            }
            Ok(())
        }
    }

    /// Deletes every key.
    fn delete_many(
        &self,
        bucket: &str,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<(), KvError>> + Send {
        async move {
            for k in &keys {
                self.delete(bucket, k).await?;
            }
            Ok(())
        }
    }

    /// Appends to a list; the new length.
    fn list_add(
        &self,
        list: &str,
        value: &str,
    ) -> impl Future<Output = Result<u32, KvError>> + Send {
        let _ = (list, value);
        async { unsupported("lists") }
    }

    /// Removes the first occurrence of `value`; true when one was removed.
    fn list_del(
        &self,
        list: &str,
        value: &str,
    ) -> impl Future<Output = Result<bool, KvError>> + Send {
        let _ = (list, value);
        async { unsupported("lists") }
    }

    /// Items `start..=stop` (negative indexes count from the end).
    fn list_range(
        &self,
        list: &str,
        start: i32,
        stop: i32,
    ) -> impl Future<Output = Result<Vec<String>, KvError>> + Send {
        let _ = (list, start, stop);
        async { unsupported("lists") }
    }

    /// Adds `value` to a set; 1 when added, 0 when already there.
    fn set_add(&self, set: &str, value: &str) -> impl Future<Output = Result<u32, KvError>> + Send {
        let _ = (set, value);
        async { unsupported("sets") }
    }

    /// Removes `value` from a set; 1 when removed, 0 when absent.
    fn set_del(&self, set: &str, value: &str) -> impl Future<Output = Result<u32, KvError>> + Send {
        let _ = (set, value);
        async { unsupported("sets") }
    }

    /// Members of a set.
    fn set_query(&self, set: &str) -> impl Future<Output = Result<Vec<String>, KvError>> + Send {
        let _ = set;
        async { unsupported("sets") }
    }

    /// Members in every one of `sets`.
    fn set_intersection(
        &self,
        sets: Vec<String>,
    ) -> impl Future<Output = Result<Vec<String>, KvError>> + Send {
        let _ = sets;
        async { unsupported("sets") }
    }

    /// Members in any of `sets`.
    fn set_union(
        &self,
        sets: Vec<String>,
    ) -> impl Future<Output = Result<Vec<String>, KvError>> + Send {
        let _ = sets;
        async { unsupported("sets") }
    }
}
