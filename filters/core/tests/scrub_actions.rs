//! Actions, configuration, overlaps and the audit-line helper, through the public API.
// Tests: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use meshguard_core::config::parse;
use meshguard_core::scrub::{scrub_line, Action, Kind, ScrubConfig, Scrubber};
use std::borrow::Cow;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn scrubber(config: &str, key: Option<&[u8]>) -> Scrubber {
    let c: ScrubConfig = parse(config.as_bytes()).unwrap();
    Scrubber::new(&c, key).unwrap()
}

#[test]
fn default_actions_redact_and_partially_mask_cards() {
    let s = scrubber("{}", None);
    let out = s.scrub("mail jane@example.com card 4111 1111 1111 1111 key AKIAIOSFODNN7EXAMPLE");
    assert_eq!(
        out.text,
        "mail [REDACTED:EMAIL] card **** **** **** 1111 key [REDACTED:AWS_ACCESS_KEY_ID]"
    );
    assert_eq!(out.blocked, None);
    assert_eq!(out.findings.len(), 3);
    assert_eq!(s.scrub("4111111111111111").text, "************1111");
}

#[test]
fn nothing_found_borrows() {
    let s = scrubber("{}", None);
    let out = s.scrub("all quiet on ORD-20240611-000123");
    assert!(matches!(out.text, Cow::Borrowed(_)));
    assert!(out.findings.is_empty());
}

#[test]
fn hash_is_deterministic_per_key() {
    let cfg = r#"{"actions":{"email":"hash"}}"#;
    let a = scrubber(cfg, Some(KEY))
        .scrub("to bob@example.com")
        .text
        .into_owned();
    let b = scrubber(cfg, Some(KEY))
        .scrub("cc bob@example.com")
        .text
        .into_owned();
    let c = scrubber(cfg, Some(b"another-key-0123456789"))
        .scrub("to bob@example.com")
        .text
        .into_owned();
    let tag = a.strip_prefix("to ").unwrap();
    assert!(
        tag.starts_with("[HASH:EMAIL:") && tag.ends_with(']') && tag.len() == 12 + 16 + 1,
        "{tag}"
    );
    assert!(tag[12..28].bytes().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        b.strip_prefix("cc ").unwrap(),
        tag,
        "same value, same key: same token"
    );
    assert_ne!(
        c.strip_prefix("to ").unwrap(),
        tag,
        "another key: another token"
    );
    // HMAC-SHA256("0123456789abcdef0123456789abcdef", "bob@example.com"), first 8 bytes.
    let mac = hmac_sha256::HMAC::mac(b"bob@example.com", KEY);
    let hex: String = mac[..8].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(tag, format!("[HASH:EMAIL:{hex}]"));
}

#[test]
fn hash_without_a_key_is_refused_naming_the_field() {
    for (cfg, field) in [
        (r#"{"actions":{"email":"hash"}}"#, "scrub.actions.email"),
        (r#"{"default_action":"hash"}"#, "scrub.default_action"),
        (
            r#"{"custom":[{"name":"emp","pattern":"EMP-[0-9]+","action":"hash"}]}"#,
            "scrub.custom[0].action",
        ),
    ] {
        let c: ScrubConfig = parse(cfg.as_bytes()).unwrap();
        let e = Scrubber::new(&c, None).unwrap_err();
        assert_eq!(e.field, field);
        assert!(e.reason.contains("HMAC key"), "{e}");
        let e = Scrubber::new(&c, Some(b"short")).unwrap_err();
        assert!(e.reason.contains("at least 16 bytes"), "{e}");
        assert!(Scrubber::new(&c, Some(KEY)).is_ok());
    }
}

#[test]
fn block_reports_the_kind_and_still_redacts() {
    let s = scrubber(
        r#"{"actions":{"private_key":"block","aws_access_key_id":"block"}}"#,
        None,
    );
    let out = s.scrub("mail a@example.com then AKIAIOSFODNN7EXAMPLE");
    assert_eq!(out.blocked, Some(Kind::AwsAccessKeyId));
    assert_eq!(
        out.text,
        "mail [REDACTED:EMAIL] then [REDACTED:AWS_ACCESS_KEY_ID]"
    );
    assert_eq!(s.scrub("mail a@example.com").blocked, None);
}

#[test]
fn partial_on_any_kind_keeps_the_last_four() {
    let s = scrubber(r#"{"default_action":"partial"}"#, None);
    assert_eq!(s.scrub("ip 203.0.113.77").text, "ip ***.*.*13.77");
    assert_eq!(s.scrub("password=hunter2").text, "password=*******");
}

#[test]
fn disabled_kinds_are_not_reported() {
    let s = scrubber(r#"{"disabled":["ip_address","email"]}"#, None);
    assert!(s.find("10.0.0.1 bob@example.com").is_empty());
    let s = scrubber(r#"{"enabled":["credit_card"]}"#, None);
    let kinds: Vec<Kind> = s
        .find("bob@example.com 4111111111111111")
        .iter()
        .map(|f| f.kind)
        .collect();
    assert_eq!(kinds, vec![Kind::CreditCard]);
}

#[test]
fn custom_detectors_have_names_and_actions() {
    let s = scrubber(
        r#"{"custom":[{"name":"employee_id","pattern":"EMP-[0-9]{6}"},
                      {"name":"ticket","pattern":"TKT[0-9]+","action":"block"}]}"#,
        None,
    );
    let out = s.scrub("EMP-123456 opened TKT42");
    assert_eq!(out.text, "[REDACTED:EMPLOYEE_ID] opened [REDACTED:TICKET]");
    assert_eq!(out.findings[0].kind, Kind::Custom(0));
    assert_eq!(s.name(Kind::Custom(0)), "employee_id");
    assert_eq!(out.blocked, Some(Kind::Custom(1)));
    assert_eq!(s.action(Kind::Custom(1)), Action::Block);
}

#[test]
fn overlap_secret_wins_over_pii() {
    // The URL password is also the local part of an "e-mail"; the secret wins.
    let s = scrubber("{}", None);
    let out = s.scrub("postgres://app:S3cretPw9@db.example.com/app");
    assert_eq!(
        out.text,
        "postgres://app:[REDACTED:URL_PASSWORD]@db.example.com/app"
    );
    assert_eq!(out.findings.len(), 1);
}

#[test]
fn overlap_specific_secret_wins_over_generic() {
    let s = scrubber("{}", None);
    let tok = "ghp_aB3dE5gH7jK9mN1pQ2sT4vW6yZ8cF0xRaB3d";
    let text = format!("github_token: {tok}");
    let out = s.scrub(&text);
    assert_eq!(out.text, "github_token: [REDACTED:GITHUB_TOKEN]");
}

#[test]
fn overlap_longer_pii_wins() {
    // The IBAN's digit groups would pass as a card or phone on their own.
    let s = scrubber("{}", None);
    let out = s.scrub("GB82 WEST 1234 5698 7654 32");
    assert_eq!(out.text, "[REDACTED:IBAN]");
}

#[test]
fn overlap_custom_loses_to_builtin() {
    let s = scrubber(
        r#"{"custom":[{"name":"digits","pattern":"[0-9]{16}"}]}"#,
        None,
    );
    let out = s.scrub("4111111111111111");
    assert_eq!(out.findings[0].kind, Kind::CreditCard);
}

#[test]
fn scrub_line_uses_the_defaults() {
    let line = r#"denied sub=jane@example.com reason=audience_mismatch auth="Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl""#;
    assert_eq!(
        scrub_line(line),
        r#"denied sub=[REDACTED:EMAIL] reason=audience_mismatch auth="Bearer [REDACTED:JWT]""#
    );
    assert!(matches!(
        scrub_line("allow tool=search control=MCP-03"),
        Cow::Borrowed(_)
    ));
}

#[test]
fn pem_is_masked_as_one_block() {
    let s = scrubber("{}", None);
    let text = "k=-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAA==\n-----END OPENSSH PRIVATE KEY-----\nok";
    assert_eq!(s.scrub(text).text, "k=[REDACTED:PRIVATE_KEY]\nok");
}
