//! Values as the reader decodes them: JSON-escaped text (a tool returning `json.dumps(record)`
//! as its text) and Unicode look-alikes (digits of other scripts, non-breaking spaces,
//! internationalised e-mail addresses). Each value must be masked whole, and masking must
//! never break the escaping it sits in.
// Tests: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{found, only};
use meshguard_core::scrub::{default_scrubber, Kind};
use serde_json::{json, Value};

/// One value of each numeric and address kind, with the text it must come out as.
const VALUES: &[(Kind, &str)] = &[
    (Kind::Phone, "+44 20 7946 0958"),
    (Kind::Phone, "(415) 555-0132"),
    (Kind::Phone, "020 7946 0958"),
    (Kind::Ssn, "078-05-1120"),
    (Kind::Iban, "DE89370400440532013000"),
    (Kind::Iban, "GB82 WEST 1234 5698 7654 32"),
    (Kind::IpAddress, "192.168.10.20"),
    (Kind::IpAddress, "2001:db8:85a3::8a2e:370:7334"),
    (Kind::Email, "jane.doe@example.com"),
    (Kind::CreditCard, "4111 1111 1111 1111"),
];

/// `json.dumps(record)`: a JSON document as text, its values after `\n` and `\t` escapes.
fn dumps(value: &str, sep: &str) -> String {
    let notes = format!("Customer record{sep}{value}{sep}end");
    serde_json::to_string(&json!({"id": 7, "notes": notes, "tags": [format!("a{sep}{value}")]}))
        .unwrap()
}

#[test]
fn values_after_json_escapes_are_masked_and_the_json_stays_valid() {
    for sep in ["\n", "\t", "\r\n", "\"", "\\"] {
        for (kind, value) in VALUES {
            let text = dumps(value, sep);
            let out = default_scrubber().scrub(&text);
            let kinds: Vec<Kind> = out.findings.iter().map(|f| f.kind).collect();
            assert_eq!(
                kinds,
                vec![*kind, *kind],
                "{kind:?} after {sep:?} in {text}"
            );
            let decoded: Value = serde_json::from_str(&out.text)
                .unwrap_or_else(|e| panic!("invalid JSON after masking ({e}): {}", out.text));
            let notes = decoded["notes"].as_str().unwrap();
            assert!(!notes.contains(value), "{value} survived: {notes}");
            assert!(
                notes.starts_with(&format!("Customer record{sep}")),
                "{notes}"
            );
        }
    }
}

#[test]
fn an_email_after_a_newline_escape_keeps_the_escape() {
    let text = r#"{"to": "ops\nbob@example.com\tcc\u0020al@example.org"}"#;
    let out = default_scrubber().scrub(text);
    assert_eq!(
        out.text,
        r#"{"to": "ops\n[REDACTED:EMAIL]\tcc\u0020[REDACTED:EMAIL]"}"#
    );
}

#[test]
fn unicode_escaped_values_are_decoded_and_masked_whole() {
    // `\u0040` is `@`, `\u00a0` a non-breaking space: the reader sees an e-mail and a phone.
    let text = r#"{"n": "bob\u0040example.com, phone 415\u00a0555\u00a00132"}"#;
    let out = default_scrubber().scrub(text);
    assert_eq!(
        out.text,
        r#"{"n": "[REDACTED:EMAIL], phone [REDACTED:PHONE]"}"#
    );
}

#[test]
fn partial_masks_never_leave_a_backslash_before_a_star() {
    let text = r#"{"card": "pay\n4111\u00201111\u00201111\u00201111"}"#;
    let out = default_scrubber().scrub(text);
    let v: Value = serde_json::from_str(&out.text).unwrap();
    let card = v["card"].as_str().unwrap();
    assert!(
        card.starts_with("pay\n") && card.ends_with("1111"),
        "{card}"
    );
    assert!(!card.contains("4111"), "{card}");
}

#[test]
fn a_json_dumps_tool_result_is_scrubbed_inside_and_stays_parseable() {
    use meshguard_core::pii_scrubber::{Config, Direction, Engine, Verdict};
    let record = json!({"name": "Ann", "phone": "+33 1 09 75 83 51", "ssn": "078-05-1120",
        "note": "iban:\nFR1420041010050500013M02606\nip\t10.1.2.3\nmail\nann@example.fr"});
    let text = serde_json::to_string(&record).unwrap();
    let body =
        json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": text}]}});
    let config: Config = meshguard_core::config::parse(b"{}").unwrap();
    let engine = Engine::new(config, |_| None).unwrap();
    let d = engine.json_body(body.to_string().as_bytes(), Direction::Response);
    let Verdict::Rewrite(out) = d.verdict else {
        panic!("expected a rewrite: {:?}", d.verdict)
    };
    let outer: Value = serde_json::from_slice(&out).unwrap();
    let inner_text = outer["result"]["content"][0]["text"].as_str().unwrap();
    let inner: Value = serde_json::from_str(inner_text).unwrap();
    assert_eq!(
        inner,
        json!({"name": "Ann", "phone": "[REDACTED:PHONE]", "ssn": "[REDACTED:SSN]",
        "note": "iban:\n[REDACTED:IBAN]\nip\t[REDACTED:IP_ADDRESS]\nmail\n[REDACTED:EMAIL]"})
    );
}

#[test]
fn digits_of_other_scripts_and_unicode_spaces_are_matched() {
    only(
        "call ＋４４ ２０ ７９４６ ０９５８ now",
        Kind::Phone,
        "＋４４ ２０ ７９４６ ０９５８",
    );
    only("SSN ٠٧٨-٠٥-١١٢٠ on file", Kind::Ssn, "٠٧٨-٠٥-١١٢٠");
    only(
        "card ४१११ ११११ ११११ ११११",
        Kind::CreditCard,
        "४१११ ११११ ११११ ११११",
    );
    only(
        "phone 415\u{a0}555\u{a0}0132 or",
        Kind::Phone,
        "415\u{a0}555\u{a0}0132",
    );
    only(
        "iban DE89\u{202f}3704\u{202f}0044\u{202f}0532\u{202f}0130\u{202f}00 ok",
        Kind::Iban,
        "DE89\u{202f}3704\u{202f}0044\u{202f}0532\u{202f}0130\u{202f}00",
    );
    only(
        "ssn 078\u{2011}05\u{2011}1120.",
        Kind::Ssn,
        "078\u{2011}05\u{2011}1120",
    );
    only(
        "card 4111\u{200b}1111\u{200b}1111\u{200b}1111 x",
        Kind::CreditCard,
        "4111\u{200b}1111\u{200b}1111\u{200b}1111",
    );
}

#[test]
fn internationalised_emails_are_masked_whole() {
    only("mail josé@exämple.de now", Kind::Email, "josé@exämple.de");
    only("写信给 用户@例子.广告 吧", Kind::Email, "用户@例子.广告");
    only("пишите иван@почта.рф.", Kind::Email, "иван@почта.рф");
    only(
        "ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        Kind::Email,
        "ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    );
    only("a@xn--mnchen-3ya.de", Kind::Email, "a@xn--mnchen-3ya.de");
    assert!(found("user@localhost and @handle, 名字@例子").is_empty());
}
