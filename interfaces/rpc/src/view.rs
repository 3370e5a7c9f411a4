//! Borrowed forms of the envelope, for the hot path: an invocation read
//! without copying its strings or body out of the message
//! ([`InvocationIn`]), written without owning its parts ([`InvocationOut`]),
//! and the parts claims are checked against ([`CallView`]). The bytes are
//! those of [`crate::wire::Invocation`] exactly (a test holds them equal).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::wire::{Invocation, TraceContext, WasmCloudEntity};

/// An entity, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct EntityRef<'a> {
    /// Public key (`M…` for an actor, `V…` for a provider).
    pub public_key: &'a str,
    /// Link name (empty for actors).
    pub link_name: &'a str,
    /// Contract id (empty for actors).
    pub contract_id: &'a str,
}

impl<'a> EntityRef<'a> {
    /// An actor.
    pub fn actor(public_key: &'a str) -> Self {
        Self {
            public_key,
            link_name: "",
            contract_id: "",
        }
    }

    /// True when this entity is an actor (key starts with `M`).
    pub fn is_actor(&self) -> bool {
        self.public_key.starts_with('M')
    }

    /// An owned copy.
    pub fn to_owned(&self) -> WasmCloudEntity {
        WasmCloudEntity::provider(self.public_key, self.link_name, self.contract_id)
    }
}

impl WasmCloudEntity {
    /// This entity, borrowed.
    pub fn as_ref(&self) -> EntityRef<'_> {
        EntityRef {
            public_key: &self.public_key,
            link_name: &self.link_name,
            contract_id: &self.contract_id,
        }
    }
}

/// What claims are checked against: the parts of an invocation they bind.
#[derive(Debug, Clone, Copy)]
pub struct CallView<'a> {
    /// Caller.
    pub origin: EntityRef<'a>,
    /// Callee.
    pub target: EntityRef<'a>,
    /// `Service.Method`.
    pub operation: &'a str,
    /// Invocation id.
    pub id: &'a str,
    /// The JWT.
    pub encoded_claims: &'a str,
}

impl Invocation {
    /// The parts claims bind.
    pub fn view(&self) -> CallView<'_> {
        CallView {
            origin: self.origin.as_ref(),
            target: self.target.as_ref(),
            operation: &self.operation,
            id: &self.id,
            encoded_claims: &self.encoded_claims,
        }
    }
}

/// An entity as read, strings borrowed from the message when they need no
/// unescaping (MessagePack strings never do).
#[derive(Debug, Default, Deserialize)]
pub struct EntityIn<'a> {
    /// Public key.
    #[serde(default, borrow)]
    pub public_key: Cow<'a, str>,
    /// Link name.
    #[serde(default, borrow)]
    pub link_name: Cow<'a, str>,
    /// Contract id.
    #[serde(default, borrow)]
    pub contract_id: Cow<'a, str>,
}

impl EntityIn<'_> {
    /// Borrowed.
    pub fn as_ref(&self) -> EntityRef<'_> {
        EntityRef {
            public_key: &self.public_key,
            link_name: &self.link_name,
            contract_id: &self.contract_id,
        }
    }
}

/// An invocation read from a message without copying; unknown fields are
/// ignored and missing ones default, as for [`Invocation`].
#[derive(Debug, Deserialize)]
pub struct InvocationIn<'a> {
    /// Caller.
    #[serde(borrow)]
    pub origin: EntityIn<'a>,
    /// Callee.
    #[serde(borrow)]
    pub target: EntityIn<'a>,
    /// `Service.Method`.
    #[serde(default, borrow)]
    pub operation: Cow<'a, str>,
    /// The argument (empty when chunked).
    #[serde(default, borrow, with = "serde_bytes")]
    pub msg: Cow<'a, [u8]>,
    /// Invocation id.
    #[serde(default, borrow)]
    pub id: Cow<'a, str>,
    /// The JWT.
    #[serde(default, borrow)]
    pub encoded_claims: Cow<'a, str>,
    /// Sender's host id.
    #[serde(default, borrow)]
    pub host_id: Cow<'a, str>,
    /// Full size of the argument; larger than `msg.len()` when chunked.
    #[serde(default)]
    pub content_length: Option<u64>,
    /// W3C trace context.
    #[serde(default, rename = "traceContext")]
    pub trace_context: Option<TraceContext>,
}

impl InvocationIn<'_> {
    /// The parts claims bind.
    pub fn view(&self) -> CallView<'_> {
        CallView {
            origin: self.origin.as_ref(),
            target: self.target.as_ref(),
            operation: &self.operation,
            id: &self.id,
            encoded_claims: &self.encoded_claims,
        }
    }

    /// True when the body travels in the object store.
    pub fn is_chunked(&self) -> bool {
        self.content_length
            .is_some_and(|len| len > self.msg.len() as u64)
    }

    /// An owned copy, `msg` left empty (the body is handled apart).
    pub fn to_owned_without_body(&self) -> Invocation {
        Invocation {
            origin: self.origin.as_ref().to_owned(),
            target: self.target.as_ref().to_owned(),
            operation: self.operation.to_string(),
            msg: Vec::new(),
            id: self.id.to_string(),
            encoded_claims: self.encoded_claims.to_string(),
            host_id: self.host_id.to_string(),
            content_length: self.content_length,
            trace_context: self.trace_context.clone(),
        }
    }
}

/// An invocation written from borrowed parts.
#[derive(Debug, Serialize)]
pub struct InvocationOut<'a> {
    /// Caller.
    pub origin: EntityRef<'a>,
    /// Callee.
    pub target: EntityRef<'a>,
    /// `Service.Method`.
    pub operation: &'a str,
    /// The argument (empty when chunked).
    #[serde(with = "serde_bytes")]
    pub msg: &'a [u8],
    /// Invocation id.
    pub id: &'a str,
    /// The JWT.
    pub encoded_claims: &'a str,
    /// Sender's host id.
    pub host_id: &'a str,
    /// Full size of the argument.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
    /// W3C trace context.
    #[serde(rename = "traceContext", skip_serializing_if = "Option::is_none")]
    pub trace_context: Option<&'a TraceContext>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::serialize;

    fn sample() -> Invocation {
        Invocation {
            origin: WasmCloudEntity::actor("MACTOR"),
            target: WasmCloudEntity::provider("VPROV", "Default Link", "wasmcloud:keyvalue"),
            operation: "KeyValue.Get".into(),
            msg: vec![0xa1, b'k', 0, 255],
            id: "inv-1".into(),
            encoded_claims: "a.b.c".into(),
            host_id: "NHOST".into(),
            content_length: Some(4),
            trace_context: Some(
                [("traceparent".to_string(), "00-ab-cd-01".to_string())]
                    .into_iter()
                    .collect(),
            ),
        }
    }

    #[test]
    fn borrowed_encoding_is_byte_identical_to_the_owned_one() {
        let inv = sample();
        let out = InvocationOut {
            origin: inv.origin.as_ref(),
            target: inv.target.as_ref(),
            operation: &inv.operation,
            msg: &inv.msg,
            id: &inv.id,
            encoded_claims: &inv.encoded_claims,
            host_id: &inv.host_id,
            content_length: inv.content_length,
            trace_context: inv.trace_context.as_ref(),
        };
        assert_eq!(serialize(&out).unwrap(), serialize(&inv).unwrap());
        let mut bare = inv.clone();
        bare.content_length = None;
        bare.trace_context = None;
        let out = InvocationOut {
            content_length: None,
            trace_context: None,
            ..out
        };
        assert_eq!(serialize(&out).unwrap(), serialize(&bare).unwrap());
    }

    #[test]
    fn borrowed_decoding_borrows_and_reads_what_the_owned_one_does() {
        let inv = sample();
        let bytes = serialize(&inv).unwrap();
        let view: InvocationIn<'_> = rmp_serde::from_slice(&bytes).unwrap();
        assert!(matches!(view.encoded_claims, Cow::Borrowed(_)));
        assert!(matches!(view.msg, Cow::Borrowed(_)));
        assert!(matches!(view.origin.public_key, Cow::Borrowed(_)));
        assert_eq!(&*view.msg, &inv.msg[..]);
        assert!(!view.is_chunked());
        let mut back = view.to_owned_without_body();
        back.msg = view.msg.to_vec();
        assert_eq!(back, inv);
        assert_eq!(view.view().target.link_name, "Default Link");
    }
}
