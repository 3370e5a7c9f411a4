//! Errors of the keyvalue interface and their stable wire codes.

use lattice_rpc::{ErrorCode, RpcError};

/// What a keyvalue store can answer besides success.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The bucket does not exist and cannot be created (or its name is invalid):
    /// `keyvalue.no-such-store`.
    #[error("no such store: {0}")]
    NoSuchStore(String),
    /// `increment` on a value that is not a decimal integer:
    /// `keyvalue.not-an-integer`.
    #[error("value of {0:?} is not an integer")]
    NotAnInteger(String),
    /// A list or set operation on a key holding another kind of value, or the
    /// reverse: `keyvalue.wrong-type`.
    #[error("key {0:?} holds a value of another type")]
    WrongType(String),
    /// The store does not support this (a capability it does not declare):
    /// `keyvalue.unsupported`.
    #[error("{0}")]
    Unsupported(String),
    /// The argument is invalid: `bad-request`.
    #[error("{0}")]
    BadRequest(String),
    /// The backend cannot be reached: `unavailable`.
    #[error("{0}")]
    Unavailable(String),
    /// The backend did not answer in time: `timeout`.
    #[error("{0}")]
    Timeout(String),
    /// Anything else: `internal`.
    #[error("{0}")]
    Internal(String),
}

/// `keyvalue.no-such-store`.
pub const NO_SUCH_STORE: &str = "keyvalue.no-such-store";
/// `keyvalue.not-an-integer`.
pub const NOT_AN_INTEGER: &str = "keyvalue.not-an-integer";
/// `keyvalue.wrong-type`.
pub const WRONG_TYPE: &str = "keyvalue.wrong-type";
/// `keyvalue.unsupported`.
pub const UNSUPPORTED: &str = "keyvalue.unsupported";

impl From<KvError> for RpcError {
    fn from(e: KvError) -> RpcError {
        let msg = e.to_string();
        match e {
            KvError::NoSuchStore(_) => RpcError::interface(NO_SUCH_STORE, msg),
            KvError::NotAnInteger(_) => RpcError::interface(NOT_AN_INTEGER, msg),
            KvError::WrongType(_) => RpcError::interface(WRONG_TYPE, msg),
            KvError::Unsupported(_) => RpcError::interface(UNSUPPORTED, msg),
            KvError::BadRequest(_) => RpcError::bad_request(msg),
            KvError::Unavailable(_) => RpcError::unavailable(msg),
            KvError::Timeout(_) => RpcError::timeout(msg),
            KvError::Internal(_) => RpcError::internal(msg),
        }
    }
}

/// True when `e` carries the interface code `code`.
pub fn is_code(e: &RpcError, code: &str) -> bool {
    matches!(&e.code, ErrorCode::Interface(c) if c == code)
}
