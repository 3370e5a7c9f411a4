//! async-nats errors as the interface's [`KvError`]: connection problems are
//! `unavailable`, timeouts `timeout`, a value over the server's payload limit
//! a `bad-request`, a stream that is not a KV bucket `keyvalue.no-such-store`.
//!
//! async-nats errors are `Error<Kind>` values chained by `source()`; the
//! first link of the chain whose kind is decisive wins. Messages carry the
//! operation and async-nats's description, never a value or a credential.

use std::error::Error as StdError;

use async_nats::jetstream::context::{
    CreateKeyValueErrorKind, GetStreamError, GetStreamErrorKind, KeyValueError, KeyValueErrorKind,
    PublishError, PublishErrorKind, RequestError as JsRequestError,
    RequestErrorKind as JsRequestErrorKind,
};
use async_nats::jetstream::kv::{EntryError, EntryErrorKind, UpdateError, UpdateErrorKind};
use async_nats::jetstream::stream::{DirectGetError, DirectGetErrorKind};
use async_nats::jetstream::{self, ErrorCode};
use async_nats::{ConnectError, ConnectErrorKind, RequestError, RequestErrorKind};
use keyvalue_interface::KvError;

/// What kind of failure an error chain describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Timeout,
    Unavailable,
    TooLarge,
    NotABucket,
}

fn class_of(e: &(dyn StdError + 'static)) -> Option<Class> {
    use Class::*;
    if let Some(e) = e.downcast_ref::<PublishError>() {
        return match e.kind() {
            PublishErrorKind::TimedOut => Some(Timeout),
            PublishErrorKind::MaxPayloadExceeded => Some(TooLarge),
            PublishErrorKind::BrokenPipe | PublishErrorKind::StreamNotFound => Some(Unavailable),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<JsRequestError>() {
        return match e.kind() {
            JsRequestErrorKind::TimedOut => Some(Timeout),
            JsRequestErrorKind::NoResponders => Some(Unavailable),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<RequestError>() {
        return match e.kind() {
            RequestErrorKind::TimedOut => Some(Timeout),
            RequestErrorKind::MaxPayloadExceeded => Some(TooLarge),
            _ => Some(Unavailable),
        };
    }
    if let Some(e) = e.downcast_ref::<DirectGetError>() {
        return match e.kind() {
            DirectGetErrorKind::TimedOut => Some(Timeout),
            DirectGetErrorKind::Request => Some(Unavailable),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<EntryError>() {
        return (e.kind() == EntryErrorKind::TimedOut).then_some(Timeout);
    }
    if let Some(e) = e.downcast_ref::<UpdateError>() {
        return (e.kind() == UpdateErrorKind::TimedOut).then_some(Timeout);
    }
    if let Some(e) = e.downcast_ref::<KeyValueError>() {
        return (e.kind() == KeyValueErrorKind::InvalidStoreName).then_some(NotABucket);
    }
    if let Some(e) = e.downcast_ref::<async_nats::jetstream::context::CreateKeyValueError>() {
        return (e.kind() == CreateKeyValueErrorKind::TimedOut).then_some(Timeout);
    }
    if let Some(e) = e.downcast_ref::<ConnectError>() {
        return Some(match e.kind() {
            ConnectErrorKind::TimedOut => Timeout,
            _ => Unavailable,
        });
    }
    if let Some(e) = e.downcast_ref::<async_nats::client::FlushError>() {
        let _ = e;
        return Some(Unavailable);
    }
    if let Some(e) = e.downcast_ref::<std::io::Error>() {
        return Some(match e.kind() {
            std::io::ErrorKind::TimedOut => Timeout,
            _ => Unavailable,
        });
    }
    None
}

/// The [`KvError`] for `err`, raised while doing `what` (e.g. `put`).
/// Anything not recognised is `unavailable`: the server refused or could not
/// be reached, which a retry may cure.
pub fn kv_error<E: StdError + 'static>(what: &str, err: E) -> KvError {
    let mut class = None;
    let mut link: Option<&(dyn StdError + 'static)> = Some(&err);
    while let Some(e) = link {
        if let Some(c) = class_of(e) {
            class = Some(c);
            break;
        }
        link = e.source();
    }
    let msg = format!("NATS KV {what}: {err}");
    match class {
        Some(Class::Timeout) => KvError::Timeout(msg),
        Some(Class::TooLarge) => KvError::BadRequest(format!(
            "{msg} (the value exceeds the NATS server's max_payload)"
        )),
        Some(Class::NotABucket) => KvError::NoSuchStore(format!(
            "{msg} (a stream of that name exists and is not a KV bucket)"
        )),
        Some(Class::Unavailable) | None => KvError::Unavailable(msg),
    }
}

/// True when `err` says the bucket's stream does not exist (so it may be created).
pub fn is_bucket_missing(err: &KeyValueError) -> bool {
    err.kind() == KeyValueErrorKind::GetBucket
        && err
            .source()
            .and_then(|s| s.downcast_ref::<GetStreamError>())
            .is_some_and(|e| {
                matches!(e.kind(), GetStreamErrorKind::JetStream(js) if is_stream_not_found(&js))
            })
}

fn is_stream_not_found(e: &jetstream::Error) -> bool {
    e.error_code() == ErrorCode::STREAM_NOT_FOUND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_anywhere_in_the_chain_are_timeout() {
        let e = EntryError::new(EntryErrorKind::TimedOut);
        assert!(matches!(kv_error("get", e), KvError::Timeout(_)));
        let e = async_nats::jetstream::kv::PutError::with_source(
            async_nats::jetstream::kv::PutErrorKind::Ack,
            PublishError::new(PublishErrorKind::TimedOut),
        );
        let err = kv_error("put", e);
        assert!(matches!(err, KvError::Timeout(_)), "{err:?}");
        assert!(err.to_string().starts_with("NATS KV put: "), "{err}");
    }

    #[test]
    fn connection_problems_are_unavailable() {
        let e = UpdateError::with_source(
            UpdateErrorKind::Other,
            PublishError::new(PublishErrorKind::BrokenPipe),
        );
        assert!(matches!(kv_error("update", e), KvError::Unavailable(_)));
        let e = ConnectError::with_source(
            ConnectErrorKind::Io,
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        );
        assert!(matches!(kv_error("connect", e), KvError::Unavailable(_)));
        let e = JsRequestError::new(JsRequestErrorKind::NoResponders);
        assert!(matches!(kv_error("info", e), KvError::Unavailable(_)));
    }

    #[test]
    fn an_oversized_value_is_a_bad_request() {
        let e = async_nats::jetstream::kv::PutError::with_source(
            async_nats::jetstream::kv::PutErrorKind::Publish,
            PublishError::new(PublishErrorKind::MaxPayloadExceeded),
        );
        assert!(matches!(kv_error("put", e), KvError::BadRequest(_)));
    }

    #[test]
    fn a_stream_that_is_not_a_bucket_is_no_such_store() {
        let e = KeyValueError::new(KeyValueErrorKind::InvalidStoreName);
        assert!(matches!(kv_error("open", e), KvError::NoSuchStore(_)));
        assert!(!is_bucket_missing(&KeyValueError::new(
            KeyValueErrorKind::GetBucket
        )));
    }
}
