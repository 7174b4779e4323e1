//! Real MCP clients' view of the gateway (issue 16): the gateway as an OAuth 2.1 protected
//! resource (RFC 9728 metadata, challenges, RFC 8707 audience), the transport's Origin
//! check, denials an SDK can read (HTTP 200 + JSON-RPC error to MCP clients), and the local
//! issuer's OAuth side (RFC 8414 metadata, registration, PKCE S256, refresh) driven the way
//! the SDKs drive it, end to end through the local mesh.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use meshguard_e2e::mesh::{LocalMesh, GATEWAY_AUDIENCE, SRE_AGENT};
use meshguard_e2e::oidc::payload;
use meshguard_e2e::{McpClient, Reply, UserClaims};
use serde_json::{json, Value};

fn alice() -> UserClaims {
    UserClaims::new("alice", "sre", "operator", GATEWAY_AUDIENCE)
}

fn list() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

async fn get_json(url: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let resp = http().get(url).send().await.expect("GET");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::Null),
        headers,
    )
}

async fn post_form(url: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let resp = http()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn challenge(reply: &Reply) -> String {
    reply.header("www-authenticate").unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_is_a_discoverable_protected_resource() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let base = mesh.gateway_url("");
    // Metadata without a token, for the gateway and for an endpoint it fronts.
    let (status, root, headers) =
        get_json(&mesh.gateway_url("/.well-known/oauth-protected-resource")).await;
    assert_eq!(status, 200, "{root}");
    assert_eq!(root["resource"], base.as_str());
    assert_eq!(root["authorization_servers"], json!([mesh.idp.issuer()]));
    assert_eq!(root["bearer_methods_supported"], json!(["header"]));
    assert!(root["scopes_supported"]
        .as_array()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"*"[..])
    );
    let (status, ep, _) =
        get_json(&mesh.gateway_url("/.well-known/oauth-protected-resource/agents/sre-agent/mcp"))
            .await;
    assert_eq!(status, 200, "{ep}");
    assert_eq!(ep["resource"], format!("{base}/agents/sre-agent/mcp"));
    let (status, _, _) =
        get_json(&mesh.gateway_url("/.well-known/oauth-protected-resource/nowhere")).await;
    assert_eq!(status, 404);

    // No credentials: a challenge without an error code (RFC 6750 3.1) naming the metadata.
    let reply = McpClient::new(mesh.gateway_url("/agents/sre-agent/mcp"))
        .post(&list())
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text());
    let c = challenge(&reply);
    assert!(c.starts_with("Bearer "), "{c}");
    assert!(!c.contains("error="), "{c}");
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource/agents/sre-agent");
    assert!(
        c.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{c}"
    );
    assert!(c.contains("scope=\""), "{c}");
    // The URL it names serves metadata whose resource the endpoint is under.
    let (status, md, _) = get_json(&metadata_url).await;
    assert_eq!(status, 200);
    assert_eq!(md["resource"], format!("{base}/agents/sre-agent"));
    // A bad token: error code and the same pointer.
    let reply = McpClient::new(mesh.gateway_url("/agents/sre-agent/mcp"))
        .with_header("authorization", "Bearer not.a.jwt")
        .post(&list())
        .await;
    assert_eq!(reply.status, 401);
    let c = challenge(&reply);
    assert!(
        c.contains("error=\"invalid_token\"") && c.contains("resource_metadata="),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_tokens_must_be_issued_for_this_resource() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let base = mesh.gateway_url("");
    let good = mesh.idp.token(&alice());
    let sid = mesh.session(&good).await.expect("session");
    let talk = |token: String| {
        let client = McpClient::new(mesh.gateway_url("/agents/sre-agent/echo"))
            .with_header("authorization", &format!("Bearer {token}"))
            .with_header("x-chat-session", &sid);
        async move { client.post(&list()).await }
    };
    assert_eq!(talk(good.clone()).await.status, 200);
    // The gateway's audience alone (no RFC 8707 resource), another resource, a URL that
    // merely starts like this one, another endpoint of this gateway: all refused.
    for aud in [
        vec![GATEWAY_AUDIENCE.to_string()],
        vec![
            GATEWAY_AUDIENCE.to_string(),
            "https://other.example".to_string(),
        ],
        vec![GATEWAY_AUDIENCE.to_string(), format!("{base}0")],
        vec![
            GATEWAY_AUDIENCE.to_string(),
            format!("{base}/agents/security-agent"),
        ],
    ] {
        let refs: Vec<&str> = aud.iter().map(String::as_str).collect();
        let token = mesh.idp.token(&alice().audiences(&refs).exact_audience());
        let reply = talk(token).await;
        assert_eq!(reply.status, 401, "{aud:?}: {}", reply.text());
        assert_eq!(reply.denial_reason().as_deref(), Some("resource_mismatch"));
        assert!(challenge(&reply).contains("resource_metadata="));
    }
    // The endpoint's own resource works.
    let token = mesh.idp.token(
        &alice()
            .audiences(&[GATEWAY_AUDIENCE, &format!("{base}/agents/sre-agent")])
            .exact_audience(),
    );
    assert_eq!(talk(token).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_origins_are_checked_and_policy_denials_are_readable() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let token = mesh.idp.token(&alice());
    let sid = mesh.session(&token).await.expect("session");
    let client = |origin: Option<&str>| {
        let mut c = McpClient::new(mesh.gateway_url("/agents/sre-agent/echo"))
            .with_header("authorization", &format!("Bearer {token}"))
            .with_header("x-chat-session", &sid);
        if let Some(o) = origin {
            c = c.with_header("origin", o);
        }
        c
    };
    assert_eq!(client(None).post(&list()).await.status, 200);
    let own = mesh.gateway_url("");
    assert_eq!(client(Some(&own)).post(&list()).await.status, 200);
    for evil in [
        "http://evil.example",
        "null",
        &format!("{own}.evil.example"),
    ] {
        let reply = client(Some(evil)).post(&list()).await;
        assert_eq!(reply.status, 403, "{evil}: {}", reply.text());
        let v = reply.json();
        assert_eq!(v["error"]["data"]["reason"], "origin_not_allowed");
        assert_eq!(v["error"]["code"], -32003);
    }

    // A policy denial (team isolation, MCP-09, read from the body): HTTP 200 carrying the
    // JSON-RPC error with the request's id, so SDKs surface code, control and reason.
    let (agent_token, _) = mesh
        .agent_token("sre-agent", &alice())
        .await
        .unwrap_or_else(|r| panic!("{}", r.text()));
    let outside = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "x", "repo": "org-thousandeyes/security-vault"}}});
    let reply = mesh
        .call_tool(&SRE_AGENT, "mcp-github", &agent_token, &outside)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let v = reply.json();
    assert_eq!(v["id"], 9);
    assert_eq!(v["error"]["code"], -32003);
    assert_eq!(v["error"]["data"]["control"], "MCP-09");
    assert_eq!(v["error"]["data"]["reason"], "team_scope_violation");
    assert_eq!(
        reply.header("x-meshguard-reason"),
        Some("team_scope_violation")
    );
    // Decided on the headers (no request id yet): the real status, which an SDK reports at
    // once, rather than a 200 no SDK could match to its request.
    let bob = mesh.idp.token(&UserClaims::new(
        "bob",
        "security",
        "operator",
        GATEWAY_AUDIENCE,
    ));
    let bob_sid = mesh.session(&bob).await.expect("session");
    let reply = McpClient::new(mesh.gateway_url("/agents/sre-agent/mcp"))
        .with_header("authorization", &format!("Bearer {bob}"))
        .with_header("x-chat-session", &bob_sid)
        .post(&list())
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(reply.denial_reason().as_deref(), Some("team_not_allowed"));
}

fn pkce() -> (String, String) {
    let mut raw = [0u8; 32];
    getrandom::getrandom(&mut raw).expect("randomness");
    let verifier = URL_SAFE_NO_PAD.encode(raw);
    let challenge = URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(verifier.as_bytes()));
    (verifier, challenge)
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The authorization code flow as the SDKs run it: discovery from the challenge, RFC 8414
/// metadata, dynamic registration, PKCE S256 with the resource, redeem, use, refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_issuer_runs_the_oauth_code_flow_the_sdks_use() {
    let mesh = LocalMesh::start().await.expect("mesh");
    mesh.idp.set_auto_consent(Some(alice()));
    let reply = McpClient::new(mesh.gateway_url("/agents/sre-agent/mcp"))
        .post(&list())
        .await;
    let c = challenge(&reply);
    let metadata_url = c
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("resource_metadata in the challenge")
        .to_string();
    let (_, prm, _) = get_json(&metadata_url).await;
    let resource = prm["resource"].as_str().unwrap().to_string();
    let issuer = prm["authorization_servers"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (status, asm, _) =
        get_json(&format!("{issuer}/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, 200);
    assert_eq!(asm["issuer"], issuer.as_str());
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
    let registration = asm["registration_endpoint"].as_str().unwrap();
    let redirect = "http://127.0.0.1:33418/callback";
    let resp = http()
        .post(registration)
        .json(&json!({"redirect_uris": [redirect], "client_name": "test",
                      "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let client: Value = resp.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_string();

    let authorize = |challenge: &str, method: &str, redirect: &str| {
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", redirect),
                ("code_challenge", challenge),
                ("code_challenge_method", method),
                ("state", "st4te"),
                ("scope", "openid mcp"),
                ("resource", resource.as_str()),
            ])
            .finish();
        let url = format!("{}?{q}", asm["authorization_endpoint"].as_str().unwrap());
        async move {
            let resp = http().get(url).send().await.unwrap();
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            (resp.status().as_u16(), location)
        }
    };
    // PKCE is required, S256 only; an unregistered redirect is not redirected to.
    let (verifier, chal) = pkce();
    let (status, location) = authorize(&chal, "plain", redirect).await;
    assert_eq!(status, 302);
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    let (status, _) = authorize(&chal, "S256", "http://evil.example/cb").await;
    assert_eq!(status, 400);
    let (status, location) = authorize(&chal, "S256", redirect).await;
    assert_eq!(status, 302, "{location}");
    assert!(location.starts_with(redirect));
    assert_eq!(query_param(&location, "state").as_deref(), Some("st4te"));
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        Some(issuer.as_str())
    );
    let code = query_param(&location, "code").expect("code");
    let token_endpoint = asm["token_endpoint"].as_str().unwrap();
    // A wrong verifier burns nothing but is refused.
    let (wrong_verifier, _) = pkce();
    let grant = |code: &str, verifier: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", redirect.to_string()),
            ("client_id", client_id.clone()),
            ("code_verifier", verifier.to_string()),
            ("resource", resource.clone()),
        ]
    };
    let pairs = grant(&code, &wrong_verifier);
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, err) = post_form(token_endpoint, &refs).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Codes are single-use: the refused attempt consumed it; a fresh one is redeemed.
    let (_, location) = authorize(&chal, "S256", redirect).await;
    let code = query_param(&location, "code").unwrap();
    let pairs = grant(&code, &verifier);
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, tokens) = post_form(token_endpoint, &refs).await;
    assert_eq!(status, 200, "{tokens}");
    let (status, again) = post_form(token_endpoint, &refs).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let claims = payload(&access);
    assert!(
        claims["aud"].as_array().unwrap().contains(&json!(resource)),
        "{claims}"
    );
    assert_eq!(claims["sub"], "alice");
    // The token works at the gateway (session, then the agent).
    let sid = mesh
        .session(&access)
        .await
        .expect("session with the OAuth token");
    let reply = mesh
        .talk_to_agent("sre-agent", &access, &sid, &list())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Refresh: a new access token, the refresh token rotated (the old one is spent).
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", client_id.as_str()),
    ];
    let (status, renewed) = post_form(token_endpoint, &pairs).await;
    assert_eq!(status, 200, "{renewed}");
    assert_ne!(renewed["refresh_token"], tokens["refresh_token"]);
    let (status, _) = post_form(token_endpoint, &pairs).await;
    assert_eq!(status, 400);
    let renewed_token = renewed["access_token"].as_str().unwrap();
    let reply = mesh
        .talk_to_agent("sre-agent", renewed_token, &sid, &list())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Without a consenting user, authorization is denied (no browser, no silent grant).
    mesh.idp.set_auto_consent(None);
    let (_, location) = authorize(&chal, "S256", redirect).await;
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
}
