//! Serves every operation of the interface on a [`KeyValueStore`].

use std::time::Duration;

use lattice_rpc::RpcError;
use lattice_rpc::wire::{deserialize, serialize};
use serde_bytes::ByteBuf;

use crate::error::KvError;
use crate::store::KeyValueStore;
use crate::types::*;
use crate::{DEFAULT_LIST_LIMIT, MAX_BUCKET_BYTES, MAX_LIST_LIMIT, ops};

/// Bucket identifiers: any UTF-8 string of at most [`MAX_BUCKET_BYTES`]
/// bytes, as `wasi:keyvalue`'s `open` allows (`app:sessions`, `tenant/42`,
/// `café`); the empty one is the legacy keyspace. Each backend maps them to
/// names it accepts without two identifiers ever meeting.
pub fn validate_bucket(bucket: &str) -> Result<(), KvError> {
    if bucket.len() <= MAX_BUCKET_BYTES {
        Ok(())
    } else {
        Err(KvError::NoSuchStore(format!(
            "bucket identifier of {} bytes; at most {MAX_BUCKET_BYTES}",
            bucket.len()
        )))
    }
}

fn utf8(key: &str, v: Vec<u8>) -> Result<String, KvError> {
    String::from_utf8(v).map_err(|_| {
        KvError::BadRequest(format!(
            "value of {key:?} is not UTF-8; read it with {}",
            ops::STORE_GET
        ))
    })
}

fn ttl_of<S: KeyValueStore>(store: &S, ttl: Option<Duration>) -> Result<Option<Duration>, KvError> {
    match ttl {
        Some(t) if !t.is_zero() => {
            if store.capabilities().ttl {
                Ok(Some(t))
            } else {
                Err(KvError::Unsupported(
                    "expiry (ttl) is not supported by this store".into(),
                ))
            }
        }
        _ => Ok(None),
    }
}

fn bucket_ok<S: KeyValueStore>(store: &S, bucket: &str) -> Result<(), KvError> {
    validate_bucket(bucket)?;
    if !bucket.is_empty() && !store.capabilities().buckets {
        return Err(KvError::Unsupported(
            "named buckets are not supported by this store".into(),
        ));
    }
    Ok(())
}

fn bytes(v: Option<Vec<u8>>) -> Option<ByteBuf> {
    v.map(ByteBuf::from)
}

/// Decodes `msg` for `operation`, runs it on `store`, and encodes the result.
/// An unknown operation answers `unknown-operation`.
pub async fn dispatch<S: KeyValueStore>(
    store: &S,
    operation: &str,
    msg: &[u8],
) -> Result<Vec<u8>, RpcError> {
    Ok(match operation {
        ops::GET => {
            let key: String = deserialize(msg)?;
            let resp = match store.get("", &key).await? {
                Some(v) => GetResponse {
                    value: utf8(&key, v)?,
                    exists: true,
                },
                None => GetResponse::default(),
            };
            serialize(&resp)?
        }
        ops::SET => {
            let req: SetRequest = deserialize(msg)?;
            let ttl = ttl_of(store, Some(Duration::from_secs(req.expires.into())))?;
            store.set("", &req.key, req.value.into_bytes(), ttl).await?;
            Vec::new()
        }
        ops::DEL | ops::LIST_CLEAR | ops::SET_CLEAR => {
            let key: String = deserialize(msg)?;
            serialize(&store.delete("", &key).await?)?
        }
        ops::CONTAINS => {
            let key: String = deserialize(msg)?;
            serialize(&store.exists("", &key).await?)?
        }
        ops::INCREMENT => {
            let req: IncrementRequest = deserialize(msg)?;
            let v = store.increment("", &req.key, req.value.into()).await?;
            let v = i32::try_from(v).map_err(|_| {
                KvError::BadRequest(format!(
                    "{} = {v} does not fit the legacy i32 result; use {}",
                    req.key,
                    ops::ATOMICS_INCREMENT
                ))
            })?;
            serialize(&v)?
        }
        ops::LIST_ADD => {
            let req: ListItemRequest = deserialize(msg)?;
            serialize(&store.list_add(&req.list_name, &req.value).await?)?
        }
        ops::LIST_DEL => {
            let req: ListItemRequest = deserialize(msg)?;
            serialize(&store.list_del(&req.list_name, &req.value).await?)?
        }
        ops::LIST_RANGE => {
            let req: ListRangeRequest = deserialize(msg)?;
            serialize(
                &store
                    .list_range(&req.list_name, req.start, req.stop)
                    .await?,
            )?
        }
        ops::SET_ADD => {
            let req: SetItemRequest = deserialize(msg)?;
            serialize(&store.set_add(&req.set_name, &req.value).await?)?
        }
        ops::SET_DEL => {
            let req: SetItemRequest = deserialize(msg)?;
            serialize(&store.set_del(&req.set_name, &req.value).await?)?
        }
        ops::SET_QUERY => {
            let set: String = deserialize(msg)?;
            serialize(&store.set_query(&set).await?)?
        }
        ops::SET_INTERSECTION => {
            let sets: Vec<String> = deserialize(msg)?;
            serialize(&store.set_intersection(sets).await?)?
        }
        ops::SET_UNION => {
            let sets: Vec<String> = deserialize(msg)?;
            serialize(&store.set_union(sets).await?)?
        }
        ops::STORE_GET => {
            let a: BucketKey = deserialize(msg)?;
            bucket_ok(store, &a.bucket)?;
            let value = bytes(store.get(&a.bucket, &a.key).await?);
            serialize(&GetResult { value })?
        }
        ops::STORE_SET => {
            let a: SetArgs = deserialize(msg)?;
            bucket_ok(store, &a.bucket)?;
            let ttl = ttl_of(store, a.ttl_ms.map(Duration::from_millis))?;
            store
                .set(&a.bucket, &a.key, a.value.into_vec(), ttl)
                .await?;
            Vec::new()
        }
        ops::STORE_DELETE => {
            let a: BucketKey = deserialize(msg)?;
            bucket_ok(store, &a.bucket)?;
            store.delete(&a.bucket, &a.key).await?;
            Vec::new()
        }
        ops::STORE_EXISTS => {
            let a: BucketKey = deserialize(msg)?;
            bucket_ok(store, &a.bucket)?;
            let exists = store.exists(&a.bucket, &a.key).await?;
            serialize(&ExistsResult { exists })?
        }
        ops::STORE_LIST_KEYS => {
            let a: ListKeysArgs = deserialize(msg)?;
            bucket_ok(store, &a.bucket)?;
            let limit = a
                .limit
                .filter(|l| *l > 0)
                .unwrap_or(DEFAULT_LIST_LIMIT)
                .min(MAX_LIST_LIMIT);
            let page = store
                .list_keys(
                    &a.bucket,
                    a.prefix.as_deref().filter(|p| !p.is_empty()),
                    a.cursor.as_deref().filter(|c| !c.is_empty()),
                    limit,
                )
                .await?;
            serialize(&page)?
        }
        ops::ATOMICS_INCREMENT => {
            let a: IncrementArgs = deserialize(msg)?;
            bucket_ok(store, &a.bucket)?;
            let value = store.increment(&a.bucket, &a.key, a.delta).await?;
            serialize(&IncrementResult { value })?
        }
        ops::ATOMICS_CAS => {
            let a: CasArgs = deserialize(msg)?;
            bucket_ok(store, &a.bucket)?;
            if !store.capabilities().cas {
                return Err(KvError::Unsupported(
                    "compare-and-swap is not supported by this store".into(),
                )
                .into());
            }
            let out = store
                .compare_and_swap(
                    &a.bucket,
                    &a.key,
                    a.old.map(ByteBuf::into_vec),
                    a.new.into_vec(),
                )
                .await?;
            serialize(&CasResult {
                swapped: out.swapped,
                current: bytes(out.current),
            })?
        }
        ops::BATCH_GET_MANY => {
            let a: BucketKeys = deserialize(msg)?;
            bucket_ok(store, &a.bucket)?;
            let values = store.get_many(&a.bucket, a.keys).await?;
            serialize(&GetManyResult {
                values: values.into_iter().map(bytes).collect(),
            })?
        }
        ops::BATCH_SET_MANY => {
            let a: SetManyArgs = deserialize(msg)?;
            bucket_ok(store, &a.bucket)?;
            let ttl = ttl_of(store, a.ttl_ms.map(Duration::from_millis))?;
            let entries = a
                .entries
                .into_iter()
                .map(|(k, v)| (k, v.into_vec()))
                .collect();
            store.set_many(&a.bucket, entries, ttl).await?;
            Vec::new()
        }
        ops::BATCH_DELETE_MANY => {
            let a: BucketKeys = deserialize(msg)?;
            bucket_ok(store, &a.bucket)?;
            store.delete_many(&a.bucket, a.keys).await?;
            Vec::new()
        }
        other => {
            return Err(RpcError::unknown_operation(format!(
                "{other} is not an operation of {}",
                crate::CONTRACT_ID
            )));
        }
    })
}
