//! Wire structs of `wasmcloud:keyvalue`, field names exactly as on the wire
//! (camelCase where the 0.x contract has it).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// Result of `KeyValue.Get`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetResponse {
    /// The value (empty when absent).
    #[serde(default)]
    pub value: String,
    /// Whether the key exists.
    #[serde(default)]
    pub exists: bool,
}

/// Argument of `KeyValue.Set`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetRequest {
    /// The key.
    #[serde(default)]
    pub key: String,
    /// The value.
    #[serde(default)]
    pub value: String,
    /// Seconds until the key expires; 0 never.
    #[serde(default)]
    pub expires: u32,
}

/// Argument of `KeyValue.Increment`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementRequest {
    /// The key.
    #[serde(default)]
    pub key: String,
    /// Amount added (may be negative).
    #[serde(default)]
    pub value: i32,
}

/// Argument of `KeyValue.ListAdd` and `KeyValue.ListDel`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListItemRequest {
    /// The list.
    #[serde(default, rename = "listName")]
    pub list_name: String,
    /// The item.
    #[serde(default)]
    pub value: String,
}

/// Argument of `KeyValue.ListRange`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRangeRequest {
    /// The list.
    #[serde(default, rename = "listName")]
    pub list_name: String,
    /// First index (negative counts from the end).
    #[serde(default)]
    pub start: i32,
    /// Last index, inclusive (negative counts from the end).
    #[serde(default)]
    pub stop: i32,
}

/// Argument of `KeyValue.SetAdd` and `KeyValue.SetDel`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetItemRequest {
    /// The set.
    #[serde(default, rename = "setName")]
    pub set_name: String,
    /// The member.
    #[serde(default)]
    pub value: String,
}

/// Argument of `store.get`, `store.delete`, `store.exists`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketKey {
    /// The bucket ("" is the legacy keyspace).
    #[serde(default)]
    pub bucket: String,
    /// The key.
    #[serde(default)]
    pub key: String,
}

/// Result of `store.get`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetResult {
    /// The value, absent when the key does not exist.
    #[serde(default)]
    pub value: Option<ByteBuf>,
}

/// Argument of `store.set`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetArgs {
    /// The bucket.
    #[serde(default)]
    pub bucket: String,
    /// The key.
    #[serde(default)]
    pub key: String,
    /// The value.
    #[serde(default)]
    pub value: ByteBuf,
    /// Time to live in milliseconds; absent or 0 never expires.
    #[serde(default)]
    pub ttl_ms: Option<u64>,
}

/// Result of `store.exists`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistsResult {
    /// Whether the key exists.
    #[serde(default)]
    pub exists: bool,
}

/// Argument of `store.list-keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListKeysArgs {
    /// The bucket.
    #[serde(default)]
    pub bucket: String,
    /// Where to continue, from a previous page's `cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Only keys starting with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Most keys in this page (default 1000, at most 10 000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Result of `store.list-keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPage {
    /// Keys of this page.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Present when more keys may follow: pass it back to continue.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Argument of `atomics.increment`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementArgs {
    /// The bucket.
    #[serde(default)]
    pub bucket: String,
    /// The key.
    #[serde(default)]
    pub key: String,
    /// Amount added (may be negative).
    #[serde(default)]
    pub delta: i64,
}

/// Result of `atomics.increment`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementResult {
    /// The value after the increment.
    #[serde(default)]
    pub value: i64,
}

/// Argument of `atomics.compare-and-swap`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasArgs {
    /// The bucket.
    #[serde(default)]
    pub bucket: String,
    /// The key.
    #[serde(default)]
    pub key: String,
    /// The expected current value; absent means "the key must not exist".
    #[serde(default)]
    pub old: Option<ByteBuf>,
    /// The value to write when the expectation holds.
    #[serde(default)]
    pub new: ByteBuf,
}

/// Result of `atomics.compare-and-swap`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasResult {
    /// Whether `new` was written.
    #[serde(default)]
    pub swapped: bool,
    /// The value now stored (`new` when swapped; what was found otherwise).
    #[serde(default)]
    pub current: Option<ByteBuf>,
}

/// Argument of `batch.get-many` and `batch.delete-many`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketKeys {
    /// The bucket.
    #[serde(default)]
    pub bucket: String,
    /// The keys.
    #[serde(default)]
    pub keys: Vec<String>,
}

/// Result of `batch.get-many`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetManyResult {
    /// One entry per requested key, in order; absent for a missing key.
    #[serde(default)]
    pub values: Vec<Option<ByteBuf>>,
}

/// Argument of `batch.set-many`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetManyArgs {
    /// The bucket.
    #[serde(default)]
    pub bucket: String,
    /// Key and value pairs.
    #[serde(default)]
    pub entries: Vec<(String, ByteBuf)>,
    /// Time to live in milliseconds for every entry; absent or 0 never expires.
    #[serde(default)]
    pub ttl_ms: Option<u64>,
}
