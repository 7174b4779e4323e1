//! The scenarios. Until the multi-Envoy local mesh lands (one Envoy per workload with SPIFFE
//! mTLS), the built ones run through a single Envoy carrying every meshguard filter in
//! front of a real rmcp MCP server; the rest are listed as planned.

use crate::report::Row;
use meshguard_e2e::client::tool_call;
use meshguard_e2e::{Envoy, EnvoyBuilder, McpClient, McpUpstream, ResponseMode, WasmFilter};
use serde_json::json;

/// The gateway-side filter chain with the reference configuration.
pub fn start_gateway(upstream: &McpUpstream) -> Result<Envoy, String> {
    EnvoyBuilder::new()
        .filter(WasmFilter::new(
            "token_exchange",
            json!({"issuer": "meshguard-gateway"}),
        ))
        .filter(WasmFilter::new("prompt_guardrail", json!({})))
        .filter(WasmFilter::new(
            "audience_check",
            json!({"audience": "mcp-github", "issuer": "meshguard-gateway"}),
        ))
        .filter(WasmFilter::new("output_sanitizer", json!({})))
        .filter(WasmFilter::new("pii_scrubber", json!({})))
        .upstream(upstream.addr)
        .start()
        .map_err(|e| format!("envoy did not start:\n{}", e.log))
}

/// Run every scenario and return the table rows.
pub async fn run_all() -> Result<Vec<Row>, String> {
    let upstream = McpUpstream::start(ResponseMode::Json).await;
    let envoy = start_gateway(&upstream)?;
    let client = McpClient::new(envoy.url("/mcp"));
    let mut rows = Vec::new();

    let reply = client
        .call_tool("echo", json!({"text": "list open incidents"}))
        .await;
    let observed = match reply.response()["result"]["content"][0]["text"].as_str() {
        Some("list open incidents") => "allowed".to_string(),
        _ => format!("HTTP {} {}", reply.status, reply.text()),
    };
    rows.push(Row::checked("honest tools/call", "-", "allowed", observed));

    let reply = client
        .post_raw(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":".to_vec(), &[])
        .await;
    rows.push(Row::checked(
        "malformed JSON-RPC",
        "fail closed",
        "denied invalid_json",
        denied(&reply),
    ));

    let body = tool_call(2, "echo", json!({"text": "hidden"}))
        .to_string()
        .into_bytes();
    let reply = client.post_raw(body, &[("content-encoding", "gzip")]).await;
    rows.push(Row::checked(
        "compressed body (bypass attempt)",
        "fail closed",
        "denied compressed_body",
        denied(&reply),
    ));

    for (scenario, control) in [
        ("token replay to another tool", "MCP-02"),
        ("agent calls tool directly (bypass gateway)", "MCP-07"),
        ("workload without valid SVID", "MCP-05/10"),
        ("stolen agent token from another pod", "SPIFFE binding"),
        ("cross-team access", "MCP-09"),
        ("another user's chat session", "MCP-18"),
        ("prompt injection at the gateway", "MCP-01"),
        ("poisoned tool result re-injects", "MCP-13"),
        ("PII and secrets in a tool result", "MCP-04"),
        ("SSRF to cloud metadata", "MCP-08"),
        ("mass delete vs intent rate limit", "rate limit"),
        ("write action awaiting approval", "HITL"),
    ] {
        rows.push(Row::planned(scenario, control, "denied"));
    }
    Ok(rows)
}

fn denied(reply: &meshguard_e2e::Reply) -> String {
    match reply.denial_reason() {
        Some(reason) => format!("denied {reason}"),
        None => format!("HTTP {} (not denied)", reply.status),
    }
}
