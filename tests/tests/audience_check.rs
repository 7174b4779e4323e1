//! audience-check end to end (MCP-02, MCP-09, MCP-18): the tool sidecars of the local mesh
//! accept only tool tokens minted for their server and tool, enforce team rules, refuse
//! replays and anything that bypasses the gateway. The gateway side (token-exchange) is in
//! token_exchange.rs.

use meshguard_e2e::client::tool_call;
use meshguard_e2e::identity::{agent_token, alice, assert_denied, bob, call_tool, echo};
use meshguard_e2e::mesh::{
    LocalMesh, GATEWAY_ISSUER, MCP_GITHUB, MCP_PAYROLL, SECURITY_AGENT, SRE_AGENT,
};
use meshguard_e2e::pki::ids;
use meshguard_e2e::McpClient;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_isolation_and_tool_policy() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let (sre_token, sid) = agent_token(&mesh, "sre-agent", &alice()).await;
    // An SRE token asking for a security-team resource (step 7).
    let reply = call_tool(
        &mesh,
        &SRE_AGENT,
        "mcp-github",
        &sre_token,
        &echo("x", Some("org-thousandeyes/security-vault")),
    )
    .await;
    assert_denied(&reply, 200, "team_scope_violation");
    assert_eq!(reply.response()["error"]["data"]["control"], "MCP-09");
    // The SRE team may not use the payroll tool at all.
    let reply = call_tool(
        &mesh,
        &SRE_AGENT,
        "mcp-payroll",
        &sre_token,
        &echo("x", None),
    )
    .await;
    assert_denied(&reply, 403, "tool_not_allowed");
    // A session header naming another session than the token's is refused.
    let reply = McpClient::new(mesh.agent_outbound_url(&SRE_AGENT, "/tools/mcp-github/mcp"))
        .with_header("authorization", &format!("Bearer {sre_token}"))
        .with_header("x-chat-session", &format!("{sid}x"))
        .post(&echo("x", None))
        .await;
    assert_denied(&reply, 403, "session_mismatch");
    // The security team's operator can use payroll.
    let (sec_token, _) = agent_token(&mesh, "security-agent", &bob()).await;
    let reply = call_tool(
        &mesh,
        &SECURITY_AGENT,
        "mcp-payroll",
        &sec_token,
        &echo("payroll ok", None),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_tokens_are_bound_to_one_tool_server_and_one_tool() {
    let mesh = LocalMesh::start().await.expect("mesh");
    // A compromised gateway-identity client replays tokens straight at the tool sidecars.
    let as_gateway =
        |target: &str, server: &str| mesh.client_as(&mesh.pki.svid(ids::GATEWAY), target, server);
    let payroll = as_gateway("tool-mcp-payroll", MCP_PAYROLL.spiffe).unwrap();
    let github = as_gateway("tool-mcp-github", MCP_GITHUB.spiffe).unwrap();
    let github_token = mesh.stolen_tool_token("mcp-github", "echo");
    let post = |envoy: &meshguard_e2e::Envoy, token: &str, call: Value| {
        let client = McpClient::new(envoy.url("/mcp"))
            .with_header("authorization", &format!("Bearer {token}"));
        async move { client.post(&call).await }
    };
    // Sanity: the stolen token is valid where it belongs.
    let reply = mesh
        .post_as(&github, &github_token, &echo("ok", None))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Impersonation (steps 3 & 6): a token minted for mcp-github is rejected by mcp-payroll.
    let reply = mesh
        .post_as(&payroll, &github_token, &echo("ok", None))
        .await;
    assert_denied(&reply, 401, "wrong_audience");
    // A tools/call whose params.name differs from the token's tool.
    let reply = post(
        &github,
        &github_token,
        tool_call(1, "count_with_progress", json!({})),
    )
    .await;
    assert_denied(&reply, 403, "tool_mismatch");
    // A user's token sent straight to a tool.
    let user_token = mesh.idp.token(&alice());
    let reply = mesh.post_as(&github, &user_token, &echo("ok", None)).await;
    assert_eq!(reply.status, 401, "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_refuses_bypass_and_unknown_workloads() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let (sre_token, _) = agent_token(&mesh, "sre-agent", &alice()).await;
    // Lateral movement: the agent pod calls the tool directly, bypassing the gateway.
    let direct = mesh
        .client_as(
            &mesh.pki.svid(ids::SRE_AGENT),
            "tool-mcp-github",
            MCP_GITHUB.spiffe,
        )
        .unwrap();
    let reply = McpClient::new(direct.url("/mcp"))
        .with_header("authorization", &format!("Bearer {sre_token}"))
        .post(&echo("x", None))
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(reply.text().contains("RBAC: access denied"));
    // A workload whose certificate is not from the mesh CA cannot even connect.
    let rogue = mesh
        .client_as(
            &mesh.pki.rogue_svid(ids::SRE_AGENT),
            "gateway-mesh",
            ids::GATEWAY,
        )
        .unwrap();
    let reply = McpClient::new(rogue.url("/tools/mcp-github/mcp"))
        .with_header("authorization", &format!("Bearer {sre_token}"))
        .post(&echo("x", None))
        .await;
    assert_eq!(reply.status, 503, "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_jti_is_refused_across_workers() {
    use meshguard_e2e::mesh::GatewayKeys;
    use meshguard_e2e::{EnvoyBuilder, WasmFilter};
    let keys = GatewayKeys::generate();
    let config = json!({
        "tokens": {"issuer": GATEWAY_ISSUER, "audiences": ["mcp-github"], "algorithms": ["ES256"],
                   "jwks": {"inline": keys.public_jwks()}},
        "replay_protection": true
    });
    let upstream = meshguard_e2e::McpUpstream::start(meshguard_e2e::ResponseMode::Json).await;
    let envoy = EnvoyBuilder::new()
        .filter(WasmFilter::new("audience_check", config))
        .upstream(upstream.addr)
        .concurrency(2)
        .start()
        .unwrap_or_else(|e| panic!("{}", e.log));
    let call = echo("once", None);
    // Many fresh tokens, each used twice over new connections (spread over both workers):
    // every first use passes, every second use is a replay.
    for i in 0..6 {
        let token = keys.sign_tool_token("mcp-github", "echo", None, &format!("jti-{i}"));
        let client = McpClient::new(envoy.url("/mcp"))
            .with_header("authorization", &format!("Bearer {token}"));
        let first = client.post(&call).await;
        assert_eq!(first.status, 200, "{}", first.text());
        let again = McpClient::new(envoy.url("/mcp"))
            .with_header("authorization", &format!("Bearer {token}"));
        assert_denied(&again.post(&call).await, 401, "token_replayed");
    }
}
