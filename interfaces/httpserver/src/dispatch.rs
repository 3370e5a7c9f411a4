//! Serves `HttpServer.HandleRequest` on an [`HttpHandler`] (the actor side).

use lattice_rpc::RpcError;
use lattice_rpc::wire::{deserialize, serialize};

use crate::handler::HttpHandler;
use crate::ops;
use crate::types::HttpRequest;

/// Decodes `msg` for `operation`, runs it on `handler`, and encodes the
/// response. An unknown operation answers `unknown-operation`.
pub async fn dispatch_handler<H: HttpHandler>(
    handler: &H,
    operation: &str,
    msg: &[u8],
) -> Result<Vec<u8>, RpcError> {
    match operation {
        ops::HANDLE_REQUEST => {
            let req: HttpRequest = deserialize(msg)?;
            serialize(&handler.handle_request(req).await?)
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
    use crate::error::HttpError;
    use crate::types::HttpResponse;

    struct Echo;

    impl HttpHandler for Echo {
        async fn handle_request(&self, req: HttpRequest) -> Result<HttpResponse, RpcError> {
            if req.path == "/fail" {
                return Err(HttpError::Internal("boom".into()).into());
            }
            Ok(HttpResponse::ok(req.body).with_header("x-path", req.path))
        }
    }

    #[tokio::test]
    async fn dispatch_runs_the_handler_and_refuses_other_operations() {
        let req = |path: &str| {
            serialize(&HttpRequest {
                method: "POST".into(),
                path: path.into(),
                body: b"hi".to_vec(),
                ..Default::default()
            })
            .unwrap()
        };
        let out = dispatch_handler(&Echo, ops::HANDLE_REQUEST, &req("/a"))
            .await
            .unwrap();
        let resp: HttpResponse = deserialize(&out).unwrap();
        assert_eq!((resp.status_code, resp.body.as_slice()), (200, &b"hi"[..]));
        assert_eq!(resp.header["x-path"], ["/a"]);

        let e = dispatch_handler(&Echo, ops::HANDLE_REQUEST, &req("/fail"))
            .await
            .unwrap_err();
        assert_eq!(e.to_wire(), "internal: boom");
        let e = dispatch_handler(&Echo, "HttpServer.Other", &[])
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownOperation);
    }
}
