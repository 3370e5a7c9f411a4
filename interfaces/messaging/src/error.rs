//! Errors of the messaging interface and their stable wire codes.

use lattice_rpc::{ErrorCode, RpcError};

/// What a messaging backend (or a subscribing actor) can answer besides success.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessagingError {
    /// Invalid subject or malformed argument: `bad-request`.
    #[error("{0}")]
    BadRequest(String),
    /// The link does not allow this subject: `messaging.not-permitted`.
    #[error("{0}")]
    NotPermitted(String),
    /// The message exceeds the server's maximum payload: `too-large`.
    #[error("{0}")]
    TooLarge(String),
    /// The link's NATS connection is down, or no one subscribes to the
    /// request's subject (no responders): `unavailable`.
    #[error("{0}")]
    Unavailable(String),
    /// No reply within the request's timeout: `timeout`.
    #[error("{0}")]
    Timeout(String),
    /// Anything else: `internal`.
    #[error("{0}")]
    Internal(String),
}

/// `messaging.not-permitted`.
pub const NOT_PERMITTED: &str = "messaging.not-permitted";

impl From<MessagingError> for RpcError {
    fn from(e: MessagingError) -> RpcError {
        let msg = e.to_string();
        match e {
            MessagingError::BadRequest(_) => RpcError::bad_request(msg),
            MessagingError::NotPermitted(_) => RpcError::interface(NOT_PERMITTED, msg),
            MessagingError::TooLarge(_) => RpcError::too_large(msg),
            MessagingError::Unavailable(_) => RpcError::unavailable(msg),
            MessagingError::Timeout(_) => RpcError::timeout(msg),
            MessagingError::Internal(_) => RpcError::internal(msg),
        }
    }
}

/// True when `e` carries the interface code `code`.
pub fn is_code(e: &RpcError, code: &str) -> bool {
    matches!(&e.code, ErrorCode::Interface(c) if c == code)
}
