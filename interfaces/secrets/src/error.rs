//! Errors of the secrets interface and their stable wire codes. Messages
//! never contain secret material.

use lattice_rpc::{ErrorCode, RpcError};

/// What a secrets backend can answer besides success.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// No such key, field or version, or that version is deleted or
    /// destroyed: `secrets.not-found`.
    #[error("{0}")]
    NotFound(String),
    /// The key is outside the calling actor's link allow-list:
    /// `secrets.access-denied`.
    #[error("{0}")]
    AccessDenied(String),
    /// The backend failed or refused (unreachable, sealed, bad credentials,
    /// any error other than not found): `secrets.upstream`.
    #[error("{0}")]
    Upstream(String),
    /// Empty key, or `replyXkey` is not an xkey public key: `bad-request`.
    #[error("{0}")]
    BadRequest(String),
    /// The provider cannot serve now; retry later: `unavailable`.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: `internal`.
    #[error("{0}")]
    Internal(String),
}

/// `secrets.not-found`.
pub const NOT_FOUND: &str = "secrets.not-found";
/// `secrets.access-denied`.
pub const ACCESS_DENIED: &str = "secrets.access-denied";
/// `secrets.upstream`.
pub const UPSTREAM: &str = "secrets.upstream";

impl From<SecretsError> for RpcError {
    fn from(e: SecretsError) -> RpcError {
        let msg = e.to_string();
        match e {
            SecretsError::NotFound(_) => RpcError::interface(NOT_FOUND, msg),
            SecretsError::AccessDenied(_) => RpcError::interface(ACCESS_DENIED, msg),
            SecretsError::Upstream(_) => RpcError::interface(UPSTREAM, msg),
            SecretsError::BadRequest(_) => RpcError::bad_request(msg),
            SecretsError::Unavailable(_) => RpcError::unavailable(msg),
            SecretsError::Internal(_) => RpcError::internal(msg),
        }
    }
}

/// True when `e` carries the interface code `code`.
pub fn is_code(e: &RpcError, code: &str) -> bool {
    matches!(&e.code, ErrorCode::Interface(c) if c == code)
}
