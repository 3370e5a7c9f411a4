//! Why a provider could not start, and why a link was refused. Messages name
//! the cause and never a secret or a config value.

use lattice_rpc::host_data::HostDataError;
use lattice_rpc::secret::SealError;

use crate::config::ConfigError;

/// Why a provider could not start.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The lattice NATS server could not be reached or refused a subscription.
    #[error("NATS unreachable at {url}: {reason}")]
    Nats {
        /// The URL, credentials removed.
        url: String,
        /// Why.
        reason: String,
    },
    /// The provider's own initialisation (its provider-wide config) failed.
    #[error("provider initialisation failed: {0}")]
    Init(#[from] ConfigError),
    /// Host data was unusable.
    #[error(transparent)]
    HostData(#[from] HostDataError),
}

/// Why a link put was refused; the previous link, if any, stays in place.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The message is not a link definition.
    #[error("not a link definition: {0}")]
    Decode(lattice_rpc::RpcError),
    /// The link names another provider.
    #[error("link names provider {named}, not {me}")]
    ForeignProvider {
        /// The provider the link names.
        named: String,
        /// This provider.
        me: String,
    },
    /// The link names another link name.
    #[error("link is for link name '{named}', this process serves '{served}'")]
    WrongLinkName {
        /// The link name the link names.
        named: String,
        /// The link name this process serves.
        served: String,
    },
    /// The link has no actor.
    #[error("link has no actor_id")]
    NoActor,
    /// The link carries sealed secrets and this provider has no xkey.
    #[error(
        "link carries sealed secrets but the provider has no xkey (provider_xkey_seed, host_xkey_public_key)"
    )]
    NoXkey,
    /// A sealed secret does not open, or is not text.
    #[error("secret {key:?}: {reason}")]
    Secret {
        /// The secret's name.
        key: String,
        /// Why it is unusable.
        reason: SecretReason,
    },
    /// The provider refused the values.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Why a sealed link secret is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SecretReason {
    /// It does not open with this provider's xkey and the host's.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// It opened to bytes that are not UTF-8.
    #[error("not UTF-8 text")]
    NotText,
}
