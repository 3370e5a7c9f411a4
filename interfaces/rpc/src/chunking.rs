//! Large bodies (CONTRACT.md section 9): a body over [`CHUNK_THRESHOLD_BYTES`]
//! travels through the JetStream object store bucket named after the lattice,
//! as object `{invocation_id}` (requests) or `{invocation_id}-r` (responses).
//! The reader deletes the object after reading it.

use std::time::Duration;

use async_nats::jetstream::{self, object_store::ObjectStore};
use tokio::io::AsyncReadExt;
use tokio::sync::OnceCell;

use crate::error::RpcError;
use crate::wire::InvocationResponse;

/// Bodies larger than this are chunked (900 KiB, as in wasmbus 0.x).
pub const CHUNK_THRESHOLD_BYTES: usize = 1024 * 900;

/// Extra timeout a chunked call gets.
pub const CHUNKED_EXTRA_TIMEOUT: Duration = Duration::from_secs(13);

/// Default largest body accepted (64 MiB).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// How long an object nobody read stays in the bucket (when this SDK creates it).
const ABANDONED_OBJECT_MAX_AGE: Duration = Duration::from_secs(600);

/// The object name of a response body.
pub fn response_object(invocation_id: &str) -> String {
    format!("{invocation_id}-r")
}

/// Access to a lattice's chunk bucket, opened (or created) on first use.
pub struct ChunkStore {
    js: jetstream::Context,
    bucket: String,
    store: OnceCell<ObjectStore>,
}

impl ChunkStore {
    /// A store for `lattice` on `nats`.
    pub fn new(nats: async_nats::Client, lattice: &str) -> Self {
        Self {
            js: jetstream::new(nats),
            bucket: lattice.to_string(),
            store: OnceCell::new(),
        }
    }

    async fn store(&self) -> Result<&ObjectStore, RpcError> {
        self.store
            .get_or_try_init(|| async {
                if let Ok(store) = self.js.get_object_store(&self.bucket).await {
                    return Ok(store);
                }
                self.js
                    .create_object_store(jetstream::object_store::Config {
                        bucket: self.bucket.clone(),
                        description: Some("lattice RPC large bodies".into()),
                        max_age: ABANDONED_OBJECT_MAX_AGE,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| {
                        RpcError::unavailable(format!(
                            "chunk bucket {:?} cannot be opened: {e}",
                            self.bucket
                        ))
                    })
            })
            .await
    }

    /// Stores `data` as object `name`.
    pub async fn put(&self, name: &str, data: &[u8]) -> Result<(), RpcError> {
        let store = self.store().await?;
        let mut reader = data;
        store
            .put(name, &mut reader)
            .await
            .map_err(|e| RpcError::unavailable(format!("storing chunked body {name}: {e}")))?;
        Ok(())
    }

    /// Reads object `name`, which must be `expected_len` bytes, then deletes it.
    /// `max_len` bounds what is accepted; beyond it the object is deleted unread.
    pub async fn take(
        &self,
        name: &str,
        expected_len: u64,
        max_len: u64,
    ) -> Result<Vec<u8>, RpcError> {
        let store = self.store().await?;
        if expected_len > max_len {
            let _ = store.delete(name).await;
            return Err(RpcError::too_large(format!(
                "body of {expected_len} bytes exceeds the limit of {max_len}"
            )));
        }
        let read = async {
            let mut object = store.get(name).await.map_err(|e| {
                RpcError::unavailable(format!("chunked body {name} not readable: {e}"))
            })?;
            let mut buf = Vec::with_capacity(usize::try_from(expected_len).unwrap_or(0));
            object
                .read_to_end(&mut buf)
                .await
                .map_err(|e| RpcError::unavailable(format!("reading chunked body {name}: {e}")))?;
            Ok::<_, RpcError>(buf)
        }
        .await;
        if let Err(e) = store.delete(name).await {
            tracing::warn!(object = name, error = %e, "could not delete chunked body after reading");
        }
        let buf = read?;
        if buf.len() as u64 != expected_len {
            return Err(RpcError::bad_envelope(format!(
                "chunked body {name} has {} bytes, content_length says {expected_len}",
                buf.len()
            )));
        }
        Ok(buf)
    }

    /// The response for invocation `id`: the result inline, or stored as
    /// `{id}-r` when over the threshold, or the error.
    pub async fn response(
        &self,
        id: &str,
        result: Result<Vec<u8>, RpcError>,
    ) -> InvocationResponse {
        let body = match result {
            Ok(body) => body,
            Err(e) => return InvocationResponse::err(id, &e),
        };
        let len = body.len() as u64;
        if body.len() <= CHUNK_THRESHOLD_BYTES {
            return InvocationResponse::ok(id, body);
        }
        // Boxed, as in `body_of`: the fast path does not carry its size.
        match Box::pin(self.put(&response_object(id), &body)).await {
            Ok(()) => InvocationResponse {
                msg: Vec::new(),
                invocation_id: id.to_string(),
                error: None,
                content_length: Some(len),
            },
            Err(e) => InvocationResponse::err(id, &e),
        }
    }
}
