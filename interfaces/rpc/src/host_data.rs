//! Host data: what a host tells a provider at launch (CONTRACT.md section 3).

use std::collections::HashMap;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::control::LinkDefinition;

/// The host id that switches control messages to JSON (the 0.x test harness).
pub const TEST_HOST_ID: &str = "_TEST_";

/// Extension: where and how to export OpenTelemetry data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OtelConfig {
    /// Collector endpoint.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `grpc` or `http`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// Export traces.
    #[serde(default)]
    pub traces: bool,
    /// Export metrics.
    #[serde(default)]
    pub metrics: bool,
    /// Fraction of traces sampled.
    #[serde(default)]
    pub sampler_ratio: Option<f64>,
}

/// Everything a provider is told at launch.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct HostData {
    /// Public key of the launching host.
    #[serde(default)]
    pub host_id: String,
    /// Lattice prefix.
    #[serde(default)]
    pub lattice_rpc_prefix: String,
    /// Link name this process serves.
    #[serde(default = "default_link_name")]
    pub link_name: String,
    /// NATS user JWT for the lattice connection (empty for none).
    #[serde(default)]
    pub lattice_rpc_user_jwt: String,
    /// NATS user seed for the lattice connection (empty for none).
    #[serde(default)]
    pub lattice_rpc_user_seed: String,
    /// Lattice NATS URL (`127.0.0.1:4222` or `nats://…`).
    #[serde(default)]
    pub lattice_rpc_url: String,
    /// This provider's public key (`V…`).
    #[serde(default)]
    pub provider_key: String,
    /// Seed the provider signs its own invocations with (empty: a throwaway key).
    #[serde(default)]
    pub invocation_seed: String,
    /// Environment values from the host.
    pub env_values: HashMap<String, String>,
    /// Id of this process (may be empty).
    #[serde(default)]
    pub instance_id: String,
    /// Links that exist at start.
    pub link_definitions: Vec<LinkDefinition>,
    /// Public keys trusted to sign invocations.
    pub cluster_issuers: Vec<String>,
    /// Provider-wide config as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_json: Option<String>,
    /// Default timeout for outgoing calls, milliseconds (2000 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_rpc_timeout_ms: Option<u64>,
    /// Emit JSON logs.
    #[serde(default)]
    pub structured_logging: bool,
    /// Log level (`info`, `debug`, …); `RUST_LOG` wins when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Extension: OpenTelemetry export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otel_config: Option<OtelConfig>,
    /// Extension: this provider's xkey seed, to open sealed link secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_xkey_seed: Option<String>,
    /// Extension: the host's xkey public key, the sender of sealed link secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_xkey_public_key: Option<String>,
    /// Extension: concurrent invocations before back-pressure (default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_inflight: Option<u32>,
    /// Extension: TLS CA file (PEM) for the lattice NATS connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lattice_tls_ca_file: Option<String>,
    /// Extension: tokio worker threads; absent or 0 runs a single-threaded runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_threads: Option<u32>,
    /// Extension: largest invocation body accepted, bytes (default 64 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
    /// Extension: how far in the past an invocation's `iat` may lie, and how
    /// long its `jti` is remembered against replay, seconds (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_window_secs: Option<u64>,
    /// Extension: this provider's HS256 key `K_p`, base64url of 32 bytes
    /// (section 6a). Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_mac_key: Option<String>,
    /// Extension: refuse Ed25519 claims, and control messages without
    /// `Lattice-Claims` (sections 6a, 6b). Needs `invocation_mac_key`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_mac: bool,
}

fn default_link_name() -> String {
    "default".to_string()
}

impl std::fmt::Debug for HostData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostData")
            .field("host_id", &self.host_id)
            .field("lattice_rpc_prefix", &self.lattice_rpc_prefix)
            .field("link_name", &self.link_name)
            .field("lattice_rpc_url", &self.lattice_rpc_url)
            .field("provider_key", &self.provider_key)
            .field("instance_id", &self.instance_id)
            .field("links", &self.link_definitions.len())
            .field("cluster_issuers", &self.cluster_issuers)
            .finish_non_exhaustive()
    }
}

/// Why host data could not be read. Messages never include seeds or values.
#[derive(Debug, thiserror::Error)]
pub enum HostDataError {
    /// Nothing arrived on stdin.
    #[error(
        "no host data on stdin (expected one line of base64 JSON; run with --help for standalone use)"
    )]
    Empty,
    /// The line is not base64.
    #[error("host data is not valid base64")]
    Base64,
    /// The decoded bytes are not the expected JSON.
    #[error("host data is not valid JSON host data: {0}")]
    Json(String),
    /// A field has an unusable value.
    #[error("host data field {field}: {reason}")]
    Invalid {
        /// The field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Reading stdin or a file failed.
    #[error("reading host data: {0}")]
    Io(String),
}

impl HostData {
    /// Parses the launch line: base64 (padded or not) of JSON, surrounding
    /// whitespace and a trailing CRLF ignored. A line starting with `{` is
    /// taken as the JSON itself. The result is [validated](HostData::validate).
    pub fn parse(line: &str) -> Result<HostData, HostDataError> {
        let hd = Self::parse_unchecked(line)?;
        hd.validate()?;
        Ok(hd)
    }

    /// [`HostData::parse`] without validation, for callers that fill in
    /// fields (from flags) before validating.
    pub fn parse_unchecked(line: &str) -> Result<HostData, HostDataError> {
        let line = line.trim();
        if line.is_empty() {
            return Err(HostDataError::Empty);
        }
        let json = if line.starts_with('{') {
            line.as_bytes().to_vec()
        } else {
            crate::codec::decode_base64(line).map_err(|_| HostDataError::Base64)?
        };
        // serde_json's messages name the field and position, and quote the
        // value: keep the first, drop the second.
        serde_json::from_slice(&json)
            .map_err(|e| HostDataError::Json(crate::codec::strip_quoted(&e.to_string())))
    }

    /// Encodes as the launch line (padded base64 of JSON, no newline).
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    /// Checks the fields a provider cannot run without.
    pub fn validate(&self) -> Result<(), HostDataError> {
        let invalid = |field, reason: &str| HostDataError::Invalid {
            field,
            reason: reason.to_string(),
        };
        if self.lattice_rpc_prefix.is_empty() {
            return Err(invalid("lattice_rpc_prefix", "must not be empty"));
        }
        if self.lattice_rpc_prefix.contains(['.', '*', '>', ' ']) {
            return Err(invalid(
                "lattice_rpc_prefix",
                "must not contain '.', '*', '>' or spaces",
            ));
        }
        if self.link_name.is_empty() || self.link_name.contains(['.', '*', '>', ' ']) {
            return Err(invalid(
                "link_name",
                "must be non-empty without '.', '*', '>' or spaces",
            ));
        }
        if !self.provider_key.starts_with('V')
            || nkeys::KeyPair::from_public_key(&self.provider_key).is_err()
        {
            return Err(invalid("provider_key", "not a provider public key (V…)"));
        }
        if !self.invocation_seed.is_empty()
            && nkeys::KeyPair::from_seed(&self.invocation_seed).is_err()
        {
            return Err(invalid("invocation_seed", "not a valid nkey seed"));
        }
        for issuer in &self.cluster_issuers {
            if nkeys::KeyPair::from_public_key(issuer).is_err() {
                return Err(HostDataError::Invalid {
                    field: "cluster_issuers",
                    reason: format!("{issuer:?} is not an nkey public key"),
                });
            }
        }
        if self.max_inflight == Some(0) {
            return Err(invalid("max_inflight", "must be at least 1"));
        }
        if let Some(seed) = &self.provider_xkey_seed
            && nkeys::XKey::from_seed(seed).is_err()
        {
            return Err(invalid("provider_xkey_seed", "not a valid xkey seed"));
        }
        match (&self.invocation_mac_key, self.require_mac) {
            (Some(key), _) => {
                if let Err(e) = crate::claims::MacKey::from_base64url(key) {
                    return Err(HostDataError::Invalid {
                        field: "invocation_mac_key",
                        reason: e.to_string(),
                    });
                }
            }
            (None, true) => {
                return Err(invalid(
                    "require_mac",
                    "needs invocation_mac_key (the provider would refuse every call)",
                ));
            }
            (None, false) => {}
        }
        Ok(())
    }

    /// True when control messages are JSON (`host_id` is `_TEST_`).
    pub fn test_mode(&self) -> bool {
        self.host_id == TEST_HOST_ID
    }

    /// The provider's HS256 key, when host data carries one (validated).
    pub fn mac_key(&self) -> Option<crate::claims::MacKey> {
        self.invocation_mac_key
            .as_deref()
            .and_then(|k| crate::claims::MacKey::from_base64url(k).ok())
    }

    /// The lattice NATS URL with a scheme.
    pub fn nats_url(&self) -> String {
        let url = if self.lattice_rpc_url.is_empty() {
            "127.0.0.1:4222"
        } else {
            self.lattice_rpc_url.as_str()
        };
        if url.contains("://") {
            url.to_string()
        } else {
            format!("nats://{url}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HostData {
        HostData {
            host_id: "NHOST".into(),
            lattice_rpc_prefix: "lat".into(),
            link_name: "default".into(),
            provider_key: nkeys::KeyPair::new_service().public_key(),
            ..HostData::default()
        }
    }

    #[test]
    fn parses_padded_unpadded_and_crlf_terminated_lines() {
        let line = sample().encode();
        assert!(line.ends_with('='), "sample should need padding: {line}");
        let unpadded = line.trim_end_matches('=');
        for l in [
            line.clone(),
            unpadded.to_string(),
            format!("{line}\r\n"),
            format!("{unpadded}\n"),
        ] {
            let hd = HostData::parse(&l).unwrap();
            assert_eq!(hd.lattice_rpc_prefix, "lat");
        }
    }

    #[test]
    fn garbage_and_missing_fields_are_clear_errors() {
        assert!(matches!(
            HostData::parse("not base64 !!"),
            Err(HostDataError::Base64)
        ));
        assert!(matches!(HostData::parse(""), Err(HostDataError::Empty)));
        // Valid base64 of JSON lacking the required `link_definitions`.
        let line = base64::engine::general_purpose::STANDARD
            .encode(br#"{"lattice_rpc_prefix":"x","env_values":{},"cluster_issuers":[]}"#);
        let err = HostData::parse(&line).unwrap_err().to_string();
        assert!(err.contains("link_definitions"), "{err}");
    }

    #[test]
    fn mac_key_must_decode_to_32_bytes_and_require_mac_needs_one() {
        let mut hd = sample();
        hd.require_mac = true;
        let err = hd.validate().unwrap_err().to_string();
        assert!(
            err.contains("require_mac") && err.contains("invocation_mac_key"),
            "{err}"
        );
        hd.invocation_mac_key = Some("AAAA".into());
        let err = hd.validate().unwrap_err().to_string();
        assert!(
            err.contains("invocation_mac_key") && err.contains("3 bytes"),
            "{err}"
        );
        hd.invocation_mac_key = Some("not base64 at all!".into());
        assert!(hd.validate().is_err());
        let key = crate::claims::LatticeKey::generate().provider_key(&hd.provider_key, "default");
        hd.invocation_mac_key = Some(key.to_base64url());
        hd.validate().unwrap();
        assert_eq!(hd.mac_key().unwrap().bytes(), key.bytes());
        // Written without padding, read with or without.
        hd.invocation_mac_key = Some(format!("{}=", key.to_base64url()));
        hd.validate().unwrap();
        // Absent `require_mac` reads as false, and false is not written.
        let json =
            String::from_utf8(crate::codec::decode_base64(&sample().encode()).unwrap()).unwrap();
        assert!(!json.contains("require_mac"), "{json}");
    }

    #[test]
    fn seeds_never_appear_in_debug() {
        let mut hd = sample();
        hd.lattice_rpc_user_seed = "SUSECRETSEED".into();
        hd.invocation_seed = "SCSECRETSEED".into();
        hd.invocation_mac_key = Some("MACKEYSECRET".into());
        let dbg = format!("{hd:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
    }
}
