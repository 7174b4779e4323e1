//! PII and secret scrubber (MCP-04, DLP) in real Envoy: tool results arrive masked as
//! configured (JSON and SSE split at awkward places), valid and correctly framed; requests
//! carrying secrets are blocked or redacted before the upstream sees them; honest data passes
//! byte for byte; uninspectable bodies are refused.

use meshguard_core::config::parse;
use meshguard_core::mcp::SseParser;
use meshguard_core::pii_scrubber::{Config, Direction, Engine, Verdict};
use meshguard_e2e::client::{tool_call, wait_until};
use meshguard_e2e::upstream::{start_chunked, start_echo};
use meshguard_e2e::{EnvoyBuilder, McpClient, McpUpstream, ResponseMode, WasmFilter};
use serde_json::{json, Value};
use std::time::Duration;

const FILTER: &str = "pii_scrubber";
const KEY_ENV: &str = "MESHGUARD_SCRUB_HMAC_KEY";
const KEY: &str = "e2e-hmac-key-0123456789abcdef";

const EMAIL: &str = "jane.doe@example.com";
const CARD: &str = "4111 1111 1111 1111";
const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
const GITHUB: &str = "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R";

fn pem() -> String {
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx7Zs0aQk3Lr8T1vXcP0n2bFzY9sVQhG5eW2mJtKc4RuDpLo8\nNfA1ZyXwq3Ve7HsT2bKd9LmP0cR4uY6iO8jA1sD3fG5hJ7kL9zX2cV4bN6mQ==\n-----END RSA PRIVATE KEY-----".to_string()
}

/// A tool result text carrying all four kinds the issue names.
fn sensitive_text() -> String {
    format!(
        "Payroll record: contact {EMAIL}, card {CARD}.\nCI log: AWS_ACCESS_KEY_ID={AWS}\n{}\nend of record",
        pem()
    )
}

/// Hash e-mails, keep the card's last four, redact the AWS key and the private key.
fn masking_config() -> Value {
    json!({
        "scrub": {"actions": {"email": "hash", "credit_card": "partial",
                              "aws_access_key_id": "redact", "private_key": "redact"}},
        "hmac_key_env": KEY_ENV,
    })
}

/// The same decisions computed natively, to compare Envoy's bytes against.
fn native(config: &Value) -> Engine {
    let c: Config = parse(config.to_string().as_bytes()).expect("config");
    Engine::new(c, |n| (n == KEY_ENV).then(|| KEY.to_string())).expect("engine")
}

fn envoy(config: Value, upstream: std::net::SocketAddr) -> meshguard_e2e::Envoy {
    EnvoyBuilder::new()
        .filter(WasmFilter::new(FILTER, config).env(KEY_ENV, KEY))
        .upstream(upstream)
        .start()
        .unwrap_or_else(|e| panic!("envoy did not start:\n{}", e.log))
}

fn counter(envoy: &meshguard_e2e::Envoy, name: &str) -> u64 {
    envoy.counter(&format!("wasmcustom.meshguard.{FILTER}.{name}"))
}

fn assert_no_raw_values(body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    for raw in [
        EMAIL,
        CARD,
        AWS,
        "MIIEowIBAAKCAQEA",
        "BEGIN RSA PRIVATE KEY",
        GITHUB,
    ] {
        assert!(!text.contains(raw), "{raw} leaked: {text}");
    }
}

fn assert_framing(reply: &meshguard_e2e::Reply) {
    if let Some(len) = reply.header("content-length") {
        assert_eq!(len, reply.body.len().to_string(), "stale content-length");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_tool_result_arrives_masked_valid_and_correctly_framed() {
    let upstream = McpUpstream::start(ResponseMode::Json).await;
    let config = masking_config();
    let envoy = envoy(config.clone(), upstream.addr);
    let reply = McpClient::new(envoy.url("/mcp"))
        .call_tool("echo", json!({"text": sensitive_text()}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_no_raw_values(&reply.body);
    // A correct, explicit length: the headers were held until the body was rewritten.
    assert_eq!(
        reply.header("content-length"),
        Some(reply.body.len().to_string().as_str())
    );
    let v = reply.json();
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], 1);
    let text = v["result"]["content"][0]["text"].as_str().expect("text");
    let expected = native(&config);
    let original = sensitive_text();
    let scrubbed = expected.scrubber().scrub(&original);
    assert_eq!(text, scrubbed.text, "Envoy and the native engine disagree");
    assert!(text.contains("contact [HASH:EMAIL:"), "{text}");
    assert!(text.contains("card **** **** **** 1111."), "{text}");
    assert!(
        text.contains("AWS_ACCESS_KEY_ID=[REDACTED:AWS_ACCESS_KEY_ID]"),
        "{text}"
    );
    assert!(
        text.contains("[REDACTED:PRIVATE_KEY]\nend of record"),
        "{text}"
    );
    for (name, n) in [
        ("hashed.email", 1),
        ("masked.credit_card", 1),
        ("redacted.aws_access_key_id", 1),
        ("redacted.private_key", 1),
        ("inspected.json", 1),
    ] {
        assert_eq!(counter(&envoy, name), n, "{name}");
    }
    // The same value hashes to the same token on the next call (correlation).
    let again = McpClient::new(envoy.url("/mcp"))
        .call_tool("echo", json!({"text": format!("again {EMAIL}")}))
        .await;
    let token = text
        .split_whitespace()
        .find(|w| w.starts_with("[HASH:EMAIL:"))
        .map(|w| w.trim_end_matches(','))
        .expect("hash token");
    assert_eq!(
        again.response()["result"]["content"][0]["text"],
        format!("again {token}")
    );
}

/// What a tool returns when it answers `json.dumps(record)`: a JSON document as its text,
/// with `\n`, `\t`, `\"` and `\uXXXX` escapes before the values.
fn json_dumps_text() -> String {
    let record = json!({
        "name": "Ann Lee",
        "notes": "Contact:\n+44 20 7946 0958\n078-05-1120\tDE89370400440532013000\n10.20.30.40\nann@example.com\n\"bob@example.org\"",
        "card": "card\u{a0}4111 1111 1111 1111",
    });
    serde_json::to_string(&record).expect("serialisable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_dumps_tool_result_is_masked_inside_its_escapes_and_stays_valid_json() {
    for mode in [ResponseMode::Json, ResponseMode::Sse] {
        let upstream = McpUpstream::start(mode).await;
        let config = json!({});
        let envoy = envoy(config.clone(), upstream.addr);
        let original = json_dumps_text();
        let reply = McpClient::new(envoy.url("/mcp"))
            .call_tool("echo", json!({"text": original}))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_framing(&reply);
        let v = reply.response();
        let text = v["result"]["content"][0]["text"].as_str().expect("text");
        // The tool's own JSON is still valid: no mask left a bare backslash behind.
        let inner: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("the tool's JSON was broken ({e}): {text}"));
        assert_eq!(
            inner["notes"],
            "Contact:\n[REDACTED:PHONE]\n[REDACTED:SSN]\t[REDACTED:IBAN]\n[REDACTED:IP_ADDRESS]\n[REDACTED:EMAIL]\n\"[REDACTED:EMAIL]\"",
            "{text}"
        );
        assert_eq!(inner["card"], "card\u{a0}**** **** **** 1111", "{text}");
        assert_eq!(inner["name"], "Ann Lee");
        let scrubbed = native(&config)
            .scrubber()
            .scrub(&original)
            .text
            .into_owned();
        assert_eq!(text, scrubbed, "Envoy and the native engine disagree");
        for (name, n) in [
            ("redacted.phone", 1),
            ("redacted.ssn", 1),
            ("redacted.iban", 1),
            ("redacted.email", 2),
        ] {
            assert_eq!(counter(&envoy, name), n, "{name}");
        }
    }
}

/// A record whose note already held `\n` written out (a contact card exported as text, then
/// dumped again by the tool): decoded once, each value still follows a letter `n`; local
/// numbers are named phones only by their labels, the card only by the word before it.
fn twice_escaped_record() -> String {
    let record = json!({
        "name": "Brodie Walker",
        "note": r"Brodie Walker\nAcme Inc\n722.514.4462 fax\n(30) 173-2700 mobile\nPlease block card no 3501146169689600",
    });
    serde_json::to_string(&record).expect("serialisable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_after_written_out_escapes_and_named_by_their_labels_are_masked() {
    for mode in [ResponseMode::Json, ResponseMode::Sse] {
        let upstream = McpUpstream::start(mode).await;
        let config = json!({});
        let envoy = envoy(config.clone(), upstream.addr);
        let original = twice_escaped_record();
        let reply = McpClient::new(envoy.url("/mcp"))
            .call_tool("echo", json!({"text": original}))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_framing(&reply);
        let text = reply.response()["result"]["content"][0]["text"]
            .as_str()
            .expect("text")
            .to_string();
        let inner: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the tool's JSON was broken ({e}): {text}"));
        assert_eq!(
            inner["note"],
            r"Brodie Walker\nAcme Inc\n[REDACTED:PHONE] fax\n[REDACTED:PHONE] mobile\nPlease block card no ************9600",
            "{text}"
        );
        assert_eq!(inner["name"], "Brodie Walker");
        for (name, n) in [("redacted.phone", 2), ("masked.credit_card", 1)] {
            assert_eq!(counter(&envoy, name), n, "{name}");
        }
    }
}

/// Cut `stream` in the middle of each needle (and around it), so values straddle chunks.
fn cut_mid_values(stream: &[u8], needles: &[&str]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(stream);
    let mut cuts: Vec<usize> = Vec::new();
    for needle in needles {
        if let Some(at) = text.find(needle) {
            cuts.extend([at + 1, at + needle.len() / 2, at + needle.len() - 1]);
        }
    }
    // And a CRLF pair split in two, if there is one.
    if let Some(at) = text.find("\r\n") {
        cuts.push(at + 1);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().filter(|c| *c > 0 && *c < stream.len()) {
        chunks.push(stream[start..cut].to_vec());
        start = cut;
    }
    chunks.push(stream[start..].to_vec());
    chunks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_values_split_across_chunks_are_still_masked() {
    let progress = b"event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n".to_vec();
    let result = json!({"jsonrpc": "2.0", "id": 1,
        "result": {"content": [{"type": "text", "text": sensitive_text()}], "isError": false}});
    let result_event = format!("event: message\nid: 2\ndata: {result}\r\n\r\n").into_bytes();
    let log_event = format!("data: plain log line, key {AWS} for {EMAIL}\n\n").into_bytes();
    let mut stream = progress.clone();
    stream.extend_from_slice(&result_event);
    stream.extend_from_slice(&log_event);
    let chunks = cut_mid_values(
        &stream,
        &[
            EMAIL,
            CARD,
            AWS,
            "-----BEGIN RSA",
            "END RSA PRIVATE KEY-----",
        ],
    );
    assert!(chunks.len() >= 12, "{} chunks", chunks.len());
    let upstream = start_chunked("text/event-stream", chunks, Duration::from_millis(5)).await;
    let config = masking_config();
    let envoy = envoy(config.clone(), upstream.addr);
    let reply = McpClient::new(envoy.url("/mcp"))
        .call_tool("x", json!({}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_no_raw_values(&reply.body);
    assert_framing(&reply);

    // Byte-exact: the untouched event as is, the others exactly as the native engine says.
    let engine = native(&config);
    let mut parser = SseParser::new(1 << 20);
    let upstream_events = parser.push(&stream).expect("events");
    let mut expected = Vec::new();
    for event in &upstream_events {
        match engine.sse_event(event).verdict {
            Verdict::Clean => expected.extend_from_slice(&event.raw),
            Verdict::Rewrite(bytes) => expected.extend_from_slice(&bytes),
            Verdict::Block(d) => panic!("unexpected block {d:?}"),
        }
    }
    assert_eq!(reply.text(), String::from_utf8_lossy(&expected));
    assert!(reply.body.starts_with(&progress), "progress event altered");

    let events = reply.sse_events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].id.as_deref(), Some("2"));
    let v: Value = serde_json::from_str(events[1].data.as_deref().unwrap_or("")).expect("json");
    assert_eq!(v["id"], 1);
    let text = v["result"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(text.contains("card **** **** **** 1111"), "{text}");
    assert!(text.contains("[REDACTED:PRIVATE_KEY]"), "{text}");
    assert_eq!(
        events[2].data.as_deref().unwrap_or(""),
        format!(
            "plain log line, key [REDACTED:AWS_ACCESS_KEY_ID] for {}",
            engine.scrubber().scrub(EMAIL).text
        )
    );
    assert_eq!(counter(&envoy, "inspected.sse_event"), 3);
    assert_eq!(counter(&envoy, "hashed.email"), 2);
    assert_eq!(counter(&envoy, "redacted.aws_access_key_id"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_action_withholds_the_response_with_an_mcp04_error() {
    let result = json!({"jsonrpc": "2.0", "id": "call-9",
        "result": {"content": [{"type": "text", "text": sensitive_text()}]}})
    .to_string()
    .into_bytes();
    let chunks: Vec<Vec<u8>> = result.chunks(50).map(<[u8]>::to_vec).collect();
    let upstream = start_chunked("application/json", chunks, Duration::from_millis(2)).await;
    let envoy = envoy(
        json!({"scrub": {"actions": {"private_key": "block"}}}),
        upstream.addr,
    );
    let reply = McpClient::new(envoy.url("/mcp"))
        .call_tool("x", json!({}))
        .await;
    assert_no_raw_values(&reply.body);
    assert_framing(&reply);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-meshguard-control"), Some("MCP-04"));
    let v = reply.json();
    assert_eq!(v["id"], "call-9");
    assert_eq!(v["error"]["data"]["control"], "MCP-04");
    assert_eq!(v["error"]["data"]["reason"], "sensitive_data");
    let kinds = v["error"]["data"]["kinds"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(kinds.contains(&json!("private_key")), "{kinds:?}");
    assert_eq!(counter(&envoy, "blocked.private_key"), 1);
    assert_eq!(counter(&envoy, "denied.sensitive_data"), 1);
}

fn leaking_call() -> Value {
    tool_call(
        5,
        "create_issue",
        json!({"repo": "org-sre/api", "body": format!("use token {GITHUB} and mail {EMAIL}")}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outgoing_secret_is_blocked_and_the_upstream_never_sees_it() {
    let upstream = start_echo().await;
    let envoy = envoy(
        json!({"directions": {"request": true}, "request_action": "block"}),
        upstream.addr,
    );
    let client = McpClient::new(envoy.url("/mcp"));
    let reply = client.post(&leaking_call()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_no_raw_values(&reply.body);
    let v = reply.json();
    assert_eq!(v["id"], 5);
    assert_eq!(v["error"]["data"]["control"], "MCP-04");
    assert_eq!(v["error"]["data"]["reason"], "sensitive_data");
    assert_eq!(
        v["error"]["data"]["kinds"],
        json!(["github_token", "email"])
    );
    assert_eq!(envoy.counter("cluster.upstream.upstream_rq_total"), 0);
    assert_eq!(counter(&envoy, "blocked.github_token"), 1);
    // The same request split into small chunks with no content-length is blocked too.
    let reply = client
        .post_chunked(leaking_call().to_string().into_bytes(), 7)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(envoy.counter("cluster.upstream.upstream_rq_total"), 0);
    // An honest call goes through.
    let honest = tool_call(6, "get_issue", json!({"repo": "org-sre/api", "number": 42}));
    let reply = client.post(&honest).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["body"], honest.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outgoing_secret_is_redacted_when_configured_and_the_length_fixed() {
    let upstream = start_echo().await;
    // Responses unscrubbed here so the echo shows exactly what the upstream received.
    let envoy = envoy(
        json!({"directions": {"request": true, "response": false}, "request_action": "redact"}),
        upstream.addr,
    );
    let client = McpClient::new(envoy.url("/mcp"));
    for chunked in [false, true] {
        let body = leaking_call().to_string().into_bytes();
        let reply = if chunked {
            client.post_chunked(body, 9).await
        } else {
            client.post_raw(body, &[]).await
        };
        assert_eq!(reply.status, 200, "{}", reply.text());
        let seen = reply.json();
        let received = seen["body"].as_str().unwrap_or_default();
        assert_no_raw_values(received.as_bytes());
        let call: Value = serde_json::from_str(received).expect("upstream got valid JSON");
        assert_eq!(call["id"], 5);
        assert_eq!(call["method"], "tools/call");
        assert_eq!(
            call["params"]["arguments"]["body"],
            "use token [REDACTED:GITHUB_TOKEN] and mail [REDACTED:EMAIL]"
        );
        if !chunked {
            assert_eq!(
                seen["headers"]["content-length"],
                received.len().to_string(),
                "upstream saw a stale content-length"
            );
        }
    }
    assert_eq!(counter(&envoy, "redacted.github_token"), 2);
    assert_eq!(counter(&envoy, "inspected.request"), 2);
}

/// Order ids, timestamps, hashes, UUIDs, versions, amounts, ports and base64 that looks
/// random but is not a secret.
fn honest_result() -> Vec<u8> {
    let r = json!({"jsonrpc": "2.0", "id": 12345678901234567890u64, "result": {
        "content": [{"type": "text", "text": "Order ORD-2024-000123 shipped 2024-06-11T10:15:30.123Z (epoch 1718100930), build 20240611.4, v1.40.0, total 1234.56 EUR"}],
        "structuredContent": {
            "order_id": "ORD-20240611-000123", "invoice": "INV-000042-2024",
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "commit": "3f2a9c1d8e7b6a5f4c3d2e1f0a9b8c7d6e5f4a3b",
            "md5": "d41d8cd98f00b204e9800998ecf8427e",
            "uuid": "123e4567-e89b-12d3-a456-426614174000",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "created": "2024-06-11 10:15:30", "ts_ms": 1718100930123u64,
            "port": "8443", "count": 4111, "ratio": 0.5e-3,
            "path": "/api/v1/orders/9f86d081", "docker": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        }, "isError": false}});
    // Non-canonical spacing that a re-serialiser would change.
    r.to_string().replace(",\"", ", \"").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_data_passes_byte_identical() {
    let body = honest_result();
    let chunks: Vec<Vec<u8>> = body.chunks(13).map(<[u8]>::to_vec).collect();
    let json_up = start_chunked("application/json", chunks, Duration::from_millis(1)).await;
    let mut sse = b"id: 1\ndata: ".to_vec();
    sse.extend_from_slice(&body);
    sse.extend_from_slice(b"\n\n");
    let sse_chunks: Vec<Vec<u8>> = sse.chunks(11).map(<[u8]>::to_vec).collect();
    let sse_up = start_chunked("text/event-stream", sse_chunks, Duration::from_millis(1)).await;
    let config = json!({"directions": {"request": true}});
    for (addr, expected) in [(json_up.addr, &body), (sse_up.addr, &sse)] {
        let envoy = envoy(config.clone(), addr);
        let reply = McpClient::new(envoy.url("/mcp"))
            .post_raw(honest_result(), &[])
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.text(), String::from_utf8_lossy(expected));
        assert_framing(&reply);
        assert_eq!(counter(&envoy, "inspected.request"), 1);
    }
    // And the request side forwards an honest body byte for byte.
    let echo = start_echo().await;
    let envoy = envoy(config, echo.addr);
    let reply = McpClient::new(envoy.url("/mcp"))
        .post_raw(honest_result(), &[])
        .await;
    assert_eq!(
        reply.json()["body"],
        String::from_utf8_lossy(&body).as_ref()
    );
}

/// An upstream answering a JSON body with `content-encoding: gzip` (not actually inspected).
async fn start_gzip_upstream() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = axum::Router::new().fallback(|| async {
        (
            [
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{{\"text\":\"{EMAIL}\"}}}}"),
        )
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_and_oversize_bodies_are_refused_unless_allowed() {
    let (gzip, _task) = start_gzip_upstream().await;
    let echo = start_echo().await;
    let big = "x".repeat(6000);
    let limits = json!({"max_bytes": 4096});
    // Responses: compressed, oversize with a length, oversize streamed without one.
    let envoy_gz = envoy(json!({"body": limits}), gzip);
    let reply = McpClient::new(envoy_gz.url("/mcp"))
        .call_tool("x", json!({}))
        .await;
    assert!(!reply.text().contains(EMAIL), "{}", reply.text());
    assert_eq!(reply.denial_reason().as_deref(), Some("compressed_body"));
    assert_framing(&reply);
    let envoy_echo = envoy(json!({"body": limits}), echo.addr);
    let reply = McpClient::new(envoy_echo.url("/mcp"))
        .call_tool("echo", json!({"text": big}))
        .await;
    assert_eq!(reply.denial_reason().as_deref(), Some("body_too_large"));
    assert_framing(&reply);
    let streamed = format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{{\"text\":\"{big}\"}}}}");
    let chunks: Vec<Vec<u8>> = streamed
        .as_bytes()
        .chunks(1000)
        .map(<[u8]>::to_vec)
        .collect();
    let up = start_chunked("application/json", chunks, Duration::from_millis(1)).await;
    let envoy_stream = envoy(json!({"body": limits}), up.addr);
    let reply = McpClient::new(envoy_stream.url("/mcp"))
        .call_tool("x", json!({}))
        .await;
    assert_eq!(reply.denial_reason().as_deref(), Some("body_too_large"));
    // Requests (DLP on): compressed and oversize are refused before the upstream.
    let envoy_req = envoy(
        json!({"body": limits, "directions": {"request": true}}),
        echo.addr,
    );
    let client = McpClient::new(envoy_req.url("/mcp"));
    let call = leaking_call().to_string().into_bytes();
    let reply = client.post_raw(call, &[("content-encoding", "gzip")]).await;
    assert_eq!(reply.status, 415, "{}", reply.text());
    assert_eq!(reply.denial_reason().as_deref(), Some("compressed_body"));
    let padded = tool_call(1, "echo", json!({"text": big}))
        .to_string()
        .into_bytes();
    let reply = client.post_raw(padded.clone(), &[]).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    let reply = client.post_chunked(padded.clone(), 512).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    let reply = client
        .post_raw(
            b"\x00\x01binary".to_vec(),
            &[("content-type", "application/octet-stream")],
        )
        .await;
    assert_eq!(reply.status, 415, "{}", reply.text());
    assert_eq!(envoy_req.counter("cluster.upstream.upstream_rq_total"), 0);
    // The explicit choice lets them pass (uninspected, counted).
    let open = json!({"body": {"max_bytes": 4096, "allow_uninspectable": true},
                      "directions": {"request": true}});
    let envoy_open = envoy(open.clone(), gzip);
    let reply = McpClient::new(envoy_open.url("/mcp"))
        .call_tool("x", json!({}))
        .await;
    assert!(
        reply.text().contains(EMAIL),
        "passed as configured: {}",
        reply.text()
    );
    assert_eq!(counter(&envoy_open, "uninspected.compressed_body"), 1);
    let envoy_open = envoy(open, echo.addr);
    let reply = McpClient::new(envoy_open.url("/mcp"))
        .post_raw(padded, &[])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[test]
fn hash_without_its_key_refuses_to_start_naming_the_field() {
    let config = json!({"scrub": {"actions": {"email": "hash"}}, "hmac_key_env": "MISSING_KEY"});
    let err = match EnvoyBuilder::new()
        .filter(WasmFilter::new(FILTER, config))
        .start()
    {
        Ok(_) => panic!("started without the HMAC key"),
        Err(e) => e,
    };
    assert!(
        err.log
            .contains("field `hmac_key_env`: environment variable MISSING_KEY is not set"),
        "{}",
        err.log
    );
    let config = json!({"scrub": {"actions": {"email": "hash"}}});
    let err = match EnvoyBuilder::new()
        .filter(WasmFilter::new(FILTER, config))
        .start()
    {
        Ok(_) => panic!("started without hmac_key_env"),
        Err(e) => e,
    };
    assert!(
        err.log.contains("field `hmac_key_env`: required"),
        "{}",
        err.log
    );
}

#[test]
fn the_native_engine_agrees_on_direction_defaults() {
    let engine = native(&json!({}));
    assert!(engine.applies_to(Direction::Response));
    assert!(!engine.applies_to(Direction::Request));
}

/// Large bodies are scrubbed in slices across event-loop turns: a 600 KB tool result is
/// parked between slices and still arrives with every value masked; a large outgoing request carrying a token
/// is judged the same way and never reaches the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_scrubbed_in_slices_while_the_worker_serves_others() {
    // PII-bearing records (the costliest text for the scrubber), then a service log.
    let records = meshguard_e2e::load::Corpus::load().window(600_000, 2);
    let mid = records.floor_char_boundary(records.len() / 2);
    let leaky = format!(
        "{}{}\n{}",
        &records[..mid],
        sensitive_text(),
        &records[mid..]
    );
    let log = meshguard_e2e::load::service_log(800_000);
    let half = log.len() / 2;

    // As one JSON body and as one SSE event.
    for mode in [ResponseMode::Json, ResponseMode::Sse] {
        let upstream = McpUpstream::start(mode).await;
        let envoy = envoy(masking_config(), upstream.addr);
        let client = McpClient::new(envoy.url("/mcp"));
        let sliced = || counter(&envoy, "sliced");
        let big_client = client.clone();
        let big_text = leaky.clone();
        let big = tokio::spawn(async move {
            big_client
                .call_tool("echo", json!({"text": big_text}))
                .await
        });
        let parked = wait_until(|| sliced() >= 1).await;
        assert!(
            parked,
            "{mode:?}: the 600 KB result never left its first callback"
        );
        // While it is parked the worker answers others (that ordering is asserted by the
        // guardrail's and the sanitizer's tests over the same pipeline; the scrubber's slices
        // are too few here to race reliably on a loaded machine).
        let tiny = client.call_tool("echo", json!({"text": "ok"})).await;
        assert_eq!(tiny.status, 200, "{}", tiny.text());
        let reply = big.await.expect("large call");
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_no_raw_values(&reply.body);
        let text = reply.response()["result"]["content"][0]["text"]
            .as_str()
            .map(str::len)
            .unwrap_or_default();
        assert!(
            text > mid,
            "{mode:?}: the result lost its text: {text} bytes"
        );
    }

    // The request side: a large outgoing call with a token in the middle is blocked.
    let echo = start_echo().await;
    let guard = envoy_with_requests(echo.addr);
    let client = McpClient::new(guard.url("/mcp"));
    let call = tool_call(
        9,
        "store",
        json!({"text": format!("{}\ntoken {GITHUB}\n{}", &log[..half], &log[half..])}),
    );
    let reply = client.post(&call).await;
    assert_eq!(
        reply.json()["error"]["data"]["control"],
        "MCP-04",
        "{}",
        reply.text()
    );
    assert_eq!(guard.counter("cluster.upstream.upstream_rq_total"), 0);
    assert!(guard.counter(&format!("wasmcustom.meshguard.{FILTER}.sliced")) >= 1);
}

fn envoy_with_requests(upstream: std::net::SocketAddr) -> meshguard_e2e::Envoy {
    envoy(
        json!({"directions": {"request": true}, "request_action": "block"}),
        upstream,
    )
}
