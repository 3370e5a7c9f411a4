//! Serves the operations of each direction: [`dispatch`] on a
//! [`MessagingBackend`] (provider side), [`dispatch_subscriber`] on a
//! [`MessageSubscriber`] (actor side).

use lattice_rpc::RpcError;
use lattice_rpc::wire::{deserialize, serialize};

use crate::backend::{MessageSubscriber, MessagingBackend};
use crate::error::MessagingError;
use crate::ops;
use crate::types::{PubMessage, RequestMessage, SubMessage};

/// Checks that `subject` can be published to: non-empty, no whitespace or
/// control characters, no empty token (`a..b`, leading or trailing `.`), and
/// no wildcard token (`*`, `>`).
pub fn validate_subject(subject: &str) -> Result<(), MessagingError> {
    let bad = |why: &str| {
        Err(MessagingError::BadRequest(format!(
            "invalid subject {subject:?}: {why}"
        )))
    };
    if subject.is_empty() {
        return bad("empty");
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains whitespace or control characters");
    }
    for token in subject.split('.') {
        match token {
            "" => return bad("empty token"),
            "*" | ">" => return bad("wildcards are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

/// `reply_to` may be absent or empty (no reply expected); otherwise it must be
/// a valid subject.
fn validate_reply_to(reply_to: Option<&str>) -> Result<(), MessagingError> {
    match reply_to {
        Some(r) if !r.is_empty() => validate_subject(r),
        _ => Ok(()),
    }
}

fn unknown(operation: &str) -> RpcError {
    RpcError::unknown_operation(format!(
        "{operation} is not an operation of {} served here",
        crate::CONTRACT_ID
    ))
}

/// Decodes `msg` for `operation` (`Messaging.Publish` or `Messaging.Request`),
/// checks the subjects, runs it on `backend`, and encodes the result. Any
/// other operation answers `unknown-operation`.
pub async fn dispatch<B: MessagingBackend>(
    backend: &B,
    operation: &str,
    msg: &[u8],
) -> Result<Vec<u8>, RpcError> {
    Ok(match operation {
        ops::PUBLISH => {
            let m: PubMessage = deserialize(msg)?;
            validate_subject(&m.subject)?;
            validate_reply_to(m.reply_to.as_deref())?;
            backend.publish(m).await?;
            Vec::new()
        }
        ops::REQUEST => {
            let m: RequestMessage = deserialize(msg)?;
            validate_subject(&m.subject)?;
            serialize(&backend.request(m).await?)?
        }
        other => return Err(unknown(other)),
    })
}

/// Decodes `msg` for `MessageSubscriber.HandleMessage` and runs it on
/// `subscriber`; answers an empty `msg`. Any other operation answers
/// `unknown-operation`.
pub async fn dispatch_subscriber<S: MessageSubscriber>(
    subscriber: &S,
    operation: &str,
    msg: &[u8],
) -> Result<Vec<u8>, RpcError> {
    match operation {
        ops::HANDLE_MESSAGE => {
            let m: SubMessage = deserialize(msg)?;
            subscriber.handle_message(m).await?;
            Ok(Vec::new())
        }
        other => Err(unknown(other)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use lattice_rpc::ErrorCode;

    use super::*;
    use crate::types::ReplyMessage;

    #[derive(Default)]
    struct Echo(Mutex<Vec<String>>);

    impl MessagingBackend for Echo {
        async fn publish(&self, msg: PubMessage) -> Result<(), MessagingError> {
            if msg.subject.starts_with("forbidden.") {
                return Err(MessagingError::NotPermitted(msg.subject));
            }
            self.0.lock().unwrap().push(msg.subject);
            Ok(())
        }

        async fn request(&self, msg: RequestMessage) -> Result<ReplyMessage, MessagingError> {
            Ok(ReplyMessage {
                subject: "_INBOX.1".into(),
                body: msg.body,
                ..Default::default()
            })
        }
    }

    #[tokio::test]
    async fn dispatch_checks_subjects_and_maps_errors() {
        let b = Echo::default();
        let publish = |subject: &str| {
            serialize(&PubMessage {
                subject: subject.into(),
                ..Default::default()
            })
            .unwrap()
        };
        assert!(
            dispatch(&b, ops::PUBLISH, &publish("a.b"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(*b.0.lock().unwrap(), ["a.b"]);
        for bad in ["", "a.*", "a.>", "a..b", "a b"] {
            let e = dispatch(&b, ops::PUBLISH, &publish(bad)).await.unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest, "{bad:?}");
        }
        let e = dispatch(&b, ops::PUBLISH, &publish("forbidden.x"))
            .await
            .unwrap_err();
        assert_eq!(e.code.as_str(), crate::error::NOT_PERMITTED);

        let req = RequestMessage {
            subject: "svc".into(),
            body: b"ping".to_vec(),
            ..Default::default()
        };
        let out = dispatch(&b, ops::REQUEST, &serialize(&req).unwrap())
            .await
            .unwrap();
        let reply: ReplyMessage = deserialize(&out).unwrap();
        assert_eq!(reply.body, b"ping");

        let e = dispatch(&b, ops::HANDLE_MESSAGE, &[]).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownOperation);
    }
}
