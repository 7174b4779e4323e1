//! The official MCP SDKs as clients through the local mesh (issue 16), each in its default
//! settings: the Python SDK (PyPI `mcp`, pinned in the Makefile, venv `.tools/mcp-python`)
//! and the TypeScript SDK (npm `@modelcontextprotocol/sdk`, pinned, `.tools/mcp-ts`). Each
//! app (tests/sdk/) signs in by OAuth discovery and PKCE against the local issuer, lists and
//! calls tools through an agent, and reads code, `data.control` and `data.reason` from the
//! SDK's error object for a prompt injection, a team-scope violation, the intent rate limit
//! and a call held for a person's approval. Once a person approves the held call (the app
//! plays the person with the approver token the test gives it, where a real one clicks on
//! the approval service's page), the app calls again with progress: the tool answers an SSE
//! stream of progress notifications through the tool sidecar's streaming filters, the
//! gateway and the agent, and the SDK's progress callback sees each one before the result.

use meshguard_e2e::approval::{person_token, APPROVER_ROLE};
use meshguard_e2e::mesh::{LocalMesh, GATEWAY_AUDIENCE};
use meshguard_e2e::paths::workspace_root;
use meshguard_e2e::UserClaims;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The program, or `None` (skipped) when it is not installed and tools are not required.
fn tool(relative: &str, make_target: &str) -> Option<PathBuf> {
    let path = workspace_root().join(relative);
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("MESHGUARD_REQUIRE_TOOLS").is_some() {
        panic!(
            "{relative} is missing and MESHGUARD_REQUIRE_TOOLS is set: run `make {make_target}`"
        );
    }
    eprintln!("SKIPPED: {relative} is missing (run `make {make_target}`)");
    None
}

async fn run_app(program: &PathBuf, script: &str, mesh: &LocalMesh) -> Value {
    let out = tokio::process::Command::new(program)
        .arg(workspace_root().join(script))
        .env("MCP_GATEWAY", mesh.gateway_url(""))
        .env("MCP_AGENT", "sre-agent")
        .env(
            "MCP_APPROVALS",
            mesh.approval_service().expect("approval service").url(""),
        )
        .env(
            "MCP_APPROVER_TOKEN",
            person_token(&mesh.idp, "carol", APPROVER_ROLE),
        )
        .env(
            "NODE_PATH",
            workspace_root().join(".tools/mcp-ts/node_modules"),
        )
        .output()
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout.lines().last().unwrap_or("");
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{script}: {e}\nstdout: {stdout}\nstderr: {stderr}"));
    assert!(out.status.success(), "{script}: {v}\nstderr: {stderr}");
    v
}

fn assert_app_saw_the_mesh(app: &str, v: &Value) {
    assert_eq!(v["session_status"], 200, "{app}: {v}");
    assert_eq!(v["tools"], json!(["run_tool"]), "{app}: {v}");
    assert_eq!(v["echo"], "hello from ".to_string() + app, "{app}: {v}");
    assert_eq!(v["echo_is_error"], false, "{app}: {v}");
    assert_eq!(
        v["injection"],
        json!({"code": -32003, "control": "MCP-01", "reason": "prompt_injection"}),
        "{app}: {v}"
    );
    assert_eq!(
        v["team_scope"],
        json!({"code": -32003, "control": "MCP-09", "reason": "team_scope_violation"}),
        "{app}: {v}"
    );
    // The intent rate limit (1 delete per user per 10 minutes): the first passes.
    assert_eq!(v["first_delete"], "deleted branch release-1", "{app}: {v}");
    assert_eq!(
        v["rate_limit"],
        json!({"code": -32029, "control": "MCP-03", "reason": "rate_limited"}),
        "{app}: {v}"
    );
    // A write is held until a person approves it; the app reads the approval id too.
    assert_eq!(
        v["held"],
        json!({"code": -32003, "control": "HITL", "reason": "approval_pending", "has_approval_id": true}),
        "{app}: {v}"
    );
    // Approved, the call streams: every progress notification, then the result.
    let progress: Vec<f64> = v["progress"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    assert_eq!(progress, [1.0, 2.0, 3.0], "{app}: {v}");
    assert_eq!(v["counted"], "counted to 3", "{app}: {v}");
}

async fn mesh_with_alice_signing_in() -> LocalMesh {
    let mesh = LocalMesh::start().await.expect("mesh");
    mesh.idp.set_auto_consent(Some(UserClaims::new(
        "alice",
        "sre",
        "operator",
        GATEWAY_AUDIENCE,
    )));
    mesh
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_through_the_mesh() {
    let Some(python) = tool(".tools/mcp-python/bin/python", "mcp-sdks") else {
        return;
    };
    let mesh = mesh_with_alice_signing_in().await;
    let v = run_app(&python, "tests/sdk/python_client.py", &mesh).await;
    assert_app_saw_the_mesh("python", &v);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_through_the_mesh() {
    let Some(_) = tool(
        ".tools/mcp-ts/node_modules/@modelcontextprotocol/sdk/package.json",
        "mcp-sdks",
    ) else {
        return;
    };
    let mesh = mesh_with_alice_signing_in().await;
    let node = PathBuf::from("node");
    let v = run_app(&node, "tests/sdk/ts_client.mjs", &mesh).await;
    assert_app_saw_the_mesh("typescript", &v);
}
