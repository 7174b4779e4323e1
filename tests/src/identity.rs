//! Shared steps of the identity e2e tests (token_exchange.rs at the gateway, audience_check.rs
//! at the tools): the local mesh's users, sessions, agent tokens and tool calls.

use crate::client::tool_call;
use crate::mesh::{Agent, LocalMesh, GATEWAY_AUDIENCE};
use crate::{Reply, UserClaims};
use serde_json::{json, Value};

/// alice, an SRE operator: the user the SRE agent acts for.
pub fn alice() -> UserClaims {
    UserClaims::new("alice", "sre", "operator", GATEWAY_AUDIENCE)
}

/// bob, a security-team operator: the user of the security agent.
pub fn bob() -> UserClaims {
    UserClaims::new("bob", "security", "operator", GATEWAY_AUDIENCE)
}

/// A gateway session for `user_token` (panics with the gateway's answer if refused).
pub async fn session(mesh: &LocalMesh, user_token: &str) -> String {
    mesh.session(user_token)
        .await
        .unwrap_or_else(|r| panic!("session: {}", r.text()))
}

/// Flow 1: the user asks `agent` (through the gateway) for `tools/list`.
pub async fn flow1(mesh: &LocalMesh, agent: &str, user_token: &str, sid: &str) -> Reply {
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    mesh.talk_to_agent(agent, user_token, sid, &list).await
}

/// An agent token minted by the gateway's token-exchange for `agent` acting for `user`.
pub async fn agent_token(mesh: &LocalMesh, agent: &str, user: &UserClaims) -> (String, String) {
    mesh.agent_token(agent, user)
        .await
        .unwrap_or_else(|r| panic!("flow 1: {}", r.text()))
}

/// `call` sent by the agent pod `from` to `tool` with `token`, over the mesh (mTLS).
pub async fn call_tool(
    mesh: &LocalMesh,
    from: &Agent,
    tool: &str,
    token: &str,
    call: &Value,
) -> Reply {
    mesh.call_tool(from, tool, token, call).await
}

/// A `tools/call` of the test server's `echo`, optionally naming a `repo` (team rules).
pub fn echo(text: &str, repo: Option<&str>) -> Value {
    let mut args = json!({"text": text});
    if let Some(r) = repo {
        args["repo"] = json!(r);
    }
    tool_call(5, "echo", args)
}

/// Asserts `reply` is a meshguard denial with `status` and `reason`.
pub fn assert_denied(reply: &Reply, status: u16, reason: &str) {
    assert_eq!(reply.status, status, "expected {reason}: {}", reply.text());
    assert_eq!(
        reply.denial_reason().as_deref(),
        Some(reason),
        "{}",
        reply.text()
    );
}
