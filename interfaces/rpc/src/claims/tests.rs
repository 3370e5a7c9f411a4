//! The verifier's own tests: the contract's known answer, every refusal of
//! sections 6 and 6a with its boundary, the order of the checks, and the
//! control claims of section 6b. Times are fixed (`verify_at`), so no test
//! depends on the clock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::signer::control_token;
use super::verify::SKEW_SECS;
use super::*;
use crate::wire::{Invocation, WasmCloudEntity};

const NOW: u64 = 1_800_000_000;
const WINDOW: u64 = 60;

fn lattice() -> LatticeKey {
    LatticeKey::from_bytes(core::array::from_fn(|i| i as u8))
}

struct Setup {
    cluster: nkeys::KeyPair,
    provider: String,
    kp: MacKey,
}

fn setup() -> Setup {
    let provider = nkeys::KeyPair::new_service().public_key();
    Setup {
        cluster: nkeys::KeyPair::new_cluster(),
        kp: lattice().provider_key(&provider, "default"),
        provider,
    }
}

impl Setup {
    fn verifier(&self) -> Verifier {
        Verifier::builder(&self.provider)
            .issuers(&[self.cluster.public_key()])
            .mac(MacCheck::Own(self.kp.clone()))
            .window_secs(WINDOW)
            .build()
    }

    fn hs256(&self) -> SigningKey {
        SigningKey::Hs256 {
            iss: self.cluster.public_key(),
            key: self.kp.clone(),
        }
    }

    fn ed25519(&self) -> SigningKey {
        SigningKey::Ed25519(Box::new(
            nkeys::KeyPair::from_seed(&self.cluster.seed().unwrap()).unwrap(),
        ))
    }

    fn invocation(&self) -> Invocation {
        Invocation {
            origin: WasmCloudEntity::actor(nkeys::KeyPair::new_module().public_key()),
            target: WasmCloudEntity::provider(&self.provider, "default", "wasmcloud:keyvalue"),
            operation: "KeyValue.Get".into(),
            msg: b"\xa3abc".to_vec(),
            id: fresh_invocation_id(),
            ..Invocation::default()
        }
    }

    /// Claims that bind `inv`, issued at `iat`.
    fn claims(&self, inv: &Invocation, iat: u64) -> Claims {
        let mut origin_url = String::new();
        push_url(&mut origin_url, inv.origin.as_ref(), None);
        let mut target_url = String::new();
        push_url(&mut target_url, inv.target.as_ref(), Some(&inv.operation));
        Claims {
            exp: None,
            jti: fresh_jti(),
            iat,
            iss: self.cluster.public_key(),
            sub: inv.id.clone(),
            nbf: None,
            wascap: InvocationClaims {
                hash: invocation_hash(&origin_url, &target_url, &inv.operation, &inv.msg),
                target_url,
                origin_url,
            },
            wascap_revision: Some(WASCAP_REVISION),
        }
    }

    fn signed(&self, key: &SigningKey, edit: impl FnOnce(&mut Claims)) -> Invocation {
        let mut inv = self.invocation();
        let mut c = self.claims(&inv, NOW);
        edit(&mut c);
        inv.encoded_claims = encode_jwt(&c, key).unwrap();
        inv
    }
}

fn refused(v: &Verifier, inv: &Invocation, at: u64) -> String {
    match v.verify_at(&inv.view(), &inv.msg, at) {
        Ok(()) => "accepted".into(),
        Err(e) => {
            assert_eq!(e.code, crate::ErrorCode::Unauthorized, "{e}");
            e.message
        }
    }
}

#[test]
fn known_answer_of_the_contract_signs_and_verifies() {
    let provider = "VCFIRY65OQE7DFP5KLNS2PF2LVZMUZYJX4OZIEQ36N2IQANUB5XVZF4F";
    let kp = lattice().provider_key(provider, "default");
    let inv = Invocation {
        origin: WasmCloudEntity::actor("MCATS5YOVB6ROX2WUNKGNQ2MP3GMXDMKSG2O4N5CLX3A6W4PZGZZJPUL"),
        target: WasmCloudEntity::provider(provider, "default", "wasmcloud:keyvalue"),
        operation: "KeyValue.Get".into(),
        msg: vec![0xa3, 0x61, 0x62, 0x63],
        id: "00000000-0000-4000-8000-000000000001".into(),
        ..Invocation::default()
    };
    let origin_url = "wasmbus://MCATS5YOVB6ROX2WUNKGNQ2MP3GMXDMKSG2O4N5CLX3A6W4PZGZZJPUL";
    let target_url = format!("wasmbus://wasmcloud/keyvalue/default/{provider}/KeyValue.Get");
    let hash = invocation_hash(origin_url, &target_url, "KeyValue.Get", &inv.msg);
    assert_eq!(
        hash,
        "1B2C64251980AAA02E5BD7FF70A6B9C9FC1439A09931275AC534BFDAEEF077AE"
    );
    let iss = "CDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CMF7";
    let claims = Claims {
        exp: None,
        jti: "0123456789abcdef".into(),
        iat: 1_800_000_000,
        iss: iss.into(),
        sub: inv.id.clone(),
        nbf: None,
        wascap: InvocationClaims {
            target_url,
            origin_url: origin_url.into(),
            hash,
        },
        wascap_revision: Some(3),
    };
    let token = encode_jwt(
        &claims,
        &SigningKey::Hs256 {
            iss: iss.into(),
            key: kp.clone(),
        },
    )
    .unwrap();
    let expected = "eyJ0eXAiOiJqd3QiLCJhbGciOiJIUzI1NiJ9.eyJqdGkiOiIwMTIzNDU2Nzg5YWJjZGVmIiwiaWF0IjoxODAwMDAwMDAwLCJpc3MiOiJDRFdVU0tHR0ZESTRGUlhLNUVCVFJFQ1pTVlFTU1dKSEhKT0dINkpXRzNBVU1GRk1RNDM1Q01GNyIsInN1YiI6IjAwMDAwMDAwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMSIsIndhc2NhcCI6eyJ0YXJnZXRfdXJsIjoid2FzbWJ1czovL3dhc21jbG91ZC9rZXl2YWx1ZS9kZWZhdWx0L1ZDRklSWTY1T1FFN0RGUDVLTE5TMlBGMkxWWk1VWllKWDRPWklFUTM2TjJJUUFOVUI1WFZaRjRGL0tleVZhbHVlLkdldCIsIm9yaWdpbl91cmwiOiJ3YXNtYnVzOi8vTUNBVFM1WU9WQjZST1gyV1VOS0dOUTJNUDNHTVhETUtTRzJPNE41Q0xYM0E2VzRQWkdaWkpQVUwiLCJoYXNoIjoiMUIyQzY0MjUxOTgwQUFBMDJFNUJEN0ZGNzBBNkI5QzlGQzE0MzlBMDk5MzEyNzVBQzUzNEJGREFFRUYwNzdBRSJ9LCJ3YXNjYXBfcmV2aXNpb24iOjN9.exKcIJquiJS0Kf2K3KxzA1s9zA9u7X5UZhBO8HOX9Ok";
    assert_eq!(token, expected);
    let v = Verifier::builder(provider)
        .issuers(&[iss.to_string()])
        .mac(MacCheck::Own(kp))
        .build();
    let mut inv = inv;
    inv.encoded_claims = expected.into();
    assert_eq!(refused(&v, &inv, NOW), "accepted");
    assert!(refused(&v, &inv, NOW).contains("replayed"));
}

#[test]
fn signers_choose_the_key_each_direction_needs() {
    let s = setup();
    // A host with the lattice key MACs calls to providers with their K_p...
    let host = Signer::host(
        nkeys::KeyPair::from_seed(&s.cluster.seed().unwrap()).unwrap(),
        lattice(),
    );
    assert_eq!(host.issuer(), s.cluster.public_key());
    let mut inv = s.invocation();
    let msg = inv.msg.clone();
    sign_invocation(&mut inv, &msg, &host, None).unwrap();
    assert_eq!(algorithm_of(&inv.encoded_claims).unwrap(), Algorithm::Hs256);
    assert_eq!(refused(&s.verifier(), &inv, now_secs()), "accepted");
    // ...and signs calls to actors Ed25519 with the cluster key.
    let mut to_actor = s.invocation();
    to_actor.target = WasmCloudEntity::actor(nkeys::KeyPair::new_module().public_key());
    sign_invocation(&mut to_actor, &msg, &host, Some(5)).unwrap();
    assert_eq!(
        algorithm_of(&to_actor.encoded_claims).unwrap(),
        Algorithm::Ed25519
    );
    let c = decode_jwt(&to_actor.encoded_claims).unwrap();
    assert_eq!(c.iss, s.cluster.public_key());
    assert_eq!(c.exp, Some(c.iat + 5));

    // A provider MACs what it sends with its own K_p, naming itself; the
    // host checks that with the key derived from the origin.
    let provider = Signer::provider(&s.provider, s.kp.clone());
    assert_eq!(provider.issuer(), s.provider);
    let actor = nkeys::KeyPair::new_module().public_key();
    let mut out = Invocation {
        origin: WasmCloudEntity::provider(&s.provider, "default", "wasmcloud:httpserver"),
        target: WasmCloudEntity::actor(&actor),
        operation: "HttpServer.HandleRequest".into(),
        id: fresh_invocation_id(),
        ..Invocation::default()
    };
    sign_invocation(&mut out, b"req", &provider, None).unwrap();
    let host_side = Verifier::builder(&actor)
        .mac(MacCheck::PerOrigin(lattice()))
        .build();
    assert_eq!(host_side.verify_at(&out.view(), b"req", now_secs()), Ok(()));
    // A call claimed from another link name is checked with that link
    // name's key, which did not sign it.
    let mut other_link = out.clone();
    sign_invocation(&mut other_link, b"req", &provider, None).unwrap();
    other_link.origin.link_name = "other".into();
    assert!(
        host_side
            .verify_at(&other_link.view(), b"req", now_secs())
            .unwrap_err()
            .message
            .contains("signature")
    );
    // Both origins' keys were derived once and are kept.
    assert_eq!(host_side.cached_origins(), 1);
    let second = nkeys::KeyPair::new_service().public_key();
    let second_signer = Signer::provider(&second, lattice().provider_key(&second, "default"));
    let mut from_second = out.clone();
    from_second.origin.public_key = second.clone();
    sign_invocation(&mut from_second, b"req", &second_signer, None).unwrap();
    assert_eq!(
        host_side.verify_at(&from_second.view(), b"req", now_secs()),
        Ok(())
    );
    assert_eq!(host_side.cached_origins(), 2);
    // The public entry point, on the real clock: a fresh call passes, a
    // tampered body does not.
    let mut fresh = out.clone();
    sign_invocation(&mut fresh, b"req", &provider, None).unwrap();
    assert_eq!(host_side.verify(&fresh.view(), b"req"), Ok(()));
    let mut tampered = out.clone();
    sign_invocation(&mut tampered, b"req", &provider, None).unwrap();
    assert!(host_side.verify(&tampered.view(), b"reQ").is_err());
    assert!(host_side.has_mac() && !host_side.requires_mac());
    let strict = Verifier::builder(&actor)
        .mac(MacCheck::PerOrigin(lattice()))
        .require_mac(true)
        .build();
    assert!(strict.requires_mac());
    assert!(!Verifier::builder(&actor).build().has_mac());

    // Ed25519 signers still work for 0.x peers.
    let ed = Signer::ed25519(nkeys::KeyPair::from_seed(&s.cluster.seed().unwrap()).unwrap());
    let mut inv = s.invocation();
    sign_invocation(&mut inv, &msg, &ed, None).unwrap();
    assert_eq!(refused(&s.verifier(), &inv, now_secs()), "accepted");
}

#[test]
fn wrong_keys_and_wrong_algorithms_are_unauthorized() {
    let s = setup();
    let v = s.verifier();
    let under = |key: MacKey| SigningKey::Hs256 {
        iss: s.cluster.public_key(),
        key,
    };
    let wrong = LatticeKey::generate().provider_key(&s.provider, "default");
    assert!(refused(&v, &s.signed(&under(wrong), |_| {}), NOW).contains("signature"));
    let other_provider =
        lattice().provider_key(&nkeys::KeyPair::new_service().public_key(), "default");
    assert!(refused(&v, &s.signed(&under(other_provider), |_| {}), NOW).contains("signature"));
    let other_link = lattice().provider_key(&s.provider, "other");
    assert!(refused(&v, &s.signed(&under(other_link), |_| {}), NOW).contains("signature"));

    // HS256 to a provider with no MAC key.
    let no_mac = Verifier::builder(&s.provider)
        .issuers(&[s.cluster.public_key()])
        .build();
    assert!(!no_mac.has_mac());
    assert!(refused(&no_mac, &s.signed(&s.hs256(), |_| {}), NOW).contains("no MAC key"));
    // ...which still takes Ed25519.
    assert_eq!(
        refused(&no_mac, &s.signed(&s.ed25519(), |_| {}), NOW),
        "accepted"
    );

    // HS256 whose iss is not a trusted cluster issuer.
    let stranger = SigningKey::Hs256 {
        iss: nkeys::KeyPair::new_cluster().public_key(),
        key: s.kp.clone(),
    };
    assert!(
        refused(&v, &s.signed(&stranger, |c| c.iss = stranger.issuer()), NOW)
            .contains("not a trusted")
    );
    // Ed25519 from an untrusted key.
    let rogue = SigningKey::Ed25519(Box::new(nkeys::KeyPair::new_cluster()));
    assert!(
        refused(&v, &s.signed(&rogue, |c| c.iss = rogue.issuer()), NOW).contains("not a trusted")
    );

    // Ed25519 under require_mac.
    let strict = Verifier::builder(&s.provider)
        .issuers(&[s.cluster.public_key()])
        .mac(MacCheck::Own(s.kp.clone()))
        .require_mac(true)
        .build();
    assert!(strict.requires_mac());
    assert!(refused(&strict, &s.signed(&s.ed25519(), |_| {}), NOW).contains("HS256 is required"));
    assert_eq!(
        refused(&strict, &s.signed(&s.hs256(), |_| {}), NOW),
        "accepted"
    );

    // An Ed25519 header over an HMAC signature, and the reverse.
    let hs = s.signed(&s.hs256(), |_| {});
    let mut swapped = hs.clone();
    swapped.encoded_claims =
        swapped
            .encoded_claims
            .replacen(HEADER_HS256_B64, HEADER_ED25519_B64, 1);
    assert!(refused(&v, &swapped, NOW).contains("signature"));
    let ed = s.signed(&s.ed25519(), |_| {});
    let mut swapped = ed.clone();
    swapped.encoded_claims =
        swapped
            .encoded_claims
            .replacen(HEADER_ED25519_B64, HEADER_HS256_B64, 1);
    assert!(refused(&v, &swapped, NOW).contains("signature"));

    // `alg` is compared exactly: none, a lowercase spelling, another algorithm.
    for header in [
        r#"{"typ":"jwt","alg":"none"}"#,
        r#"{"typ":"jwt","alg":"ed25519"}"#,
        r#"{"typ":"jwt","alg":"hs256"}"#,
        r#"{"typ":"jwt","alg":"RS256"}"#,
        r#"{"typ":"jwt"}"#,
    ] {
        let mut inv = hs.clone();
        let rest = inv.encoded_claims.split_once('.').unwrap().1.to_string();
        inv.encoded_claims = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header));
        let why = refused(&v, &inv, NOW);
        assert!(
            why.contains("algorithm") || why.contains("header"),
            "{header}: {why}"
        );
    }
    // Other header fields are ignored.
    let mut kid = hs.clone();
    let rest = kid.encoded_claims.split_once('.').unwrap().1.to_string();
    kid.encoded_claims = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k1","typ":"jwt"}"#)
    );
    assert!(
        refused(&v, &kid, NOW).contains("signature"),
        "the signature covers the header"
    );
}

#[test]
fn malformed_claims_are_unauthorized() {
    let s = setup();
    let v = s.verifier();
    let good = s.signed(&s.hs256(), |_| {});
    let (h, rest) = good.encoded_claims.split_once('.').unwrap();
    let (c, sig) = rest.split_once('.').unwrap();
    for (claims, why) in [
        (String::new(), "no claims"),
        ("a.b".into(), "not a JWT"),
        (format!("{h}.{c}.{sig}.x"), "not a JWT"),
        (format!("%%.{c}.{sig}"), "header"),
        (format!("{h}.%%.{sig}"), "undecodable claims"),
        (
            format!("{h}.{}.{sig}", URL_SAFE_NO_PAD.encode("[1]")),
            "undecodable claims",
        ),
        (format!("{h}.{c}.%%"), "undecodable signature"),
    ] {
        let mut inv = good.clone();
        inv.encoded_claims = claims;
        assert!(refused(&v, &inv, NOW).contains(why), "{why}");
    }
    // A hash that is not 64 hex digits.
    let inv = s.signed(&s.hs256(), |c| c.wascap.hash = "XYZ".into());
    assert!(refused(&v, &inv, NOW).contains("malformed hash"));
}

#[test]
fn time_boundaries_are_exact() {
    let s = setup();
    let v = s.verifier();
    let at = |edit: &dyn Fn(&mut Claims)| refused(&v, &s.signed(&s.hs256(), |c| edit(c)), NOW);
    // exp: expired when exp <= now.
    assert!(at(&|c| c.exp = Some(NOW)).contains("expired"));
    assert!(at(&|c| c.exp = Some(NOW - 1)).contains("expired"));
    assert_eq!(at(&|c| c.exp = Some(NOW + 1)), "accepted");
    // nbf: refused when nbf > now + skew.
    assert_eq!(at(&|c| c.nbf = Some(NOW + SKEW_SECS)), "accepted");
    assert!(at(&|c| c.nbf = Some(NOW + SKEW_SECS + 1)).contains("not valid yet"));
    // iat in the future: refused when iat > now + skew.
    assert_eq!(at(&|c| c.iat = NOW + SKEW_SECS), "accepted");
    assert!(at(&|c| c.iat = NOW + SKEW_SECS + 1).contains("future"));
    // iat in the past: refused when iat + window + skew < now.
    assert_eq!(at(&|c| c.iat = NOW - WINDOW - SKEW_SECS), "accepted");
    assert!(at(&|c| c.iat = NOW - WINDOW - SKEW_SECS - 1).contains("too old"));
    assert!(at(&|c| c.iat = NOW - 3600).contains("too old"));
    // The window is the verifier's own: a longer one accepts older claims.
    let long = Verifier::builder(&s.provider)
        .issuers(&[s.cluster.public_key()])
        .mac(MacCheck::Own(s.kp.clone()))
        .window_secs(600)
        .build();
    let old = s.signed(&s.hs256(), |c| c.iat = NOW - 600 - SKEW_SECS);
    assert_eq!(refused(&long, &old, NOW), "accepted");
    let older = s.signed(&s.hs256(), |c| c.iat = NOW - 600 - SKEW_SECS - 1);
    assert!(refused(&long, &older, NOW).contains("too old"));
}

#[test]
fn binding_and_target_are_checked() {
    let s = setup();
    let v = s.verifier();
    let good = s.signed(&s.hs256(), |_| {});
    let mut body = good.clone();
    body.msg = b"\xa3abd".to_vec();
    assert!(refused(&v, &body, NOW).contains("hash"));
    let mut op = good.clone();
    op.operation = "KeyValue.Set".into();
    assert!(refused(&v, &op, NOW).contains("target URL"));
    let mut origin = good.clone();
    origin.origin = WasmCloudEntity::actor(nkeys::KeyPair::new_module().public_key());
    assert!(refused(&v, &origin, NOW).contains("origin URL"));
    let mut link = good.clone();
    link.target.link_name = "other".into();
    assert!(refused(&v, &link, NOW).contains("target URL"));
    let mut contract = good.clone();
    contract.target.contract_id = "wasmcloud:messaging".into();
    assert!(refused(&v, &contract, NOW).contains("target URL"));
    let mut id = good.clone();
    id.id = fresh_invocation_id();
    assert!(refused(&v, &id, NOW).contains("subject"));
    let mut target = good.clone();
    target.target.public_key = nkeys::KeyPair::new_service().public_key();
    assert!(refused(&v, &target, NOW).contains("not this provider"));
    // The hash is compared case-insensitively.
    let lower = s.signed(&s.hs256(), |c| c.wascap.hash = c.wascap.hash.to_lowercase());
    assert_eq!(refused(&v, &lower, NOW), "accepted");
    assert_eq!(refused(&v, &good, NOW), "accepted");
}

#[test]
fn a_replay_is_refused_before_its_signature_is_checked_and_forgeries_fill_nothing() {
    let s = setup();
    let v = s.verifier();
    let good = s.signed(&s.hs256(), |_| {});
    let jti = decode_jwt(&good.encoded_claims).unwrap().jti;
    // A forgery with the same jti, before the real call: the signature
    // fails and nothing is remembered...
    let forged = s.signed(
        &SigningKey::Hs256 {
            iss: s.cluster.public_key(),
            key: LatticeKey::generate().provider_key(&s.provider, "default"),
        },
        |c| c.jti = jti.clone(),
    );
    assert!(refused(&v, &forged, NOW).contains("signature"));
    assert_eq!(v.replay_memory().0, 0, "a refused call is not remembered");
    // ...so the real call passes, and then the same jti is a replay, even
    // when the forgery's signature is bad: the look-up comes first.
    assert_eq!(refused(&v, &good, NOW), "accepted");
    assert!(refused(&v, &good, NOW).contains("replayed"));
    assert!(refused(&v, &forged, NOW).contains("replayed"));
    assert_eq!(v.replay_memory().0, 1);
    // The memory of a jti lasts exactly as long as its iat passes the age
    // check: still a replay at the last second it could pass...
    let edge = NOW + WINDOW + SKEW_SECS;
    assert!(refused(&v, &good, edge).contains("replayed"));
    v.tidy_replay(edge);
    assert_eq!(v.replay_memory().0, 1, "kept while it can pass");
    // ...then too old, and forgotten.
    assert!(refused(&v, &good, edge + 1).contains("too old"));
    v.tidy_replay(edge + 1);
    assert_eq!(v.replay_memory().0, 0, "forgotten once it cannot pass");
    // The same jti with another iat is other claims (not a replay of these).
    let again = s.signed(&s.hs256(), |c| {
        c.jti = jti.clone();
        c.iat = NOW - 1;
    });
    assert_eq!(refused(&v, &again, NOW), "accepted");
}

#[test]
fn harness_style_empty_contract_id_and_unusual_names_verify() {
    let s = setup();
    let v = s.verifier();
    for (contract, link) in [
        ("", "default"),
        ("wasmcloud:Key Value", "default"),
        ("x", "default"),
    ] {
        let mut inv = s.invocation();
        inv.target.contract_id = contract.into();
        inv.target.link_name = link.into();
        let c = s.claims(&inv, NOW);
        inv.encoded_claims = encode_jwt(&c, &s.hs256()).unwrap();
        assert_eq!(refused(&v, &inv, NOW), "accepted", "{contract:?}");
    }
    let mut url = String::new();
    let e = WasmCloudEntity::provider("VX", "My Link", "wasmcloud:Key Value");
    push_url(&mut url, e.as_ref(), Some("Op"));
    assert_eq!(url, "wasmbus://wasmcloud/key_value/my_link/VX/Op");
    assert!(url_is(&url, e.as_ref(), Some("Op")));
    assert!(!url_is(&url, e.as_ref(), Some("Op2")));
    assert!(!url_is(&url, e.as_ref(), None));
    assert!(!url_is(
        "wasmbus://wasmcloud/key_value/my_link/VX/Op/",
        e.as_ref(),
        Some("Op")
    ));
    assert!(!url_is(
        "wasmbus:/wasmcloud/key_value/my_link/VX/Op",
        e.as_ref(),
        Some("Op")
    ));
    assert!(!url_is(
        "wasmbus://wasmcloud/key_value/my_lin/VX/Op",
        e.as_ref(),
        Some("Op")
    ));
    assert!(!url_is(
        "wasmbus://wasmcloud/key_valuemy_link/VX/Op",
        e.as_ref(),
        Some("Op")
    ));
    let empty = WasmCloudEntity::provider("VX", "default", "");
    assert!(url_is(
        "wasmbus:///default/VX/Op",
        empty.as_ref(),
        Some("Op")
    ));
    let actor = WasmCloudEntity::actor("MA");
    assert!(url_is("wasmbus://MA", actor.as_ref(), None));
    assert!(!url_is("wasmbus://MAB", actor.as_ref(), None));
}

#[test]
fn control_claims_bind_subject_payload_key_and_time() {
    let s = setup();
    let v = s.verifier();
    let iss = s.cluster.public_key();
    let subject = "wasmbus.rpc.lat.V.default.linkdefs.put";
    let tok = |subject: &str, payload: &[u8], key: &MacKey, iat: u64| {
        control_token(subject, payload, &iss, key, &fresh_jti(), iat)
    };
    let ok = tok(subject, b"payload", &s.kp, NOW);
    assert_eq!(
        v.verify_control_at(Some(&ok), subject, b"payload", NOW),
        Ok(())
    );
    let err = |r: Result<(), RpcError>| r.unwrap_err().message;
    assert!(err(v.verify_control_at(Some(&ok), subject, b"payload", NOW)).contains("replayed"));
    let t = tok(subject, b"payload", &s.kp, NOW);
    assert!(
        err(v.verify_control_at(
            Some(&t),
            "wasmbus.rpc.lat.V.default.shutdown",
            b"payload",
            NOW
        ))
        .contains("another subject")
    );
    let t = tok(subject, b"payload", &s.kp, NOW);
    assert!(err(v.verify_control_at(Some(&t), subject, b"tampered", NOW)).contains("hash"));
    let wrong = LatticeKey::generate().provider_key(&s.provider, "default");
    let t = tok(subject, b"payload", &wrong, NOW);
    assert!(err(v.verify_control_at(Some(&t), subject, b"payload", NOW)).contains("signature"));
    let t = tok(subject, b"payload", &s.kp, NOW - WINDOW - SKEW_SECS - 1);
    assert!(err(v.verify_control_at(Some(&t), subject, b"payload", NOW)).contains("too old"));
    let t = control_token(
        subject,
        b"p",
        &nkeys::KeyPair::new_cluster().public_key(),
        &s.kp,
        "j",
        NOW,
    );
    assert!(err(v.verify_control_at(Some(&t), subject, b"p", NOW)).contains("not a trusted"));
    // An Ed25519-headed control token is refused.
    let t = tok(subject, b"p", &s.kp, NOW).replacen(HEADER_HS256_B64, HEADER_ED25519_B64, 1);
    assert!(err(v.verify_control_at(Some(&t), subject, b"p", NOW)).contains("HS256"));
    // No header: accepted unless HS256 is required.
    assert_eq!(v.verify_control_at(None, subject, b"p", NOW), Ok(()));
    let strict = Verifier::builder(&s.provider)
        .issuers(std::slice::from_ref(&iss))
        .mac(MacCheck::Own(s.kp.clone()))
        .require_mac(true)
        .build();
    assert!(err(strict.verify_control_at(None, subject, b"p", NOW)).contains("required"));
    // A provider without a MAC key refuses a header it cannot check.
    let no_mac = Verifier::builder(&s.provider)
        .issuers(std::slice::from_ref(&iss))
        .build();
    let t = tok(subject, b"p", &s.kp, NOW);
    assert!(err(no_mac.verify_control_at(Some(&t), subject, b"p", NOW)).contains("no MAC key"));
    // The public signer makes tokens the verifier takes, on the real clock;
    // the same entry point refuses a tampered payload.
    let t = sign_control(subject, b"p", &iss, &s.kp);
    assert_eq!(v.verify_control(Some(&t), subject, b"p"), Ok(()));
    let t = sign_control(subject, b"p", &iss, &s.kp);
    assert!(err(v.verify_control(Some(&t), subject, b"q")).contains("hash"));
}

#[test]
fn header_constants_are_the_encodings_of_the_headers() {
    assert_eq!(URL_SAFE_NO_PAD.encode(HEADER_ED25519), HEADER_ED25519_B64);
    assert_eq!(URL_SAFE_NO_PAD.encode(HEADER_HS256), HEADER_HS256_B64);
}

#[test]
fn fresh_ids_are_unique_and_shaped() {
    let a = fresh_jti();
    let b = fresh_jti();
    assert_ne!(a, b);
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    let id = fresh_invocation_id();
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        vec![8, 4, 4, 4, 12]
    );
    assert!(parts[2].starts_with('4'));
    assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    assert_ne!(fresh_invocation_id(), id);
    assert_eq!(parse_hex32(&"aB".repeat(32)), Some([0xab; 32]));
    assert_eq!(parse_hex32(&"a".repeat(63)), None);
    assert_eq!(parse_hex32(&"g".repeat(64)), None);
    // One bad digit anywhere, high or low nibble, and the digits just past
    // '9' and 'f' in ASCII, are refused.
    for bad in [":", "g", "G", "/", "@", "`"] {
        for at in [0, 1, 62, 63] {
            let mut h = "0".repeat(64);
            h.replace_range(at..at + 1, bad);
            assert_eq!(parse_hex32(&h), None, "{h}");
        }
    }
    // The invocation id is this process's prefix (as in the jti) and a
    // counter that only grows.
    let (jti, id1, id2) = (fresh_jti(), fresh_invocation_id(), fresh_invocation_id());
    let p: Vec<&str> = id1.split('-').collect();
    assert_eq!(p[0], &jti[0..8]);
    assert_eq!(p[1], &jti[8..12]);
    assert_eq!(&p[2][1..], &jti[13..16]);
    // The variant group carries the counter's bits above 48 (the same as
    // the jti's counter just before, barring a carry past 2^48).
    let jti_counter = u64::from_str_radix(&jti[16..], 16).unwrap();
    assert_eq!(
        p[3],
        format!("{:04x}", 0x8000 | ((jti_counter >> 48) & 0x3fff))
    );
    let counter = |id: &str| u64::from_str_radix(&id[24..], 16).unwrap();
    assert!(counter(&id2) > counter(&id1), "{id1} then {id2}");
    let jti2 = fresh_jti();
    assert_eq!(jti2[..16], jti[..16]);
    assert!(u64::from_str_radix(&jti2[16..], 16).unwrap() > counter(&id2));
    // The clock is the real one.
    assert!(now_secs() > 1_700_000_000);
}

#[test]
fn urls_keep_link_name_colons_and_lowercase_any_script() {
    let s = setup();
    let v = s.verifier();
    let mut url = String::new();
    let e = WasmCloudEntity::provider("VX", "Zone:Café É", "acme:Key Value");
    push_url(&mut url, e.as_ref(), Some("Op"));
    // ':' becomes '/' in the contract id only; ' ' is '_'; every script lowercased.
    assert_eq!(url, "wasmbus://acme/key_value/zone:café_é/VX/Op");
    assert!(url_is(&url, e.as_ref(), Some("Op")));
    assert!(!url_is(
        "wasmbus://acme/key_value/zone:cafÉ_é/VX/Op",
        e.as_ref(),
        Some("Op")
    ));
    assert!(!url_is(
        "wasmbus://acme/key_value/zone/café_é/VX/Op",
        e.as_ref(),
        Some("Op")
    ));
    // And such a target verifies end to end.
    let mut inv = s.invocation();
    inv.target.link_name = "Zone:Café É".into();
    let c = s.claims(&inv, NOW);
    inv.encoded_claims = encode_jwt(&c, &s.hs256()).unwrap();
    let v2 = Verifier::builder(&s.provider)
        .issuers(&[s.cluster.public_key()])
        .mac(MacCheck::Own(s.kp.clone()))
        .build();
    assert_eq!(refused(&v2, &inv, NOW), "accepted");
    let _ = v;
}

#[test]
fn long_claims_and_other_header_spellings_verify() {
    let s = setup();
    let v = s.verifier();
    // Claims far longer than the verifier's stack buffer.
    let mut inv = s.invocation();
    inv.operation = format!("KeyValue.{}", "G".repeat(2000));
    let c = s.claims(&inv, NOW);
    inv.encoded_claims = encode_jwt(&c, &s.hs256()).unwrap();
    assert!(inv.encoded_claims.len() > 3000);
    assert_eq!(refused(&v, &inv, NOW), "accepted");
    // An Ed25519 header with its fields in another order (another peer's
    // encoder) is read, not refused.
    let inv = s.signed(&s.ed25519(), |_| {});
    let (_, rest) = inv.encoded_claims.split_once('.').unwrap();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"Ed25519","typ":"JWT"}"#);
    let kp = nkeys::KeyPair::from_seed(&s.cluster.seed().unwrap()).unwrap();
    let claims_b64 = rest.split_once('.').unwrap().0;
    let signed = format!("{header}.{claims_b64}");
    let sig = URL_SAFE_NO_PAD.encode(kp.sign(signed.as_bytes()).unwrap());
    let mut respelled = inv.clone();
    respelled.encoded_claims = format!("{signed}.{sig}");
    assert_eq!(refused(&v, &respelled, NOW), "accepted");
}

#[test]
fn json_strings_escape_exactly_what_json_requires() {
    let mut out = String::new();
    json::push_str(&mut out, "a b");
    assert_eq!(out, r#""a b""#);
    // A control character alone is enough to need escaping.
    out.clear();
    json::push_str(&mut out, "a\u{1}");
    assert_eq!(out, "\"a\\u0001\"");
    out.clear();
    json::push_str(&mut out, "a b\u{1}\u{1f}\u{7f}\"q\\");
    assert_eq!(out, "\"a b\\u0001\\u001f\\u007f\\\"q\\\\\"");
}

#[test]
fn keys_round_trip_derive_apart_and_never_print() {
    let l = lattice();
    assert_eq!(
        LatticeKey::from_base64url(&l.to_base64url())
            .unwrap()
            .to_base64url(),
        l.to_base64url()
    );
    assert_eq!(l.to_base64url().len(), 43);
    let a = l.derive("lattice-xkey-v1:host");
    let b = l.derive("lattice-host-ctl-v1:N");
    assert_ne!(a, b);
    assert_ne!(a, [0; 32]);
    assert_ne!(&a, l.provider_key("V", "default").bytes());
    assert_eq!(a, l.derive("lattice-xkey-v1:host"));
    let k = l.provider_key("V", "default");
    assert!(!format!("{k:?}").contains(&k.to_base64url()));
    assert!(format!("{k:?}").contains("redacted"));
    assert!(format!("{l:?}").contains("redacted"));
    // A host derives each provider's key once and keeps it.
    let host = Signer::host(nkeys::KeyPair::new_cluster(), lattice());
    for (p, link) in [
        ("VA", "default"),
        ("VB", "default"),
        ("VA", "other"),
        ("VA", "default"),
    ] {
        let mut inv = Invocation {
            origin: WasmCloudEntity::actor("MA"),
            target: WasmCloudEntity::provider(p, link, "c"),
            operation: "O.p".into(),
            id: fresh_invocation_id(),
            ..Invocation::default()
        };
        sign_invocation(&mut inv, b"", &host, None).unwrap();
    }
    assert_eq!(host.cached_keys(), 3);
    // Who a signing key signs as.
    let s = setup();
    assert_eq!(s.hs256().issuer(), s.cluster.public_key());
    assert_eq!(s.ed25519().issuer(), s.cluster.public_key());
}
