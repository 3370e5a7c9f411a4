//! Wire structs of `wasmcloud:messaging`, field names exactly as on the wire
//! (camelCase as in the 0.x contract). `headers` is an extension: 0.x peers
//! never send it, and it is left out when `None`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Message headers (extension): each name once, with its values in order.
/// Names are case-sensitive as NATS carries them.
pub type Headers = HashMap<String, Vec<String>>;

/// Argument of `Messaging.Publish`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubMessage {
    /// The subject to publish on: a valid, non-empty NATS subject without
    /// wildcards.
    #[serde(default)]
    pub subject: String,
    /// Subject on which a receiver should reply; `None` (or empty) when no
    /// reply is expected.
    #[serde(default, rename = "replyTo", skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The payload; may be empty.
    #[serde(default, with = "serde_bytes")]
    pub body: Vec<u8>,
    /// Headers to send with the message (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// Argument of `Messaging.Request`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestMessage {
    /// The subject to send the request on; same rules as [`PubMessage::subject`].
    #[serde(default)]
    pub subject: String,
    /// The payload; may be empty.
    #[serde(default, with = "serde_bytes")]
    pub body: Vec<u8>,
    /// How long to wait for the reply, in milliseconds; 0 is the provider's
    /// default RPC timeout.
    #[serde(default, rename = "timeoutMs")]
    pub timeout_ms: u32,
    /// Headers to send with the request (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

impl RequestMessage {
    /// How long to wait for the reply: `timeout_ms`, or `default_ms` (the
    /// host's `default_rpc_timeout_ms`, else 2 s) when it is 0.
    pub fn timeout(&self, default_ms: Option<u64>) -> std::time::Duration {
        std::time::Duration::from_millis(match self.timeout_ms {
            0 => default_ms.unwrap_or(2000),
            ms => ms.into(),
        })
    }
}

/// Result of `Messaging.Request`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyMessage {
    /// The subject the reply arrived on (the request's inbox).
    #[serde(default)]
    pub subject: String,
    /// Reply subject set by the responder, if any.
    #[serde(default, rename = "replyTo", skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The reply payload; may be empty.
    #[serde(default, with = "serde_bytes")]
    pub body: Vec<u8>,
    /// Headers of the reply (extension); `None` when it had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// Argument of `MessageSubscriber.HandleMessage`: a message received on one
/// of the link's subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubMessage {
    /// The concrete subject the message was published on.
    #[serde(default)]
    pub subject: String,
    /// Subject the sender expects a reply on; `None` when it expects none.
    #[serde(default, rename = "replyTo", skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The payload; may be empty.
    #[serde(default, with = "serde_bytes")]
    pub body: Vec<u8>,
    /// Headers of the message (extension); `None` when it had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use lattice_rpc::wire::{deserialize, serialize};
    use serde::de::IgnoredAny;

    use super::*;

    fn keys<T: Serialize>(v: &T) -> Vec<String> {
        let m: BTreeMap<String, IgnoredAny> = deserialize(&serialize(v).unwrap()).unwrap();
        m.into_keys().collect()
    }

    #[test]
    fn field_names_and_encodings_are_the_wire_ones() {
        let h = Some(Headers::from([("a".to_string(), vec!["1".to_string()])]));
        let full = ["body", "headers", "replyTo", "subject"];
        let p = PubMessage {
            reply_to: Some("r".into()),
            headers: h.clone(),
            ..Default::default()
        };
        assert_eq!(keys(&p), full);
        let r = ReplyMessage {
            reply_to: Some("r".into()),
            headers: h.clone(),
            ..Default::default()
        };
        assert_eq!(keys(&r), full);
        let s = SubMessage {
            reply_to: Some("r".into()),
            headers: h,
            ..Default::default()
        };
        assert_eq!(keys(&s), full);
        assert_eq!(
            keys(&RequestMessage::default()),
            ["body", "subject", "timeoutMs"]
        );

        // Absent options are left out; the body is `bin`.
        let p = PubMessage {
            subject: "s".into(),
            body: vec![7],
            ..Default::default()
        };
        let bytes = serialize(&p).unwrap();
        let mut want = vec![0x82, 0xa7];
        want.extend_from_slice(b"subject");
        want.extend_from_slice(&[0xa1, b's', 0xa4]);
        want.extend_from_slice(b"body");
        want.extend_from_slice(&[0xc4, 1, 7]);
        assert_eq!(bytes, want);
        // Readers accept nil for an absent option, and default missing fields.
        let back: PubMessage =
            deserialize(&[0x81, 0xa7, b'r', b'e', b'p', b'l', b'y', b'T', b'o', 0xc0]).unwrap();
        assert_eq!(back, PubMessage::default());
    }
}
