//! token-exchange end to end (MCP-02, MCP-09, MCP-18): the local mesh (gateway, agent and
//! tool sidecars, SPIFFE mTLS, RBAC) with token-exchange at the gateway, attacked from every
//! side the seeds name: user tokens, sessions, team-to-agent binding, stolen agent tokens, key
//! rotation. The tool side of the same flow (audience-check) is in audience_check.rs; the OAuth
//! protected-resource face of token-exchange in oauth.rs.

use meshguard_e2e::identity::{agent_token, alice, assert_denied, call_tool, echo, flow1, session};
use meshguard_e2e::mesh::{LocalMesh, GATEWAY_AUDIENCE, GATEWAY_ISSUER, SECURITY_AGENT, SRE_AGENT};
use meshguard_e2e::oidc::payload;
use meshguard_e2e::pki::ids;
use meshguard_e2e::{McpClient, UserClaims};
use serde_json::json;

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
