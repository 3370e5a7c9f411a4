//! The trait an actor (or a test actor) implements to answer HTTP requests.

use lattice_rpc::RpcError;

use crate::types::{HttpRequest, HttpResponse};

/// Handles the HTTP requests a provider forwards (`HttpServer.HandleRequest`).
///
/// Methods return `impl Future + Send`, so an `impl` can use `async fn`. An
/// `Err` becomes the invocation's `error` (the provider answers the HTTP
/// client `500`); an [`crate::HttpError`] converts with `?`.
pub trait HttpHandler: Send + Sync + 'static {
    /// Answers one HTTP request.
    fn handle_request(
        &self,
        req: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, RpcError>> + Send;
}
