//! Native tests of meshguard's JWT logic: JWKS, verification, minting and caches.
//! Adversarial cases build tokens by hand or with jwt-simple's own signers.
// Tests: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::*;
use meshguard_core::jwt::{
    self, jti_from_random, Actor, Algorithm, ClaimMapping, ClaimSource, KeySet, MintCache,
    MintRequest, Minter, Policy, ReplayCache, RequiredClaim, SigningKey, TokenCache, Verifier,
    VerifyError,
};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

const NOW: u64 = 1_700_000_000;
const ISS: &str = "https://idp.test";
const AUD: &str = "mcp-github";

// ---------- helpers ----------

fn rsa() -> &'static RS256KeyPair {
    static KEY: OnceLock<RS256KeyPair> = OnceLock::new();
    KEY.get_or_init(|| RS256KeyPair::generate(2048).unwrap().with_key_id("rsa1"))
}

fn es(kid: &str) -> ES256KeyPair {
    ES256KeyPair::generate().with_key_id(kid)
}

fn ed(kid: &str) -> Ed25519KeyPair {
    Ed25519KeyPair::generate().with_key_id(kid)
}

/// A JWKS built with jwt-simple's own JWK export (independent of ours).
fn jwks(jwks: &[String]) -> KeySet {
    let keys: Vec<Value> = jwks
        .iter()
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
    let doc = json!({ "keys": keys }).to_string();
    KeySet::parse(doc.as_bytes()).unwrap().keys
}

fn payload(extra: Value) -> Value {
    let mut base = json!({
        "iss": ISS, "sub": "alice", "aud": AUD,
        "iat": NOW - 10, "exp": NOW + 300, "jti": "j1",
        "team": "sre", "role": "operator",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

/// Claims with every member in the custom map, so tests control the payload exactly.
fn raw_claims(p: Value) -> JWTClaims<Map<String, Value>> {
    JWTClaims {
        issued_at: None,
        expires_at: None,
        invalid_before: None,
        issuer: None,
        subject: None,
        audiences: None,
        jwt_id: None,
        nonce: None,
        custom: p.as_object().unwrap().clone(),
    }
}

fn sign_es(k: &ES256KeyPair, p: Value) -> String {
    k.sign(raw_claims(p)).unwrap()
}

fn policy(algs: &[Algorithm]) -> Policy {
    Policy::new(ISS, AUD, algs)
}

fn es_verifier(k: &ES256KeyPair) -> Verifier {
    Verifier::new(
        policy(&[Algorithm::ES256]),
        jwks(&[k.public_key().to_jwk()]),
    )
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Replace a token's header with `header`, keeping payload and signature.
fn with_header(token: &str, header: Value) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    let h = b64(&header);
    parts[0] = &h;
    parts.join(".")
}

fn err(v: &Verifier, token: &str) -> VerifyError {
    v.verify(token, NOW).unwrap_err()
}

// ---------- honest round trips ----------

#[test]
fn es256_round_trip() {
    let k = es("k1");
    let v = es_verifier(&k);
    let c = v.verify(&sign_es(&k, payload(json!({}))), NOW).unwrap();
    assert_eq!(c.sub.as_deref(), Some("alice"));
    assert_eq!(c.aud, vec![AUD.to_string()]);
    assert_eq!(c.team.as_deref(), Some("sre"));
    assert_eq!(c.role.as_deref(), Some("operator"));
    assert_eq!(c.exp, Some(NOW + 300));
}

#[test]
fn rs256_round_trip() {
    let k = rsa();
    let v = Verifier::new(
        policy(&[Algorithm::RS256]),
        jwks(&[k.public_key().to_jwk()]),
    );
    let t = k.sign(raw_claims(payload(json!({})))).unwrap();
    assert_eq!(v.verify(&t, NOW).unwrap().sub.as_deref(), Some("alice"));
}

#[test]
fn eddsa_round_trip() {
    let k = ed("e1");
    let v = Verifier::new(
        policy(&[Algorithm::EdDSA]),
        jwks(&[k.public_key().to_jwk()]),
    );
    let t = k.sign(raw_claims(payload(json!({})))).unwrap();
    assert_eq!(v.verify(&t, NOW).unwrap().sub.as_deref(), Some("alice"));
}

#[test]
fn mixed_key_set_selects_by_kid() {
    let (e, d) = (es("k1"), ed("e1"));
    let keys = jwks(&[
        e.public_key().to_jwk(),
        d.public_key().to_jwk(),
        rsa().public_key().to_jwk(),
    ]);
    let v = Verifier::new(
        policy(&[Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256]),
        keys,
    );
    assert!(v.verify(&sign_es(&e, payload(json!({}))), NOW).is_ok());
    assert!(v
        .verify(&d.sign(raw_claims(payload(json!({})))).unwrap(), NOW)
        .is_ok());
    assert!(v
        .verify(&rsa().sign(raw_claims(payload(json!({})))).unwrap(), NOW)
        .is_ok());
}

// ---------- time ----------

#[test]
fn expiry_with_skew_edges() {
    let k = es("k1");
    let v = es_verifier(&k);
    let t = sign_es(&k, payload(json!({ "exp": NOW })));
    // Valid while now < exp + 30.
    assert!(v.verify(&t, NOW + 29).is_ok());
    assert_eq!(
        v.verify(&t, NOW + 30).unwrap_err(),
        VerifyError::TokenExpired
    );
    assert_eq!(
        v.verify(&t, NOW + 10_000).unwrap_err().reason(),
        "token_expired"
    );
}

#[test]
fn not_yet_valid_with_skew_edges() {
    let k = es("k1");
    let v = es_verifier(&k);
    let t = sign_es(&k, payload(json!({ "nbf": NOW + 30, "iat": NOW })));
    assert!(v.verify(&t, NOW).is_ok());
    assert_eq!(
        v.verify(&t, NOW - 1).unwrap_err(),
        VerifyError::TokenNotYetValid
    );
    let future_iat = sign_es(&k, payload(json!({ "iat": NOW + 31 })));
    assert_eq!(err(&v, &future_iat).reason(), "token_not_yet_valid");
}

#[test]
fn zero_skew_is_exact() {
    let k = es("k1");
    let mut p = policy(&[Algorithm::ES256]);
    p.clock_skew_seconds = 0;
    let v = Verifier::new(p, jwks(&[k.public_key().to_jwk()]));
    let t = sign_es(&k, payload(json!({ "exp": NOW + 1, "nbf": NOW })));
    assert!(v.verify(&t, NOW).is_ok());
    assert_eq!(
        v.verify(&t, NOW + 1).unwrap_err(),
        VerifyError::TokenExpired
    );
    assert_eq!(
        v.verify(&t, NOW - 1).unwrap_err(),
        VerifyError::TokenNotYetValid
    );
}

#[test]
fn missing_exp_is_refused() {
    let k = es("k1");
    let t = sign_es(&k, payload(json!({ "exp": null })));
    assert_eq!(err(&es_verifier(&k), &t), VerifyError::MissingClaim("exp"));
}

#[test]
fn fractional_and_bad_numeric_dates() {
    let k = es("k1");
    let v = es_verifier(&k);
    let frac = sign_es(&k, payload(json!({ "exp": (NOW + 100) as f64 + 0.5 })));
    assert_eq!(v.verify(&frac, NOW).unwrap().exp, Some(NOW + 100));
    let text = sign_es(&k, payload(json!({ "exp": "tomorrow" })));
    assert_eq!(err(&v, &text).reason(), "token_malformed");
    let negative = sign_es(&k, payload(json!({ "exp": -5 })));
    assert_eq!(err(&v, &negative).reason(), "token_malformed");
}

// ---------- issuer and audience ----------

#[test]
fn wrong_and_missing_issuer() {
    let k = es("k1");
    let v = es_verifier(&k);
    assert_eq!(
        err(&v, &sign_es(&k, payload(json!({ "iss": "https://evil" })))),
        VerifyError::WrongIssuer
    );
    // Exact match: no prefix, case or trailing-slash games.
    assert_eq!(
        err(
            &v,
            &sign_es(&k, payload(json!({ "iss": "https://idp.test/" })))
        ),
        VerifyError::WrongIssuer
    );
    assert_eq!(
        err(&v, &sign_es(&k, payload(json!({ "iss": null })))),
        VerifyError::MissingClaim("iss")
    );
}

#[test]
fn audience_string_and_array() {
    let k = es("k1");
    let v = es_verifier(&k);
    assert!(v
        .verify(&sign_es(&k, payload(json!({ "aud": [ "x", AUD ] }))), NOW)
        .is_ok());
    assert_eq!(
        err(&v, &sign_es(&k, payload(json!({ "aud": "mcp-payroll" })))),
        VerifyError::WrongAudience
    );
    assert_eq!(
        err(&v, &sign_es(&k, payload(json!({ "aud": ["a", "b"] })))),
        VerifyError::WrongAudience
    );
    assert_eq!(
        err(&v, &sign_es(&k, payload(json!({ "aud": [] })))),
        VerifyError::MissingClaim("aud")
    );
    assert_eq!(
        err(&v, &sign_es(&k, payload(json!({ "aud": null })))),
        VerifyError::MissingClaim("aud")
    );
    assert_eq!(
        err(&v, &sign_es(&k, payload(json!({ "aud": [AUD, 7] })))).reason(),
        "token_malformed"
    );
    // Substrings do not count.
    assert_eq!(
        err(
            &v,
            &sign_es(&k, payload(json!({ "aud": "mcp-github-evil" })))
        ),
        VerifyError::WrongAudience
    );
}

#[test]
fn subject_is_required() {
    let k = es("k1");
    let v = es_verifier(&k);
    assert_eq!(
        err(&v, &sign_es(&k, payload(json!({ "sub": null })))),
        VerifyError::MissingClaim("sub")
    );
    assert_eq!(
        err(&v, &sign_es(&k, payload(json!({ "sub": "" })))),
        VerifyError::MissingClaim("sub")
    );
    assert_eq!(
        err(&v, &sign_es(&k, payload(json!({ "sub": 42 })))).reason(),
        "token_malformed"
    );
}

#[test]
fn required_claims_are_enforced() {
    let k = es("k1");
    let mut p = policy(&[Algorithm::ES256]);
    p.required = vec![RequiredClaim::Tool, RequiredClaim::Cnf];
    let v = Verifier::new(p, jwks(&[k.public_key().to_jwk()]));
    let t = sign_es(&k, payload(json!({ "tool": "create_issue" })));
    assert_eq!(err(&v, &t), VerifyError::MissingClaim("cnf"));
    let t = sign_es(
        &k,
        payload(json!({ "tool": "create_issue", "cnf": { "spiffe": "spiffe://x" } })),
    );
    let c = v.verify(&t, NOW).unwrap();
    assert!(c.require_tool("create_issue").is_ok());
    assert_eq!(
        c.require_tool("delete_repo").unwrap_err().reason(),
        "tool_mismatch"
    );
    assert!(c.require_binding("spiffe://x").is_ok());
    assert_eq!(
        c.require_binding("spiffe://y").unwrap_err().reason(),
        "binding_mismatch"
    );
    assert_eq!(
        c.require_binding("").unwrap_err().reason(),
        "binding_mismatch"
    );
}

// ---------- algorithm attacks ----------

#[test]
fn alg_none_is_refused() {
    let k = es("k1");
    let v = es_verifier(&k);
    let p = b64(&payload(json!({})));
    let h = b64(&json!({ "alg": "none", "typ": "JWT" }));
    assert_eq!(err(&v, &format!("{h}.{p}.")), VerifyError::TokenMalformed);
    assert_eq!(
        err(&v, &format!("{h}.{p}.AAAA")),
        VerifyError::AlgNotAllowed
    );
    let h = b64(&json!({ "alg": "none", "kid": "k1" }));
    assert_eq!(
        err(&v, &format!("{h}.{p}.AAAA")),
        VerifyError::AlgNotAllowed
    );
    for alg in ["None", "NONE", "nOnE", "es256", ""] {
        let h = b64(&json!({ "alg": alg, "kid": "k1" }));
        assert_eq!(
            err(&v, &format!("{h}.{p}.AAAA")),
            VerifyError::AlgNotAllowed,
            "{alg}"
        );
    }
}

#[test]
fn hs256_with_public_key_as_secret_is_refused() {
    // Classic algorithm confusion: HMAC keyed with the verifier's public key material.
    let e = es("k1");
    let keys = jwks(&[e.public_key().to_jwk(), rsa().public_key().to_jwk()]);
    let v = Verifier::new(policy(&[Algorithm::ES256, Algorithm::RS256]), keys);
    let secrets = [
        rsa().public_key().to_pem().unwrap().into_bytes(),
        e.public_key().to_pem().unwrap().into_bytes(),
        rsa().public_key().to_jwk().into_bytes(),
        e.public_key().to_bytes(),
    ];
    for (secret, kid) in secrets.iter().zip(["rsa1", "k1", "rsa1", "k1"]) {
        let t = HS256Key::from_bytes(secret)
            .with_key_id(kid)
            .authenticate(raw_claims(payload(json!({}))))
            .unwrap();
        assert_eq!(err(&v, &t), VerifyError::AlgNotAllowed);
    }
}

#[test]
fn rs256_header_on_ec_kid_is_refused() {
    let e = es("ec1");
    let keys = jwks(&[e.public_key().to_jwk(), rsa().public_key().to_jwk()]);
    let v = Verifier::new(policy(&[Algorithm::ES256, Algorithm::RS256]), keys);
    // Signed by RSA but naming the EC key: the header may not pick the key's algorithm.
    let forged = RS256KeyPair::from_pem(&rsa().to_pem().unwrap())
        .unwrap()
        .with_key_id("ec1")
        .sign(raw_claims(payload(json!({}))))
        .unwrap();
    assert_eq!(err(&v, &forged), VerifyError::AlgKeyMismatch);
    // And an ES256 header naming the RSA key.
    let forged = es("rsa1").sign(raw_claims(payload(json!({})))).unwrap();
    assert_eq!(err(&v, &forged).reason(), "alg_key_mismatch");
}

#[test]
fn algorithm_not_pinned_is_refused_even_with_a_valid_key() {
    let keys = jwks(&[rsa().public_key().to_jwk()]);
    let v = Verifier::new(policy(&[Algorithm::ES256]), keys);
    let t = rsa().sign(raw_claims(payload(json!({})))).unwrap();
    assert_eq!(err(&v, &t), VerifyError::AlgNotAllowed);
}

// ---------- key selection ----------

#[test]
fn unknown_kid_asks_for_refresh() {
    let k = es("k1");
    let v = es_verifier(&k);
    let e = err(&v, &sign_es(&es("k9"), payload(json!({}))));
    assert_eq!(e, VerifyError::UnknownKid);
    assert!(e.wants_jwks_refresh());
    assert_eq!(e.status(), 401);
}

#[test]
fn missing_kid_needs_exactly_one_candidate() {
    let (a, b) = (ES256KeyPair::generate(), ES256KeyPair::generate());
    let one = Verifier::new(
        policy(&[Algorithm::ES256]),
        jwks(&[a.public_key().to_jwk()]),
    );
    assert!(one.verify(&sign_es(&a, payload(json!({}))), NOW).is_ok());
    let two = Verifier::new(
        policy(&[Algorithm::ES256]),
        jwks(&[a.public_key().to_jwk(), b.public_key().to_jwk()]),
    );
    assert_eq!(
        err(&two, &sign_es(&a, payload(json!({})))),
        VerifyError::MissingKid
    );
    // One EC key plus an RSA key: the kid-less ES256 token has one candidate.
    let mixed = Verifier::new(
        policy(&[Algorithm::ES256, Algorithm::RS256]),
        jwks(&[a.public_key().to_jwk(), rsa().public_key().to_jwk()]),
    );
    assert!(mixed.verify(&sign_es(&a, payload(json!({}))), NOW).is_ok());
}

#[test]
fn empty_key_set_means_no_keys() {
    let v = Verifier::new(policy(&[Algorithm::ES256]), KeySet::default());
    let e = err(&v, &sign_es(&es("k1"), payload(json!({}))));
    assert_eq!(e.reason(), "no_keys");
    assert_eq!(e.status(), 503);
}

#[test]
fn key_rotation() {
    let (old, new) = (es("old"), es("new"));
    let mut v = Verifier::new(
        policy(&[Algorithm::ES256]),
        jwks(&[old.public_key().to_jwk(), new.public_key().to_jwk()]),
    );
    let t_old = sign_es(&old, payload(json!({})));
    let t_new = sign_es(&new, payload(json!({})));
    let mut cache = TokenCache::new(16);
    assert!(v.verify_cached(&t_old, NOW, &mut cache).is_ok());
    assert!(v.verify_cached(&t_new, NOW, &mut cache).is_ok());
    v.set_keys(jwks(&[new.public_key().to_jwk()]));
    // Cached or not, the removed key no longer vouches for anything.
    assert_eq!(
        v.verify_cached(&t_old, NOW, &mut cache).unwrap_err(),
        VerifyError::UnknownKid
    );
    assert_eq!(err(&v, &t_old), VerifyError::UnknownKid);
    assert!(v.verify_cached(&t_new, NOW, &mut cache).is_ok());
}

#[test]
fn same_kid_new_key_invalidates_cached_tokens() {
    let (a, b) = (es("k1"), es("k1"));
    let mut v = es_verifier(&a);
    let t = sign_es(&a, payload(json!({})));
    let mut cache = TokenCache::new(4);
    assert!(v.verify_cached(&t, NOW, &mut cache).is_ok());
    v.set_keys(jwks(&[b.public_key().to_jwk()]));
    assert_eq!(
        v.verify_cached(&t, NOW, &mut cache).unwrap_err(),
        VerifyError::BadSignature
    );
}

// ---------- tampering and structure ----------

#[test]
fn tampered_payload_and_signature() {
    let k = es("k1");
    let v = es_verifier(&k);
    let t = sign_es(&k, payload(json!({})));
    let parts: Vec<&str> = t.split('.').collect();
    let evil = b64(&payload(json!({ "sub": "root" })));
    assert_eq!(
        err(&v, &format!("{}.{}.{}", parts[0], evil, parts[2])),
        VerifyError::BadSignature
    );
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[5] ^= 1;
    let sig = URL_SAFE_NO_PAD.encode(sig);
    assert_eq!(
        err(&v, &format!("{}.{}.{}", parts[0], parts[1], sig)),
        VerifyError::BadSignature
    );
    // Truncated signatures: a non-canonical tail is malformed, a clean cut fails the check.
    let short = &parts[2][..parts[2].len() - 4];
    let e = err(&v, &format!("{}.{}.{}", parts[0], parts[1], short));
    assert!(
        matches!(e, VerifyError::TokenMalformed | VerifyError::BadSignature),
        "{e:?}"
    );
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let cut = URL_SAFE_NO_PAD.encode(&sig[..63]);
    assert_eq!(
        err(&v, &format!("{}.{}.{}", parts[0], parts[1], cut)),
        VerifyError::BadSignature
    );
    // A signature from another token of the same key.
    let other = sign_es(&k, payload(json!({ "sub": "bob" })));
    let other_sig = other.split('.').nth(2).unwrap();
    assert_eq!(
        err(&v, &format!("{}.{}.{}", parts[0], parts[1], other_sig)),
        VerifyError::BadSignature
    );
}

#[test]
fn structural_garbage_is_malformed() {
    let k = es("k1");
    let v = es_verifier(&k);
    let t = sign_es(&k, payload(json!({})));
    let cases = [
        String::new(),
        ".".into(),
        "..".into(),
        "a.b".into(),
        t[..t.len() / 2].to_string(),
        format!("{t}.extra"),
        format!("{t}."),
        format!(" {t}"),
        t.replacen('.', "..", 1),
        format!("Bearer {t}"),
        format!("{}+{}", &t[..t.len() - 2], &t[t.len() - 1..]),
        "\u{00e9}.\u{00e9}.\u{00e9}".into(),
        format!(
            "{}=.{}",
            t.split('.').next().unwrap(),
            t.split_once('.').unwrap().1
        ),
    ];
    for c in &cases {
        let e = err(&v, c);
        assert!(
            matches!(e, VerifyError::TokenMalformed | VerifyError::BadSignature),
            "{c:?}: {e:?}"
        );
    }
    assert_eq!(err(&v, &t[..t.len() / 2]), VerifyError::TokenMalformed);
    assert_eq!(err(&v, &format!("{t}.extra")), VerifyError::TokenMalformed);
}

#[test]
fn huge_token_is_refused_before_parsing() {
    let k = es("k1");
    let v = es_verifier(&k);
    let big = "A".repeat(8 * 1024 + 1);
    assert_eq!(err(&v, &big), VerifyError::TokenTooLarge);
    let padded = sign_es(&k, payload(json!({ "pad": "x".repeat(9000) })));
    assert_eq!(err(&v, &padded).reason(), "token_too_large");
    let mut cache = TokenCache::new(4);
    assert_eq!(
        v.verify_cached(&big, NOW, &mut cache).unwrap_err(),
        VerifyError::TokenTooLarge
    );
}

#[test]
fn header_checks() {
    let k = es("k1");
    let v = es_verifier(&k);
    let t = sign_es(&k, payload(json!({})));
    let h = |hv: Value| err(&v, &with_header(&t, hv));
    assert_eq!(
        h(json!({ "alg": "ES256", "kid": "k1", "crit": ["exp"] })),
        VerifyError::UnsupportedHeader
    );
    assert_eq!(
        h(json!({ "alg": "ES256", "kid": "k1", "crit": [] })).reason(),
        "unsupported_header"
    );
    assert_eq!(
        h(json!({ "alg": "ES256", "kid": "k1", "crit": null })).reason(),
        "unsupported_header"
    );
    assert_eq!(
        h(json!({ "alg": "ES256", "kid": "k1", "b64": false, "crit": ["b64"] })).reason(),
        "unsupported_header"
    );
    assert_eq!(
        h(json!({ "alg": "ES256", "kid": "k1", "typ": "JWE" })),
        VerifyError::TokenMalformed
    );
    assert_eq!(h(json!({ "kid": "k1" })), VerifyError::TokenMalformed);
    assert_eq!(
        h(json!({ "alg": 1, "kid": "k1" })),
        VerifyError::TokenMalformed
    );
    assert_eq!(
        h(json!({ "alg": "ES256", "kid": 7 })),
        VerifyError::TokenMalformed
    );
    assert_eq!(h(json!(["ES256"])), VerifyError::TokenMalformed);
    // Non-JSON header.
    let parts: Vec<&str> = t.splitn(2, '.').collect();
    let not_json = URL_SAFE_NO_PAD.encode("alg=ES256");
    assert_eq!(
        err(&v, &format!("{not_json}.{}", parts[1])),
        VerifyError::TokenMalformed
    );
    // Duplicate members are ambiguous: refused.
    let dup = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","alg":"none","kid":"k1"}"#);
    assert_eq!(
        err(&v, &format!("{dup}.{}", parts[1])),
        VerifyError::TokenMalformed
    );
    // The same header re-encoded (typ changed) breaks the signature.
    assert_eq!(
        h(json!({ "alg": "ES256", "kid": "k1", "typ": "at+jwt" })),
        VerifyError::BadSignature
    );
}

#[test]
fn signed_payload_with_wrong_types_is_malformed() {
    let k = es("k1");
    let v = es_verifier(&k);
    for bad in [
        json!({ "team": 5 }),
        json!({ "cnf": { "spiffe": 1 } }),
        json!({ "act": "gateway" }),
        json!({ "act": { "act": { "sub": "x" } } }),
        json!({ "tool": ["a"] }),
    ] {
        assert_eq!(
            err(&v, &sign_es(&k, payload(bad.clone()))),
            VerifyError::TokenMalformed,
            "{bad}"
        );
    }
    let mut deep = json!({ "sub": "a0" });
    for i in 1..20 {
        deep = json!({ "sub": format!("a{i}"), "act": deep });
    }
    assert_eq!(
        err(&v, &sign_es(&k, payload(json!({ "act": deep })))),
        VerifyError::TokenMalformed
    );
}

// ---------- claim mapping ----------

fn mapped_verifier(k: &ES256KeyPair, mapping: ClaimMapping) -> Verifier {
    let mut p = policy(&[Algorithm::ES256]);
    p.mapping = mapping;
    Verifier::new(p, jwks(&[k.public_key().to_jwk()]))
}

#[test]
fn oidc_claim_mapping() {
    let k = es("k1");
    let mapping = ClaimMapping {
        team: ClaimSource {
            claim: Some("groups".into()),
            allowed: vec!["sre".into(), "security".into()],
        },
        role: ClaimSource {
            claim: Some("realm_access.roles".into()),
            allowed: vec![],
        },
    };
    let v = mapped_verifier(&k, mapping);
    let t = sign_es(
        &k,
        payload(json!({
            "team": null, "role": null,
            "groups": ["employees", "sre"],
            "realm_access": { "roles": ["operator"] },
        })),
    );
    let c = v.verify(&t, NOW).unwrap();
    assert_eq!(c.team.as_deref(), Some("sre"));
    assert_eq!(c.role.as_deref(), Some("operator"));
    let both = sign_es(&k, payload(json!({ "groups": ["sre", "security"] })));
    assert_eq!(err(&v, &both), VerifyError::AmbiguousClaim("team"));
    let none = sign_es(
        &k,
        payload(json!({ "groups": ["employees"], "realm_access": { "roles": ["x"] } })),
    );
    assert_eq!(v.verify(&none, NOW).unwrap().team, None);
    let two_roles = sign_es(
        &k,
        payload(json!({ "groups": "sre", "realm_access": { "roles": ["a", "b"] } })),
    );
    assert_eq!(err(&v, &two_roles).reason(), "ambiguous_claim");
}

#[test]
fn mapped_team_can_be_required() {
    let k = es("k1");
    let mapping = ClaimMapping {
        team: ClaimSource {
            claim: Some("groups".into()),
            allowed: vec!["sre".into()],
        },
        role: ClaimSource::default(),
    };
    let mut v = mapped_verifier(&k, mapping);
    let mut p = v.policy().clone();
    p.required = vec![RequiredClaim::Team];
    v = Verifier::new(p, v.keys().clone());
    let t = sign_es(
        &k,
        payload(json!({ "team": "sre", "groups": ["security"] })),
    );
    // The configured claim is authoritative: a `team` claim beside it is not consulted.
    assert_eq!(err(&v, &t), VerifyError::MissingClaim("team"));
}

// ---------- JWKS ----------

#[test]
fn jwks_parse_skips_what_it_cannot_use() {
    let e = es("ec1");
    let mut ec: Value = serde_json::from_str(&e.public_key().to_jwk()).unwrap();
    let mut enc = ec.clone();
    enc["kid"] = "enc".into();
    enc["use"] = "enc".into();
    let mut p384 = ec.clone();
    p384["kid"] = "p384".into();
    p384["crv"] = "P-384".into();
    let mut with_d = ec.clone();
    with_d["kid"] = "withd".into();
    with_d["d"] = "AAAA".into();
    let mut wrong_alg = ec.clone();
    wrong_alg["kid"] = "wrongalg".into();
    wrong_alg["alg"] = "RS256".into();
    let mut ops = ec.clone();
    ops["kid"] = "ops".into();
    ops["key_ops"] = json!(["encrypt"]);
    let mut off_curve = ec.clone();
    off_curve["kid"] = "offcurve".into();
    off_curve["y"] = URL_SAFE_NO_PAD.encode([7u8; 32]).into();
    ec["alg"] = "ES256".into();
    let doc = json!({ "keys": [
        ec, enc, p384, with_d, wrong_alg, ops, off_curve,
        { "kty": "oct", "k": "c2VjcmV0", "kid": "hmac" },
        { "kty": "RSA", "kid": "weak", "n": URL_SAFE_NO_PAD.encode([0xffu8; 64]), "e": "AQAB" },
        "not an object",
    ]});
    let parsed = KeySet::parse(doc.to_string().as_bytes()).unwrap();
    let kids: Vec<_> = parsed
        .keys
        .keys()
        .iter()
        .map(|k| k.kid.clone().unwrap())
        .collect();
    assert_eq!(kids, ["ec1", "withd"]);
    let reasons: Vec<_> = parsed.skipped.iter().map(|s| s.reason).collect();
    assert_eq!(
        reasons,
        [
            "encryption_key",
            "unsupported_crv",
            "unsupported_alg",
            "key_ops_without_verify",
            "bad_ec_point",
            "unsupported_kty",
            "bad_rsa_key",
            "not_an_object"
        ]
    );
    // The exported JWKS never carries private members.
    assert!(!parsed.keys.to_jwks_json().contains("\"d\""));
}

#[test]
fn jwks_document_level_refusals() {
    use jwt::JwksError;
    assert_eq!(
        KeySet::parse(b"not json").unwrap_err(),
        JwksError::Malformed
    );
    assert_eq!(KeySet::parse(b"{}").unwrap_err(), JwksError::Malformed);
    assert_eq!(
        KeySet::parse(br#"{"keys":{}}"#).unwrap_err(),
        JwksError::Malformed
    );
    assert_eq!(
        KeySet::parse(br#"{"keys":[]}"#).unwrap_err(),
        JwksError::NoUsableKeys
    );
    let big = vec![b' '; 64 * 1024 + 1];
    assert_eq!(KeySet::parse(&big).unwrap_err().reason(), "jwks_too_large");
    let k: Value = serde_json::from_str(&es("a").public_key().to_jwk()).unwrap();
    let many = json!({ "keys": vec![k.clone(); 33] });
    assert_eq!(
        KeySet::parse(many.to_string().as_bytes()).unwrap_err(),
        JwksError::TooManyKeys
    );
    let mut other: Value = serde_json::from_str(&es("a").public_key().to_jwk()).unwrap();
    other["kid"] = "a".into();
    let dup = json!({ "keys": [k, other] });
    assert_eq!(
        KeySet::parse(dup.to_string().as_bytes()).unwrap_err(),
        JwksError::DuplicateKid("a".into())
    );
}

#[test]
fn jwks_export_round_trips_all_key_types() {
    let (e, d) = (es("e"), ed("d"));
    let set = jwks(&[
        e.public_key().to_jwk(),
        d.public_key().to_jwk(),
        rsa().public_key().to_jwk(),
    ]);
    let exported = set.to_jwks_json();
    let again = KeySet::parse(exported.as_bytes()).unwrap();
    assert!(again.skipped.is_empty());
    assert_eq!(again.keys.len(), 3);
    for (a, b) in set.keys().iter().zip(again.keys.keys()) {
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.kid, b.kid);
    }
    // jwt-simple accepts our export, member for member.
    let v: Value = serde_json::from_str(&exported).unwrap();
    assert!(ES256PublicKey::from_jwk(&v["keys"][0].to_string()).is_ok());
    assert!(Ed25519PublicKey::from_jwk(&v["keys"][1].to_string()).is_ok());
    assert!(RS256PublicKey::from_jwk(&v["keys"][2].to_string()).is_ok());
}

// ---------- caches ----------

#[test]
fn token_cache_rechecks_request_dependent_claims() {
    let k = es("k1");
    let v = es_verifier(&k);
    let mut cache = TokenCache::new(8);
    let t = sign_es(&k, payload(json!({ "exp": NOW + 100 })));
    assert!(v.verify_cached(&t, NOW, &mut cache).is_ok());
    assert_eq!(cache.len(), 1);
    // Same token, another tool: the cached entry does not skip the audience check.
    let mut other = policy(&[Algorithm::ES256]);
    other.audiences = vec!["mcp-payroll".into()];
    let payroll = Verifier::new(other, v.keys().clone());
    assert_eq!(
        payroll.verify_cached(&t, NOW, &mut cache).unwrap_err(),
        VerifyError::WrongAudience
    );
    let mut other = policy(&[Algorithm::ES256]);
    other.issuer = "https://other".into();
    let other_iss = Verifier::new(other, v.keys().clone());
    assert_eq!(
        other_iss.verify_cached(&t, NOW, &mut cache).unwrap_err(),
        VerifyError::WrongIssuer
    );
    // Cache entries end at exp - skew; the token is still accepted (uncached) until exp + skew.
    assert!(v.verify_cached(&t, NOW + 69, &mut cache).is_ok());
    assert!(v.verify_cached(&t, NOW + 120, &mut cache).is_ok());
    assert_eq!(
        v.verify_cached(&t, NOW + 130, &mut cache).unwrap_err(),
        VerifyError::TokenExpired
    );
}

#[test]
fn token_cache_does_not_cache_failures_and_is_bounded() {
    let k = es("k1");
    let v = es_verifier(&k);
    let mut cache = TokenCache::new(3);
    let bad = sign_es(&k, payload(json!({ "aud": "x" })));
    assert!(v.verify_cached(&bad, NOW, &mut cache).is_err());
    assert!(cache.is_empty());
    for i in 0..10u64 {
        let t = sign_es(
            &k,
            payload(json!({ "exp": NOW + 100 + i, "jti": i.to_string() })),
        );
        assert!(v.verify_cached(&t, NOW, &mut cache).is_ok());
        assert!(cache.len() <= 3);
    }
    assert_eq!(cache.len(), 3);
}

#[test]
fn token_cache_drops_expired_entries() {
    let k = es("k1");
    let v = es_verifier(&k);
    let mut cache = TokenCache::new(2);
    let short = sign_es(&k, payload(json!({ "exp": NOW + 40 })));
    let long = sign_es(&k, payload(json!({ "exp": NOW + 1000 })));
    v.verify_cached(&short, NOW, &mut cache).unwrap();
    v.verify_cached(&long, NOW, &mut cache).unwrap();
    let later = sign_es(&k, payload(json!({ "exp": NOW + 2000 })));
    v.verify_cached(&later, NOW + 20, &mut cache).unwrap();
    // `short` (cache-expired at NOW+10) was purged; the two long-lived ones remain.
    assert_eq!(cache.len(), 2);
    assert!(cache.get(&long, NOW + 20).is_some());
    assert!(cache.get(&short, NOW + 20).is_none());
}

#[test]
fn replay_cache_rejects_second_use_within_lifetime() {
    let mut r = ReplayCache::new(2);
    assert!(r.check_and_insert(ISS, "a", NOW + 60, 30, NOW).is_ok());
    assert_eq!(
        r.check_and_insert(ISS, "a", NOW + 60, 30, NOW + 1)
            .unwrap_err()
            .reason(),
        "token_replayed"
    );
    // Another issuer's jti "a" is a different token.
    assert!(r
        .check_and_insert("https://other", "a", NOW + 60, 30, NOW)
        .is_ok());
    // Full of live entries: fail closed.
    assert_eq!(
        r.check_and_insert(ISS, "b", NOW + 60, 30, NOW).unwrap_err(),
        VerifyError::ReplayCacheFull
    );
    // After exp + skew the entries are gone; the token itself would be expired anyway.
    assert!(r.check_and_insert(ISS, "b", NOW + 60, 30, NOW + 90).is_ok());
    assert!(r
        .check_and_insert(ISS, "a", NOW + 200, 30, NOW + 91)
        .is_ok());
}

// ---------- minting ----------

fn minter() -> (Minter, ES256KeyPair) {
    let k = ES256KeyPair::generate();
    let pem = k.to_pem().unwrap();
    let key = SigningKey::from_pem("gw1", Algorithm::ES256, &pem).unwrap();
    (
        Minter::new("https://gateway.test", vec![key], "gw1").unwrap(),
        k,
    )
}

fn tool_request() -> MintRequest {
    MintRequest {
        subject: "alice".into(),
        audience: "mcp-github".into(),
        team: Some("sre".into()),
        role: Some("operator".into()),
        sid: Some("sess".into()),
        tool: Some("create_issue".into()),
        agent: Some("sre-agent".into()),
        binding: Some("spiffe://cluster.local/ns/agents-sre/sa/sre-agent".into()),
        act: Some(Actor::chain(
            "meshguard-gateway",
            Some(Actor::chain("sre-agent", None)),
        )),
        ttl_seconds: 60,
    }
}

fn gateway_verifier(m: &Minter, aud: &str) -> Verifier {
    let keys = KeySet::parse(m.public_jwks().as_bytes()).unwrap().keys;
    Verifier::new(
        Policy::new("https://gateway.test", aud, &[Algorithm::ES256]),
        keys,
    )
}

#[test]
fn minted_token_verifies_with_exported_jwks_and_carries_all_claims() {
    let (m, _) = minter();
    let jti = jti_from_random(&[9u8; 16]);
    let minted = m.mint(&tool_request(), NOW, &jti).unwrap();
    assert_eq!(minted.exp, NOW + 60);
    assert_eq!(minted.kid, "gw1");
    let c = gateway_verifier(&m, "mcp-github")
        .verify(&minted.token, NOW)
        .unwrap();
    assert_eq!(c.iss.as_deref(), Some("https://gateway.test"));
    assert_eq!(c.sub.as_deref(), Some("alice"));
    assert_eq!(c.aud, ["mcp-github"]);
    assert_eq!((c.iat, c.exp), (Some(NOW), Some(NOW + 60)));
    assert_eq!(c.jti.as_deref(), Some(jti.as_str()));
    assert_eq!(c.team.as_deref(), Some("sre"));
    assert_eq!(c.role.as_deref(), Some("operator"));
    assert_eq!(c.sid.as_deref(), Some("sess"));
    assert_eq!(c.tool.as_deref(), Some("create_issue"));
    assert_eq!(c.agent.as_deref(), Some("sre-agent"));
    assert_eq!(
        c.binding(),
        Some("spiffe://cluster.local/ns/agents-sre/sa/sre-agent")
    );
    let act = c.act.unwrap();
    assert_eq!(act.subjects(), ["meshguard-gateway", "sre-agent"]);
    assert_eq!(act.depth(), 2);
    // The header names the key and the algorithm; payload layout is as documented.
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(minted.token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], "gw1");
    let body: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(minted.token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        body["cnf"]["spiffe"],
        "spiffe://cluster.local/ns/agents-sre/sa/sre-agent"
    );
    assert_eq!(body["act"]["act"]["sub"], "sre-agent");
    assert_eq!(body["aud"], "mcp-github");
}

#[test]
fn token_for_one_tool_is_worthless_at_another() {
    let (m, _) = minter();
    let t = m.mint(&tool_request(), NOW, "j").unwrap().token;
    assert_eq!(
        gateway_verifier(&m, "mcp-payroll")
            .verify(&t, NOW)
            .unwrap_err(),
        VerifyError::WrongAudience
    );
    assert_eq!(
        gateway_verifier(&m, "mcp-github")
            .verify(&t, NOW + 90)
            .unwrap_err(),
        VerifyError::TokenExpired
    );
}

#[test]
fn minimal_mint_omits_optional_claims() {
    let (m, _) = minter();
    let req = MintRequest {
        subject: "bob".into(),
        audience: "sre-agent".into(),
        ttl_seconds: 5,
        ..Default::default()
    };
    let t = m.mint(&req, NOW, "j").unwrap().token;
    let body = URL_SAFE_NO_PAD
        .decode(t.split('.').nth(1).unwrap())
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["aud", "exp", "iat", "iss", "jti", "sub"]);
}

#[test]
fn eddsa_minting_and_rotation() {
    let old = ES256KeyPair::generate().to_pem().unwrap();
    let new = Ed25519KeyPair::generate().to_pem();
    let env = json!({ "active": "new", "keys": [
        { "kid": "old", "pem": old },
        { "kid": "new", "alg": "EdDSA", "pem": new },
    ]})
    .to_string();
    let m = Minter::from_env_json("https://gateway.test", &env).unwrap();
    assert_eq!(m.active_kid(), "new");
    let minted = m.mint(&tool_request(), NOW, "j").unwrap();
    assert_eq!(minted.kid, "new");
    let keys = KeySet::parse(m.public_jwks().as_bytes()).unwrap().keys;
    assert_eq!(keys.len(), 2);
    let v = Verifier::new(
        Policy::new(
            "https://gateway.test",
            "mcp-github",
            &[Algorithm::ES256, Algorithm::EdDSA],
        ),
        keys,
    );
    assert!(v.verify(&minted.token, NOW).is_ok());
    // A token from the previous active key still verifies during the rotation.
    let previous = Minter::from_env_json(
        "https://gateway.test",
        &env.replace("\"active\":\"new\"", "\"active\":\"old\""),
    )
    .unwrap();
    assert!(v
        .verify(
            &previous.mint(&tool_request(), NOW, "j2").unwrap().token,
            NOW
        )
        .is_ok());
}

#[test]
fn minter_refuses_bad_keys_and_inputs() {
    use jwt::MintError;
    assert_eq!(
        SigningKey::from_pem("k", Algorithm::ES256, "nope").unwrap_err(),
        MintError::BadKey
    );
    let ed_pem = Ed25519KeyPair::generate().to_pem();
    assert_eq!(
        SigningKey::from_pem("k", Algorithm::ES256, &ed_pem).unwrap_err(),
        MintError::BadKey
    );
    assert_eq!(
        SigningKey::from_pem_any("k", &ed_pem).unwrap().algorithm(),
        Algorithm::EdDSA
    );
    assert_eq!(
        SigningKey::from_pem("", Algorithm::EdDSA, &ed_pem).unwrap_err(),
        MintError::BadKid
    );
    let rsa_pem = rsa().to_pem().unwrap();
    assert_eq!(
        SigningKey::from_pem_any("k", &rsa_pem).unwrap_err(),
        MintError::BadKey
    );
    let k1 = SigningKey::from_pem("k", Algorithm::EdDSA, &ed_pem).unwrap();
    let k2 = SigningKey::from_pem("k", Algorithm::EdDSA, &ed_pem).unwrap();
    assert_eq!(
        Minter::new("iss", vec![k1, k2], "k").unwrap_err(),
        MintError::BadKid
    );
    let k = SigningKey::from_pem("k", Algorithm::EdDSA, &ed_pem).unwrap();
    assert!(!format!("{k:?}").contains("PRIVATE"));
    assert_eq!(
        Minter::new("iss", vec![k], "other").unwrap_err(),
        MintError::NoActiveKey
    );
    assert_eq!(
        Minter::from_env_json("iss", "{").unwrap_err().reason(),
        "signing_keys_malformed"
    );
    let (m, _) = minter();
    let mut req = tool_request();
    req.ttl_seconds = 0;
    assert_eq!(m.mint(&req, NOW, "j").unwrap_err(), MintError::BadTtl);
    req.ttl_seconds = 3601;
    assert_eq!(m.mint(&req, NOW, "j").unwrap_err(), MintError::BadTtl);
    req.ttl_seconds = 60;
    req.audience.clear();
    assert_eq!(
        m.mint(&req, NOW, "j").unwrap_err(),
        MintError::MissingInput("audience")
    );
}

#[test]
fn mint_cache_reuses_until_margin_and_keys_on_every_input() {
    let (m, _) = minter();
    let mut cache = MintCache::new(8, 15);
    let req = tool_request();
    let minted = m.mint(&req, NOW, "j1").unwrap();
    cache.insert(&req, &minted, NOW);
    assert_eq!(
        cache.get(&req, m.active_kid(), NOW + 44),
        Some(minted.clone())
    );
    assert_eq!(cache.get(&req, m.active_kid(), NOW + 45), None);
    let mut other_tool = req.clone();
    other_tool.tool = Some("delete_repo".into());
    assert_eq!(cache.get(&other_tool, m.active_kid(), NOW), None);
    let mut other_binding = req.clone();
    other_binding.binding = Some("spiffe://elsewhere".into());
    assert_eq!(cache.get(&other_binding, m.active_kid(), NOW), None);
    let mut other_sid = req.clone();
    other_sid.sid = Some("s2".into());
    assert_eq!(cache.get(&other_sid, m.active_kid(), NOW), None);
    // A rotated signing key does not reuse tokens of the old one.
    assert_eq!(cache.get(&req, "gw2", NOW), None);
    // A token too close to expiry is not cached at all.
    let mut short = req.clone();
    short.ttl_seconds = 10;
    let s = m.mint(&short, NOW, "j2").unwrap();
    cache.insert(&short, &s, NOW);
    assert_eq!(cache.get(&short, m.active_kid(), NOW), None);
}

#[test]
fn verify_never_panics_on_mutations() {
    let k = es("k1");
    let v = es_verifier(&k);
    let t = sign_es(&k, payload(json!({})));
    let bytes = t.as_bytes();
    for i in 0..bytes.len() {
        for delta in [1u8, 0x20, 0x80] {
            let mut b = bytes.to_vec();
            b[i] = b[i].wrapping_add(delta);
            if let Ok(s) = String::from_utf8(b) {
                assert!(v.verify(&s, NOW).is_err(), "mutation at {i} accepted");
            }
        }
        let _ = v.verify(&t[..i], NOW);
    }
}
