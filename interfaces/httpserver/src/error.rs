//! Errors of the httpserver interface and their stable wire codes.

use lattice_rpc::RpcError;

/// What an actor's handler can answer instead of a response. The provider
/// answers the HTTP client `500` for either and logs the text.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The request is malformed or invalid: `bad-request`.
    #[error("{0}")]
    BadRequest(String),
    /// Anything else: `internal`.
    #[error("{0}")]
    Internal(String),
}

impl From<HttpError> for RpcError {
    fn from(e: HttpError) -> RpcError {
        let msg = e.to_string();
        match e {
            HttpError::BadRequest(_) => RpcError::bad_request(msg),
            HttpError::Internal(_) => RpcError::internal(msg),
        }
    }
}
