//! Serves `Secrets.Get` on a [`SecretsBackend`].

use lattice_rpc::RpcError;
use lattice_rpc::wire::{deserialize, serialize};

use crate::backend::SecretsBackend;
use crate::error::SecretsError;
use crate::ops;
use crate::types::GetRequest;

/// Checks what every backend needs: a non-empty key and a `replyXkey` that is
/// an xkey public key.
fn validate(req: &GetRequest) -> Result<(), SecretsError> {
    if req.key.is_empty() {
        return Err(SecretsError::BadRequest("key is empty".into()));
    }
    nkeys::XKey::from_public_key(&req.reply_xkey)
        .map_err(|_| SecretsError::BadRequest("replyXkey is not an xkey public key".into()))?;
    Ok(())
}

/// Decodes `msg` for `operation`, checks it, runs it on `backend` for the
/// calling actor `actor_id`, and encodes the result. An unknown operation
/// answers `unknown-operation`.
pub async fn dispatch<B: SecretsBackend>(
    backend: &B,
    operation: &str,
    msg: &[u8],
    actor_id: &str,
) -> Result<Vec<u8>, RpcError> {
    match operation {
        ops::GET => {
            let req: GetRequest = deserialize(msg)?;
            validate(&req)?;
            serialize(&backend.get(req, actor_id).await?)
        }
        other => Err(RpcError::unknown_operation(format!(
            "{other} is not an operation of {}",
            crate::CONTRACT_ID
        ))),
    }
}

#[cfg(test)]
mod tests {
    use lattice_rpc::ErrorCode;

    use super::*;
    use crate::error::{ACCESS_DENIED, NOT_FOUND, is_code};
    use crate::types::{GetResponse, SecretValue};

    struct One(nkeys::XKey);

    impl SecretsBackend for One {
        async fn get(&self, req: GetRequest, actor_id: &str) -> Result<GetResponse, SecretsError> {
            if actor_id != "Mactor" {
                return Err(SecretsError::AccessDenied(format!(
                    "{} is not allowed",
                    req.key
                )));
            }
            if req.key != "app/db" {
                return Err(SecretsError::NotFound(req.key));
            }
            let v = SecretValue::String("pw".into());
            Ok(GetResponse {
                sealed: v.seal(&self.0, &req.reply_xkey)?,
                version: req.version.unwrap_or(3),
                sender_xkey: self.0.public_key(),
            })
        }
    }

    #[tokio::test]
    async fn dispatch_validates_passes_the_actor_and_maps_errors() {
        let b = One(nkeys::XKey::new());
        let me = nkeys::XKey::new();
        let req = |key: &str, xkey: &str| {
            serialize(&GetRequest {
                key: key.into(),
                reply_xkey: xkey.into(),
                ..Default::default()
            })
            .unwrap()
        };
        let out = dispatch(&b, ops::GET, &req("app/db", &me.public_key()), "Mactor")
            .await
            .unwrap();
        let resp: GetResponse = deserialize(&out).unwrap();
        assert_eq!(resp.version, 3);
        let v = SecretValue::open(&resp.sealed, &me, &resp.sender_xkey).unwrap();
        assert_eq!(v.as_str(), Some("pw"));

        let pk = me.public_key();
        let e = dispatch(&b, ops::GET, &req("app/db", &pk), "Mother")
            .await
            .unwrap_err();
        assert!(is_code(&e, ACCESS_DENIED));
        let e = dispatch(&b, ops::GET, &req("nope", &pk), "Mactor")
            .await
            .unwrap_err();
        assert!(is_code(&e, NOT_FOUND));
        for (key, xkey) in [("", pk.as_str()), ("app/db", "Xbogus"), ("app/db", "")] {
            let e = dispatch(&b, ops::GET, &req(key, xkey), "Mactor")
                .await
                .unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest, "{key:?} {xkey:?}");
        }
        let e = dispatch(&b, "Secrets.List", &[], "Mactor")
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownOperation);
    }
}
