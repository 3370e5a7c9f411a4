//! Contract errors with stable wire codes (CONTRACT.md section 5).
//!
//! On the wire an error is the `error` string of an `InvocationResponse`:
//! `"{code}: {message}"`. Peers that predate the codes send free text; those
//! decode as [`ErrorCode::Other`].

use std::borrow::Cow;
use std::fmt;

/// A stable error code. The string form is what goes on the wire and never
/// changes meaning between releases.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The envelope could not be decoded (malformed MessagePack, missing fields).
    BadEnvelope,
    /// Claims missing, forged, expired, replayed, or not addressed to this provider.
    Unauthorized,
    /// The calling actor has no link to this provider on this link name.
    NotLinked,
    /// The operation is not one this provider implements.
    UnknownOperation,
    /// The operation's argument could not be decoded or is invalid.
    BadRequest,
    /// A body exceeds the configured limit.
    TooLarge,
    /// The backend (or the target) cannot be reached now; retrying later may work.
    Unavailable,
    /// The call did not complete within its deadline.
    Timeout,
    /// Too many invocations in flight; retry later.
    Overloaded,
    /// The provider is draining and takes no new work.
    ShuttingDown,
    /// A bug or unexpected failure inside the provider.
    Internal,
    /// A code defined by an interface, such as `keyvalue.no-such-store`.
    Interface(Cow<'static, str>),
    /// Free text from a peer that does not use codes.
    Other,
}

const BASE_CODES: [(ErrorCode, &str); 11] = [
    (ErrorCode::BadEnvelope, "bad-envelope"),
    (ErrorCode::Unauthorized, "unauthorized"),
    (ErrorCode::NotLinked, "not-linked"),
    (ErrorCode::UnknownOperation, "unknown-operation"),
    (ErrorCode::BadRequest, "bad-request"),
    (ErrorCode::TooLarge, "too-large"),
    (ErrorCode::Unavailable, "unavailable"),
    (ErrorCode::Timeout, "timeout"),
    (ErrorCode::Overloaded, "overloaded"),
    (ErrorCode::ShuttingDown, "shutting-down"),
    (ErrorCode::Internal, "internal"),
];

impl ErrorCode {
    /// The wire form of the code (`""` for [`ErrorCode::Other`]).
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Interface(code) => code,
            ErrorCode::Other => "",
            other => BASE_CODES
                .iter()
                .find(|(c, _)| c == other)
                .map(|(_, s)| *s)
                .unwrap_or("internal"),
        }
    }

    /// Parses a wire code; `None` when `s` is not a code.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        if let Some((code, _)) = BASE_CODES.iter().find(|(_, name)| *name == s) {
            return Some(code.clone());
        }
        // Interface codes are `iface.kebab-name`: lowercase, one dot, no spaces.
        let (iface, name) = s.split_once('.')?;
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        (ok(iface) && ok(name)).then(|| ErrorCode::Interface(Cow::Owned(s.to_string())))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered to (or received from) a peer: a code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RpcError {
    /// The stable code.
    pub code: ErrorCode,
    /// Human-readable detail. Never contains a secret.
    pub message: String,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            ErrorCode::Other => f.write_str(&self.message),
            _ => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

macro_rules! ctor {
    ($($name:ident => $code:ident),* $(,)?) => {
        $(
            #[doc = concat!("An error with code [`ErrorCode::", stringify!($code), "`].")]
            pub fn $name(message: impl Into<String>) -> Self {
                Self::new(ErrorCode::$code, message)
            }
        )*
    };
}

impl RpcError {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An interface-defined error such as `keyvalue.no-such-store`.
    pub fn interface(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Interface(Cow::Borrowed(code)), message)
    }

    ctor! {
        bad_envelope => BadEnvelope,
        unauthorized => Unauthorized,
        not_linked => NotLinked,
        unknown_operation => UnknownOperation,
        bad_request => BadRequest,
        too_large => TooLarge,
        unavailable => Unavailable,
        timeout => Timeout,
        overloaded => Overloaded,
        shutting_down => ShuttingDown,
        internal => Internal,
    }

    /// Parses the `error` string of an `InvocationResponse`.
    pub fn from_wire(s: &str) -> Self {
        if let Some((code, rest)) = s.split_once(':')
            && let Some(code) = ErrorCode::parse(code)
        {
            return Self::new(code, rest.trim_start());
        }
        Self::new(ErrorCode::Other, s)
    }

    /// The string written into `InvocationResponse.error`.
    pub fn to_wire(&self) -> String {
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_round_trips_for_every_base_code() {
        for (code, name) in BASE_CODES {
            let e = RpcError::new(code.clone(), "detail: with colon");
            assert_eq!(e.to_wire(), format!("{name}: detail: with colon"));
            assert_eq!(RpcError::from_wire(&e.to_wire()), e);
        }
    }

    #[test]
    fn interface_codes_parse_and_free_text_is_other() {
        let e = RpcError::from_wire("keyvalue.no-such-store: bucket x");
        assert_eq!(e.code.as_str(), "keyvalue.no-such-store");
        assert_eq!(e.message, "bucket x");
        let legacy = RpcError::from_wire("Redis error: connection refused");
        assert_eq!(legacy.code, ErrorCode::Other);
        assert_eq!(legacy.to_wire(), "Redis error: connection refused");
    }
}
