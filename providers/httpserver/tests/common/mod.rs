//! What every httpserver test shares: a host, the provider launched by it,
//! actors served in-process, and waiting for a port to open or close.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use httpserver_interface::{HttpRequest, HttpResponse};
use lattice_conformance::host::{ActorHandle, Host, ProviderProcess, ProviderRef};
use provider_sdk::{HostData, RpcError};
use tokio::sync::mpsc;

/// A host and the provider it launched.
pub struct Launched {
    pub host: Arc<Host>,
    pub pref: ProviderRef,
    pub proc: ProviderProcess,
    pub hd: HostData,
}

pub async fn launch() -> Launched {
    let host = Arc::new(lattice_conformance::test_host().await.unwrap());
    let hd = host.host_data("default");
    let pref = ProviderRef::new(
        &hd.provider_key,
        "default",
        httpserver_interface::CONTRACT_ID,
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_httpserver"));
    let proc = host.launch(bin, hd.clone()).await.unwrap();
    Launched {
        host,
        pref,
        proc,
        hd,
    }
}

/// A served actor answering `200 {tag}` with `x-actor: {tag}` after `delay`;
/// requests it receives arrive on the receiver.
pub struct Actor {
    pub key: String,
    pub seen: mpsc::UnboundedReceiver<HttpRequest>,
    _handle: ActorHandle,
}

pub async fn actor(host: &Host, tag: &str, delay: Duration) -> Actor {
    let key = lattice_conformance::host::new_actor();
    let (tx, seen) = mpsc::unbounded_channel();
    let tag = tag.to_string();
    let handle = host
        .serve_actor(
            &key,
            move |_inv: provider_sdk::rpc::Invocation, body: Vec<u8>| {
                let (tx, tag) = (tx.clone(), tag.clone());
                async move {
                    let req: HttpRequest = provider_sdk::rpc::wire::deserialize(&body)?;
                    let _ = tx.send(req.clone());
                    tokio::time::sleep(delay).await;
                    let resp =
                        HttpResponse::ok([tag.as_bytes(), b":", req.body.as_slice()].concat())
                            .with_header("x-actor", tag);
                    provider_sdk::rpc::wire::serialize(&resp).map_err(|e: RpcError| e)
                }
            },
        )
        .await
        .unwrap();
    Actor {
        key,
        seen,
        _handle: handle,
    }
}

pub fn free_addr() -> String {
    format!("127.0.0.1:{}", lattice_fixtures::free_port().unwrap())
}

pub async fn wait_listening(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// True when a connection to `addr` is refused.
pub async fn refused(addr: &str) -> bool {
    tokio::net::TcpStream::connect(addr).await.is_err()
}
