//! Native tests of session ids (MCP-18) and of the identity configuration schema.
// Tests: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jwt_simple::prelude::*;
use meshguard_core::config::parse;
use meshguard_core::jwt::session::SESSION_ID_LEN;
use meshguard_core::jwt::{
    Algorithm, JwksSource, MinterConfig, SessionCodec, SessionError, VerifierConfig,
};
use serde_json::json;

const NOW: u64 = 1_700_000_000;
const DAY: u64 = 86_400;

fn codec() -> SessionCodec {
    SessionCodec::new(vec![(1, vec![7u8; 32])], DAY, 30).unwrap()
}

// ---------- sessions ----------

#[test]
fn session_round_trip() {
    let c = codec();
    let sid = c.issue("alice", &[1u8; 16], NOW);
    assert_eq!(sid.len(), SESSION_ID_LEN);
    assert_eq!(c.verify(&sid, "alice", NOW + 60), Ok(NOW));
    // Two sessions of one user differ by their randomness.
    assert_ne!(sid, c.issue("alice", &[2u8; 16], NOW));
}

#[test]
fn another_users_session_is_rejected() {
    let c = codec();
    let sid = c.issue("alice", &[1u8; 16], NOW);
    let e = c.verify(&sid, "bob", NOW).unwrap_err();
    assert_eq!(e, SessionError::Mismatch);
    assert_eq!(e.reason(), "session_not_owned");
    // Prefix/suffix games on the subject do not help.
    assert!(c.verify(&sid, "alic", NOW).is_err());
    assert!(c.verify(&sid, "alicee", NOW).is_err());
    assert!(c.verify(&sid, "", NOW).is_err());
}

#[test]
fn tampered_session_is_rejected() {
    let c = codec();
    let sid = c.issue("alice", &[1u8; 16], NOW);
    let raw = URL_SAFE_NO_PAD.decode(&sid).unwrap();
    for i in 0..raw.len() {
        let mut bad = raw.clone();
        bad[i] ^= 0x01;
        let e = c
            .verify(&URL_SAFE_NO_PAD.encode(&bad), "alice", NOW)
            .unwrap_err();
        assert_ne!(e, SessionError::Expired, "byte {i}");
    }
    // Moving the issue time forward (to extend the session) breaks the tag.
    let mut later = raw.clone();
    later[2..10].copy_from_slice(&(NOW + DAY).to_be_bytes());
    assert_eq!(
        c.verify(&URL_SAFE_NO_PAD.encode(&later), "alice", NOW + DAY)
            .unwrap_err(),
        SessionError::Mismatch
    );
}

#[test]
fn malformed_sessions() {
    let c = codec();
    let sid = c.issue("alice", &[1u8; 16], NOW);
    for bad in [
        String::new(),
        "x".repeat(SESSION_ID_LEN),
        sid[..sid.len() - 1].to_string(),
        format!("{sid}A"),
        STANDARD.encode(URL_SAFE_NO_PAD.decode(&sid).unwrap()),
        "é".repeat(SESSION_ID_LEN / 2),
    ] {
        assert!(c.verify(&bad, "alice", NOW).is_err(), "{bad:?}");
    }
    let mut v2 = URL_SAFE_NO_PAD.decode(&sid).unwrap();
    v2[0] = 2;
    assert_eq!(
        c.verify(&URL_SAFE_NO_PAD.encode(&v2), "alice", NOW)
            .unwrap_err(),
        SessionError::Malformed
    );
}

#[test]
fn session_age_limits() {
    let c = codec();
    let sid = c.issue("alice", &[1u8; 16], NOW);
    assert!(c.verify(&sid, "alice", NOW + DAY).is_ok());
    assert_eq!(
        c.verify(&sid, "alice", NOW + DAY + 1).unwrap_err().reason(),
        "session_expired"
    );
    assert!(c.verify(&sid, "alice", NOW - 30).is_ok());
    assert_eq!(
        c.verify(&sid, "alice", NOW - 31).unwrap_err(),
        SessionError::FromFuture
    );
}

#[test]
fn session_key_rotation() {
    let old = SessionCodec::new(vec![(1, vec![7u8; 32])], DAY, 30).unwrap();
    let both = SessionCodec::new(vec![(2, vec![9u8; 32]), (1, vec![7u8; 32])], DAY, 30).unwrap();
    let new_only = SessionCodec::new(vec![(2, vec![9u8; 32])], DAY, 30).unwrap();
    let old_sid = old.issue("alice", &[1u8; 16], NOW);
    assert!(both.verify(&old_sid, "alice", NOW).is_ok());
    assert_eq!(
        new_only.verify(&old_sid, "alice", NOW).unwrap_err(),
        SessionError::UnknownKey
    );
    let new_sid = both.issue("alice", &[1u8; 16], NOW);
    assert!(new_only.verify(&new_sid, "alice", NOW).is_ok());
    // Same key id, different key: forged under a guessed key fails.
    let impostor = SessionCodec::new(vec![(2, vec![8u8; 32])], DAY, 30).unwrap();
    assert_eq!(
        new_only
            .verify(&impostor.issue("alice", &[1u8; 16], NOW), "alice", NOW)
            .unwrap_err(),
        SessionError::Mismatch
    );
}

#[test]
fn session_keys_from_env() {
    let k1 = URL_SAFE_NO_PAD.encode([3u8; 32]);
    let k2 = STANDARD.encode([4u8; 48]);
    let c = SessionCodec::from_env(&format!(" 5:{k1} , 6:{k2}"), DAY, 30).unwrap();
    let sid = c.issue("alice", &[0u8; 16], NOW);
    assert_eq!(URL_SAFE_NO_PAD.decode(&sid).unwrap()[1], 5);
    assert!(format!("{c:?}").contains("key_ids"));
    assert!(!format!("{c:?}").contains(&k1));
    for bad in [
        "",
        "5",
        "x:abcd",
        &format!("5:{}", URL_SAFE_NO_PAD.encode([1u8; 16])),
        &format!("5:{k1},5:{k1}"),
        "300:AAAA",
        "5:!!!",
    ] {
        assert_eq!(
            SessionCodec::from_env(bad, DAY, 30).unwrap_err(),
            SessionError::BadKeys,
            "{bad:?}"
        );
    }
}

// ---------- configuration ----------

fn jwks_inline() -> serde_json::Value {
    let k = ES256KeyPair::generate().with_key_id("gw1");
    let jwk: serde_json::Value = serde_json::from_str(&k.public_key().to_jwk()).unwrap();
    json!({ "keys": [jwk] })
}

#[test]
fn verifier_config_inline_builds_a_working_verifier() {
    let cfg = json!({
        "issuer": "https://gateway.test",
        "audiences": ["mcp-github"],
        "algorithms": ["ES256"],
        "jwks": { "inline": jwks_inline() },
        "required_claims": ["tool", "cnf"],
    });
    let c: VerifierConfig = parse(cfg.to_string().as_bytes()).unwrap();
    assert_eq!(c.clock_skew_seconds, 30);
    assert_eq!(c.max_token_bytes, 8192);
    let v = c.build().unwrap();
    assert_eq!(v.keys().len(), 1);
    assert_eq!(v.policy().algorithms, [Algorithm::ES256]);
    // The JWKS may also be given as a string.
    let cfg = json!({
        "issuer": "i", "audiences": ["a"], "algorithms": ["EdDSA", "RS256"],
        "jwks": { "inline": jwks_inline().to_string() },
    });
    let c: VerifierConfig = parse(cfg.to_string().as_bytes()).unwrap();
    assert_eq!(c.build().unwrap().keys().len(), 1);
}

#[test]
fn verifier_config_remote_and_mapping() {
    let cfg = json!({
        "issuer": "https://idp.test",
        "audiences": ["meshguard-gateway"],
        "algorithms": ["RS256", "ES256"],
        "jwks": { "remote": { "uri": "https://idp.test/jwks", "cluster": "idp" } },
        "claims": { "team": { "claim": "groups", "allowed": ["sre", "security"] },
                    "role": { "claim": "realm_access.roles" } },
    });
    let c: VerifierConfig = parse(cfg.to_string().as_bytes()).unwrap();
    let JwksSource::Remote(r) = &c.jwks else {
        panic!("remote expected")
    };
    assert_eq!(
        (
            r.refresh_interval_seconds,
            r.min_refresh_interval_seconds,
            r.timeout_ms
        ),
        (300, 30, 5000)
    );
    let v = c.build().unwrap();
    assert!(v.keys().is_empty());
    assert_eq!(v.policy().mapping.team.claim.as_deref(), Some("groups"));
}

#[test]
fn verifier_config_errors_name_the_field() {
    let base = json!({
        "issuer": "i", "audiences": ["a"], "algorithms": ["ES256"],
        "jwks": { "inline": jwks_inline() },
    });
    let cases = [
        (json!({ "algorithms": ["none"] }), "algorithms[0]"),
        (json!({ "algorithms": ["HS256"] }), "algorithms[0]"),
        (json!({ "algorithms": [] }), "algorithms"),
        (json!({ "audiences": [] }), "audiences"),
        (json!({ "audiences": [" "] }), "audiences[0]"),
        (json!({ "issuer": "" }), "issuer"),
        (json!({ "clock_skew_seconds": 3600 }), "clock_skew_seconds"),
        (json!({ "max_token_bytes": 10 }), "max_token_bytes"),
        (
            json!({ "jwks": { "inline": { "keys": [] } } }),
            "jwks.inline",
        ),
        (
            json!({ "jwks": { "remote": { "uri": "ftp://x", "cluster": "c" } } }),
            "jwks.remote.uri",
        ),
        (
            json!({ "jwks": { "remote": { "uri": "https://x", "cluster": "" } } }),
            "jwks.remote.cluster",
        ),
        (
            json!({ "jwks": { "remote": { "uri": "https://x", "cluster": "c", "refresh_interval_seconds": 1 } } }),
            "jwks.remote.refresh_interval_seconds",
        ),
        (
            json!({ "jwks": { "remote": { "uri": "https://x", "cluster": "c", "bogus": 1 } } }),
            "jwks.remote",
        ),
        (
            json!({ "claims": { "team": { "claim": "" } } }),
            "claims.team.claim",
        ),
        (
            json!({ "required_claims": ["everything"] }),
            "required_claims[0]",
        ),
        (json!({ "bogus": true }), "."),
    ];
    for (patch, field) in cases {
        let mut cfg = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        let e = parse::<VerifierConfig>(cfg.to_string().as_bytes()).unwrap_err();
        assert!(
            e.field.starts_with(field) || (field == "." && e.reason.contains("bogus")),
            "{patch}: {e}"
        );
    }
}

#[test]
fn minter_config_defaults_and_errors() {
    let c: MinterConfig = parse(br#"{"issuer":"https://gateway.test"}"#).unwrap();
    assert_eq!(c.ttl_seconds, 120);
    assert_eq!(c.signing_keys_env, "MESHGUARD_SIGNING_KEYS");
    assert_eq!(c.jwks_path, "/.well-known/jwks.json");
    assert_eq!(c.refresh_margin_seconds(), 30);
    for (doc, field) in [
        (r#"{"issuer":"x","ttl_seconds":0}"#, "ttl_seconds"),
        (r#"{"issuer":"x","ttl_seconds":86400}"#, "ttl_seconds"),
        (r#"{"issuer":""}"#, "issuer"),
        (r#"{"issuer":"x","jwks_path":"jwks"}"#, "jwks_path"),
        (r#"{"issuer":"x","signing_key_pem":"..."}"#, "."),
    ] {
        let e = parse::<MinterConfig>(doc.as_bytes()).unwrap_err();
        assert!(
            e.field == field || e.reason.contains("unknown field"),
            "{doc}: {e}"
        );
    }
}
