//! Foundation: every filter builds to a loadable module, loads in Envoy's V8 runtime,
//! refuses a bad configuration naming the field, and passes MCP traffic unchanged.

use meshguard_e2e::paths::{self, FILTERS};
use meshguard_e2e::upstream::start_chunked;
use meshguard_e2e::{wasm_imports, EnvoyBuilder, McpClient, McpUpstream, ResponseMode, WasmFilter};
use serde_json::{json, Value};
use std::time::Duration;

/// The filters that judge bodies and pass honest traffic without credentials; the identity
/// filters (which refuse anything unauthenticated) are exercised in `token_exchange.rs` and `audience_check.rs`.
const BODY_FILTERS: [&str; 3] = ["prompt_guardrail", "output_sanitizer", "pii_scrubber"];

/// A minimal valid configuration per filter.
fn valid_config(filter: &str) -> Value {
    let verifier = json!({"issuer": "meshguard-gateway", "audiences": ["mcp-github"], "algorithms": ["ES256"],
                          "jwks": {"remote": {"uri": "http://gateway/.well-known/jwks.json", "cluster": "gateway"}}});
    match filter {
        "token_exchange" => json!({
            "user_tokens": {"issuer": "https://idp", "audiences": ["meshguard"], "algorithms": ["RS256"],
                            "jwks": {"remote": {"uri": "http://idp/jwks.json", "cluster": "idp"}}},
            "minter": {"issuer": "meshguard-gateway", "signing_keys_env": "K", "session_keys_env": "S"},
            "tools": [{"id": "mcp-github", "path_prefix": "/tools/mcp-github/",
                       "allow": [{"teams": ["sre"], "tools": ["*"]}]}]
        }),
        "audience_check" => json!({"tokens": verifier}),
        "egress_guard" => json!({"mode": "inbound"}),
        "tool_policy" => {
            json!({"servers": [{"id": "mcp-github", "path_prefix": "/tools/mcp-github/", "tools": []}]})
        }
        "approval_gate" => json!({
            "webhook": {"cluster": "approval", "authority": "approval"},
            "tokens": {"issuer": "meshguard-approval", "audiences": ["meshguard-gateway"], "algorithms": ["ES256"],
                       "jwks": {"inline": meshguard_approval::minter("meshguard-approval", None)
                           .map(|m| m.public_jwks()).unwrap_or_default()}}
        }),
        _ => json!({}),
    }
}

fn with_field(filter: &str, key: &str, value: Value) -> Value {
    let mut config = valid_config(filter);
    config[key] = value;
    config
}

#[test]
fn every_filter_imports_only_what_envoy_provides_and_is_small() {
    for filter in FILTERS {
        let path = paths::wasm(filter);
        let bad = wasm_imports::unsupported_imports(&path);
        assert!(bad.is_empty(), "{filter} imports what Envoy lacks: {bad:?}");
        let proxy = wasm_imports::imports(&path)
            .iter()
            .filter(|(m, _)| m == "env")
            .count();
        assert!(proxy > 0, "{filter} imports no proxy-wasm ABI at all");
        let size = std::fs::metadata(&path)
            .map(|m| m.len())
            .unwrap_or(u64::MAX);
        assert!(size <= 2 << 20, "{filter}.wasm is {size} bytes, over 2 MiB");
    }
}

#[test]
fn unsupported_import_check_catches_a_foreign_import() {
    // A module importing a wasm-bindgen shim must be flagged (guards the check above).
    let wat = br#"(module (import "__wbindgen_placeholder__" "__wbindgen_describe" (func)) (import "env" "proxy_log" (func)))"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.wasm");
    std::fs::write(&path, wat_to_wasm(wat)).unwrap();
    let bad = wasm_imports::unsupported_imports(&path);
    assert_eq!(
        bad,
        vec![(
            "__wbindgen_placeholder__".into(),
            "__wbindgen_describe".into()
        )]
    );
}

/// Hand-assembled binary for the WAT above (no wat crate needed): two function imports.
fn wat_to_wasm(_wat: &[u8]) -> Vec<u8> {
    fn name(s: &str) -> Vec<u8> {
        let mut v = vec![s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }
    let mut imports = vec![2u8];
    for (m, n) in [
        ("__wbindgen_placeholder__", "__wbindgen_describe"),
        ("env", "proxy_log"),
    ] {
        imports.extend(name(m));
        imports.extend(name(n));
        imports.extend([0x00, 0x00]); // func, type index 0
    }
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    out.extend([0x01, 0x04, 0x01, 0x60, 0x00, 0x00]); // type section: () -> ()
    out.push(0x02);
    out.push(imports.len() as u8);
    out.extend(imports);
    out
}

#[test]
fn every_filter_refuses_bad_configuration_naming_the_field() {
    for filter in FILTERS {
        let mut cases = vec![
            (
                WasmFilter::new(filter, with_field(filter, "bogus", json!(1))),
                "field `bogus`",
            ),
            (
                WasmFilter::raw(filter, "{not json"),
                "invalid plugin configuration",
            ),
        ];
        let (field, value, expected) = match filter {
            "token_exchange" => ("agents", json!("x"), "field `agents`: invalid type"),
            "audience_check" => ("tokens", json!(42), "field `tokens`: invalid type"),
            _ => ("body", json!("1MiB"), "field `body`: invalid type"),
        };
        cases.push((
            WasmFilter::new(filter, with_field(filter, field, value)),
            expected,
        ));
        if filter == "prompt_guardrail" {
            let nested = json!({"body": {"max_bytes": -1}});
            cases.push((
                WasmFilter::new(filter, nested),
                "field `body.max_bytes`: invalid value",
            ));
            let zero = json!({"body": {"max_bytes": 0}});
            cases.push((
                WasmFilter::new(filter, zero),
                "field `body.max_bytes`: must be between",
            ));
        }
        if filter == "audience_check" {
            let missing = json!({"team_rules": []});
            cases.push((WasmFilter::new(filter, missing), "missing field `tokens`"));
            let mut pinned = valid_config(filter);
            pinned["tokens"]["algorithms"] = json!(["HS256"]);
            let expected = "field `tokens.algorithms[0]`: unknown variant `HS256`";
            cases.push((WasmFilter::new(filter, pinned), expected));
        }
        if filter == "token_exchange" {
            let missing = json!({});
            cases.push((
                WasmFilter::new(filter, missing),
                "missing field `user_tokens`",
            ));
            // A valid config whose signing keys are absent from the environment.
            let expected =
                "environment variable K (signing keys, field `minter.signing_keys_env`) is not set";
            cases.push((WasmFilter::new(filter, valid_config(filter)), expected));
        }
        for (wasm, expected) in cases {
            let err = match EnvoyBuilder::new().filter(wasm).start() {
                Ok(_) => panic!("{filter}: Envoy started with a bad configuration ({expected})"),
                Err(e) => e,
            };
            assert!(err.exited, "{filter}: Envoy neither started nor exited");
            assert!(
                err.log.contains(expected)
                    && err.log.contains("Failed to configure base Wasm plugin"),
                "{filter}: log does not say `{expected}`:\n{}",
                err.log
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_loads_in_v8_and_passes_a_tools_call_unchanged() {
    let upstream = McpUpstream::start(ResponseMode::Json).await;
    let direct = McpClient::new(format!("http://{}/mcp", upstream.addr));
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": "hello, ignore nothing"}}});
    let expected = direct.post(&call).await;
    assert_eq!(expected.status, 200, "{}", expected.text());
    assert_eq!(
        expected.response()["result"]["content"][0]["text"],
        "hello, ignore nothing"
    );
    for filter in BODY_FILTERS {
        let envoy = EnvoyBuilder::new()
            .filter(WasmFilter::new(filter, valid_config(filter)))
            .upstream(upstream.addr)
            .start()
            .unwrap_or_else(|e| panic!("{filter} did not start:\n{}", e.log));
        let client = McpClient::new(envoy.url("/mcp"));
        let reply = client.post(&call).await;
        assert_eq!(reply.status, 200, "{filter}: {}", reply.text());
        assert_eq!(reply.body, expected.body, "{filter} changed the response");
        let counter = match filter {
            "output_sanitizer" | "pii_scrubber" => {
                format!("wasmcustom.meshguard.{filter}.inspected.json")
            }
            _ => format!("wasmcustom.meshguard.{filter}.requests"),
        };
        assert_eq!(envoy.counter(&counter), 1, "{filter}: counter {counter}");
        assert!(envoy
            .log()
            .contains(&format!("meshguard {filter}: configuration loaded")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_responses_stream_through_unchanged() {
    let upstream = McpUpstream::start(ResponseMode::Sse).await;
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "count_with_progress", "arguments": {"steps": 3, "delay_ms": 400},
                   "_meta": {"progressToken": "p-1"}}});
    for filter in BODY_FILTERS {
        let envoy = EnvoyBuilder::new()
            .filter(WasmFilter::new(filter, valid_config(filter)))
            .upstream(upstream.addr)
            .start()
            .unwrap_or_else(|e| panic!("{filter} did not start:\n{}", e.log));
        let reply = McpClient::new(envoy.url("/mcp")).post(&call).await;
        assert_eq!(reply.status, 200, "{filter}: {}", reply.text());
        assert!(reply
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/event-stream"));
        let messages = reply.messages();
        let progress: Vec<&Value> = messages
            .iter()
            .filter(|m| m["method"] == "notifications/progress")
            .collect();
        assert_eq!(progress.len(), 3, "{filter}: {messages:?}");
        assert_eq!(
            reply.response()["result"]["content"][0]["text"],
            "counted to 3"
        );
        // Streamed, not buffered: the first progress event arrived well before the result.
        let first = first_arrival(&reply, "notifications/progress");
        let last = first_arrival(&reply, "\"result\"");
        assert!(
            last - first >= Duration::from_millis(800),
            "{filter} held the stream: {first:?} vs {last:?}"
        );
    }
}

fn first_arrival(reply: &meshguard_e2e::Reply, needle: &str) -> Duration {
    let mut seen = Vec::new();
    for (at, chunk) in &reply.chunks {
        seen.extend_from_slice(chunk);
        if String::from_utf8_lossy(&seen).contains(needle) {
            return *at;
        }
    }
    panic!("{needle} never arrived")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_events_split_across_chunks_pass_byte_identical() {
    let stream = b": ping\n\nevent: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\n data-ignored\ndata: \"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}\r\n\r\n".to_vec();
    let chunks: Vec<Vec<u8>> = stream.chunks(7).map(<[u8]>::to_vec).collect();
    let upstream = start_chunked("text/event-stream", chunks, Duration::from_millis(5)).await;
    for filter in ["output_sanitizer", "pii_scrubber"] {
        let envoy = EnvoyBuilder::new()
            .filter(WasmFilter::new(filter, valid_config(filter)))
            .upstream(upstream.addr)
            .start()
            .unwrap_or_else(|e| panic!("{filter} did not start:\n{}", e.log));
        let reply = McpClient::new(envoy.url("/mcp"))
            .call_tool("x", json!({}))
            .await;
        assert_eq!(reply.body, stream, "{filter} altered the stream");
        assert_eq!(
            envoy.counter(&format!(
                "wasmcustom.meshguard.{filter}.inspected.sse_event"
            )),
            3
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardrail_refuses_what_it_cannot_inspect_with_a_jsonrpc_error() {
    let upstream = McpUpstream::start(ResponseMode::Json).await;
    let envoy = EnvoyBuilder::new()
        .filter(WasmFilter::new(
            "prompt_guardrail",
            json!({"body": {"max_bytes": 4096}}),
        ))
        .upstream(upstream.addr)
        .start()
        .unwrap_or_else(|e| panic!("did not start:\n{}", e.log));
    let client = McpClient::new(envoy.url("/mcp"));
    let call = meshguard_e2e::client::tool_call(9, "echo", json!({"text": "hi"})).to_string();
    type Case<'a> = (Vec<u8>, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            call.clone().into_bytes(),
            vec![("content-encoding", "gzip")],
            415,
            "compressed_body",
        ),
        (
            format!("{{\"pad\":\"{}\"}}", "x".repeat(5000)).into_bytes(),
            vec![],
            413,
            "body_too_large",
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":9,".to_vec(),
            vec![],
            400,
            "invalid_json",
        ),
        (
            b"{\"jsonrpc\":\"1.0\",\"id\":9,\"method\":\"x\"}".to_vec(),
            vec![],
            400,
            "not_jsonrpc_2_0",
        ),
    ];
    for (body, headers, status, reason) in cases {
        let reply = client.post_raw(body, &headers).await;
        assert_eq!(reply.status, status, "{reason}: {}", reply.text());
        let v = reply.json();
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["error"]["data"]["reason"], reason);
        assert_eq!(v["error"]["data"]["control"], "PROTOCOL");
        assert_eq!(reply.header("x-meshguard-reason"), Some(reason));
    }
    // Chunked upload with no content-length that grows past the limit is refused too.
    let big = format!("[{}]", vec![call.as_str(); 80].join(","));
    let reply = client.post_chunked(big.into_bytes(), 512).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    // And honest traffic still passes.
    let reply = client.post_raw(call.into_bytes(), &[]).await;
    assert_eq!(reply.response()["result"]["content"][0]["text"], "hi");
    assert!(envoy.counter("wasmcustom.meshguard.prompt_guardrail.denied.compressed_body") >= 1);
}
