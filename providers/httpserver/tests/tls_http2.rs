#![allow(clippy::unwrap_used)]
//! TLS with a generated CA, verified by a real client that trusts only that
//! CA; HTTP/2 over TLS (ALPN) and h2c by prior knowledge.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{actor, free_addr, launch, wait_listening};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A CA, and a `localhost` / `127.0.0.1` certificate it signed.
struct Pki {
    ca: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Pki {
        ca: ca_cert.der().clone(),
        cert_pem: leaf.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn client(ca: &CertificateDer<'static>, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let mut c =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(c))
}

async fn tls(
    addr: &str,
    connector: &TlsConnector,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

fn request(uri: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
    Request::builder()
        .method("POST")
        .uri(uri)
        .header("host", "localhost")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}

#[tokio::test]
async fn tls_from_a_sealed_key_serves_http2_and_http1_by_alpn() {
    let l = launch().await;
    let pki = pki();
    let addr = free_addr();
    let mut a = actor(&l.host, "tls", Duration::ZERO).await;
    let mut ld = l.host.link(
        &l.pref,
        &a.key,
        &[("address", &addr), ("tls_cert", &pki.cert_pem)],
    );
    ld.secrets.insert(
        "tls_key".into(),
        l.host.seal_for(&l.hd, &pki.key_pem).unwrap(),
    );
    let ack = l.host.put_link(&l.pref, &ld).await.unwrap();
    assert!(ack.accepted, "{:?}", ack.error);
    wait_listening(&addr).await;

    // h2, negotiated by ALPN.
    let stream = tls(&addr, &client(&pki.ca, &[b"h2"])).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    for i in 0..3 {
        let resp = send
            .send_request(request(
                &format!("https://localhost/h2/{i}?x=1"),
                b"over h2",
            ))
            .await
            .unwrap();
        assert_eq!(resp.version(), Version::HTTP_2);
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"tls:over h2");
        let seen = a.seen.recv().await.unwrap();
        assert_eq!(
            (seen.path.as_str(), seen.query_string.as_str()),
            (format!("/h2/{i}").as_str(), "x=1")
        );
        assert!(seen.header.contains_key("host"));
    }

    // HTTP/1.1 over TLS on the same listener.
    let stream = tls(&addr, &client(&pki.ca, &[b"http/1.1"])).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = send.send_request(request("/h1", b"over h1")).await.unwrap();
    assert_eq!(
        (resp.version(), resp.status().as_u16()),
        (Version::HTTP_11, 200)
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"tls:over h1");

    // A client that trusts another CA refuses the certificate.
    let other = pki_other_ca();
    assert!(tls(&addr, &client(&other, &[b"h2"])).await.is_err());
}

fn pki_other_ca() -> CertificateDer<'static> {
    pki().ca
}

#[tokio::test]
async fn archived_nested_tls_files_in_config_json_work() {
    let l = launch().await;
    let pki = pki();
    let dir = std::env::temp_dir().join(format!("httpserver-tls-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    let addr = free_addr();
    let json = serde_json::json!({
        "address": addr,
        "tls": {"cert_file": cert, "priv_key_file": key},
    })
    .to_string();
    let a = actor(&l.host, "files", Duration::ZERO).await;
    l.host
        .link_actor(&l.pref, &a.key, &[("config_json", &json)])
        .await
        .unwrap();
    wait_listening(&addr).await;
    let stream = tls(&addr, &client(&pki.ca, &[b"h2", b"http/1.1"]))
        .await
        .unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let resp = send
        .send_request(request("https://localhost/f", b"x"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let _ = std::fs::remove_dir_all(&dir);

    // A plain-HTTP client on a TLS listener gets no HTTP answer, and the provider stays up.
    let r = lattice_fixtures::http1::request(&addr, "GET", "/", &[], b"").await;
    assert!(r.is_err() || r.is_ok_and(|r| r.status != 200));
    assert!(l.host.health(&l.pref).await.unwrap().healthy);
}

fn uuid_like() -> String {
    lattice_conformance::host::new_actor()
}

#[tokio::test]
async fn h2c_prior_knowledge_works_on_a_plain_listener() {
    let l = launch().await;
    let addr = free_addr();
    let a = actor(&l.host, "h2c", Duration::ZERO).await;
    l.host
        .link_actor(&l.pref, &a.key, &[("address", &addr)])
        .await
        .unwrap();
    wait_listening(&addr).await;
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut pending = Vec::new();
    for i in 0..20 {
        let mut send = send.clone();
        pending.push(tokio::spawn(async move {
            send.send_request(request(&format!("http://localhost/s/{i}"), b"multiplexed"))
                .await
        }));
    }
    for p in pending {
        let resp = p.await.unwrap().unwrap();
        assert_eq!(
            (resp.version(), resp.status().as_u16()),
            (Version::HTTP_2, 200)
        );
    }
    let resp = send
        .send_request(request("http://localhost/last", b"z"))
        .await
        .unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"h2c:z");
}
