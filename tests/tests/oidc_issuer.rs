//! The test OIDC issuer itself, natively: it serves discovery and a JWKS, its tokens verify
//! with an independent verifier (jwt-simple) against the key it serves, rotation and
//! retirement show in the JWKS, and each forgery is bad in exactly the intended way.

use jwt_simple::prelude::{
    ECDSAP256PublicKeyLike, ES256PublicKey, Ed25519PublicKey, EdDSAPublicKeyLike, JWTClaims,
    RS256PublicKey, RSAPublicKeyLike, VerificationOptions,
};
use meshguard_e2e::oidc::{header, payload, tamper};
use meshguard_e2e::{Alg, OidcIssuer, UserClaims};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

async fn get_json(url: &str) -> (u16, Value) {
    let resp = reqwest::get(url).await.expect("GET");
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("body");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn alice() -> UserClaims {
    UserClaims::new("alice", "sre", "operator", "meshguard-gateway").claim("sid", json!("chat-1"))
}

/// Verify `token` the way a strict verifier would: the key picked by `kid` from the served
/// JWKS, the algorithm fixed by that key, issuer and audience required.
fn verify(
    jwks: &Value,
    token: &str,
    issuer: &str,
) -> Result<JWTClaims<Map<String, Value>>, String> {
    let kid = header(token)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
        .ok_or_else(|| format!("no key {kid}"))?
        .to_string();
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from([issuer.to_string()])),
        allowed_audiences: Some(HashSet::from(["meshguard-gateway".to_string()])),
        ..Default::default()
    };
    let alg = serde_json::from_str::<Value>(&jwk).map_err(|e| e.to_string())?["alg"].clone();
    let result = match alg.as_str() {
        Some("RS256") => RS256PublicKey::from_jwk(&jwk)
            .and_then(|k| k.verify_token::<Map<String, Value>>(token, Some(options))),
        Some("ES256") => ES256PublicKey::from_jwk(&jwk)
            .and_then(|k| k.verify_token::<Map<String, Value>>(token, Some(options))),
        Some("EdDSA") => Ed25519PublicKey::from_jwk(&jwk)
            .and_then(|k| k.verify_token::<Map<String, Value>>(token, Some(options))),
        other => return Err(format!("unexpected alg {other:?}")),
    };
    result.map_err(|e| e.to_string())
}

#[tokio::test]
async fn serves_discovery_and_a_jwks_with_one_key_per_algorithm() {
    let issuer = OidcIssuer::start().await;
    let (status, discovery) = get_json(&issuer.discovery_url()).await;
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], issuer.issuer());
    assert_eq!(discovery["jwks_uri"], issuer.jwks_uri());
    assert_eq!(issuer.jwks_fetches(), 0, "discovery is not a JWKS fetch");

    let (status, jwks) = get_json(&issuer.jwks_uri()).await;
    assert_eq!(status, 200);
    assert_eq!(issuer.jwks_fetches(), 1);
    let keys = jwks["keys"].as_array().expect("keys array");
    let algs: HashSet<&str> = keys.iter().filter_map(|k| k["alg"].as_str()).collect();
    assert_eq!(algs, HashSet::from(["RS256", "ES256", "EdDSA"]));
    for key in keys {
        assert_eq!(key["use"], "sig", "{key}");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");
        assert!(key.get("d").is_none(), "private key material served: {key}");
    }
    assert_eq!(jwks, issuer.jwks());
}

#[tokio::test]
async fn minted_tokens_verify_against_the_served_jwks_for_every_algorithm() {
    let issuer = OidcIssuer::start().await;
    let (_, jwks) = get_json(&issuer.jwks_uri()).await;
    for alg in Alg::ALL {
        let token = issuer.token_with(alg, &alice());
        assert_eq!(header(&token)["alg"], alg.name());
        let claims = verify(&jwks, &token, issuer.issuer())
            .unwrap_or_else(|e| panic!("{} token refused: {e}", alg.name()));
        assert_eq!(claims.subject.as_deref(), Some("alice"));
        assert_eq!(claims.custom["team"], "sre");
        assert_eq!(claims.custom["role"], "operator");
        assert_eq!(claims.custom["sid"], "chat-1");
    }
    let default = issuer.token(&alice());
    assert_eq!(header(&default)["alg"], "RS256");
    assert_eq!(header(&default)["kid"], issuer.active_kid().as_str());
    let body = payload(&default);
    assert_eq!(body["aud"], "meshguard-gateway");
    let ttl = body["exp"].as_i64().unwrap() - body["iat"].as_i64().unwrap();
    assert_eq!(ttl, 300);
}

#[tokio::test]
async fn rotation_publishes_a_new_active_key_and_retirement_removes_the_old_one() {
    let issuer = OidcIssuer::start_with(Alg::ES256).await;
    let old = issuer.active_kid();
    let old_token = issuer.token(&alice());

    let new = issuer.rotate();
    assert_ne!(new, old);
    assert_eq!(issuer.active_kid(), new);
    assert_eq!(issuer.active_alg(), Alg::ES256);
    let (_, jwks) = get_json(&issuer.jwks_uri()).await;
    let kids: HashSet<String> = issuer.published_kids().into_iter().collect();
    assert!(kids.contains(&old) && kids.contains(&new), "{kids:?}");
    let new_token = issuer.token(&alice());
    assert_eq!(header(&new_token)["kid"], new.as_str());
    assert!(verify(&jwks, &new_token, issuer.issuer()).is_ok());
    assert!(
        verify(&jwks, &old_token, issuer.issuer()).is_ok(),
        "overlap period"
    );

    issuer.retire(&old);
    let (_, jwks) = get_json(&issuer.jwks_uri()).await;
    assert!(!issuer.published_kids().contains(&old));
    assert!(verify(&jwks, &old_token, issuer.issuer()).is_err());
    assert!(verify(&jwks, &new_token, issuer.issuer()).is_ok());
    // The retired private key is still there to mint with, for "retired key" tests.
    let late = issuer.token_with_kid(&old, &alice());
    assert!(verify(&jwks, &late, issuer.issuer()).is_err());
    assert_eq!(issuer.jwks_fetches(), 2);

    let eddsa = issuer.rotate_to(Alg::EdDSA);
    assert_eq!(issuer.active_alg(), Alg::EdDSA);
    assert_eq!(header(&issuer.token(&alice()))["kid"], eddsa.as_str());
}

#[tokio::test]
async fn an_unavailable_jwks_answers_503() {
    let issuer = OidcIssuer::start().await;
    issuer.set_jwks_available(false);
    let status = reqwest::get(issuer.jwks_uri()).await.unwrap().status();
    assert_eq!(status.as_u16(), 503);
    issuer.set_jwks_available(true);
    let (status, _) = get_json(&issuer.jwks_uri()).await;
    assert_eq!(status, 200);
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn each_forgery_is_refused_for_its_own_reason() {
    let issuer = OidcIssuer::start().await;
    let jwks = issuer.jwks();
    let iss = issuer.issuer();

    let none = issuer.forge_alg_none(&alice());
    assert_eq!(header(&none)["alg"], "none");
    assert!(none.ends_with('.'), "alg none carries no signature: {none}");
    assert!(verify(&jwks, &none, iss).is_err());

    let confused = issuer.forge_hs256_with_public_key(&alice());
    assert_eq!(header(&confused)["alg"], "HS256");
    let rsa_kid = header(&confused)["kid"].as_str().unwrap().to_string();
    assert!(rsa_kid.starts_with("rs256-"), "{rsa_kid}");
    assert!(verify(&jwks, &confused, iss).is_err());
    // It really is an HMAC over the public PEM: a verifier that used the PEM as a secret
    // would accept it, which is the attack.
    let pem = issuer.public_key_pem(&rsa_kid);
    let naive = jwt_simple::prelude::HS256Key::from_bytes(pem.as_bytes());
    assert!(
        jwt_simple::prelude::MACLike::verify_token::<Map<String, Value>>(&naive, &confused, None)
            .is_ok()
    );

    let unknown = issuer.forge_unknown_kid(&alice());
    let kid = header(&unknown)["kid"].as_str().unwrap().to_string();
    assert!(!issuer.published_kids().contains(&kid));
    assert!(verify(&issuer.jwks(), &unknown, iss)
        .unwrap_err()
        .contains("no key"));

    let expired = issuer.expired_token(&alice());
    let exp = payload(&expired)["exp"].as_i64().unwrap();
    assert!(exp < now() - 1800, "exp {exp} not well in the past");
    assert!(verify(&jwks, &expired, iss).is_err());

    let early = issuer.not_yet_valid_token(&alice());
    assert!(payload(&early)["nbf"].as_i64().unwrap() > now() + 3000);
    assert!(verify(&jwks, &early, iss).is_err());

    let foreign = issuer.wrong_issuer_token(&alice());
    assert_ne!(payload(&foreign)["iss"], iss);
    assert!(verify(&jwks, &foreign, iss).is_err());

    let tampered = issuer.tampered_token(&alice());
    assert_eq!(payload(&tampered)["role"], "admin");
    assert!(verify(&jwks, &tampered, iss).is_err());
    let subject_swap = tamper(&issuer.token(&alice()), |claims| {
        claims.insert("sub".into(), json!("mallory"));
    });
    assert_eq!(payload(&subject_swap)["sub"], "mallory");
    assert!(verify(&jwks, &subject_swap, iss).is_err());

    let multi = issuer.token(&alice().audiences(&["meshguard-gateway", "other"]));
    assert_eq!(payload(&multi)["aud"].as_array().map(Vec::len), Some(2));
    assert!(verify(&jwks, &multi, iss).is_ok());
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
