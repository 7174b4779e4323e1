//! The human-in-the-loop side of the harness: the real approval service
//! (examples/approval-service) on loopback, the approval gate's pluginConfig from istio/
//! pointed at it, and the steps a person and an agent take (approve, poll).

use crate::manifests::{localize, plugin_config};
use crate::oidc::{OidcIssuer, UserClaims};
use meshguard_approval::auth::ApproverPolicy;
use meshguard_approval::store::StoreConfig;
use meshguard_approval::{minter, start, Running, Settings};
use serde_json::{json, Value};
use std::net::SocketAddr;

/// Name of the Envoy cluster the gate's webhook goes to in the harness.
pub const CLUSTER: &str = "approval";
/// `aud` of the tokens people approve with (the approval service's client id at the IdP).
pub const APPROVER_AUDIENCE: &str = "meshguard-approval";
/// The role (the issuer's `role` claim) an approver must have.
pub const APPROVER_ROLE: &str = "approver";

/// Approvers as the harness configures them: tokens from `idp`, role claim `role`.
pub fn approver_policy(idp: &OidcIssuer) -> ApproverPolicy {
    ApproverPolicy {
        issuer: idp.issuer().to_string(),
        jwks_uri: idp.jwks_uri(),
        audience: APPROVER_AUDIENCE.into(),
        role_claim: "role".into(),
        required_role: APPROVER_ROLE.into(),
        ..ApproverPolicy::default()
    }
}

/// Start the approval service on a loopback port with a fresh signing key, approvers
/// verified against `idp`, approvals in an in-memory SQLite store.
pub async fn start_service(idp: &OidcIssuer) -> Running {
    start_service_with(idp, StoreConfig::Sqlite(":memory:".into()), None, None).await
}

/// Start the approval service with `store`, on `addr` (a restart on the same port) or a
/// fresh loopback port, signing with `keys` (core signing-keys JSON; replicas and restarts
/// share it) or a fresh key.
pub async fn start_service_with(
    idp: &OidcIssuer,
    store: StoreConfig,
    addr: Option<SocketAddr>,
    keys: Option<&str>,
) -> Running {
    let settings = Settings {
        public_url: String::new(),
        approvers: approver_policy(idp),
        store,
        ..Settings::default()
    };
    let m = minter(&settings.issuer, keys).expect("approval signing key");
    let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind loopback");
    start(settings, m, listener)
        .await
        .expect("approval service")
}

/// A fresh ES256 signing key in the service's signing-keys JSON, for replicas and restarts
/// that must sign with (and be verified by the gate with) the same key.
pub fn signing_keys_json() -> String {
    let pem = jwt_simple::prelude::ES256KeyPair::generate()
        .to_pem()
        .expect("ES256 key PEM");
    json!({"active": "approval-test", "keys": [{"kid": "approval-test", "alg": "ES256", "pem": pem}]})
        .to_string()
}

/// A token `name` approves with: from `idp`, for the approval service, with `role`.
pub fn person_token(idp: &OidcIssuer, name: &str, role: &str) -> String {
    idp.token(&UserClaims::new(name, "sre", role, APPROVER_AUDIENCE).exact_audience())
}

/// The approval gate's pluginConfig exactly as istio/ deploys it, with only the webhook
/// endpoint and the service's public key replaced by the local service's.
pub fn gate_config(service: &Running) -> Value {
    let jwks: Value = serde_json::from_str(&service.jwks()).unwrap_or(Value::Null);
    let overrides = [
        ("/webhook/cluster", json!(CLUSTER)),
        ("/webhook/authority", json!(service.addr.to_string())),
        ("/tokens/jwks/inline", jwks),
    ];
    localize(plugin_config("approval_gate"), &overrides)
        .unwrap_or_else(|e| panic!("approval_gate pluginConfig: {e}"))
}

/// A person approves `approval_id` through the service's API with their OIDC token
/// (`approver_token`); then the agent polls `poll` and gets the approval token (None if the
/// service did not issue one).
pub async fn approve_and_poll(
    service: &Running,
    approval_id: &str,
    poll: &str,
    approver_token: &str,
) -> Option<String> {
    let http = reqwest::Client::new();
    let r = http
        .post(service.url(&format!("/v1/approvals/{approval_id}/approve")))
        .bearer_auth(approver_token)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let status: Value = http.get(poll).send().await.ok()?.json().await.ok()?;
    status["approval_token"].as_str().map(str::to_string)
}

/// How someone tries to approve on the approval service.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// An OIDC bearer token.
    Token(&'a str),
    /// No token, only an `x-forwarded-user` header naming someone (what the service trusted
    /// before approvers were verified).
    ForwardedUser(&'a str),
}

/// What a person and an agent do with the local mesh's approval service, through its HTTP API.
impl crate::mesh::LocalMesh {
    fn approval_url(&self, path: &str) -> Result<String, String> {
        self.approval_service()
            .map(|s| s.url(path))
            .ok_or_else(|| "the approval service is stopped".to_string())
    }

    /// `approver` (a person with the approver role at the mesh's IdP, signed in: their token
    /// is minted here) approves `approval_id` on the service.
    pub async fn approve(&self, approval_id: &str, approver: &str) -> Result<Value, String> {
        let token = person_token(&self.idp, approver, APPROVER_ROLE);
        match self
            .try_approve(approval_id, Credential::Token(&token))
            .await
        {
            Ok((status, body)) if (200..300).contains(&status) => Ok(body),
            Ok((status, body)) => Err(format!("approve {approval_id}: {status} {body}")),
            Err(e) => Err(e),
        }
    }

    /// Someone tries to approve `approval_id` with `credential`: the service's status and
    /// JSON answer (`{"error": "<reason>"}` when refused).
    pub async fn try_approve(
        &self,
        approval_id: &str,
        credential: Credential<'_>,
    ) -> Result<(u16, Value), String> {
        let url = self.approval_url(&format!("/v1/approvals/{approval_id}/approve"))?;
        let request = reqwest::Client::new().post(url);
        let request = match credential {
            Credential::Token(token) => request.bearer_auth(token),
            Credential::ForwardedUser(name) => request.header("x-forwarded-user", name),
        };
        let reply = request.send().await.map_err(|e| e.to_string())?;
        let status = reply.status().as_u16();
        let body: Value = reply.json().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    /// The agent polls `approval_id`: its status and, once approved, `approval_token`.
    pub async fn poll(&self, approval_id: &str) -> Result<Value, String> {
        let url = self.approval_url(&format!("/v1/approvals/{approval_id}"))?;
        let reply = reqwest::get(url).await.map_err(|e| e.to_string())?;
        reply.json().await.map_err(|e| e.to_string())
    }
}
