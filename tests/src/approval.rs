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
