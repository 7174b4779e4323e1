//! The scrubber filter's decisions, natively.

use super::*;
use crate::config::parse;
use serde_json::json;

const KEY_ENV: &str = "SCRUB_KEY";
const KEY: &str = "0123456789abcdef0123456789abcdef";

fn engine(config: Value) -> Engine {
    let config: Config = parse(config.to_string().as_bytes()).unwrap();
    Engine::new(config, |name| (name == KEY_ENV).then(|| KEY.to_string())).unwrap()
}

fn pem() -> &'static str {
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx7Zs0aQk3Lr8T1vXcP0n2bFzY9sVQ\nhG5eW2mJtKc4RuDpLo8NfA1ZyXw==\n-----END RSA PRIVATE KEY-----"
}

fn tool_result(text: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": 41, "result": {"content": [{"type": "text", "text": text}], "isError": false}})
        .to_string()
        .into_bytes()
}

fn rewritten(d: &Decision) -> Value {
    match &d.verdict {
        Verdict::Rewrite(b) => serde_json::from_slice(b).unwrap(),
        other => panic!("expected a rewrite, got {other:?}"),
    }
}

fn denial(d: &Decision) -> &Denial {
    match &d.verdict {
        Verdict::Block(denial) => denial,
        other => panic!("expected a block, got {other:?}"),
    }
}

#[test]
fn defaults_scrub_responses_only_and_block_requests_when_on() {
    let c: Config = parse(b"{}").unwrap();
    assert!(c.directions.response && !c.directions.request);
    assert_eq!(c.request_action, RequestAction::Block);
}

#[test]
fn response_values_are_masked_as_configured_and_stay_jsonrpc() {
    let e = engine(json!({"scrub": {"actions": {"email": "hash"}}, "hmac_key_env": KEY_ENV}));
    let text = format!(
        "Contact jane.doe@example.com, card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE\n{}",
        pem()
    );
    let d = e.json_body(&tool_result(&text), Direction::Response);
    let v = rewritten(&d);
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], 41);
    let out = v["result"]["content"][0]["text"].as_str().unwrap();
    assert!(out.starts_with("Contact [HASH:EMAIL:"), "{out}");
    assert!(out.contains("card **** **** **** 1111"), "{out}");
    assert!(out.contains("[REDACTED:AWS_ACCESS_KEY_ID]"), "{out}");
    assert!(out.ends_with("[REDACTED:PRIVATE_KEY]"), "{out}");
    let kinds: Vec<(&str, &str)> = d.tally.iter().map(|(k, a, _)| (k.as_str(), *a)).collect();
    assert!(kinds.contains(&("email", "hashed")), "{kinds:?}");
    assert!(kinds.contains(&("credit_card", "masked")), "{kinds:?}");
    assert!(kinds.contains(&("private_key", "redacted")), "{kinds:?}");
    assert!(!d.summary().contains("jane"), "{}", d.summary());
}

#[test]
fn hashing_is_stable_for_correlation() {
    let e = engine(json!({"scrub": {"default_action": "hash"}, "hmac_key_env": KEY_ENV}));
    let a = rewritten(&e.json_body(&tool_result("a@example.com"), Direction::Response));
    let b = rewritten(&e.json_body(&tool_result("x a@example.com"), Direction::Response));
    let a = a["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let b = b["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(format!("x {a}"), b);
}

#[test]
fn honest_data_is_clean() {
    let e = engine(json!({}));
    let body = json!({"jsonrpc": "2.0", "id": "req-7", "result": {"structuredContent": {
        "order": "ORD-2024-000123", "ts": "2024-06-11T10:15:30.123Z", "epoch": 1718100930,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "git": "3f2a9c1d8e7b6a5f4c3d2e1f0a9b8c7d6e5f4a3b", "uuid": "123e4567-e89b-12d3-a456-426614174000",
        "version": "1.40.0", "amount": "1234.56", "build": 20240611}}});
    let d = e.json_body(body.to_string().as_bytes(), Direction::Response);
    assert_eq!(d.verdict, Verdict::Clean, "{:?}", d.tally);
}

#[test]
fn a_block_action_withholds_the_response_without_echoing_the_value() {
    let e = engine(json!({"scrub": {"actions": {"private_key": "block"}}}));
    let d = e.json_body(&tool_result(pem()), Direction::Response);
    let denial = denial(&d);
    let body = String::from_utf8(denial.body()).unwrap();
    assert!(!body.contains("MIIE"), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["id"], 41);
    assert_eq!(v["error"]["data"]["control"], "MCP-04");
    assert_eq!(v["error"]["data"]["reason"], "sensitive_data");
    assert_eq!(v["error"]["data"]["kinds"], json!(["private_key"]));
    assert_eq!(d.tally, vec![("private_key".to_string(), "blocked", 1)]);
}

#[test]
fn request_findings_block_by_default_and_redact_when_configured() {
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "post",
        "arguments": {"body": "deploy with ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R"}}});
    let block = engine(json!({"directions": {"request": true}}));
    let d = block.json_body(call.to_string().as_bytes(), Direction::Request);
    assert_eq!(denial(&d).id, json!(5));
    assert_eq!(d.tally, vec![("github_token".to_string(), "blocked", 1)]);
    let redact = engine(json!({"directions": {"request": true}, "request_action": "redact"}));
    let v = rewritten(&redact.json_body(call.to_string().as_bytes(), Direction::Request));
    assert_eq!(v["method"], "tools/call");
    assert_eq!(
        v["params"]["arguments"]["body"],
        "deploy with [REDACTED:GITHUB_TOKEN]"
    );
}

#[test]
fn sse_events_are_scrubbed_as_json_or_as_text() {
    let e = engine(json!({}));
    let data = String::from_utf8(tool_result("mail bob@example.org")).unwrap();
    let event = SseEvent {
        raw: Vec::new(),
        event: Some("message".into()),
        data: Some(data),
        id: Some("7".into()),
        retry: None,
    };
    let d = e.sse_event(&event);
    let Verdict::Rewrite(bytes) = d.verdict else {
        panic!("not rewritten")
    };
    let mut parser = crate::mcp::SseParser::new(1 << 20);
    let out = parser.push(&bytes).unwrap();
    assert_eq!(out[0].id.as_deref(), Some("7"));
    assert_eq!(out[0].event.as_deref(), Some("message"));
    let v: Value = serde_json::from_str(out[0].data.as_deref().unwrap()).unwrap();
    assert_eq!(v["result"]["content"][0]["text"], "mail [REDACTED:EMAIL]");

    let text = SseEvent {
        data: Some("plain text 4111-1111-1111-1111\nsecond line".into()),
        ..SseEvent::default()
    };
    let Verdict::Rewrite(bytes) = e.sse_event(&text).verdict else {
        panic!("not rewritten")
    };
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "data: plain text ****-****-****-1111\ndata: second line\n\n"
    );
    let ping = SseEvent {
        raw: b": ping\n\n".to_vec(),
        ..SseEvent::default()
    };
    assert_eq!(e.sse_event(&ping).verdict, Verdict::Clean);
}

#[test]
fn malformed_json_is_still_scrubbed_as_text() {
    let e = engine(json!({}));
    let d = e.json_body(b"{\"text\": \"x@example.com", Direction::Response);
    assert_eq!(
        d.verdict,
        Verdict::Rewrite(b"{\"text\": \"[REDACTED:EMAIL]".to_vec())
    );
}

#[test]
fn hash_without_a_key_refuses_to_start_naming_the_field() {
    let parse_cfg = |v: Value| parse::<Config>(v.to_string().as_bytes());
    let e = parse_cfg(json!({"scrub": {"actions": {"email": "hash"}}})).unwrap_err();
    assert_eq!(e.field, "hmac_key_env");
    assert!(e.reason.contains("scrub.actions.email"), "{e}");
    let c = parse_cfg(json!({"scrub": {"actions": {"email": "hash"}}, "hmac_key_env": "NOPE"}))
        .unwrap();
    let e = Engine::new(c, |_| None).unwrap_err();
    assert_eq!(e.field, "hmac_key_env");
    assert!(e.reason.contains("NOPE is not set"), "{e}");
    let c = parse_cfg(json!({"scrub": {"default_action": "hash"}, "hmac_key_env": "K"})).unwrap();
    let e = Engine::new(c, |_| Some("short".into())).unwrap_err();
    assert_eq!(e.field, "hmac_key_env");
    assert!(e.reason.contains("at least 16 bytes"), "{e}");
}

#[test]
fn bad_configurations_name_the_field() {
    for (body, field) in [
        (json!({"directions": {"response": false}}), "directions"),
        (json!({"directions": {"sideways": true}}), "directions"),
        (json!({"request_action": "shred"}), "request_action"),
        (json!({"hmac_key_env": "not a name"}), "hmac_key_env"),
        (
            json!({"scrub": {"actions": {"emial": "redact"}}}),
            "scrub.actions",
        ),
        (json!({"body": {"max_bytes": 0}}), "body.max_bytes"),
    ] {
        let e = parse::<Config>(body.to_string().as_bytes()).unwrap_err();
        assert!(e.field.starts_with(field), "{body}: {e}");
    }
}

#[test]
fn audit_lines_are_borrowed_when_clean_and_masked_otherwise() {
    use crate::scrub::scrub_line;
    let clean = "denied control=MCP-04 reason=sensitive_data status=403 order=ORD-2024-000123";
    assert!(matches!(scrub_line(clean), Cow::Borrowed(_)));
    assert_eq!(
        scrub_line("user bob@example.com denied"),
        "user [REDACTED:EMAIL] denied"
    );
}
