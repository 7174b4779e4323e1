//! Identity end to end (MCP-02, MCP-09, MCP-18): the local mesh (gateway, agent and tool
//! sidecars, SPIFFE mTLS, RBAC) with token-exchange at the gateway and audience-check at
//! each tool, attacked from every side the seeds name.

use meshguard_e2e::client::tool_call;
use meshguard_e2e::mesh::{
    Agent, LocalMesh, GATEWAY_AUDIENCE, GATEWAY_ISSUER, MCP_GITHUB, MCP_PAYROLL, SECURITY_AGENT,
    SRE_AGENT,
};
use meshguard_e2e::oidc::payload;
use meshguard_e2e::pki::ids;
use meshguard_e2e::{McpClient, Reply, UserClaims};
use serde_json::{json, Value};

fn alice() -> UserClaims {
    UserClaims::new("alice", "sre", "operator", GATEWAY_AUDIENCE)
}

fn bob() -> UserClaims {
    UserClaims::new("bob", "security", "operator", GATEWAY_AUDIENCE)
}

async fn session(mesh: &LocalMesh, user_token: &str) -> String {
    mesh.session(user_token)
        .await
        .unwrap_or_else(|r| panic!("session: {}", r.text()))
}

async fn flow1(mesh: &LocalMesh, agent: &str, user_token: &str, sid: &str) -> Reply {
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    mesh.talk_to_agent(agent, user_token, sid, &list).await
}

async fn agent_token(mesh: &LocalMesh, agent: &str, user: &UserClaims) -> (String, String) {
    mesh.agent_token(agent, user)
        .await
        .unwrap_or_else(|r| panic!("flow 1: {}", r.text()))
}

async fn call_tool(mesh: &LocalMesh, from: &Agent, tool: &str, token: &str, call: &Value) -> Reply {
    mesh.call_tool(from, tool, token, call).await
}

fn echo(text: &str, repo: Option<&str>) -> Value {
    let mut args = json!({"text": text});
    if let Some(r) = repo {
        args["repo"] = json!(r);
    }
    tool_call(5, "echo", args)
}

fn assert_denied(reply: &Reply, status: u16, reason: &str) {
    assert_eq!(reply.status, status, "expected {reason}: {}", reply.text());
    assert_eq!(
        reply.denial_reason().as_deref(),
        Some(reason),
        "{}",
        reply.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_flow_through_both_hops() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let user_token = mesh.idp.token(&alice());
    let sid = session(&mesh, &user_token).await;
    // The client also tries to pose as another team through the trusted headers.
    let reply = McpClient::new(mesh.gateway_url("/agents/sre-agent/echo"))
        .with_header("authorization", &format!("Bearer {user_token}"))
        .with_header("x-chat-session", &sid)
        .with_header("x-meshguard-team", "security")
        .with_header("x-meshguard-role", "admin")
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = reply.json();
    assert_eq!(
        seen["headers"]["x-meshguard-team"], "sre",
        "spoofed identity header survived"
    );
    assert_eq!(seen["headers"]["x-meshguard-role"], "operator");
    // The user's own token never reached the agent: it got an agent token instead.
    let auth = seen["headers"]["authorization"].as_str().unwrap();
    assert!(!auth.contains(&user_token));
    let claims = payload(auth.trim_start_matches("Bearer "));
    assert_eq!(claims["iss"], GATEWAY_ISSUER);
    assert_eq!(claims["aud"], "sre-agent");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["team"], "sre");
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["cnf"]["spiffe"], ids::SRE_AGENT);
    assert_eq!(claims["act"]["sub"], GATEWAY_ISSUER);
    assert!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap() <= 900);
    assert_eq!(seen["headers"]["x-meshguard-sub"], "alice");

    let agent_token = auth.trim_start_matches("Bearer ").to_string();
    let reply = call_tool(
        &mesh,
        &SRE_AGENT,
        "mcp-github",
        &agent_token,
        &echo(
            "status of org-thousandeyes/sre-api",
            Some("org-thousandeyes/sre-api"),
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.response()["result"]["content"][0]["text"],
        "status of org-thousandeyes/sre-api"
    );
    let gw = mesh.gateway(0).expect("gateway");
    assert_eq!(
        gw.counter("wasmcustom.meshguard.token_exchange.minted.agent_token"),
        1
    );
    assert_eq!(
        gw.counter("wasmcustom.meshguard.token_exchange.minted.tool_token"),
        1
    );
    let github = &mesh.tool_sidecars[0].1;
    assert_eq!(
        github.counter("wasmcustom.meshguard.audience_check.allowed"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_user_tokens_are_rejected_at_the_gateway() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let good = mesh.idp.token(&alice());
    let sid = session(&mesh, &good).await;
    let idp = &mesh.idp;
    let cases = [
        ("expired", idp.expired_token(&alice()), "token_expired"),
        (
            "not yet valid",
            idp.not_yet_valid_token(&alice()),
            "token_not_yet_valid",
        ),
        (
            "wrong issuer",
            idp.wrong_issuer_token(&alice()),
            "wrong_issuer",
        ),
        ("tampered", idp.tampered_token(&alice()), "bad_signature"),
        // `alg: none` carries an empty signature: refused as malformed before any key lookup.
        ("alg none", idp.forge_alg_none(&alice()), "token_malformed"),
        (
            "hs256 with public key",
            idp.forge_hs256_with_public_key(&alice()),
            "alg_not_allowed",
        ),
        (
            "unknown kid",
            idp.forge_unknown_kid(&alice()),
            "unknown_kid",
        ),
        (
            "wrong audience",
            idp.token(&UserClaims::new("alice", "sre", "operator", "another-app")),
            "wrong_audience",
        ),
        ("garbage", "not.a.jwt".to_string(), "token_malformed"),
    ];
    for (name, token, reason) in cases {
        let reply = flow1(&mesh, "sre-agent", &token, &sid).await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.text());
        assert_eq!(
            reply.denial_reason().as_deref(),
            Some(reason),
            "{name}: {}",
            reply.text()
        );
        assert!(
            reply
                .header("www-authenticate")
                .unwrap_or("")
                .starts_with("Bearer"),
            "{name}"
        );
    }
    let reply = McpClient::new(mesh.gateway_url("/agents/sre-agent/mcp"))
        .post(&json!({}))
        .await;
    assert_denied(&reply, 401, "missing_token");
    // The honest token still works after all that.
    assert_eq!(flow1(&mesh, "sre-agent", &good, &sid).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_bound_to_their_user() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let alice_token = mesh.idp.token(&alice());
    let bob_token = mesh
        .idp
        .token(&UserClaims::new("bob", "sre", "operator", GATEWAY_AUDIENCE));
    let bobs_session = session(&mesh, &bob_token).await;
    let reply = flow1(&mesh, "sre-agent", &alice_token, &bobs_session).await;
    assert_denied(&reply, 403, "session_not_owned");
    assert_eq!(reply.response()["error"]["data"]["control"], "MCP-18");
    let reply = McpClient::new(mesh.gateway_url("/agents/sre-agent/mcp"))
        .with_header("authorization", &format!("Bearer {alice_token}"))
        .post(&json!({}))
        .await;
    assert_denied(&reply, 403, "missing_session");
    let reply = flow1(&mesh, "sre-agent", &alice_token, "forged-session-id").await;
    assert_denied(&reply, 403, "session_malformed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_may_only_drive_its_own_agent() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let token = mesh.idp.token(&alice());
    let sid = session(&mesh, &token).await;
    let reply = flow1(&mesh, "security-agent", &token, &sid).await;
    assert_denied(&reply, 403, "team_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stolen_agent_token_is_useless_from_another_pod() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let (sre_token, _) = agent_token(&mesh, "sre-agent", &alice()).await;
    // The security agent's pod presents the SRE agent's token: its SVID is not the binding.
    let reply = call_tool(
        &mesh,
        &SECURITY_AGENT,
        "mcp-github",
        &sre_token,
        &echo("hi", None),
    )
    .await;
    assert_denied(&reply, 403, "binding_mismatch");
    // From the right pod it works.
    let reply = call_tool(
        &mesh,
        &SRE_AGENT,
        "mcp-github",
        &sre_token,
        &echo("hi", None),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

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
async fn jwks_rotation_without_restarting_envoy() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let old_token = mesh.idp.token(&alice());
    let sid = session(&mesh, &old_token).await;
    let old_kid = mesh.idp.active_kid();
    let fetches = mesh.idp.jwks_fetches();
    // The issuer rotates: a token under the new key is accepted (unknown kid -> refetch).
    mesh.idp.rotate();
    mesh.idp.retire(&old_kid);
    let new_token = mesh.idp.token(&alice());
    let reply = flow1(&mesh, "sre-agent", &new_token, &sid).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(mesh.idp.jwks_fetches() > fetches, "no JWKS refetch");
    // The retired key is gone from the gateway's set: even its cached token is refused.
    let reply = flow1(&mesh, "sre-agent", &old_token, &sid).await;
    assert_eq!(reply.status, 401, "{}", reply.text());
}

#[test]
fn mesh_constants_match_the_manifests() {
    let te = meshguard_e2e::manifests::plugin_config("token_exchange");
    assert_eq!(te["minter"]["issuer"], GATEWAY_ISSUER);
    assert!(te["user_tokens"]["audiences"]
        .as_array()
        .unwrap()
        .contains(&json!(GATEWAY_AUDIENCE)));
    assert_eq!(te["gateway_spiffe"], ids::GATEWAY);
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
