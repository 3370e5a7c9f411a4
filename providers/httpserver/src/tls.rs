//! TLS: the certificate chain and key (PEM, from files or link values), and
//! the rustls server config built from them (`ring` provider, ALPN `h2` and
//! `http/1.1`).

use std::sync::Arc;

use provider_sdk::Secret;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::error::LinkError;

/// A certificate chain and its key, PEM. Compared by content, so links that
/// share a listener can be checked for the same TLS settings.
#[derive(PartialEq, Eq)]
pub struct TlsMaterial {
    cert_pem: Vec<u8>,
    key_pem: Secret<Vec<u8>>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

/// The TLS material of a link: PEM values win over files; both halves or
/// neither. `None`: plain HTTP.
pub fn load(
    cert_value: Option<&String>,
    key_value: Option<&String>,
    cert_file: Option<&str>,
    key_file: Option<&str>,
) -> Result<Option<TlsMaterial>, LinkError> {
    let read = |path: &str, what: &str| {
        std::fs::read(path)
            .map_err(|e| LinkError::Tls(format!("{what} {path:?} cannot be read: {e}")))
    };
    let non_empty = |v: Option<&String>| v.filter(|s| !s.trim().is_empty()).cloned();
    let cert = match (non_empty(cert_value), cert_file.filter(|p| !p.is_empty())) {
        (Some(pem), _) => Some(pem.into_bytes()),
        (None, Some(path)) => Some(read(path, "cert_file")?),
        (None, None) => None,
    };
    let key = match (non_empty(key_value), key_file.filter(|p| !p.is_empty())) {
        (Some(pem), _) => Some(pem.into_bytes()),
        (None, Some(path)) => Some(read(path, "priv_key_file")?),
        (None, None) => None,
    };
    let material = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert_pem), Some(key_pem)) => TlsMaterial {
            cert_pem,
            key_pem: Secret::new(key_pem),
        },
        (Some(_), None) => {
            return Err(LinkError::Tls(
                "a certificate is given without a key (tls_key or priv_key_file)".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(LinkError::Tls(
                "a key is given without a certificate (tls_cert or cert_file)".into(),
            ));
        }
    };
    // Validate now, so a bad certificate refuses the link.
    acceptor(&material)?;
    Ok(Some(material))
}

/// A TLS acceptor for `m`. Error messages never quote the key.
pub fn acceptor(m: &TlsMaterial) -> Result<TlsAcceptor, LinkError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&m.cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| LinkError::Tls(format!("the certificate is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(LinkError::Tls(
            "the certificate PEM holds no CERTIFICATE block".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(m.key_pem.expose())
        .map_err(|_| LinkError::Tls("the key is not a PEM private key".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LinkError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| LinkError::Tls(format!("certificate and key do not make a pair: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_a_pair_or_garbage_is_refused_without_quoting_the_key() {
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string();
        let key = "not a key but hunter2".to_string();
        assert!(load(Some(&cert), None, None, None).is_err());
        assert!(load(None, Some(&key), None, None).is_err());
        let err = load(Some(&cert), Some(&key), None, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("TLS:"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(matches!(load(None, None, None, None), Ok(None)));
        let err = load(
            None,
            None,
            Some("/nonexistent/cert.pem"),
            Some("/nonexistent/key.pem"),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("cert_file"), "{err}");
    }
}
