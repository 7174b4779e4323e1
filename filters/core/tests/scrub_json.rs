//! JSON scrubbing: only string values change, keys never do, structure and validity stay.
// Tests: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use meshguard_core::config::parse;
use meshguard_core::scrub::{default_scrubber, Kind, ScrubConfig, Scrubber};
use serde_json::{json, Value};

/// Same shape: same types, same keys, same array lengths, at every depth.
fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_shape(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_shape(v, w))
        }
        (Value::String(_), Value::String(_)) => true,
        _ => a == b,
    }
}

fn tool_result() -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 7,
        "result": {
            "content": [
                {"type": "text", "text": "Employee jane.doe@example.com, card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE"},
                {"type": "text", "text": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx7\n-----END RSA PRIVATE KEY-----"}
            ],
            "structuredContent": {
                "jane@example.com": {"iban": "DE89370400440532013000", "order": "ORD-20240611-000123"},
                "db": {"password": "hunter2x9", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
                "contact": {"phone": "4155550132", "ssn": "123456789", "phones": ["4155550199"]},
                "counts": [1, 2.5, true, null, 4111111111111111u64],
                "ts": "2024-06-11T10:15:30Z"
            },
            "isError": false
        }
    })
}

#[test]
fn only_string_values_are_rewritten() {
    let original = tool_result();
    let mut doc = original.clone();
    let report = default_scrubber().scrub_json(&mut doc);
    assert!(report.changed);
    assert!(same_shape(&original, &doc), "{doc:#}");
    let text = &doc["result"]["content"][0]["text"];
    assert_eq!(
        text,
        "Employee [REDACTED:EMAIL], card **** **** **** 1111, key [REDACTED:AWS_ACCESS_KEY_ID]"
    );
    assert_eq!(
        doc["result"]["content"][1]["text"],
        "[REDACTED:PRIVATE_KEY]"
    );
    let sc = &doc["result"]["structuredContent"];
    assert!(sc.get("jane@example.com").is_some(), "keys are left alone");
    assert_eq!(sc["jane@example.com"]["iban"], "[REDACTED:IBAN]");
    assert_eq!(sc["jane@example.com"]["order"], "ORD-20240611-000123");
    assert_eq!(sc["ts"], "2024-06-11T10:15:30Z");
    assert_eq!(
        sc["counts"],
        json!([1, 2.5, true, null, 4111111111111111u64]),
        "numbers untouched"
    );
}

#[test]
fn keys_give_context_to_their_values() {
    let mut doc = tool_result();
    let report = default_scrubber().scrub_json(&mut doc);
    let sc = &doc["result"]["structuredContent"];
    assert_eq!(sc["db"]["password"], "[REDACTED:GENERIC_SECRET]");
    assert_eq!(
        sc["db"]["aws_secret_access_key"],
        "[REDACTED:AWS_SECRET_ACCESS_KEY]"
    );
    assert_eq!(sc["contact"]["phone"], "[REDACTED:PHONE]");
    assert_eq!(sc["contact"]["ssn"], "[REDACTED:SSN]");
    assert_eq!(
        sc["contact"]["phones"][0], "[REDACTED:PHONE]",
        "hint reaches array items"
    );
    assert_eq!(report.counts.get(&Kind::Phone), Some(&2));
    assert_eq!(report.total(), 10);
}

#[test]
fn document_stays_valid_json() {
    let mut doc = tool_result();
    default_scrubber().scrub_json(&mut doc);
    let bytes = serde_json::to_vec(&doc).unwrap();
    let back: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, doc);
}

#[test]
fn honest_document_is_unchanged() {
    let original = json!({"jsonrpc": "2.0", "id": "a1", "result": {"orders": [
        {"id": "ORD-20240611-000123", "sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
         "uuid": "550e8400-e29b-41d4-a716-446655440000", "version": "1.2.3", "ts": 1718102130,
         "max_tokens": 4096, "token_type": "Bearer", "phone_verified": true}
    ]}});
    let mut doc = original.clone();
    let report = default_scrubber().scrub_json(&mut doc);
    assert!(!report.changed);
    assert_eq!(report.total(), 0);
    assert_eq!(doc, original);
}

#[test]
fn block_is_reported_from_json() {
    let c: ScrubConfig = parse(br#"{"actions":{"aws_access_key_id":"block"}}"#).unwrap();
    let s = Scrubber::new(&c, None).unwrap();
    let mut doc = tool_result();
    assert_eq!(s.scrub_json(&mut doc).blocked, Some(Kind::AwsAccessKeyId));
}

#[test]
fn deep_nesting_is_walked_without_recursion() {
    let mut doc = json!("mail bob@example.com");
    for _ in 0..10_000 {
        doc = Value::Array(vec![doc]);
    }
    let report = default_scrubber().scrub_json(&mut doc);
    assert_eq!(report.counts.get(&Kind::Email), Some(&1));
    // Unwind iteratively too, so the test itself does not overflow when dropping.
    let mut v = doc;
    while let Value::Array(mut a) = v {
        v = a.pop().unwrap();
    }
    assert_eq!(v, "mail [REDACTED:EMAIL]");
}
