//! Commands to one `lattice up` host from any `lattice` process: stop and
//! replace the instances it supervises.
//!
//! A command is a NATS request on `lattice.ctl.{prefix}.{host_id}.{verb}`
//! with a JSON body, authenticated like a control message of the contract
//! (section 6b): a `Lattice-Claims` header, HS256 under a key derived from
//! the lattice key for that host, binding subject and body. The host acts
//! only on commands that verify, and answers a JSON [`Reply`].

use std::time::Duration;

use anyhow::{Context, Result, bail};
use lattice_rpc::claims::{LatticeKey, MacCheck, MacKey, Verifier, sign_control};
use lattice_rpc::control::CLAIMS_HEADER;
use serde::{Deserialize, Serialize};

use lattice_host::keys::Keys;

/// `stop`: stop every instance of a provider this host runs, and do not restart it.
pub const STOP: &str = "stop";
/// `replace`: start new instances of a provider, then drain the old ones.
pub const REPLACE: &str = "replace";

/// The subject of `verb` for host `host_id` of lattice `prefix`.
pub fn subject(prefix: &str, host_id: &str, verb: &str) -> String {
    format!("lattice.ctl.{prefix}.{host_id}.{verb}")
}

/// The key that authenticates commands to `host_id`.
pub fn host_key(lattice: &LatticeKey, host_id: &str) -> MacKey {
    MacKey::from_bytes(lattice.derive(&format!("lattice-host-ctl-v1:{host_id}")))
}

/// A command's body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// The provider's name.
    pub name: String,
    /// How long old instances may drain, milliseconds.
    #[serde(default = "default_drain")]
    pub drain_ms: u64,
    /// `replace`: the binary new instances run (a path on the host's machine).
    #[serde(default)]
    pub binary: Option<String>,
    /// `replace` of a component: the `.wasm` new instances run (a path on
    /// the host's machine).
    #[serde(default)]
    pub wasm: Option<String>,
}

fn default_drain() -> u64 {
    5000
}

/// One instance a command touched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Touched {
    /// Its instance id.
    pub instance_id: String,
    /// Its process id on the host.
    pub pid: u32,
}

/// A host's answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the command was carried out.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Instances stopped (`stop`) or drained (`replace`).
    #[serde(default)]
    pub stopped: Vec<Touched>,
    /// Instances started (`replace`).
    #[serde(default)]
    pub started: Vec<Touched>,
}

impl Reply {
    /// A refusal.
    pub fn refused(error: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(error.into()),
            ..Self::default()
        }
    }
}

/// Sends `verb` to host `host_id` and waits for its answer (at most `timeout`).
pub async fn send(
    nats: &async_nats::Client,
    keys: &Keys,
    prefix: &str,
    host_id: &str,
    verb: &str,
    req: &Request,
    timeout: Duration,
) -> Result<Reply> {
    let subject = subject(prefix, host_id, verb);
    let body = serde_json::to_vec(req).context("encoding the command")?;
    let token = sign_control(
        &subject,
        &body,
        &keys.cluster.public_key(),
        &host_key(&keys.lattice, host_id),
    );
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(CLAIMS_HEADER, token.as_str());
    let request = async_nats::Request::new()
        .headers(headers)
        .payload(body.into())
        .timeout(Some(timeout));
    let msg = match nats.send_request(subject.clone(), request).await {
        Ok(m) => m,
        Err(e) => match e.kind() {
            async_nats::RequestErrorKind::NoResponders => bail!(
                "host {host_id} does not answer on {subject}: its `lattice up` is not running"
            ),
            async_nats::RequestErrorKind::TimedOut => {
                bail!("host {host_id} did not answer within {timeout:?}")
            }
            _ => bail!("cannot reach host {host_id}: {e}"),
        },
    };
    serde_json::from_slice(&msg.payload)
        .with_context(|| format!("host {host_id} answered something that is not a reply"))
}

/// Checks commands sent to one host.
pub struct Gate {
    verifier: Verifier,
}

impl Gate {
    /// The gate of host `host_id`, trusting the lattice's cluster key.
    pub fn new(keys: &Keys, host_id: &str) -> Self {
        Self {
            verifier: Verifier::builder(host_id)
                .issuers(&[keys.cluster.public_key()])
                .mac(MacCheck::Own(host_key(&keys.lattice, host_id)))
                .require_mac(true)
                .build(),
        }
    }

    /// The command in `msg`, if its claims verify.
    pub fn check(&self, msg: &async_nats::Message) -> Result<Request, String> {
        let token = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(CLAIMS_HEADER))
            .map(|v| v.as_str());
        self.verifier
            .verify_control(token, msg.subject.as_str(), &msg.payload)
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&msg.payload).map_err(|e| format!("not a command: {e}"))
    }
}
