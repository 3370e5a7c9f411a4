//! What can go wrong on the host side. Messages name the subject, binary or
//! key at fault and never a seed or a link value.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use lattice_rpc::RpcError;

/// An error of the host library.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The lattice NATS could not be reached.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The URL, credentials removed.
        url: String,
        /// Why.
        reason: String,
    },
    /// A request on the lattice got no answer (nothing listening, or too slow).
    #[error("{what} on {subject}: {reason}")]
    NoAnswer {
        /// What was asked (`link put`, `health`, `shutdown`).
        what: &'static str,
        /// The subject it was sent on.
        subject: String,
        /// No responders, or the timeout.
        reason: String,
        /// Nothing was listening at all (as opposed to a slow answer).
        no_responders: bool,
    },
    /// The provider answered and refused.
    #[error("{what} refused: {reason}")]
    Refused {
        /// What was refused (`link put`).
        what: &'static str,
        /// The provider's reason.
        reason: String,
    },
    /// A NATS operation (subscribe, publish, JetStream) failed.
    #[error("NATS {what}: {reason}")]
    Nats {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A call failed with a contract error.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A key or seed is unusable.
    #[error("{what} is not a valid key")]
    Key {
        /// Which key.
        what: &'static str,
    },
    /// A provider binary could not be started.
    #[error("cannot start {}: {reason}", .binary.display())]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// Why.
        reason: String,
    },
    /// A provider exited before it answered health.
    #[error("{} exited during startup ({status}):\n{output}", .binary.display())]
    Exited {
        /// The binary.
        binary: PathBuf,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed.
        output: String,
    },
    /// A provider did not answer health in time.
    #[error("{} did not answer health within {within:?}:\n{output}", .binary.display())]
    NotReady {
        /// The binary.
        binary: PathBuf,
        /// How long the host waited.
        within: Duration,
        /// What it printed.
        output: String,
    },
    /// A process did not exit in time.
    #[error("process did not exit within {0:?}")]
    NoExit(Duration),
}

impl HostError {
    pub(crate) fn nats(what: &'static str, e: impl std::fmt::Display) -> Self {
        Self::Nats {
            what,
            reason: e.to_string(),
        }
    }
}

impl HostError {
    /// True when a request found nothing listening on its subject (no
    /// instance of the provider runs), as opposed to a slow or failed answer.
    pub fn is_no_responders(&self) -> bool {
        matches!(
            self,
            HostError::NoAnswer {
                no_responders: true,
                ..
            }
        )
    }
}
