//! A typed client: what an actor (or a test) calls a keyvalue provider with.

use std::time::Duration;

use lattice_rpc::{ActorClient, RpcClient, RpcError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;

use crate::ops;
use crate::types::*;

/// Calls one keyvalue provider as one actor.
#[derive(Clone)]
pub struct KeyValueClient {
    inner: ActorClient,
}

impl KeyValueClient {
    /// A client calling `provider` (key, link name) as `actor` over `rpc`.
    pub fn new(rpc: RpcClient, actor: &str, provider_key: &str, link_name: &str) -> Self {
        Self {
            inner: ActorClient::new(rpc, actor, provider_key, link_name, crate::CONTRACT_ID),
        }
    }

    /// Calls any operation with a typed argument and result.
    pub async fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        operation: &str,
        arg: &A,
    ) -> Result<R, RpcError> {
        self.inner.call(operation, arg).await
    }

    /// `KeyValue.Get`: the value, `None` when absent.
    pub async fn get(&self, key: &str) -> Result<Option<String>, RpcError> {
        let r: GetResponse = self.call(ops::GET, key).await?;
        Ok(r.exists.then_some(r.value))
    }

    /// `KeyValue.Set`, with `expires_secs` (0: never).
    pub async fn set(&self, key: &str, value: &str, expires_secs: u32) -> Result<(), RpcError> {
        let req = SetRequest {
            key: key.into(),
            value: value.into(),
            expires: expires_secs,
        };
        self.call(ops::SET, &req).await
    }

    /// `KeyValue.Del`: whether it existed.
    pub async fn del(&self, key: &str) -> Result<bool, RpcError> {
        self.call(ops::DEL, key).await
    }

    /// `KeyValue.Contains`.
    pub async fn contains(&self, key: &str) -> Result<bool, RpcError> {
        self.call(ops::CONTAINS, key).await
    }

    /// `KeyValue.Increment`: the new value.
    pub async fn increment(&self, key: &str, by: i32) -> Result<i32, RpcError> {
        let req = IncrementRequest {
            key: key.into(),
            value: by,
        };
        self.call(ops::INCREMENT, &req).await
    }

    /// `KeyValue.ListAdd`: the new length.
    pub async fn list_add(&self, list: &str, value: &str) -> Result<u32, RpcError> {
        let req = ListItemRequest {
            list_name: list.into(),
            value: value.into(),
        };
        self.call(ops::LIST_ADD, &req).await
    }

    /// `KeyValue.ListDel`: whether an item was removed.
    pub async fn list_del(&self, list: &str, value: &str) -> Result<bool, RpcError> {
        let req = ListItemRequest {
            list_name: list.into(),
            value: value.into(),
        };
        self.call(ops::LIST_DEL, &req).await
    }

    /// `KeyValue.ListRange`.
    pub async fn list_range(
        &self,
        list: &str,
        start: i32,
        stop: i32,
    ) -> Result<Vec<String>, RpcError> {
        let req = ListRangeRequest {
            list_name: list.into(),
            start,
            stop,
        };
        self.call(ops::LIST_RANGE, &req).await
    }

    /// `KeyValue.ListClear`: whether the list existed.
    pub async fn list_clear(&self, list: &str) -> Result<bool, RpcError> {
        self.call(ops::LIST_CLEAR, list).await
    }

    /// `KeyValue.SetAdd`: 1 when added.
    pub async fn set_add(&self, set: &str, value: &str) -> Result<u32, RpcError> {
        let req = SetItemRequest {
            set_name: set.into(),
            value: value.into(),
        };
        self.call(ops::SET_ADD, &req).await
    }

    /// `KeyValue.SetDel`: 1 when removed.
    pub async fn set_del(&self, set: &str, value: &str) -> Result<u32, RpcError> {
        let req = SetItemRequest {
            set_name: set.into(),
            value: value.into(),
        };
        self.call(ops::SET_DEL, &req).await
    }

    /// `KeyValue.SetQuery`.
    pub async fn set_query(&self, set: &str) -> Result<Vec<String>, RpcError> {
        self.call(ops::SET_QUERY, set).await
    }

    /// `KeyValue.SetIntersection`.
    pub async fn set_intersection(&self, sets: &[&str]) -> Result<Vec<String>, RpcError> {
        self.call(ops::SET_INTERSECTION, sets).await
    }

    /// `KeyValue.SetUnion`.
    pub async fn set_union(&self, sets: &[&str]) -> Result<Vec<String>, RpcError> {
        self.call(ops::SET_UNION, sets).await
    }

    /// `KeyValue.SetClear`: whether the set existed.
    pub async fn set_clear(&self, set: &str) -> Result<bool, RpcError> {
        self.call(ops::SET_CLEAR, set).await
    }

    /// `store.get`.
    pub async fn store_get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, RpcError> {
        let r: GetResult = self.call(ops::STORE_GET, &bucket_key(bucket, key)).await?;
        Ok(r.value.map(ByteBuf::into_vec))
    }

    /// `store.set`, with an optional time to live.
    pub async fn store_set(
        &self,
        bucket: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), RpcError> {
        let a = SetArgs {
            bucket: bucket.into(),
            key: key.into(),
            value: ByteBuf::from(value),
            ttl_ms: ttl.map(|t| t.as_millis() as u64),
        };
        self.call(ops::STORE_SET, &a).await
    }

    /// `store.delete`.
    pub async fn store_delete(&self, bucket: &str, key: &str) -> Result<(), RpcError> {
        self.call(ops::STORE_DELETE, &bucket_key(bucket, key)).await
    }

    /// `store.exists`.
    pub async fn store_exists(&self, bucket: &str, key: &str) -> Result<bool, RpcError> {
        let r: ExistsResult = self
            .call(ops::STORE_EXISTS, &bucket_key(bucket, key))
            .await?;
        Ok(r.exists)
    }

    /// `store.list-keys`: one page.
    pub async fn list_keys(
        &self,
        bucket: &str,
        prefix: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<KeyPage, RpcError> {
        let a = ListKeysArgs {
            bucket: bucket.into(),
            cursor: cursor.map(str::to_string),
            prefix: prefix.map(str::to_string),
            limit,
        };
        self.call(ops::STORE_LIST_KEYS, &a).await
    }

    /// `atomics.increment`: the new value.
    pub async fn increment_by(&self, bucket: &str, key: &str, delta: i64) -> Result<i64, RpcError> {
        let a = IncrementArgs {
            bucket: bucket.into(),
            key: key.into(),
            delta,
        };
        let r: IncrementResult = self.call(ops::ATOMICS_INCREMENT, &a).await?;
        Ok(r.value)
    }

    /// `atomics.compare-and-swap`.
    pub async fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<CasResult, RpcError> {
        let a = CasArgs {
            bucket: bucket.into(),
            key: key.into(),
            old: old.map(ByteBuf::from),
            new: ByteBuf::from(new),
        };
        self.call(ops::ATOMICS_CAS, &a).await
    }

    /// `batch.get-many`.
    pub async fn get_many(
        &self,
        bucket: &str,
        keys: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, RpcError> {
        let a = BucketKeys {
            bucket: bucket.into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
        };
        let r: GetManyResult = self.call(ops::BATCH_GET_MANY, &a).await?;
        Ok(r.values
            .into_iter()
            .map(|v| v.map(ByteBuf::into_vec))
            .collect())
    }

    /// `batch.set-many`.
    pub async fn set_many(
        &self,
        bucket: &str,
        entries: &[(&str, &[u8])],
        ttl: Option<Duration>,
    ) -> Result<(), RpcError> {
        let a = SetManyArgs {
            bucket: bucket.into(),
            entries: entries
                .iter()
                .map(|(k, v)| (k.to_string(), ByteBuf::from(*v)))
                .collect(),
            ttl_ms: ttl.map(|t| t.as_millis() as u64),
        };
        self.call(ops::BATCH_SET_MANY, &a).await
    }

    /// `batch.delete-many`.
    pub async fn delete_many(&self, bucket: &str, keys: &[&str]) -> Result<(), RpcError> {
        let a = BucketKeys {
            bucket: bucket.into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
        };
        self.call(ops::BATCH_DELETE_MANY, &a).await
    }
}

fn bucket_key(bucket: &str, key: &str) -> BucketKey {
    BucketKey {
        bucket: bucket.into(),
        key: key.into(),
    }
}
