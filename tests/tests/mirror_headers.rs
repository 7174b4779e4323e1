//! MCP 2026-07-28 mirror headers in real Envoy, through the local mesh (issue 16): a request
//! whose `Mcp-Method`, `Mcp-Name`, `MCP-Protocol-Version` or `Mcp-Param-*` header says
//! something its body does not (also behind the `=?base64?...?=` sentinel) is refused with
//! 400 and JSON-RPC -32020 `header_mismatch`, echoing the request's id, at the gateway (a
//! user's request) and at a tool sidecar (a client holding the gateway's identity and a
//! valid tool token, i.e. a request that never passed the gateway's check). Honest headers
//! pass and reach the workload unchanged, so an AuthorizationPolicy on `mcp-name` is safe.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use meshguard_e2e::mesh::{LocalMesh, GATEWAY_AUDIENCE, MCP_GITHUB};
use meshguard_e2e::pki::ids;
use meshguard_e2e::UserClaims;
use serde_json::{json, Value};

const LATEST: &str = "2026-07-28";

fn b64(text: &str) -> String {
    format!("=?base64?{}?=", STANDARD.encode(text))
}

/// `tools/call echo {text}`, declaring the 2026-07-28 revision in `_meta`.
fn echo_call(id: u64, text: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": "echo", "arguments": {"text": text},
        "_meta": {"io.modelcontextprotocol/protocolVersion": LATEST}}})
}

/// POST `body` with exactly these headers (besides the content type and accept).
async fn post(url: &str, headers: &[(&str, String)], body: &Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let resp = req.body(body.to_string()).send().await.expect("POST");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text)
        .or_else(|_| {
            // An SSE answer: the last data line is the response.
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .next_back()
                .map_or(Ok(Value::Null), |d| serde_json::from_str(d.trim()))
        })
        .unwrap_or(Value::Null);
    (status, value)
}

/// The honest headers of [`echo_call`] for `text`, plus what the case changes.
fn honest(text: &str) -> Vec<(&'static str, String)> {
    vec![
        ("mcp-method", "tools/call".to_string()),
        ("mcp-name", "echo".to_string()),
        ("mcp-protocol-version", LATEST.to_string()),
        ("mcp-param-text", text.to_string()),
    ]
}

/// Each mismatch case: a label and the headers (honest ones with one changed or removed).
fn mismatches(text: &str) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let with = |name: &'static str, value: Option<String>| {
        let mut h: Vec<(&'static str, String)> = honest(text)
            .into_iter()
            .filter(|(k, _)| *k != name)
            .collect();
        if let Some(v) = value {
            h.push((name, v));
        }
        h
    };
    vec![
        ("method", with("mcp-method", Some("tools/list".into()))),
        ("method missing at 2026-07-28", with("mcp-method", None)),
        ("name", with("mcp-name", Some("delete_branch".into()))),
        ("name missing at 2026-07-28", with("mcp-name", None)),
        (
            "name behind base64",
            with("mcp-name", Some(b64("delete_branch"))),
        ),
        (
            "invalid base64",
            with("mcp-name", Some("=?base64?%%%?=".into())),
        ),
        (
            "version",
            with("mcp-protocol-version", Some("2025-11-25".into())),
        ),
        (
            "param",
            with("mcp-param-text", Some("something else".into())),
        ),
        (
            "param behind base64",
            with("mcp-param-text", Some(b64("other"))),
        ),
        ("param without argument", {
            let mut h = honest(text);
            h.push(("mcp-param-region", "eu-west1".into()));
            h
        }),
    ]
}

fn assert_refused(label: &str, where_: &str, id: u64, (status, v): &(u16, Value)) {
    assert_eq!(*status, 400, "{where_} {label}: {v}");
    assert_eq!(v["error"]["code"], -32020, "{where_} {label}: {v}");
    assert_eq!(
        v["error"]["data"]["reason"], "header_mismatch",
        "{where_} {label}: {v}"
    );
    assert_eq!(v["id"], id, "{where_} {label}: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_headers_must_match_the_body_at_the_gateway_and_at_a_tool_sidecar() {
    let mesh = LocalMesh::start().await.expect("mesh");
    let alice = UserClaims::new("alice", "sre", "operator", GATEWAY_AUDIENCE);
    let user_token = mesh.idp.token(&alice);
    let sid = mesh.session(&user_token).await.expect("session");
    let user = |extra: Vec<(&'static str, String)>| {
        let mut h = vec![
            ("authorization", format!("Bearer {user_token}")),
            ("x-chat-session", sid.clone()),
        ];
        h.extend(extra);
        h
    };
    // The gateway: the agent's echo endpoint shows what was forwarded.
    let url = mesh.gateway_url("/agents/sre-agent/echo");
    let text = "Grüße, a text only base64 can carry";
    let mut headers = honest(&b64(text));
    headers.retain(|(k, _)| *k != "mcp-name");
    headers.push(("mcp-name", b64("echo")));
    let (status, seen) = post(&url, &user(headers), &echo_call(1, text)).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["headers"]["mcp-name"], b64("echo"), "{seen}");
    assert_eq!(seen["headers"]["mcp-param-text"], b64(text), "{seen}");
    for (i, (label, headers)) in mismatches("hello").into_iter().enumerate() {
        let id = 100 + i as u64;
        let reply = post(&url, &user(headers), &echo_call(id, "hello")).await;
        assert_refused(label, "gateway", id, &reply);
    }

    // A tool sidecar, reached with the gateway's identity and a valid tool token: the
    // sidecar checks by itself, whatever the gateway did.
    let github = mesh
        .client_as(
            &mesh.pki.svid(ids::GATEWAY),
            "tool-mcp-github",
            MCP_GITHUB.spiffe,
        )
        .expect("gateway-identity client");
    let url = github.url("/mcp");
    let tool = |jti: &str, extra: Vec<(&'static str, String)>| {
        let token = mesh
            .keys
            .sign_tool_token("mcp-github", "echo", Some(ids::GATEWAY), jti);
        let mut h = vec![("authorization", format!("Bearer {token}"))];
        h.extend(extra);
        h
    };
    // Honest headers on the older revision the test server speaks (which ignores them).
    let older = |mut h: Vec<(&'static str, String)>| {
        h.retain(|(k, _)| *k != "mcp-protocol-version");
        h.push(("mcp-protocol-version", "2025-11-25".into()));
        h
    };
    let plain = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hello"}}});
    let (status, v) = post(&url, &tool("ok", older(honest("hello"))), &plain).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["content"][0]["text"], "hello", "{v}");
    for (i, (label, headers)) in mismatches("hello").into_iter().enumerate() {
        let id = 200 + i as u64;
        let reply = post(
            &url,
            &tool(&format!("mm-{i}"), headers),
            &echo_call(id, "hello"),
        )
        .await;
        assert_refused(label, "tool sidecar", id, &reply);
    }
}
