//! Honest data must pass untouched: the scrubber is useless if it destroys order ids,
//! timestamps, hashes and version numbers, because operators then switch it off.
// Tests: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use meshguard_core::scrub::{default_scrubber, scrub_line};
use std::borrow::Cow;

fn assert_clean(text: &str) {
    let findings = default_scrubber().find(text);
    let shown: Vec<_> = findings
        .iter()
        .map(|f| (f.kind, &text[f.span.clone()]))
        .collect();
    assert!(findings.is_empty(), "{text:?} flagged: {shown:?}");
    assert!(
        matches!(scrub_line(text), Cow::Borrowed(_)),
        "{text:?} was copied"
    );
}

#[test]
fn order_ids() {
    assert_clean("order ORD-20240611-000123 shipped");
    assert_clean("ORD-415-555-0132 and INV-4111111111111111 and #415-555-0132");
    assert_clean(r#"{"order_id":"ORD-20240611-000123","qty":3,"sku":"SKU-99812-XL"}"#);
}

#[test]
fn timestamps() {
    assert_clean("2024-06-11T10:15:30.123Z");
    assert_clean("2024-06-11 10:15:30+02:00");
    assert_clean(r#"{"ts": 1718102130, "ts_ms": 1718102130123, "ts_ns": 1718102130123456789}"#);
    assert_clean("at 11/06/2024 10:15");
}

#[test]
fn hashes_and_ids() {
    assert_clean("commit 9fceb02d0ae598e95dc970b74767f19372d61af8");
    assert_clean("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_clean("id 550e8400-e29b-41d4-a716-446655440000");
    assert_clean("trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7");
    assert_clean("etag \"33a64df551425fcc55e4d42a148795d9f25f89d4\"");
}

#[test]
fn versions() {
    assert_clean("envoy 1.40.0, rust 1.88, v2.10.4-beta.1, 1.2.3");
    assert_clean("v1.2.3.4 and version 1.0.0.0 and 1.2.3.4.5");
}

#[test]
fn numbers_that_fail_validation() {
    // 16 digits, Visa prefix, Luhn fails.
    assert_clean("ref 4111111111111112");
    // 16 digits without an issuer prefix, Luhn passes.
    assert_clean("ref 1234567812345670");
    // 9 digits without SSN context, and dashed SSN shapes in invalid ranges.
    assert_clean("account 123456789 and 000-12-3456 and 987-65-4321");
    // 10 digits with no phone context, and NANP shapes with invalid area codes.
    assert_clean("batch 4155550132 and 123-456-7890");
    assert_clean("price 1,234.56 USD, 99.5%, 3 items, page 12 of 40");
}

#[test]
fn prose_and_code() {
    assert_clean("Use std::net::Ipv6Addr to parse addresses like a::b in Rust.");
    assert_clean("MAC 00:1A:2B:3C:4D:5E at 12:34:56");
    assert_clean("The token count was 1500 and the password policy requires 12 characters.");
    assert_clean("see https://docs.example.com/a/b?x=1#frag and user@");
    assert_clean("café ünïcödé text — with dashes – and ‘quotes’ 日本語 テキスト");
}

#[test]
fn date_and_id_shapes_are_not_national_phones() {
    assert_clean("due 01-02-2024 and 01 02 2024, ref 000-12-3456");
    assert_clean("order ORD-0161-4960964 and v0.12.345678");
}
