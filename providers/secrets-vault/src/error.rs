//! Vault errors, and how they map to the interface's. Messages carry a
//! status and a kind, never a token, a secret or Vault's own error text
//! (which may echo what it was sent).

use secrets_interface::SecretsError;

/// What a call to Vault can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// Vault could not be reached or did not answer in time.
    #[error("Vault unreachable: {0}")]
    Unreachable(String),
    /// Vault answered with a status other than success.
    #[error("Vault answered HTTP {status} ({})", describe(*.status))]
    Status {
        /// HTTP status.
        status: u16,
    },
    /// Vault's answer is not what its API documents.
    #[error("Vault's answer is malformed: {0}")]
    Malformed(String),
    /// Login or TLS setup failed.
    #[error("{0}")]
    Setup(String),
}

fn describe(status: u16) -> &'static str {
    match status {
        400 => "bad request",
        401 | 403 => "permission denied: the token is invalid, expired or lacks a policy",
        404 => "not found",
        405 => "method not allowed",
        412 => "consistency check failed",
        429 => "rate limited or standby",
        500 => "internal error",
        501 => "not initialized",
        502 => "upstream error",
        503 => "sealed or under maintenance",
        _ => "unexpected status",
    }
}

impl VaultError {
    /// True when the token was refused (re-login may help).
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, VaultError::Status { status: 401 | 403 })
    }
}

impl From<VaultError> for SecretsError {
    fn from(e: VaultError) -> SecretsError {
        match e {
            VaultError::Unreachable(_) => SecretsError::Unavailable(e.to_string()),
            VaultError::Status { status: 404 } => SecretsError::NotFound(e.to_string()),
            other => SecretsError::Upstream(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_interface_errors() {
        let e: SecretsError = VaultError::Status { status: 403 }.into();
        assert!(matches!(&e, SecretsError::Upstream(m) if m.contains("403")));
        let e: SecretsError = VaultError::Unreachable("connection refused".into()).into();
        assert!(matches!(e, SecretsError::Unavailable(_)));
        let e: SecretsError = VaultError::Status { status: 404 }.into();
        assert!(matches!(e, SecretsError::NotFound(_)));
        assert!(VaultError::Status { status: 403 }.is_permission_denied());
    }
}
