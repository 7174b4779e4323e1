//! Shared by the service tests: a minimal OIDC issuer (an ES256 key, its JWKS served over
//! HTTP, tokens minted with jwt-simple) and the service started against it.

#![allow(dead_code)]

use axum::routing::get;
use jwt_simple::prelude::{Claims, Duration, ECDSAP256KeyPairLike, ES256KeyPair, JWTClaims};
use meshguard_approval::auth::ApproverPolicy;
use meshguard_approval::store::StoreConfig;
use meshguard_approval::{minter, start, Running, Settings};
use meshguard_core::approval_gate::args_sha256;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

/// Audience approver tokens are minted for.
pub const AUDIENCE: &str = "meshguard-approval";

/// A local IdP.
pub struct Idp {
    pub key: ES256KeyPair,
    pub addr: SocketAddr,
}

impl Idp {
    pub async fn start() -> Idp {
        let key = ES256KeyPair::generate().with_key_id("idp-1");
        let mut jwk: Value = serde_json::from_str(&key.public_key().to_jwk()).expect("jwk");
        jwk["kid"] = json!("idp-1");
        jwk["alg"] = json!("ES256");
        jwk["use"] = json!("sig");
        let jwks = json!({ "keys": [jwk] }).to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = axum::Router::new().route(
            "/jwks",
            get(move || {
                let jwks = jwks.clone();
                async move { jwks }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Idp { key, addr }
    }

    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A token for `sub` with `roles`, from this issuer, for the approval service.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        self.token_with(&self.key, &self.issuer(), AUDIENCE, sub, roles, 300)
    }

    pub fn token_with(
        &self,
        key: &ES256KeyPair,
        iss: &str,
        aud: &str,
        sub: &str,
        roles: &[&str],
        ttl: i64,
    ) -> String {
        let mut custom = Map::new();
        custom.insert("roles".into(), json!(roles));
        let mut claims: JWTClaims<Map<String, Value>> =
            Claims::with_custom_claims(custom, Duration::from_secs(300))
                .with_issuer(iss)
                .with_audience(aud)
                .with_subject(sub);
        if ttl < 0 {
            let now = jwt_simple::prelude::Clock::now_since_epoch();
            claims.issued_at = Some(now - Duration::from_secs(600));
            claims.invalid_before = Some(now - Duration::from_secs(600));
            claims.expires_at = Some(now - Duration::from_secs(300));
        }
        key.sign(claims).expect("sign")
    }

    pub fn policy(&self) -> ApproverPolicy {
        ApproverPolicy {
            issuer: self.issuer(),
            jwks_uri: format!("http://{}/jwks", self.addr),
            ..ApproverPolicy::default()
        }
    }
}

/// Start the service with `store`, approvers from `idp`, and a given signing key JSON (or
/// a fresh one).
pub async fn service_with(idp: &Idp, store: StoreConfig, keys: Option<&str>) -> Running {
    let settings = Settings {
        public_url: String::new(),
        approvers: idp.policy(),
        store,
        ..Settings::default()
    };
    let m = minter(&settings.issuer, keys).expect("minter");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    start(settings, m, listener).await.expect("start")
}

/// The service on an in-memory SQLite store.
pub async fn service(idp: &Idp) -> Running {
    service_with(idp, StoreConfig::Sqlite(":memory:".into()), None).await
}

/// An approval request for `user` calling `tool`.
pub fn request_for(user: &str, tool: &str) -> Value {
    json!({"user": user, "team": "sre", "session": "sess-1", "agent": "sre-agent",
           "tool": tool, "server": "/tools/mcp-github/mcp", "class": "delete",
           "args_sha256": args_sha256(json!({"repo": "org/api"}).as_object()),
           "arguments_preview": "{\"repo\":\"org/api\"}"})
}

pub fn request(tool: &str) -> Value {
    request_for("alice", tool)
}

/// Post the webhook; the ticket.
pub async fn create(http: &reqwest::Client, s: &Running, body: &Value) -> Value {
    let r = http
        .post(s.url("/v1/approvals"))
        .json(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 201);
    r.json().await.expect("json")
}

/// Approve `id` on `s` with bearer `token`: (status, body).
pub async fn approve(s: &Running, id: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(s.url(&format!("/v1/approvals/{id}/approve")))
        .json(&json!({}));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("approve");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The redemption body for the approval `jti` of `request_for(user, ..)`.
pub fn redeem_body(jti: &str, user: &str, tool: &str) -> Value {
    json!({"jti": jti, "user": user, "session": "sess-1", "server": "/tools/mcp-github/mcp",
           "tool": tool, "args_sha256": args_sha256(json!({"repo": "org/api"}).as_object())})
}

/// Redeem at `s`: (status, body).
pub async fn redeem(s: &Running, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(s.url("/v1/redeem"))
        .json(body)
        .send()
        .await
        .expect("redeem");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The `jti` inside an approval token (unverified read; the tests verify elsewhere).
pub fn jti_of(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    let v: Value = serde_json::from_slice(&bytes).expect("json");
    v["jti"].as_str().expect("jti").to_string()
}

/// Ask, approve as `approver` (with the approver role), poll: (approval id, token).
pub async fn approved(s: &Running, idp: &Idp, approver: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let ticket = create(&http, s, &request("delete_repo")).await;
    let id = ticket["approval_id"].as_str().expect("id").to_string();
    let (status, body) = approve(s, &id, Some(&idp.token(approver, &["approver"]))).await;
    assert_eq!(status, 200, "{body}");
    let token = body["approval_token"].as_str().expect("token").to_string();
    (id, token)
}
