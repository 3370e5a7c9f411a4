//! [`KeyValueStore`] on NATS JetStream KV: one link's view of its buckets.
//!
//! Interface bucket `x` is KV bucket `{bucket_prefix}b_{x escaped}` (see
//! [`crate::bucket_names`]), the empty bucket `{bucket_prefix}{default_bucket}`;
//! keys are encoded by [`crate::keys`].
//! A bucket is created by the first write that needs it (history 1, the
//! link's replicas and storage); reads of a missing bucket find nothing and
//! create nothing. Only JetStream features of NATS 2.9 are used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream;
use async_nats::jetstream::kv::{Entry, Operation, Store, UpdateErrorKind};
use async_nats::jetstream::stream::DiscardPolicy;
use bytes::Bytes;
use futures_util::TryStreamExt;
use keyvalue_interface::types::KeyPage;
use keyvalue_interface::{Capabilities, CasOutcome, KeyValueStore, KvError};

use crate::config::Buckets;
use crate::connections::Connection;
use crate::error::{is_bucket_missing, kv_error};
use crate::keys;

/// Attempts of a read-modify-write (increment, compare-and-swap) that lost
/// a race before giving up with `unavailable`.
const MAX_ATTEMPTS: usize = 100;

/// What this store supports. Per-key TTL needs NATS 2.11; lists and sets
/// have no KV shape worth faking.
pub const CAPABILITIES: Capabilities = Capabilities {
    ttl: false,
    cas: true,
    collections: false,
    buckets: true,
};

/// One link's state: its connection, bucket settings and opened buckets.
pub struct NatsStore {
    /// The link's connection (a shared one lives as long as its last link).
    conn: Connection,
    js: jetstream::Context,
    buckets: Buckets,
    open: Mutex<HashMap<String, Arc<Store>>>,
}

/// The latest entry of a key: its value when live, and the revision a
/// conditional write must name (0: the key never existed).
struct Latest {
    value: Option<Bytes>,
    revision: u64,
}

impl Latest {
    fn of(entry: Option<Entry>) -> Latest {
        match entry {
            None => Latest {
                value: None,
                revision: 0,
            },
            Some(e) => Latest {
                value: (e.operation == Operation::Put).then_some(e.value),
                revision: e.revision,
            },
        }
    }
}

impl NatsStore {
    /// A store on `conn` with bucket settings `buckets`.
    pub fn new(conn: Connection, buckets: Buckets) -> Self {
        let js = jetstream::new(conn.client().clone());
        Self {
            conn,
            js,
            buckets,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, name: &str) -> Option<Arc<Store>> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(name).cloned()
    }

    /// The KV bucket of interface bucket `bucket`; created when missing and
    /// `create`, else `None`.
    async fn bucket(&self, bucket: &str, create: bool) -> Result<Option<Arc<Store>>, KvError> {
        // Fail fast rather than queue behind a reconnect until a timeout.
        let state = self.conn.client().connection_state();
        if state != State::Connected {
            return Err(KvError::Unavailable(format!("NATS connection {state}")));
        }
        let name = self.buckets.kv_name(bucket);
        if let Some(store) = self.cached(&name) {
            return Ok(Some(store));
        }
        let store = match self.js.get_key_value(&name).await {
            Ok(store) => store,
            Err(e) if is_bucket_missing(&e) => {
                if !create {
                    return Ok(None);
                }
                self.create(&name).await?
            }
            Err(e) => return Err(kv_error(&format!("open bucket {name}"), e)),
        };
        let store = Arc::new(store);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Some(open.entry(name).or_insert(store).clone()))
    }

    /// Creates KV bucket `name`: the stream `create_key_value` would make,
    /// made directly, since async-nats's `create_key_value` first reads
    /// account info in a shape NATS 2.9 does not send.
    async fn create(&self, name: &str) -> Result<Store, KvError> {
        let config = jetstream::stream::Config {
            name: format!("KV_{name}"),
            description: Some("keyvalue-nats bucket".into()),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            max_bytes: -1,
            max_message_size: -1,
            storage: self.buckets.storage,
            num_replicas: self.buckets.replicas,
            allow_rollup: true,
            deny_delete: true,
            deny_purge: false,
            allow_direct: true,
            discard: DiscardPolicy::New,
            ..Default::default()
        };
        match self.js.create_stream(config).await {
            Ok(_) => tracing::info!(bucket = %name, "created KV bucket"),
            // Another link or instance may have created it meanwhile.
            Err(create_err) => {
                return self
                    .js
                    .get_key_value(name)
                    .await
                    .map_err(|_| kv_error(&format!("create bucket {name}"), create_err));
            }
        }
        self.js
            .get_key_value(name)
            .await
            .map_err(|e| kv_error(&format!("open bucket {name}"), e))
    }

    /// The bucket for a write (created when missing).
    async fn writable(&self, bucket: &str) -> Result<Arc<Store>, KvError> {
        self.bucket(bucket, true)
            .await?
            .ok_or_else(|| KvError::Internal("bucket creation returned nothing".into()))
    }

    /// Forgets an opened bucket after an error, so the next call looks it up
    /// again (it may have been deleted and recreated).
    fn forget<T>(&self, store: &Store, r: Result<T, KvError>) -> Result<T, KvError> {
        if r.is_err() {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.remove(&store.name);
        }
        r
    }

    async fn latest(&self, store: &Store, key: &str) -> Result<Latest, KvError> {
        let r = store.entry(key).await.map_err(|e| kv_error("get", e));
        self.forget(store, r).map(Latest::of)
    }

    /// Writes `value` if the key's latest revision is still `revision`;
    /// `Ok(false)` when another write came first.
    async fn write_at(
        &self,
        store: &Store,
        key: &str,
        value: Bytes,
        revision: u64,
    ) -> Result<bool, KvError> {
        match store.update(key, value, revision).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(e) => self.forget(store, Err(kv_error("update", e))),
        }
    }
}

fn parse_int(key: &str, v: &[u8]) -> Result<i64, KvError> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| KvError::NotAnInteger(key.to_string()))
}

fn contention(op: &str, key: &str) -> KvError {
    KvError::Unavailable(format!(
        "{op} of {key:?} lost {MAX_ATTEMPTS} races with concurrent writes; retry later"
    ))
}

impl KeyValueStore for NatsStore {
    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let k = keys::encode_checked(key)?;
        let Some(store) = self.bucket(bucket, false).await? else {
            return Ok(None);
        };
        Ok(self.latest(&store, &k).await?.value.map(Vec::from))
    }

    async fn set(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        if ttl.is_some() {
            return Err(KvError::Unsupported(
                "expiry (ttl) is not supported by NATS KV before 2.11".into(),
            ));
        }
        let k = keys::encode_checked(key)?;
        let store = self.writable(bucket).await?;
        let r = store
            .put(&k, value.into())
            .await
            .map_err(|e| kv_error("put", e));
        self.forget(&store, r).map(drop)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        let k = keys::encode_checked(key)?;
        let Some(store) = self.bucket(bucket, false).await? else {
            return Ok(false);
        };
        if self.latest(&store, &k).await?.value.is_none() {
            return Ok(false);
        }
        // A delete marker: the key's history (one entry) becomes a tombstone.
        let r = store.delete(&k).await.map_err(|e| kv_error("delete", e));
        self.forget(&store, r).map(|()| true)
    }

    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        let k = keys::encode_checked(key)?;
        let Some(store) = self.bucket(bucket, false).await? else {
            return Ok(false);
        };
        Ok(self.latest(&store, &k).await?.value.is_some())
    }

    /// Reads every key of the bucket (a JetStream ordered consumer over the
    /// latest entry per key), then filters, sorts and pages: O(keys in the
    /// bucket) per page, whatever the limit.
    async fn list_keys(
        &self,
        bucket: &str,
        prefix: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        let Some(store) = self.bucket(bucket, false).await? else {
            return Ok(KeyPage::default());
        };
        // Encoding preserves prefixes, so filter before decoding.
        let encoded_prefix = prefix.filter(|p| !p.is_empty()).map(keys::encode);
        let listed = async {
            let mut names = Vec::new();
            let mut stream = store.keys().await.map_err(|e| kv_error("list keys", e))?;
            while let Some(k) = stream.try_next().await.map_err(|e| kv_error("list keys", e))? {
                if encoded_prefix.as_ref().is_some_and(|p| !k.starts_with(p)) {
                    continue;
                }
                match keys::decode(&k) {
                    Some(key) if cursor.is_none_or(|c| key.as_str() > c) => names.push(key),
                    Some(_) => {}
                    None => tracing::debug!(bucket = %store.name, "skipping a key not written by this provider"),
                }
            }
            Ok(names)
        }
        .await;
        let mut names = self.forget(&store, listed)?;
        names.sort_unstable();
        names.dedup();
        let limit = limit as usize;
        let more = names.len() > limit;
        names.truncate(limit);
        let cursor = if more { names.last().cloned() } else { None };
        Ok(KeyPage {
            keys: names,
            cursor,
        })
    }

    async fn increment(&self, bucket: &str, key: &str, delta: i64) -> Result<i64, KvError> {
        let k = keys::encode_checked(key)?;
        let store = self.writable(bucket).await?;
        for _ in 0..MAX_ATTEMPTS {
            let latest = self.latest(&store, &k).await?;
            let current = match &latest.value {
                None => 0,
                Some(v) => parse_int(key, v)?,
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| KvError::BadRequest(format!("increment of {key:?} overflows")))?;
            let text = Bytes::from(next.to_string());
            if self.write_at(&store, &k, text, latest.revision).await? {
                return Ok(next);
            }
        }
        Err(contention("increment", key))
    }

    async fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<CasOutcome, KvError> {
        let k = keys::encode_checked(key)?;
        let store = self.writable(bucket).await?;
        let new = Bytes::from(new);
        // The write names the revision that was compared, so a write in
        // between makes it fail; then compare again with what is there now.
        for _ in 0..MAX_ATTEMPTS {
            let latest = self.latest(&store, &k).await?;
            if latest.value.as_deref() != old.as_deref() {
                return Ok(CasOutcome {
                    swapped: false,
                    current: latest.value.map(Vec::from),
                });
            }
            if self
                .write_at(&store, &k, new.clone(), latest.revision)
                .await?
            {
                return Ok(CasOutcome {
                    swapped: true,
                    current: Some(new.to_vec()),
                });
            }
        }
        Err(contention("compare-and-swap", key))
    }
}
