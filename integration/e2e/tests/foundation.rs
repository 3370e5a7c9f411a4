#![allow(clippy::unwrap_used)]
//! The lattice contract end to end, against the SDK's example provider (echo)
//! and a real NATS with JetStream: claims, envelopes, links, chunking, test
//! mode, calls to actors. Each test owns a fresh lattice.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use lattice_host::{Host, ProviderRef, new_actor};
use lattice_rpc::claims::{self, decode_jwt, encode_jwt};
use lattice_rpc::secret::SealedBytes;
use lattice_rpc::wire::{self, InvocationResponse};
use lattice_rpc::{ErrorCode, Invocation, RpcError, WasmCloudEntity};

#[tokio::test]
async fn linked_actor_call_round_trips_through_the_lattice() {
    let e = echo().await;
    let out = e
        .host
        .call(&e.pref, &e.actor, "Echo.Echo", b"hi".to_vec())
        .await
        .unwrap();
    assert_eq!(out, b"> hi");
}

#[tokio::test]
async fn unlinked_actor_gets_not_linked_and_deleted_link_stops_serving() {
    let e = echo().await;
    let stranger = new_actor();
    let err = e
        .host
        .call(&e.pref, &stranger, "Echo.Echo", b"x".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotLinked);
    assert!(err.message.contains(&stranger), "{err}");

    let ack = e.host.del_link(&e.pref, &e.actor).await.unwrap();
    assert!(ack.accepted);
    let r = e.host.call(&e.pref, &e.actor, "Echo.Echo", vec![]).await;
    assert_eq!(code(r), ErrorCode::NotLinked);
}

/// A correctly signed invocation from the echo fixture's actor, before tampering.
#[tokio::test]
async fn forged_claims_are_unauthorized_and_the_provider_stays_up() {
    let e = echo().await;
    let cluster = || nkeys::KeyPair::from_seed(&e.host.cluster_key().seed().unwrap()).unwrap();
    let signer = claims::Signer::ed25519(cluster());
    let key = claims::SigningKey::Ed25519(Box::new(cluster()));

    // Tampered body.
    let mut inv = signed(&e, "Echo.Echo", b"pay 10").await;
    inv.msg = b"pay 99".to_vec();
    let r = e.host.send_invocation(&e.pref, &inv).await;
    assert_eq!(code(r), ErrorCode::Unauthorized);

    // Wrong issuer: a host the provider does not trust, same lattice.
    let rogue = Host::builder()
        .nats_url(lattice_fixtures::nats_url())
        .lattice(e.host.lattice())
        .connect()
        .await
        .unwrap();
    let r = rogue.call(&e.pref, &e.actor, "Echo.Echo", vec![]).await;
    assert_eq!(code(r), ErrorCode::Unauthorized);

    // Wrong target: signed for another provider, sent to this one.
    let mut inv = signed(&e, "Echo.Echo", b"x").await;
    inv.target.public_key = nkeys::KeyPair::new_service().public_key();
    let msg = inv.msg.clone();
    claims::sign_invocation(&mut inv, &msg, &signer, None).unwrap();
    let r = e.host.send_invocation(&e.pref, &inv).await;
    assert_eq!(code(r), ErrorCode::Unauthorized);

    // Expired.
    let mut inv = signed(&e, "Echo.Echo", b"x").await;
    let mut c = decode_jwt(&inv.encoded_claims).unwrap();
    c.exp = Some(c.iat - 1);
    inv.encoded_claims = encode_jwt(&c, &key).unwrap();
    let r = e.host.send_invocation(&e.pref, &inv).await;
    assert_eq!(code(r), ErrorCode::Unauthorized);

    // Replayed: the first send works, the identical second is refused.
    let inv = signed(&e, "Echo.Echo", b"once").await;
    assert_eq!(
        e.host.send_invocation(&e.pref, &inv).await.unwrap(),
        b"> once"
    );
    let r = e.host.send_invocation(&e.pref, &inv).await;
    assert_eq!(code(r), ErrorCode::Unauthorized);

    // Bad signature: claims changed after signing, signature kept.
    let mut inv = signed(&e, "Echo.Echo", b"x").await;
    let mut parts: Vec<String> = inv.encoded_claims.split('.').map(String::from).collect();
    let mut c = decode_jwt(&inv.encoded_claims).unwrap();
    c.jti = "another".into();
    let forged = encode_jwt(
        &c,
        &claims::SigningKey::Ed25519(Box::new(nkeys::KeyPair::new_cluster())),
    )
    .unwrap();
    parts[1] = forged.split('.').nth(1).unwrap().to_string();
    inv.encoded_claims = parts.join(".");
    let r = e.host.send_invocation(&e.pref, &inv).await;
    assert_eq!(code(r), ErrorCode::Unauthorized);

    // No claims at all.
    let mut inv = signed(&e, "Echo.Echo", b"x").await;
    inv.encoded_claims.clear();
    let r = e.host.send_invocation(&e.pref, &inv).await;
    assert_eq!(code(r), ErrorCode::Unauthorized);

    assert_healthy(&e).await;
    let ok = e
        .host
        .call(&e.pref, &e.actor, "Echo.Echo", b"still".to_vec());
    assert_eq!(ok.await.unwrap(), b"> still");
}

#[tokio::test]
async fn malformed_envelope_unknown_operation_and_empty_body_get_their_codes() {
    let e = echo().await;
    let subject =
        lattice_rpc::subjects::provider_rpc(e.host.lattice(), &e.pref.key, &e.pref.link_name);
    for garbage in [vec![0xc1], b"not msgpack at all".to_vec(), vec![]] {
        let reply = e
            .host
            .rpc()
            .request_raw(subject.clone(), garbage, Duration::from_secs(2))
            .await
            .unwrap();
        let resp: InvocationResponse = wire::deserialize(&reply).unwrap();
        let err = RpcError::from_wire(resp.error.as_deref().unwrap_or(""));
        assert_eq!(err.code, ErrorCode::BadEnvelope, "{err}");
    }

    let r = e.host.call(&e.pref, &e.actor, "Echo.Nope", vec![]).await;
    assert_eq!(code(r), ErrorCode::UnknownOperation);

    // Echo.Delay wants a MessagePack number: an empty body is a bad request.
    let r = e.host.call(&e.pref, &e.actor, "Echo.Delay", vec![]).await;
    assert_eq!(code(r), ErrorCode::BadRequest);

    // An empty body is a valid argument for Echo.Echo.
    let out = e.host.call(&e.pref, &e.actor, "Echo.Echo", vec![]).await;
    assert_eq!(out.unwrap(), b"> ");

    assert_healthy(&e).await;
}

#[tokio::test]
async fn eight_mib_body_round_trips_chunked_both_ways_and_the_store_is_left_empty() {
    let e = echo().await;
    let body: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let out = e
        .host
        .call(&e.pref, &e.actor, "Echo.Echo", body.clone())
        .await
        .unwrap();
    assert_eq!(out.len(), body.len() + 2);
    assert!(out[2..] == body[..], "echoed body differs");

    let js = async_nats::jetstream::new(e.host.nats().clone());
    let store = js.get_object_store(e.host.lattice()).await.unwrap();
    let mut list = store.list().await.unwrap();
    let mut live = Vec::new();
    while let Some(info) = list.next().await {
        let info = info.unwrap();
        if !info.deleted {
            live.push(info.name);
        }
    }
    assert!(live.is_empty(), "objects left behind: {live:?}");
    let mut stream = js
        .get_stream(format!("OBJ_{}", e.host.lattice()))
        .await
        .unwrap();
    let bytes = stream.info().await.unwrap().state.bytes;
    assert!(bytes < 64 * 1024, "{bytes} bytes of chunks remain");
    e.host.delete_chunk_bucket().await.unwrap();
}

/// Publishes `n` signed `Echo.Delay(ms)` invocations with replies to one
/// inbox, flushed, so they are on the wire before whatever the caller sends next.
#[tokio::test]
async fn link_changes_apply_live_and_invalid_ones_keep_the_old_link() {
    let e = echo().await;
    // A changed value replaces the link: the next call sees it.
    e.host
        .link_actor(&e.pref, &e.actor, &[("prefix", "v2:")])
        .await
        .unwrap();
    let out = e.host.call(&e.pref, &e.actor, "Echo.Echo", b"x".to_vec());
    assert_eq!(out.await.unwrap(), b"v2:x");

    // A secret that does not open is refused; the old link keeps serving.
    let mut ld = e.host.link(&e.pref, &e.actor, &[("prefix", "v3:")]);
    ld.secrets
        .insert("prefix".into(), SealedBytes(b"not sealed".to_vec()));
    let ack = e.host.put_link(&e.pref, &ld).await.unwrap();
    assert!(!ack.accepted);
    assert!(ack.error.unwrap_or_default().contains("prefix"));
    let out = e.host.call(&e.pref, &e.actor, "Echo.Echo", b"x".to_vec());
    assert_eq!(out.await.unwrap(), b"v2:x");

    // A link for another provider is refused.
    let mut other = e.host.link(&e.pref, &new_actor(), &[]);
    other.provider_id = nkeys::KeyPair::new_service().public_key();
    assert!(!e.host.put_link(&e.pref, &other).await.unwrap().accepted);
}

#[tokio::test]
async fn sealed_link_secrets_open_and_override_plain_values() {
    let e = echo().await;
    let mut ld = e.host.link(&e.pref, &e.actor, &[("prefix", "plain:")]);
    ld.secrets.insert(
        "prefix".into(),
        e.host.seal_for(&e.proc.host_data, "sealed:").unwrap(),
    );
    assert!(e.host.put_link(&e.pref, &ld).await.unwrap().accepted);
    let out = e.host.call(&e.pref, &e.actor, "Echo.Echo", b"x".to_vec());
    assert_eq!(out.await.unwrap(), b"sealed:x");
    assert!(!e.proc.output().contains("sealed:"), "secret value logged");
}

#[tokio::test]
async fn test_host_id_switches_control_messages_to_json() {
    // The 0.x test harness: JSON control messages without claims.
    let host = lattice_conformance::test_host_ed25519().await.unwrap();
    let mut hd = host.host_data("default");
    hd.host_id = lattice_rpc::host_data::TEST_HOST_ID.into();
    let pref = ProviderRef::new(&hd.provider_key, "default", CONTRACT);
    let _p = host
        .launch(&lattice_fixtures::example("echo").unwrap(), hd)
        .await
        .unwrap();
    let control =
        |s: &str| lattice_rpc::subjects::provider_control(host.lattice(), &pref.key, "default", s);
    let health = host
        .nats()
        .request(control("health"), "".into())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&health.payload).unwrap();
    assert_eq!(v["healthy"], true);

    let actor = new_actor();
    let ld = serde_json::json!({
        "actor_id": actor, "provider_id": pref.key, "link_name": "default",
        "contract_id": CONTRACT, "values": {"PREFIX": "json:", "config_b64": "e30"}
    });
    let ack = host
        .nats()
        .request(
            control("linkdefs.put"),
            serde_json::to_vec(&ld).unwrap().into(),
        )
        .await
        .unwrap();
    let ack: serde_json::Value = serde_json::from_slice(&ack.payload).unwrap();
    assert_eq!(ack["accepted"], true, "{ack}");
    let out = host.call(&pref, &actor, "Echo.Echo", b"x".to_vec()).await;
    assert_eq!(out.unwrap(), b"json:x");
}

#[tokio::test]
async fn provider_calls_actors_with_signed_invocations() {
    // The provider's outgoing path, exercised through the integration actor server:
    // an invocation signed by the host's cluster key verifies at the actor.
    let host = lattice_conformance::test_host().await.unwrap();
    let actor = new_actor();
    let _served = host
        .serve_actor(&actor, |inv: Invocation, body: Vec<u8>| async move {
            Ok([inv.operation.as_bytes(), b":", &body].concat())
        })
        .await
        .unwrap();
    let provider = WasmCloudEntity::provider(
        nkeys::KeyPair::new_service().public_key(),
        "default",
        CONTRACT,
    );
    let call = |body: &[u8]| {
        host.rpc().call(
            provider.as_ref(),
            lattice_rpc::EntityRef::actor(&actor),
            "Handler.Do",
            body.to_vec(),
            None,
        )
    };
    // A provider reaches only the actors linked to it.
    assert_eq!(code(call(b"ping").await), ErrorCode::NotLinked);
    host.links()
        .insert(&provider.public_key, &provider.link_name, &actor);
    let out = call(b"ping").await.unwrap();
    assert_eq!(out, b"Handler.Do:ping");
    let big = vec![7u8; 2 * 1024 * 1024];
    let out = host
        .rpc()
        .call(
            provider.as_ref(),
            WasmCloudEntity::actor(&actor).as_ref(),
            "Handler.Do",
            big,
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.len(), "Handler.Do:".len() + 2 * 1024 * 1024);
    host.delete_chunk_bucket().await.unwrap();

    // An actor slower than the call's timeout gives `timeout`, not a hang.
    let slow = new_actor();
    let _slow = host
        .serve_actor(&slow, |_: Invocation, _: Vec<u8>| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(vec![])
        })
        .await
        .unwrap();
    let started = Instant::now();
    let r = host
        .rpc()
        .call(
            WasmCloudEntity::actor(&actor).as_ref(),
            WasmCloudEntity::actor(&slow).as_ref(),
            "Handler.Do",
            vec![],
            Some(Duration::from_millis(200)),
        )
        .await;
    assert_eq!(code(r), ErrorCode::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));

    // Nobody serving the actor: `unavailable` at once.
    let r = host
        .rpc()
        .call(
            WasmCloudEntity::actor(&actor).as_ref(),
            WasmCloudEntity::actor(new_actor()).as_ref(),
            "Handler.Do",
            vec![],
            None,
        )
        .await;
    assert_eq!(code(r), ErrorCode::Unavailable);
}

#[tokio::test]
async fn config_put_is_answered_even_when_the_provider_has_no_live_config() {
    let e = echo().await;
    let subject = lattice_rpc::subjects::provider_control(
        e.host.lattice(),
        &e.pref.key,
        &e.pref.link_name,
        "config.put",
    );
    let reply = e
        .host
        .nats()
        .request(subject, br#"{"anything":"1"}"#.to_vec().into())
        .await
        .unwrap();
    let ack: lattice_rpc::control::PutAck = wire::deserialize(&reply.payload).unwrap();
    assert!(!ack.accepted);
    assert!(
        ack.error
            .unwrap()
            .contains("no live provider-wide configuration")
    );
    assert_healthy(&e).await;
}
