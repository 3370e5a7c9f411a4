#![allow(clippy::unwrap_used, dead_code)]
//! The echo fixture shared by the end-to-end tests: the SDK's example
//! provider launched on a fresh lattice with one linked actor.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lattice_host::{Host, ProviderProcess, ProviderRef, new_actor};
use lattice_rpc::wire::{self, InvocationResponse};
use lattice_rpc::{ErrorCode, HostData, Invocation, RpcError, WasmCloudEntity};

pub const CONTRACT: &str = "example:echo";

pub struct Echo {
    pub host: Host,
    pub proc: ProviderProcess,
    pub pref: ProviderRef,
    pub actor: String,
}

/// Echo launched by a wasmbus 0.x style host (Ed25519 claims).
pub async fn echo_with(tweak: impl FnOnce(&mut HostData)) -> Echo {
    let host = lattice_conformance::test_host_ed25519().await.unwrap();
    echo_on(host, tweak).await
}

/// Echo launched by `host`.
pub async fn echo_on(host: Host, tweak: impl FnOnce(&mut HostData)) -> Echo {
    let mut hd = host.host_data("default");
    tweak(&mut hd);
    let pref = ProviderRef::new(&hd.provider_key, &hd.link_name, CONTRACT);
    let proc = host
        .launch(&lattice_fixtures::example("echo").unwrap(), hd)
        .await
        .unwrap();
    let actor = new_actor();
    host.link_actor(&pref, &actor, &[("prefix", "> ")])
        .await
        .unwrap();
    Echo {
        host,
        proc,
        pref,
        actor,
    }
}

pub async fn echo() -> Echo {
    echo_with(|_| {}).await
}

pub fn code(r: Result<Vec<u8>, RpcError>) -> ErrorCode {
    match r {
        Ok(body) => panic!("expected an error, got {} bytes", body.len()),
        Err(e) => e.code,
    }
}

pub async fn assert_healthy(e: &Echo) {
    let h = e.host.health(&e.pref).await.unwrap();
    assert!(h.healthy, "provider unhealthy: {:?}", h.message);
}

pub async fn signed(e: &Echo, op: &str, msg: &[u8]) -> Invocation {
    e.host
        .rpc()
        .prepare(
            WasmCloudEntity::actor(&e.actor),
            e.pref.entity(),
            op,
            msg.to_vec(),
            None,
        )
        .await
        .unwrap()
}

pub async fn publish_delays(e: &Echo, n: usize, ms: u32) -> async_nats::Subscriber {
    let nats = e.host.nats();
    let inbox = nats.new_inbox();
    let replies = nats.subscribe(inbox.clone()).await.unwrap();
    let subject =
        lattice_rpc::subjects::provider_rpc(e.host.lattice(), &e.pref.key, &e.pref.link_name);
    for _ in 0..n {
        let inv = signed(e, "Echo.Delay", &wire::serialize(&ms).unwrap()).await;
        nats.publish_with_reply(
            subject.clone(),
            inbox.clone(),
            wire::serialize(&inv).unwrap().into(),
        )
        .await
        .unwrap();
    }
    nats.flush().await.unwrap();
    replies
}

pub async fn collect(
    replies: &mut async_nats::Subscriber,
    n: usize,
    within: Duration,
) -> Vec<(Instant, Result<Vec<u8>, RpcError>)> {
    let mut out = Vec::new();
    let deadline = Instant::now() + within;
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(m)) = tokio::time::timeout(left, replies.next()).await else {
            panic!("only {} of {n} replies within {within:?}", out.len());
        };
        let resp: InvocationResponse = wire::deserialize(&m.payload).unwrap();
        let r = match resp.error {
            Some(err) => Err(RpcError::from_wire(&err)),
            None => Ok(resp.msg),
        };
        out.push((Instant::now(), r));
    }
    out
}
