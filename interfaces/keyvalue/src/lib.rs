//! The `wasmcloud:keyvalue` interface: wire types, operation names, the
//! store trait a provider implements, the dispatch that serves it, a typed
//! client, and an in-memory reference store.
//!
//! Two shapes share one subject and link: the 0.x `KeyValue.*` operations
//! (string values, the empty bucket) and the `wasi:keyvalue/*` extension
//! (buckets, binary values). A provider implements [`KeyValueStore`] once;
//! [`dispatch`] serves both.

#![deny(missing_docs)]

mod client;
mod dispatch;
pub mod error;
pub mod memory;
mod store;
pub mod types;

pub use client::KeyValueClient;
pub use dispatch::{dispatch, validate_bucket};
pub use error::KvError;
pub use store::{CasOutcome, KeyValueStore};

/// The contract id.
pub const CONTRACT_ID: &str = "wasmcloud:keyvalue";

/// Longest bucket identifier, in bytes.
pub const MAX_BUCKET_BYTES: usize = 255;

/// Default page size of `list-keys`.
pub const DEFAULT_LIST_LIMIT: u32 = 1000;
/// Largest page size of `list-keys`.
pub const MAX_LIST_LIMIT: u32 = 10_000;

/// Operation names.
pub mod ops {
    /// `KeyValue.Get`: str → `GetResponse`.
    pub const GET: &str = "KeyValue.Get";
    /// `KeyValue.Set`: `SetRequest` → nothing.
    pub const SET: &str = "KeyValue.Set";
    /// `KeyValue.Del`: str → bool (existed).
    pub const DEL: &str = "KeyValue.Del";
    /// `KeyValue.Contains`: str → bool.
    pub const CONTAINS: &str = "KeyValue.Contains";
    /// `KeyValue.Increment`: `IncrementRequest` → i32.
    pub const INCREMENT: &str = "KeyValue.Increment";
    /// `KeyValue.ListAdd`: `ListItemRequest` → u32 (new length).
    pub const LIST_ADD: &str = "KeyValue.ListAdd";
    /// `KeyValue.ListDel`: `ListItemRequest` → bool.
    pub const LIST_DEL: &str = "KeyValue.ListDel";
    /// `KeyValue.ListRange`: `ListRangeRequest` → [str].
    pub const LIST_RANGE: &str = "KeyValue.ListRange";
    /// `KeyValue.ListClear`: str → bool.
    pub const LIST_CLEAR: &str = "KeyValue.ListClear";
    /// `KeyValue.SetAdd`: `SetItemRequest` → u32 (added).
    pub const SET_ADD: &str = "KeyValue.SetAdd";
    /// `KeyValue.SetDel`: `SetItemRequest` → u32 (removed).
    pub const SET_DEL: &str = "KeyValue.SetDel";
    /// `KeyValue.SetQuery`: str → [str].
    pub const SET_QUERY: &str = "KeyValue.SetQuery";
    /// `KeyValue.SetIntersection`: [str] → [str].
    pub const SET_INTERSECTION: &str = "KeyValue.SetIntersection";
    /// `KeyValue.SetUnion`: [str] → [str].
    pub const SET_UNION: &str = "KeyValue.SetUnion";
    /// `KeyValue.SetClear`: str → bool.
    pub const SET_CLEAR: &str = "KeyValue.SetClear";

    /// `wasi:keyvalue/store.get`: `BucketKey` → `GetResult`.
    pub const STORE_GET: &str = "wasi:keyvalue/store.get";
    /// `wasi:keyvalue/store.set`: `SetArgs` → nothing.
    pub const STORE_SET: &str = "wasi:keyvalue/store.set";
    /// `wasi:keyvalue/store.delete`: `BucketKey` → nothing.
    pub const STORE_DELETE: &str = "wasi:keyvalue/store.delete";
    /// `wasi:keyvalue/store.exists`: `BucketKey` → `ExistsResult`.
    pub const STORE_EXISTS: &str = "wasi:keyvalue/store.exists";
    /// `wasi:keyvalue/store.list-keys`: `ListKeysArgs` → `KeyPage`.
    pub const STORE_LIST_KEYS: &str = "wasi:keyvalue/store.list-keys";
    /// `wasi:keyvalue/atomics.increment`: `IncrementArgs` → `IncrementResult`.
    pub const ATOMICS_INCREMENT: &str = "wasi:keyvalue/atomics.increment";
    /// `wasi:keyvalue/atomics.compare-and-swap`: `CasArgs` → `CasResult`.
    pub const ATOMICS_CAS: &str = "wasi:keyvalue/atomics.compare-and-swap";
    /// `wasi:keyvalue/batch.get-many`: `BucketKeys` → `GetManyResult`.
    pub const BATCH_GET_MANY: &str = "wasi:keyvalue/batch.get-many";
    /// `wasi:keyvalue/batch.set-many`: `SetManyArgs` → nothing.
    pub const BATCH_SET_MANY: &str = "wasi:keyvalue/batch.set-many";
    /// `wasi:keyvalue/batch.delete-many`: `BucketKeys` → nothing.
    pub const BATCH_DELETE_MANY: &str = "wasi:keyvalue/batch.delete-many";

    /// Every operation of the interface.
    pub const ALL: [&str; 25] = [
        GET,
        SET,
        DEL,
        CONTAINS,
        INCREMENT,
        LIST_ADD,
        LIST_DEL,
        LIST_RANGE,
        LIST_CLEAR,
        SET_ADD,
        SET_DEL,
        SET_QUERY,
        SET_INTERSECTION,
        SET_UNION,
        SET_CLEAR,
        STORE_GET,
        STORE_SET,
        STORE_DELETE,
        STORE_EXISTS,
        STORE_LIST_KEYS,
        ATOMICS_INCREMENT,
        ATOMICS_CAS,
        BATCH_GET_MANY,
        BATCH_SET_MANY,
        BATCH_DELETE_MANY,
    ];
}

/// What a store supports beyond plain get/set/delete/exists/list-keys/increment
/// and batches. The contract suite checks both ways: a declared capability must
/// work; an undeclared one must answer `keyvalue.unsupported` or
/// `unknown-operation`, never wrong data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Expiry (`expires`, `ttl_ms`).
    pub ttl: bool,
    /// `atomics.compare-and-swap`.
    pub cas: bool,
    /// The legacy list and set operations.
    pub collections: bool,
    /// Named buckets besides the empty one.
    pub buckets: bool,
}

impl Capabilities {
    /// Everything.
    pub const ALL: Capabilities = Capabilities {
        ttl: true,
        cas: true,
        collections: true,
        buckets: true,
    };
}
