//! Errors: why a link is refused (link time), and how an actor's failure
//! becomes an HTTP status (request time).

use std::net::SocketAddr;

use hyper::StatusCode;
use provider_sdk::{ConfigError, ErrorCode, RpcError};

/// Why a link could not be applied. Never contains a key or a secret value.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A value is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another actor already serves the same address, host and prefix.
    #[error(
        "route {route} on {addr} is already served by actor {actor}; unlink it first or choose another path_prefix, host or address"
    )]
    DuplicateRoute {
        /// The address.
        addr: SocketAddr,
        /// `host` + `path_prefix`.
        route: String,
        /// The actor holding the route.
        actor: String,
    },
    /// The address is already served with other TLS or header limits.
    #[error(
        "{addr} already listens with other TLS or header-limit settings (set by actor {actor}); links sharing an address must agree on them"
    )]
    ListenerMismatch {
        /// The address.
        addr: SocketAddr,
        /// An actor with a route there.
        actor: String,
    },
}

impl From<LinkError> for ConfigError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Config(c) => c,
            other => ConfigError::unusable(other.to_string()),
        }
    }
}

/// The status an HTTP client gets when forwarding to the actor failed:
/// 504 on a timeout, 503 when the actor cannot be reached or is busy, 413
/// when the lattice refused the body as too large, else 500.
pub fn status_for(e: &RpcError) -> StatusCode {
    match e.code {
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Unavailable | ErrorCode::Overloaded | ErrorCode::ShuttingDown => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lattice_errors_map_to_gateway_statuses() {
        assert_eq!(
            status_for(&RpcError::timeout("t")),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            status_for(&RpcError::unavailable("u")),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_for(&RpcError::internal("secret text")),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status_for(&RpcError::from_wire("free text from an old peer")),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
