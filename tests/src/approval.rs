//! The human-in-the-loop side of the harness: the real approval service
//! (examples/approval-service) on loopback, the approval gate's pluginConfig from istio/
//! pointed at it, and the steps a person and an agent take (approve, poll).

use crate::manifests::{localize, plugin_config};
use meshguard_approval::{minter, start, Running, Settings};
use serde_json::{json, Value};

/// Name of the Envoy cluster the gate's webhook goes to in the harness.
pub const CLUSTER: &str = "approval";

/// Start the approval service on a loopback port with a fresh signing key.
pub async fn start_service() -> Running {
    let settings = Settings {
        public_url: String::new(),
        ..Settings::default()
    };
    let m = minter(&settings.issuer, None).expect("approval signing key");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    start(settings, m, listener)
        .await
        .expect("approval service")
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

/// A person approves `approval_id` through the service's API as `approver`; then the agent
/// polls `poll` and gets the approval token (None if the service did not issue one).
pub async fn approve_and_poll(
    service: &Running,
    approval_id: &str,
    poll: &str,
    approver: &str,
) -> Option<String> {
    let http = reqwest::Client::new();
    let r = http
        .post(service.url(&format!("/v1/approvals/{approval_id}/approve")))
        .json(&json!({ "approver": approver }))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let status: Value = http.get(poll).send().await.ok()?.json().await.ok()?;
    status["approval_token"].as_str().map(str::to_string)
}

/// What a person and an agent do with the local mesh's approval service, through its HTTP API.
impl crate::mesh::LocalMesh {
    /// `approver` approves `approval_id` on the service (what the page's Approve button posts).
    pub async fn approve(&self, approval_id: &str, approver: &str) -> Result<Value, String> {
        let url = self
            .approval
            .url(&format!("/v1/approvals/{approval_id}/approve"));
        let reply = reqwest::Client::new()
            .post(url)
            .json(&json!({ "approver": approver }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = reply.status();
        let body: Value = reply.json().await.map_err(|e| e.to_string())?;
        match status.is_success() {
            true => Ok(body),
            false => Err(format!("approve {approval_id}: {status} {body}")),
        }
    }

    /// The agent polls `approval_id`: its status and, once approved, `approval_token`.
    pub async fn poll(&self, approval_id: &str) -> Result<Value, String> {
        let url = self.approval.url(&format!("/v1/approvals/{approval_id}"));
        let reply = reqwest::get(url).await.map_err(|e| e.to_string())?;
        reply.json().await.map_err(|e| e.to_string())
    }
}
