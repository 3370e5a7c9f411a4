//! The trait a secrets provider implements, on its per-link state.

use crate::error::SecretsError;
use crate::types::{GetRequest, GetResponse};

/// Reads secrets for the actors of one link (`Secrets.*`).
///
/// Methods return `impl Future + Send`, so an `impl` can use `async fn`.
/// [`crate::dispatch`] has already checked that `key` is not empty and that
/// `reply_xkey` is an xkey public key. The backend checks the link's
/// allow-list (deny by default) before asking its store anything, reads the
/// value, and seals it with [`crate::SecretValue::seal`].
pub trait SecretsBackend: Send + Sync + 'static {
    /// Reads `req.key` (one field, or all as a JSON object; one version, or
    /// the current one) for actor `actor_id`, and returns it sealed to
    /// `req.reply_xkey` with the version actually read.
    fn get(
        &self,
        req: GetRequest,
        actor_id: &str,
    ) -> impl Future<Output = Result<GetResponse, SecretsError>> + Send;
}
