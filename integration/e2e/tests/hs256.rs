#![allow(clippy::unwrap_used)]
//! HS256 claims with per-provider keys (contract sections 6a and 6b) over
//! the wire, against the SDK's example provider: what is accepted, every
//! forgery refused `unauthorized`, and control messages that need claims.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use lattice_host::{Host, LatticeKey, ProviderProcess, new_actor};
use lattice_rpc::claims::{self, SigningKey, decode_jwt, encode_jwt};
use lattice_rpc::control::PutAck;
use lattice_rpc::{ErrorCode, wire};

fn copy(kp: &nkeys::KeyPair) -> nkeys::KeyPair {
    nkeys::KeyPair::from_seed(&kp.seed().unwrap()).unwrap()
}

/// A host on `lattice` with `cluster` and, when given, a lattice key.
async fn host_on(
    lattice: &str,
    cluster: &nkeys::KeyPair,
    key: Option<LatticeKey>,
    require_mac: bool,
) -> Host {
    let mut b = Host::builder()
        .nats_url(lattice_fixtures::nats_url())
        .lattice(lattice)
        .cluster_key(copy(cluster))
        .require_mac(require_mac);
    if let Some(k) = key {
        b = b.lattice_key(k);
    }
    b.connect().await.unwrap()
}

struct Mac {
    e: Echo,
    key: LatticeKey,
    cluster: nkeys::KeyPair,
}

async fn echo_hs256(require_mac: bool) -> Mac {
    let cluster = nkeys::KeyPair::new_cluster();
    let key = LatticeKey::generate();
    let lattice = lattice_fixtures::fresh_name("t");
    let host = host_on(&lattice, &cluster, Some(key.clone()), require_mac).await;
    Mac {
        e: echo_on(host, |_| {}).await,
        key,
        cluster,
    }
}

/// A correctly HS256-signed call from the echo actor, then re-MAC'd with `with`.
async fn remac(
    m: &Mac,
    with: &SigningKey,
    edit: impl FnOnce(&mut claims::Claims),
) -> lattice_rpc::Invocation {
    let mut inv = signed(&m.e, "Echo.Echo", b"hi").await;
    let mut c = decode_jwt(&inv.encoded_claims).unwrap();
    c.jti = claims::fresh_jti();
    edit(&mut c);
    inv.encoded_claims = encode_jwt(&c, with).unwrap();
    inv
}

#[tokio::test]
async fn hs256_calls_work_and_every_forgery_is_unauthorized() {
    let m = echo_hs256(false).await;
    let e = &m.e;
    assert_eq!(
        e.host
            .call(&e.pref, &e.actor, "Echo.Echo", b"hs".to_vec())
            .await
            .unwrap(),
        b"> hs"
    );
    let inv = signed(e, "Echo.Echo", b"x").await;
    assert_eq!(
        claims::algorithm_of(&inv.encoded_claims).unwrap(),
        claims::Algorithm::Hs256
    );
    let iss = m.cluster.public_key();
    let hs = |key| SigningKey::Hs256 {
        iss: iss.clone(),
        key,
    };
    let unauthorized = async |inv: &lattice_rpc::Invocation, what: &str| {
        let r = e.host.send_invocation(&e.pref, inv).await;
        match r {
            Err(err) => assert_eq!(err.code, ErrorCode::Unauthorized, "{what}: {err}"),
            Ok(_) => panic!("{what}: accepted"),
        }
    };

    // Under the wrong key, another provider's key, another link name's key.
    let wrong = LatticeKey::generate().provider_key(&e.pref.key, "default");
    unauthorized(&remac(&m, &hs(wrong), |_| {}).await, "wrong lattice key").await;
    let other = m
        .key
        .provider_key(&nkeys::KeyPair::new_service().public_key(), "default");
    unauthorized(
        &remac(&m, &hs(other), |_| {}).await,
        "another provider's key",
    )
    .await;
    let other_link = m.key.provider_key(&e.pref.key, "other");
    unauthorized(
        &remac(&m, &hs(other_link), |_| {}).await,
        "another link name's key",
    )
    .await;
    // A whole host holding another lattice key, same cluster key.
    let rogue = host_on(
        e.host.lattice(),
        &m.cluster,
        Some(LatticeKey::generate()),
        false,
    )
    .await;
    let r = rogue
        .call(&e.pref, &e.actor, "Echo.Echo", b"x".to_vec())
        .await;
    assert_eq!(code(r), ErrorCode::Unauthorized);

    // Tampered body, operation, target.
    let mut inv = signed(e, "Echo.Echo", b"pay 10").await;
    inv.msg = b"pay 99".to_vec();
    unauthorized(&inv, "tampered body").await;
    let mut inv = signed(e, "Echo.Echo", b"x").await;
    inv.operation = "Echo.Delay".into();
    unauthorized(&inv, "tampered operation").await;
    let mut inv = signed(e, "Echo.Echo", b"x").await;
    inv.target.link_name = "other".into();
    unauthorized(&inv, "tampered target").await;

    // alg none, and an Ed25519 header carrying an HMAC signature.
    let good = signed(e, "Echo.Echo", b"x").await;
    let (_, rest) = good.encoded_claims.split_once('.').unwrap();
    let (claims_seg, _) = rest.split_once('.').unwrap();
    let mut none = good.clone();
    none.encoded_claims = format!(
        "{}.{claims_seg}.",
        URL_SAFE_NO_PAD.encode(r#"{"typ":"jwt","alg":"none"}"#)
    );
    unauthorized(&none, "alg none").await;
    let mut ed_header = good.clone();
    ed_header.encoded_claims = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(r#"{"typ":"jwt","alg":"Ed25519"}"#)
    );
    unauthorized(&ed_header, "Ed25519 header over an HMAC signature").await;

    // A replayed jti.
    let once = signed(e, "Echo.Echo", b"once").await;
    assert_eq!(
        e.host.send_invocation(&e.pref, &once).await.unwrap(),
        b"> once"
    );
    unauthorized(&once, "replay").await;

    // Without require_mac, a wasmbus 0.x host (Ed25519, same cluster key) still works.
    let old = host_on(e.host.lattice(), &m.cluster, None, false).await;
    assert_eq!(
        old.call(&e.pref, &e.actor, "Echo.Echo", b"0x".to_vec())
            .await
            .unwrap(),
        b"> 0x"
    );
    assert_healthy(e).await;
}

#[tokio::test]
async fn a_provider_without_a_mac_key_refuses_hs256() {
    let e = echo().await;
    assert!(e.proc.host_data.invocation_mac_key.is_none());
    let hs = host_on(
        e.host.lattice(),
        e.host.cluster_key(),
        Some(LatticeKey::generate()),
        false,
    )
    .await;
    let r = hs.call(&e.pref, &e.actor, "Echo.Echo", b"x".to_vec()).await;
    let err = r.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unauthorized);
    assert!(err.message.contains("no MAC key"), "{err}");
}

#[tokio::test]
async fn require_mac_refuses_ed25519_and_the_provider_is_given_no_seed() {
    let m = echo_hs256(true).await;
    let e = &m.e;
    // What the provider was given on stdin: its K_p, no cluster seed.
    let given = &e.proc.host_data;
    assert!(
        given.invocation_seed.is_empty(),
        "a seed was handed to the provider"
    );
    assert!(given.require_mac);
    assert_eq!(
        given.mac_key().unwrap().bytes(),
        m.key.provider_key(&e.pref.key, "default").bytes()
    );
    let old = host_on(e.host.lattice(), &m.cluster, None, false).await;
    let err = old
        .call(&e.pref, &e.actor, "Echo.Echo", b"x".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unauthorized);
    assert!(err.message.contains("HS256 is required"), "{err}");
    assert_eq!(
        e.host
            .call(&e.pref, &e.actor, "Echo.Echo", b"ok".to_vec())
            .await
            .unwrap(),
        b"> ok"
    );
}

fn ack(m: async_nats::Message) -> PutAck {
    lattice_rpc::control::decode_control(&m.payload).unwrap()
}

#[tokio::test]
async fn control_messages_with_bad_or_missing_claims_are_refused_and_change_nothing() {
    let m = echo_hs256(true).await;
    let e = &m.e;
    let iss = m.cluster.public_key();
    let kp = m.key.provider_key(&e.pref.key, "default");
    let wrong = LatticeKey::generate().provider_key(&e.pref.key, "default");
    let subject = |s: &str| e.pref.control_subject(e.host.lattice(), s);
    let t = Duration::from_secs(5);

    // A link put under a wrong key, minted for another subject, or with no
    // claims at all: refused, and the actor stays unlinked.
    let stranger = new_actor();
    let ld = wire::serialize(&e.host.link(&e.pref, &stranger, &[("prefix", "!")])).unwrap();
    for (what, token) in [
        (
            "wrong key",
            Some(claims::sign_control(
                &subject("linkdefs.put"),
                &ld,
                &iss,
                &wrong,
            )),
        ),
        (
            "other subject",
            Some(claims::sign_control(
                &subject("linkdefs.del"),
                &ld,
                &iss,
                &kp,
            )),
        ),
        (
            "other payload",
            Some(claims::sign_control(
                &subject("linkdefs.put"),
                b"{}",
                &iss,
                &kp,
            )),
        ),
        ("no claims", None),
    ] {
        let reply = e
            .host
            .send_control_with_claims(&e.pref, "linkdefs.put", ld.clone(), token.as_deref(), t)
            .await
            .unwrap();
        let a = ack(reply);
        assert!(!a.accepted, "{what}: accepted");
        assert!(
            a.error.unwrap_or_default().starts_with("unauthorized"),
            "{what}"
        );
    }
    let r = e.host.call(&e.pref, &stranger, "Echo.Echo", vec![]).await;
    assert_eq!(code(r), ErrorCode::NotLinked);

    // A link del and a config put under a wrong key: refused; the link works.
    let ld_existing = wire::serialize(&e.host.link(&e.pref, &e.actor, &[])).unwrap();
    let del = claims::sign_control(&subject("linkdefs.del"), &ld_existing, &iss, &wrong);
    let a = ack(e
        .host
        .send_control_with_claims(&e.pref, "linkdefs.del", ld_existing, Some(&del), t)
        .await
        .unwrap());
    assert!(!a.accepted);
    let cfg = br#"{"anything":"1"}"#.to_vec();
    let token = claims::sign_control(&subject("config.put"), &cfg, &iss, &wrong);
    let a = ack(e
        .host
        .send_control_with_claims(&e.pref, "config.put", cfg, Some(&token), t)
        .await
        .unwrap());
    assert!(a.error.unwrap_or_default().starts_with("unauthorized"));
    assert_eq!(
        e.host
            .call(&e.pref, &e.actor, "Echo.Echo", b"still".to_vec())
            .await
            .unwrap(),
        b"> still"
    );

    // A shutdown under a wrong key is ignored (no answer), and the provider lives on.
    let body = br#"{"host_id":""}"#.to_vec();
    let token = claims::sign_control(&subject("shutdown"), &body, &iss, &wrong);
    let r = e
        .host
        .send_control_with_claims(
            &e.pref,
            "shutdown",
            body,
            Some(&token),
            Duration::from_millis(500),
        )
        .await;
    assert!(r.is_err(), "a forged shutdown was answered");
    assert_healthy(e).await;

    // The host's own control messages carry valid claims.
    e.host
        .link_actor(&e.pref, &stranger, &[("prefix", "ok:")])
        .await
        .unwrap();
    assert_eq!(
        e.host
            .call(&e.pref, &stranger, "Echo.Echo", b"x".to_vec())
            .await
            .unwrap(),
        b"ok:x"
    );
}

#[tokio::test]
async fn without_require_mac_a_control_message_without_claims_is_accepted() {
    let m = echo_hs256(false).await;
    let e = &m.e;
    let stranger = new_actor();
    let ld = wire::serialize(&e.host.link(&e.pref, &stranger, &[("prefix", "0x:")])).unwrap();
    let a = ack(e
        .host
        .send_control_with_claims(&e.pref, "linkdefs.put", ld, None, Duration::from_secs(5))
        .await
        .unwrap());
    assert!(a.accepted, "{:?}", a.error);
    // But a header that does not verify is refused even so.
    let ld = wire::serialize(&e.host.link(&e.pref, &new_actor(), &[])).unwrap();
    let a = ack(e
        .host
        .send_control_with_claims(
            &e.pref,
            "linkdefs.put",
            ld,
            Some("a.b.c"),
            Duration::from_secs(5),
        )
        .await
        .unwrap());
    assert!(!a.accepted);
}

#[tokio::test]
async fn require_mac_without_a_mac_key_is_a_startup_error() {
    let host = lattice_conformance::test_host_ed25519().await.unwrap();
    let mut hd = host.host_data("default");
    hd.require_mac = true;
    let line = lattice_rpc::codec::decode_base64(&hd.encode()).unwrap();
    let line = String::from_utf8(line).unwrap();
    let mut p: ProviderProcess =
        ProviderProcess::spawn_raw(&lattice_fixtures::example("echo").unwrap(), &line, &[])
            .await
            .unwrap();
    let status = p.wait(Duration::from_secs(15)).await.unwrap();
    assert!(!status.success());
    let out = p.output();
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("require_mac"),
        "{out}"
    );
}
