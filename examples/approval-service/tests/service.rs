//! The approval service over real HTTP: webhook -> pending -> a person approves (form, as
//! the page posts it, with their verified OIDC token) -> the agent's poll returns a token the
//! gate's verifier accepts and binds to the request; deny, double decisions, bad input and
//! HTML escaping.

mod common;

use common::{create, request, Idp};
use meshguard_core::approval_gate::{args_sha256, token, Approval, ApprovalClaims, Binding};
use meshguard_core::jwt::{Algorithm, KeySet, Policy, Verifier};
use serde_json::{json, Value};

#[tokio::test]
async fn approve_from_the_page_then_poll_a_bound_token() {
    let idp = Idp::start().await;
    let s = common::service(&idp).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let ticket = create(&http, &s, &request("delete_repo")).await;
    let id = ticket["approval_id"].as_str().expect("id").to_string();
    assert!(ticket["poll"].as_str().is_some_and(|p| p.ends_with(&id)));
    let poll: Value = http
        .get(ticket["poll"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    assert_eq!(poll["status"], "pending");
    assert!(poll.get("approval_token").is_none());
    let page = http
        .get(s.url("/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains(&format!("/v1/approvals/{id}/approve")),
        "{page}"
    );
    // The person clicks Approve on the page (a form post carrying their ID token), and is
    // sent back to the page. A stated name (header or field) is ignored: carol is who the
    // verified token says.
    let form = format!(
        "approver=mallory&id_token={}",
        idp.token("carol", &["approver"])
    );
    let r = http
        .post(s.url(&format!("/v1/approvals/{id}/approve")))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-user", "mallory")
        .body(form)
        .send()
        .await
        .expect("approve");
    assert_eq!(r.status().as_u16(), 303);
    let poll: Value = http
        .get(s.url(&format!("/v1/approvals/{id}")))
        .send()
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    assert_eq!(poll["status"], "approved");
    assert_eq!(poll["approver"], "carol");
    let t = poll["approval_token"].as_str().expect("token");
    // The token verifies with the published JWKS and binds exactly this call.
    let jwks = http
        .get(s.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .text()
        .await
        .expect("text");
    let keys = KeySet::parse(jwks.as_bytes()).expect("jwks").keys;
    let v = Verifier::new(
        Policy::new(
            "meshguard-approval",
            "meshguard-gateway",
            &[Algorithm::ES256],
        ),
        keys,
    );
    let now = meshguard_approval::now();
    let (claims, extra) = v.verify_with::<ApprovalClaims>(t, now).expect("verifies");
    assert_eq!(extra.approver, "carol");
    let approval = Approval { claims, extra };
    let hash = args_sha256(json!({"repo": "org/api"}).as_object());
    let binding = Binding {
        user: "alice",
        session: "sess-1",
        tool: "delete_repo",
        server: "/tools/mcp-github/mcp",
        args_sha256: &hash,
    };
    assert!(token::check(&approval, &binding, now, 300).is_ok());
    let other = args_sha256(json!({"repo": "org/other"}).as_object());
    assert!(token::check(
        &approval,
        &Binding {
            args_sha256: &other,
            ..binding.clone()
        },
        now,
        300
    )
    .is_err());
    assert!(token::check(
        &approval,
        &Binding {
            user: "mallory",
            ..binding
        },
        now,
        300
    )
    .is_err());
    // A second decision is refused.
    let r = http
        .post(s.url(&format!("/v1/approvals/{id}/deny")))
        .bearer_auth(idp.token("dave", &["approver"]))
        .send()
        .await
        .expect("deny");
    assert_eq!(r.status().as_u16(), 409);
}

#[tokio::test]
async fn deny_via_the_api_gives_no_token() {
    let idp = Idp::start().await;
    let s = common::service(&idp).await;
    let http = reqwest::Client::new();
    let ticket = create(&http, &s, &request("delete_repo")).await;
    let id = ticket["approval_id"].as_str().unwrap_or_default();
    let r = http
        .post(s.url(&format!("/v1/approvals/{id}/deny")))
        .bearer_auth(idp.token("carol", &["approver"]))
        .send()
        .await
        .expect("deny");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["status"], "denied");
    assert_eq!(v["approver"], "carol");
    assert!(v.get("approval_token").is_none());
}

#[tokio::test]
async fn bad_input_is_refused_and_the_page_escapes_agent_text() {
    let idp = Idp::start().await;
    let s = common::service(&idp).await;
    let http = reqwest::Client::new();
    for bad in [
        json!({"user": "alice"}),
        json!("x"),
        json!({"user": "", "session": "s", "tool": "t", "server": "/", "class": "write", "args_sha256": "a", "arguments_preview": ""}),
    ] {
        let r = http
            .post(s.url("/v1/approvals"))
            .json(&bad)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 400, "{bad}");
    }
    let mut unknown = request("delete_repo");
    unknown["extra"] = json!(1);
    let r = http
        .post(s.url("/v1/approvals"))
        .json(&unknown)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    let ticket = create(&http, &s, &request("<script>alert(1)</script>")).await;
    let page = http
        .get(s.url("/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(!page.contains("<script>alert"), "unescaped agent text");
    assert!(page.contains("&lt;script&gt;"));
    let id = ticket["approval_id"].as_str().unwrap_or_default();
    // A verified approver whose identity is not a plain name is refused.
    let r = http
        .post(s.url(&format!("/v1/approvals/{id}/approve")))
        .bearer_auth(idp.token("<b>x</b>", &["approver"]))
        .send()
        .await
        .expect("approve");
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .get(s.url("/v1/approvals/ap_nope"))
        .send()
        .await
        .expect("poll");
    assert_eq!(r.status().as_u16(), 404);
}
