//! The approver is who their verified OIDC token says, holds the approver role, and is not
//! the requester; nothing a client states about itself counts. Each case fails if its check
//! is removed from `auth.rs`.

mod common;

use common::{approve, create, request, request_for, Idp};
use jwt_simple::prelude::ES256KeyPair;
use meshguard_approval::auth::ApproverPolicy;
use meshguard_approval::store::StoreConfig;
use meshguard_approval::{minter, start, Settings};
use serde_json::Value;

async fn pending(s: &meshguard_approval::Running, body: &Value) -> String {
    let http = reqwest::Client::new();
    create(&http, s, body).await["approval_id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn assert_still_pending(s: &meshguard_approval::Running, id: &str) {
    let poll: Value = reqwest::get(s.url(&format!("/v1/approvals/{id}")))
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    assert_eq!(poll["status"], "pending", "{poll}");
    assert!(poll.get("approval_token").is_none());
}

#[tokio::test]
async fn stated_names_missing_and_invalid_tokens_are_refused() {
    let idp = Idp::start().await;
    let s = common::service(&idp).await;
    let id = pending(&s, &request("create_issue")).await;
    let http = reqwest::Client::new();
    let url = s.url(&format!("/v1/approvals/{id}/approve"));
    // A forged x-forwarded-user, an approver field, a form field: no token, refused.
    let forged = [
        http.post(&url).header("x-forwarded-user", "carol"),
        http.post(&url)
            .json(&serde_json::json!({"approver": "carol"})),
        http.post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("approver=carol"),
    ];
    for req in forged {
        let r = req.send().await.expect("post");
        assert_eq!(r.status().as_u16(), 401);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"], "approver_token_required");
    }
    // Tokens that do not verify.
    let other_key = ES256KeyPair::generate().with_key_id("idp-1");
    let iss = idp.issuer();
    let aud = common::AUDIENCE;
    let bad = [
        idp.token_with(&other_key, &iss, aud, "carol", &["approver"], 300),
        idp.token_with(
            &idp.key,
            "http://evil.example",
            aud,
            "carol",
            &["approver"],
            300,
        ),
        idp.token_with(
            &idp.key,
            &iss,
            "meshguard-gateway",
            "carol",
            &["approver"],
            300,
        ),
        idp.token_with(&idp.key, &iss, aud, "carol", &["approver"], -1),
        "eyJhbGciOiJub25lIiwia2lkIjoiaWRwLTEifQ.eyJzdWIiOiJjYXJvbCJ9.".to_string(),
        "not-a-jwt".to_string(),
    ];
    for (i, token) in bad.iter().enumerate() {
        let (status, body) = approve(&s, &id, Some(token)).await;
        assert_eq!(status, 401, "case {i}: {body}");
        assert_eq!(body["error"], "approver_token_invalid", "case {i}");
    }
    assert_still_pending(&s, &id).await;
}

#[tokio::test]
async fn a_user_without_the_approver_role_cannot_approve_or_deny() {
    let idp = Idp::start().await;
    let s = common::service(&idp).await;
    let id = pending(&s, &request("create_issue")).await;
    for roles in [&[][..], &["operator"], &["approvers"], &["APPROVER"]] {
        let (status, body) = approve(&s, &id, Some(&idp.token("carol", roles))).await;
        assert_eq!(status, 403, "{roles:?}: {body}");
        assert_eq!(body["error"], "not_an_approver");
    }
    let r = reqwest::Client::new()
        .post(s.url(&format!("/v1/approvals/{id}/deny")))
        .bearer_auth(idp.token("bob", &["operator"]))
        .send()
        .await
        .expect("deny");
    assert_eq!(r.status().as_u16(), 403);
    assert_still_pending(&s, &id).await;
    // With the role, the approval names the verified approver.
    let (status, body) = approve(&s, &id, Some(&idp.token("carol", &["approver"]))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approver"], "carol");
}

#[tokio::test]
async fn self_approval_is_refused_unless_separation_of_duties_is_switched_off() {
    let idp = Idp::start().await;
    let s = common::service(&idp).await;
    let id = pending(&s, &request_for("carol", "create_issue")).await;
    let own = idp.token("carol", &["approver"]);
    let (status, body) = approve(&s, &id, Some(&own)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "self_approval");
    assert_still_pending(&s, &id).await;
    // Explicitly off: the same approval goes through (the check is the policy, not luck).
    let settings = Settings {
        public_url: String::new(),
        approvers: ApproverPolicy {
            separation_of_duties: false,
            ..idp.policy()
        },
        store: StoreConfig::Sqlite(":memory:".into()),
        ..Settings::default()
    };
    let m = minter(&settings.issuer, None).expect("minter");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let lax = start(settings, m, listener).await.expect("start");
    let id = pending(&lax, &request_for("carol", "create_issue")).await;
    let (status, body) = approve(&lax, &id, Some(&own)).await;
    assert_eq!(status, 200, "{body}");
}

#[test]
fn configuration_errors_name_the_variable() {
    let ok = |name: &str| -> Option<String> {
        match name {
            "APPROVAL_OIDC_ISSUER" => Some("https://idp.example".into()),
            _ => None,
        }
    };
    assert!(Settings::from_env(ok).is_ok());
    let cases: [(&str, &str, &str); 6] = [
        ("APPROVAL_OIDC_ISSUER", "", "APPROVAL_OIDC_ISSUER"),
        (
            "APPROVAL_OIDC_ISSUER",
            "idp.example",
            "APPROVAL_OIDC_ISSUER",
        ),
        ("APPROVAL_STORE", "mysql://x", "APPROVAL_STORE"),
        (
            "APPROVAL_SEPARATION_OF_DUTIES",
            "maybe",
            "APPROVAL_SEPARATION_OF_DUTIES",
        ),
        (
            "APPROVAL_TOKEN_TTL_SECONDS",
            "soon",
            "APPROVAL_TOKEN_TTL_SECONDS",
        ),
        (
            "APPROVAL_OIDC_JWKS_URI",
            "file:///keys",
            "APPROVAL_OIDC_JWKS_URI",
        ),
    ];
    for (var, value, field) in cases {
        let env = |name: &str| -> Option<String> {
            if name == var {
                return Some(value.to_string());
            }
            ok(name)
        };
        let err = Settings::from_env(env).expect_err(var);
        assert_eq!(err.field, field, "{var}={value}: {err}");
    }
}

#[tokio::test]
async fn a_store_that_cannot_be_opened_refuses_to_start_naming_it() {
    let idp = Idp::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let settings = Settings {
        approvers: idp.policy(),
        store: StoreConfig::Postgres(format!("postgres://x@127.0.0.1:{port}/db")),
        ..Settings::default()
    };
    let m = minter(&settings.issuer, None).expect("minter");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let err = start(settings, m, listener).await.err().expect("refused");
    assert!(err.to_string().starts_with("APPROVAL_STORE"), "{err}");
}
