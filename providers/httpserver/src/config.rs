//! Link configuration: one serde struct, filled by the SDK's one parser from
//! the link values (keys case-insensitive), and from JSON settings given in
//! `config_json`, `config_b64` or `config_file` (the archived wasmCloud
//! httpserver's forms, nested `tls` and `cors` objects included).
//!
//! Precedence, highest first: a value of its own, `config_json`,
//! `config_b64`, `config_file`, the default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use provider_sdk::config::from_json;
use provider_sdk::{ConfigError, Secret};
use serde::Deserialize;

use crate::cors::{Cors, CorsSettings};
use crate::error::LinkError;
use crate::tls::{self, TlsMaterial};

/// Where a link listens when it names no address or port: loopback only.
pub const DEFAULT_ADDRESS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000);
/// Largest request body accepted when `max_content_len` is not given: 10 MiB.
pub const DEFAULT_MAX_CONTENT_LEN: u64 = 10 * 1024 * 1024;
const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_MAX_HEADERS: usize = 100;
const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// hyper's smallest read buffer; headers larger than this are always accepted.
const MIN_HEADER_BYTES: usize = 8192;

/// The values of one link (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HttpLink {
    /// Socket address to listen on, `IP:PORT` (`127.0.0.1:8080`, `[::1]:8080`);
    /// default `127.0.0.1:8000`. Several links may share an address.
    pub address: Option<String>,
    /// Port to listen on: alone, `127.0.0.1:PORT`; with `address`, replaces its port.
    pub port: Option<u16>,
    /// Settings as JSON text: any key of this table, plus the archived
    /// nested `tls` and `cors` objects.
    pub config_json: Option<String>,
    /// The same JSON, standard base64 (what the archived 0.x harness sends).
    pub config_b64: Option<String>,
    /// Path of a file holding the same JSON.
    pub config_file: Option<String>,
    /// Path prefix this link's actor serves, default `/`; the longest
    /// matching prefix wins (`/api` serves `/api` and `/api/…`, not `/apix`).
    pub path_prefix: Option<String>,
    /// Serve only requests whose `Host` (port ignored) is this name; a route
    /// with a host wins over one without.
    pub host: Option<String>,
    /// Path of the PEM certificate chain; with `priv_key_file` turns TLS on.
    pub cert_file: Option<String>,
    /// Path of the PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub priv_key_file: Option<String>,
    /// PEM certificate chain as a value (or sealed secret); wins over `cert_file`.
    pub tls_cert: Option<Secret<String>>,
    /// PEM private key as a sealed secret; wins over `priv_key_file`.
    pub tls_key: Option<Secret<String>>,
    /// Archived form: `{"cert_file": …, "priv_key_file": …}`.
    pub tls: Option<ArchivedTls>,
    /// Origins allowed by CORS (`https://app.example`, or `*` for any);
    /// empty: CORS off, OPTIONS requests go to the actor.
    pub allowed_origins: Option<Vec<String>>,
    /// Request headers a preflight allows, default
    /// `accept, accept-language, content-type, content-language`.
    pub allowed_headers: Option<Vec<String>>,
    /// Methods a preflight allows, default `GET, POST, PUT, DELETE, HEAD, OPTIONS, PATCH`.
    pub allowed_methods: Option<Vec<String>>,
    /// Response headers exposed to the browser (`access-control-expose-headers`).
    pub exposed_headers: Option<Vec<String>>,
    /// How long a browser may cache a preflight, seconds (default 300).
    pub max_age_secs: Option<u64>,
    /// Archived form: `{"allowed_origins": […], "allowed_headers": […], …}`.
    pub cors: Option<CorsSettings>,
    /// Largest request body: `512`, `1K`, `20M`, `1G` (powers of 1024);
    /// default `10M`. Larger bodies are answered 413 without being read.
    pub max_content_len: Option<String>,
    /// `cache-control` header added to responses that have none.
    pub cache_control: Option<String>,
    /// Only `GET`, `HEAD` and `OPTIONS` pass; other methods get 405.
    pub readonly_mode: Option<bool>,
    /// How long the actor may take, milliseconds; then 504. Default: the
    /// host's `default_rpc_timeout_ms` (2000).
    pub timeout_ms: Option<u64>,
    /// How long a client may take to send a request's headers (and the TLS
    /// handshake), milliseconds, default 10 000; then the connection closes.
    pub header_read_timeout_ms: Option<u64>,
    /// Most request headers per request, default 100; more get 431.
    pub max_headers: Option<usize>,
    /// Largest request head in bytes, default 16384 (at least 8192); more gets 431.
    pub max_header_bytes: Option<usize>,
}

/// The archived nested TLS object.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ArchivedTls {
    /// Path of the PEM certificate chain.
    pub cert_file: Option<String>,
    /// Path of the PEM private key.
    pub priv_key_file: Option<String>,
}

/// One link, validated.
#[derive(Debug)]
pub struct LinkSettings {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Settings of the listener (shared by every route on `addr`).
    pub listener: ListenerSettings,
    /// Settings of this link's route.
    pub route: RouteSettings,
}

/// Settings every route of one listener shares.
#[derive(Debug, PartialEq)]
pub struct ListenerSettings {
    /// TLS certificate and key, when TLS is on.
    pub tls: Option<TlsMaterial>,
    /// Time allowed for a request head (and the TLS handshake).
    pub header_read_timeout: Duration,
    /// Most headers per request.
    pub max_headers: usize,
    /// Largest request head.
    pub max_header_bytes: usize,
}

/// Settings of one route.
#[derive(Debug)]
pub struct RouteSettings {
    /// `Host` to match (lowercase), or any.
    pub host: Option<String>,
    /// Path prefix, starting with `/`, no trailing `/` except for the root.
    pub path_prefix: String,
    /// CORS policy.
    pub cors: Cors,
    /// Largest body.
    pub max_content_len: u64,
    /// `cache-control` to add.
    pub cache_control: Option<hyper::header::HeaderValue>,
    /// Only safe methods.
    pub readonly: bool,
    /// Actor deadline (`None`: the host's default).
    pub timeout: Option<Duration>,
}

macro_rules! merge_fields {
    ($dst:ident, $src:ident; $($f:ident),* $(,)?) => {
        $( if $dst.$f.is_none() { $dst.$f = $src.$f; } )*
    };
}

impl HttpLink {
    /// Fills unset fields from `lower` (settings of lower precedence).
    fn merge(mut self, lower: HttpLink) -> HttpLink {
        merge_fields!(self, lower; address, port, path_prefix, host, cert_file, priv_key_file,
            tls_cert, tls_key, tls, allowed_origins, allowed_headers, allowed_methods,
            exposed_headers, max_age_secs, cors, max_content_len, cache_control, readonly_mode,
            timeout_ms, header_read_timeout_ms, max_headers, max_header_bytes);
        self
    }

    /// Merges the JSON settings in, then validates everything.
    pub fn resolve(self) -> Result<LinkSettings, LinkError> {
        let mut all = self.clone();
        if let Some(json) = self.config_json.as_deref() {
            all = all.merge(nested(json, "config_json")?);
        }
        if let Some(b64) = self.config_b64.as_deref() {
            use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
            let b64 = b64.trim();
            let bytes = STANDARD
                .decode(b64)
                .or_else(|_| STANDARD_NO_PAD.decode(b64))
                .or_else(|_| URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')))
                .map_err(|_| ConfigError::invalid("config_b64", "not valid base64"))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| ConfigError::invalid("config_b64", "not UTF-8 JSON"))?;
            all = all.merge(nested(&text, "config_b64")?);
        }
        if let Some(path) = self.config_file.as_deref() {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::invalid("config_file", format!("{path:?} cannot be read: {e}"))
            })?;
            all = all.merge(nested(&text, "config_file")?);
        }
        all.validate()
    }

    fn validate(self) -> Result<LinkSettings, LinkError> {
        let bad = |key: &str, why: String| LinkError::Config(ConfigError::invalid(key, why));
        let mut addr = match self.address.as_deref().map(str::trim) {
            Some(a) if !a.is_empty() => a.parse::<SocketAddr>().map_err(|_| {
                bad(
                    "address",
                    format!("{a:?} is not IP:PORT (e.g. 127.0.0.1:8080)"),
                )
            })?,
            _ => DEFAULT_ADDRESS,
        };
        if let Some(port) = self.port {
            addr.set_port(port);
        }
        let tls_files = self.tls.unwrap_or_default();
        let cert_file = self.cert_file.or(tls_files.cert_file);
        let key_file = self.priv_key_file.or(tls_files.priv_key_file);
        let tls = tls::load(
            self.tls_cert.as_ref().map(Secret::expose),
            self.tls_key.as_ref().map(Secret::expose),
            cert_file.as_deref(),
            key_file.as_deref(),
        )?;
        let cors_nested = self.cors.unwrap_or_default();
        let cors = Cors::new(
            CorsSettings {
                allowed_origins: self.allowed_origins.or(cors_nested.allowed_origins),
                allowed_headers: self.allowed_headers.or(cors_nested.allowed_headers),
                allowed_methods: self.allowed_methods.or(cors_nested.allowed_methods),
                exposed_headers: self.exposed_headers.or(cors_nested.exposed_headers),
                max_age_secs: self.max_age_secs.or(cors_nested.max_age_secs),
            },
            self.readonly_mode.unwrap_or(false),
        )
        .map_err(|why| bad("cors", why))?;
        let max_content_len = match self.max_content_len.as_deref() {
            Some(s) => parse_size(s).ok_or_else(|| {
                bad(
                    "max_content_len",
                    "must be a size like 512, 1K, 20M or 1G".into(),
                )
            })?,
            None => DEFAULT_MAX_CONTENT_LEN,
        };
        let cache_control = match self.cache_control.as_deref().map(str::trim) {
            Some(c) if !c.is_empty() => Some(
                hyper::header::HeaderValue::from_str(c)
                    .map_err(|_| bad("cache_control", "not a valid header value".into()))?,
            ),
            _ => None,
        };
        let path_prefix = normalize_prefix(self.path_prefix.as_deref().unwrap_or("/"))
            .ok_or_else(|| bad("path_prefix", "must start with '/'".into()))?;
        let host = match self.host.as_deref().map(str::trim) {
            Some(h) if !h.is_empty() => Some(h.to_ascii_lowercase()),
            _ => None,
        };
        let nonzero = |v: Option<u64>, name: &str| match v {
            Some(0) => Err(bad(name, "must be at least 1".into())),
            other => Ok(other.map(Duration::from_millis)),
        };
        Ok(LinkSettings {
            addr,
            listener: ListenerSettings {
                tls,
                header_read_timeout: nonzero(
                    self.header_read_timeout_ms,
                    "header_read_timeout_ms",
                )?
                .unwrap_or(Duration::from_millis(DEFAULT_HEADER_READ_TIMEOUT_MS)),
                max_headers: self.max_headers.unwrap_or(DEFAULT_MAX_HEADERS).max(1),
                max_header_bytes: self
                    .max_header_bytes
                    .unwrap_or(DEFAULT_MAX_HEADER_BYTES)
                    .max(MIN_HEADER_BYTES),
            },
            route: RouteSettings {
                host,
                path_prefix,
                cors,
                max_content_len,
                cache_control,
                readonly: self.readonly_mode.unwrap_or(false),
                timeout: nonzero(self.timeout_ms, "timeout_ms")?,
            },
        })
    }
}

/// Settings from JSON text; the config_* keys inside are ignored.
fn nested(text: &str, what: &str) -> Result<HttpLink, LinkError> {
    let parsed = from_json::<HttpLink>(what, text)?.warn_unknown(what);
    Ok(HttpLink {
        config_json: None,
        config_b64: None,
        config_file: None,
        ..parsed
    })
}

/// `512`, `1K`, `20M`, `1G` (optionally `KB`/`MB`/`GB`), powers of 1024.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_uppercase();
    let s = s.strip_suffix('B').filter(|r| !r.is_empty()).unwrap_or(&s);
    let (digits, mult) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1u64 << 10),
        'M' => (&s[..s.len() - 1], 1 << 20),
        'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// `/api/` → `/api`, `` → `/`; `None` when it does not start with `/`.
fn normalize_prefix(p: &str) -> Option<String> {
    let p = p.trim();
    if p.is_empty() {
        return Some("/".into());
    }
    if !p.starts_with('/') {
        return None;
    }
    let trimmed = p.trim_end_matches('/');
    Some(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
