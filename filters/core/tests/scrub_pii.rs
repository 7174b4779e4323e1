//! PII detectors: positives with well-known test values, and the exact span found.
// Tests: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{found, only};
use meshguard_core::scrub::Kind;

#[test]
fn emails() {
    only(
        "contact jane.doe+mcp@example.co.uk today",
        Kind::Email,
        "jane.doe+mcp@example.co.uk",
    );
    only(
        "<bob@mail.example.com>",
        Kind::Email,
        "bob@mail.example.com",
    );
    only("mailto:ops@corp.io.", Kind::Email, "ops@corp.io");
    assert!(found("user@localhost and @handle and a@b").is_empty());
}

#[test]
fn phones_international_and_national() {
    only("call +44 20 7946 0958 now", Kind::Phone, "+44 20 7946 0958");
    only("tel +14155550132", Kind::Phone, "+14155550132");
    only("office (415) 555-0132.", Kind::Phone, "(415) 555-0132");
    only("office 415-555-0132, ext", Kind::Phone, "415-555-0132");
    only("office 415.555.0132", Kind::Phone, "415.555.0132");
    only("phone: 4155550132", Kind::Phone, "4155550132");
}

#[test]
fn ssns() {
    only("SSN 123-45-6789 on file", Kind::Ssn, "123-45-6789");
    only("ssn: 123456789", Kind::Ssn, "123456789");
    only("Social Security: 123 45 6789", Kind::Ssn, "123 45 6789");
}

#[test]
fn ssn_invalid_ranges_are_not_ssns() {
    for bad in [
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
    ] {
        let text = format!("SSN {bad}");
        assert!(found(&text).iter().all(|(k, _)| *k != Kind::Ssn), "{bad}");
    }
}

#[test]
fn cards_of_every_issuer() {
    for card in [
        "4111 1111 1111 1111",
        "4111111111111111",
        "4111-1111-1111-1111",
        "5555 5555 5555 4444",
        "2223 0031 2200 3222",
        "3782 822463 10005",
        "6011 1111 1111 1117",
        "3530 1113 3330 0000",
        "3056 930902 5904",
    ] {
        only(&format!("card: {card}, exp 12/29"), Kind::CreditCard, card);
    }
}

#[test]
fn card_next_to_another_number_is_still_found() {
    only(
        "invoice 2024 4111111111111111",
        Kind::CreditCard,
        "4111111111111111",
    );
    only(
        "4111 1111 1111 1111 2024",
        Kind::CreditCard,
        "4111 1111 1111 1111",
    );
}

#[test]
fn ibans_compact_and_grouped() {
    only(
        "IBAN GB82 WEST 1234 5698 7654 32.",
        Kind::Iban,
        "GB82 WEST 1234 5698 7654 32",
    );
    only(
        "pay to DE89370400440532013000 now",
        Kind::Iban,
        "DE89370400440532013000",
    );
    only(
        "DE89 3704 0044 0532 0130 00",
        Kind::Iban,
        "DE89 3704 0044 0532 0130 00",
    );
    assert!(found("DE89370400440532013001").is_empty(), "bad checksum");
    assert!(found("GB82 WEST 1234 5698 7654").is_empty(), "too short");
}

#[test]
fn ipv4_addresses() {
    only("from 192.168.10.25:443", Kind::IpAddress, "192.168.10.25");
    only("peer=10.0.0.1.", Kind::IpAddress, "10.0.0.1");
    assert!(found("256.1.1.1").is_empty());
    assert!(found("0.0.0.0").is_empty());
    // Loopback and broadcast name no machine of anyone's: a dev server's log stays intact.
    for text in [
        "Listening on http://127.0.0.1:8080 (press CTRL+C to quit)",
        "curl -s 127.0.1.1/health",
        "broadcast 255.255.255.255",
    ] {
        assert!(found(text).is_empty(), "{text}: {:?}", found(text));
    }
}

#[test]
fn ipv6_addresses() {
    only(
        "src 2001:db8:85a3::8a2e:370:7334 ok",
        Kind::IpAddress,
        "2001:db8:85a3::8a2e:370:7334",
    );
    only(
        "[fe80::1ff:fe23:4567:890a]:8080",
        Kind::IpAddress,
        "fe80::1ff:fe23:4567:890a",
    );
    only(
        "mapped ::ffff:192.0.2.128",
        Kind::IpAddress,
        "::ffff:192.0.2.128",
    );
    assert!(
        found("::1 and ::").is_empty(),
        "loopback and unspecified are not personal"
    );
}

#[test]
fn several_kinds_in_one_text() {
    let text =
        "Jane (jane@example.com, +1 415 555 0132) paid with 4111 1111 1111 1111 from 203.0.113.9";
    let kinds: Vec<Kind> = found(text).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        vec![Kind::Email, Kind::Phone, Kind::CreditCard, Kind::IpAddress]
    );
}

#[test]
fn national_phone_formats_and_extensions() {
    use meshguard_core::scrub::{default_scrubber, Kind};
    for phone in [
        "(0116) 496 0221",
        "(069) 1587289",
        "0161 4960964",
        "02 49 00 89 99",
        "043-7802706",
        "571.217.5367x633",
        "(889)792-5515x23746",
        "001-292-946-7137x98099",
    ] {
        let text = format!("call {phone} today");
        let found = default_scrubber().find(&text);
        assert_eq!(found.len(), 1, "{text}: {found:?}");
        assert_eq!(found[0].kind, Kind::Phone, "{text}");
        assert_eq!(&text[found[0].span.clone()], phone);
    }
}

#[test]
fn spaced_ssns_and_twelve_digit_maestro() {
    use meshguard_core::scrub::{default_scrubber, Kind};
    let found = default_scrubber().find("id 212 31 8134 on file");
    assert_eq!(found.first().map(|f| f.kind), Some(Kind::Ssn), "{found:?}");
    let found = default_scrubber().find("card 501821453286 charged");
    assert_eq!(
        found.first().map(|f| f.kind),
        Some(Kind::CreditCard),
        "{found:?}"
    );
}
