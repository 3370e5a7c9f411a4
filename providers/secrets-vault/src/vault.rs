//! A small Vault HTTP client on the workspace's hyper 1 + tokio-rustls (ring):
//! HTTP/1.1 connections kept in a small idle pool, one timeout per request,
//! and the KV v2 read and `sys/health` calls. Token calls are in `auth.rs`.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use provider_sdk::Secret;
use rustls_pki_types::ServerName;
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::Endpoint;
use crate::error::VaultError;

/// Idle connections kept per Vault endpoint: at least the calls a provider
/// has in flight at once under load, so that a steady load reuses its
/// connections instead of opening one per call (measured: with 32 kept, 64
/// calls in flight left thousands of sockets in TIME_WAIT).
const MAX_IDLE: usize = 256;

/// One Vault server, as one link (or the provider) reaches it.
pub struct VaultClient {
    endpoint: Endpoint,
    host_header: HeaderValue,
    namespace: Option<HeaderValue>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

/// A response: status and body.
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The body (may hold secrets: never log it).
    pub body: Secret<Bytes>,
}

impl Response {
    /// The body as JSON, or `Malformed`.
    pub fn json(&self) -> Result<serde_json::Value, VaultError> {
        serde_json::from_slice(self.body.expose())
            .map_err(|_| VaultError::Malformed("body is not JSON".into()))
    }

    /// `Ok(self)` for a 2xx status, else the status as an error.
    pub fn success(self) -> Result<Self, VaultError> {
        match self.status {
            200..=299 => Ok(self),
            status => Err(VaultError::Status { status }),
        }
    }
}

/// A KV v2 secret as read: its fields and version.
pub struct KvSecret {
    /// The secret's fields.
    pub data: Secret<serde_json::Map<String, serde_json::Value>>,
    /// The version read.
    pub version: u64,
}

fn tls_config(ca_file: Option<&str>) -> Result<rustls::ClientConfig, VaultError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| VaultError::Setup(format!("ca_file {path:?}: {e}")))?
            {
                let cert = cert.map_err(|e| VaultError::Setup(format!("ca_file {path:?}: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| VaultError::Setup(format!("ca_file {path:?}: {e}")))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    if roots.is_empty() {
        return Err(VaultError::Setup(
            "no CA certificate to verify Vault's TLS certificate with".into(),
        ));
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| VaultError::Setup(format!("TLS: {e}")))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

/// Percent-encodes each `/`-separated segment of a path.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn handshake<S>(io: S) -> Result<SendRequest<Full<Bytes>>, VaultError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| VaultError::Unreachable(format!("HTTP handshake: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "Vault connection closed");
        }
    });
    Ok(sender)
}

impl VaultClient {
    /// A client for `endpoint`; fails when TLS cannot be set up.
    pub fn new(endpoint: Endpoint) -> Result<Self, VaultError> {
        let tls = if endpoint.tls {
            let config = tls_config(endpoint.ca_file.as_deref())?;
            let name = ServerName::try_from(endpoint.host.clone())
                .map_err(|_| VaultError::Setup("addr's host is not a valid TLS name".into()))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        let host = if endpoint.host.contains(':') {
            format!("[{}]:{}", endpoint.host, endpoint.port)
        } else {
            format!("{}:{}", endpoint.host, endpoint.port)
        };
        let bad = |what: &str| VaultError::Setup(format!("{what} is not a valid header value"));
        Ok(Self {
            host_header: HeaderValue::from_str(&host).map_err(|_| bad("addr"))?,
            namespace: endpoint
                .namespace
                .as_deref()
                .map(HeaderValue::from_str)
                .transpose()
                .map_err(|_| bad("namespace"))?,
            tls,
            endpoint,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// `host:port`, for logs and health messages.
    pub fn addr(&self) -> String {
        self.host_header.to_str().unwrap_or_default().to_string()
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, VaultError> {
        let tcp = TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port))
            .await
            .map_err(|e| VaultError::Unreachable(format!("connecting: {}", e.kind())))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(tcp).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| VaultError::Unreachable(format!("TLS handshake: {e}")))?;
                handshake(tls).await
            }
        }
    }

    fn pooled(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // A connection whose last answer was just read may not be ready yet
        // (hyper's connection task has not run): `send` waits for it, so only
        // closed ones are dropped.
        while let Some(s) = idle.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn release(&self, sender: SendRequest<Full<Bytes>>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE && !sender.is_closed() {
            idle.push(sender);
        }
    }

    /// Calls `method` on `/v1/{path_and_query}` with `token` and a JSON body,
    /// within the endpoint's timeout.
    pub async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        token: Option<&Secret<String>>,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, VaultError> {
        self.call(method, path_and_query, token, body, true).await
    }

    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        token: Option<&Secret<String>>,
        body: Option<&serde_json::Value>,
        namespaced: bool,
    ) -> Result<Response, VaultError> {
        let body = match body {
            Some(v) => Bytes::from(
                serde_json::to_vec(v).map_err(|e| VaultError::Setup(format!("encoding: {e}")))?,
            ),
            None => Bytes::new(),
        };
        let uri = format!("/v1/{path_and_query}");
        let attempt = async {
            // A pooled connection may have been closed by Vault meanwhile: one
            // retry on a fresh connection.
            if let Some(sender) = self.pooled()
                && let Ok(r) = self
                    .send(sender, &method, &uri, token, body.clone(), namespaced)
                    .await
            {
                return Ok(r);
            }
            let sender = self.connect().await?;
            self.send(sender, &method, &uri, token, body.clone(), namespaced)
                .await
        };
        tokio::time::timeout(self.endpoint.timeout, attempt)
            .await
            .map_err(|_| VaultError::Unreachable("no answer within timeout_ms".into()))?
    }

    async fn send(
        &self,
        mut sender: SendRequest<Full<Bytes>>,
        method: &Method,
        uri: &str,
        token: Option<&Secret<String>>,
        body: Bytes,
        namespaced: bool,
    ) -> Result<Response, VaultError> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(HOST, self.host_header.clone())
            .header("x-vault-request", "true");
        if let Some(ns) = self.namespace.as_ref().filter(|_| namespaced) {
            req = req.header("x-vault-namespace", ns.clone());
        }
        if let Some(token) = token {
            let mut v = HeaderValue::from_str(token.expose())
                .map_err(|_| VaultError::Setup("the token is not a valid header value".into()))?;
            v.set_sensitive(true);
            req = req.header("x-vault-token", v);
        }
        if !body.is_empty() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| VaultError::Setup(format!("request: {e}")))?;
        sender
            .ready()
            .await
            .map_err(|e| VaultError::Unreachable(format!("connection: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| VaultError::Unreachable(format!("request: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| VaultError::Unreachable(format!("reading the answer: {e}")))?
            .to_bytes();
        self.release(sender);
        Ok(Response {
            status,
            body: Secret::new(body),
        })
    }

    /// Reads `key` (one `version`, or the current one) from KV v2 `mount`.
    /// A missing, deleted or destroyed secret or version is HTTP 404.
    pub async fn kv_read(
        &self,
        token: &Secret<String>,
        mount: &str,
        key: &str,
        version: Option<u64>,
    ) -> Result<KvSecret, VaultError> {
        let mut path = format!("{}/data/{}", encode_path(mount), encode_path(key));
        if let Some(v) = version {
            path.push_str(&format!("?version={v}"));
        }
        let resp = self
            .request(Method::GET, &path, Some(token), None)
            .await?
            .success()?;
        let mut json = resp.json()?;
        let version = json["data"]["metadata"]["version"]
            .as_u64()
            .ok_or_else(|| VaultError::Malformed("no data.metadata.version".into()))?;
        match json["data"]["data"].take() {
            serde_json::Value::Object(data) => Ok(KvSecret {
                data: Secret::new(data),
                version,
            }),
            // A deleted or destroyed version: metadata without data.
            serde_json::Value::Null => Err(VaultError::Status { status: 404 }),
            _ => Err(VaultError::Malformed("data.data is not an object".into())),
        }
    }

    /// `sys/health` (root namespace only): Ok when Vault is initialised,
    /// unsealed and active or a standby.
    pub async fn health(&self) -> Result<(), VaultError> {
        let path = "sys/health?standbyok=true&perfstandbyok=true";
        let r = self.call(Method::GET, path, None, None, false).await?;
        match r.status {
            200 | 429 | 472 | 473 => Ok(()),
            status => Err(VaultError::Status { status }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_encoded_per_segment() {
        assert_eq!(encode_path("app/db-1_x.y~"), "app/db-1_x.y~");
        assert_eq!(encode_path("a b/c?d#e"), "a%20b/c%3Fd%23e");
        assert_eq!(encode_path("é"), "%C3%A9");
    }
}
