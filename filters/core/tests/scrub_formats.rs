//! Phone numbers in the national and `00` formats of the most common countries, IBANs of
//! every country in the SWIFT registry, and payment cards of every issuer with its lengths.
// Tests: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{found, only};
use meshguard_core::scrub::validate::{iban_mod97, luhn, IBAN_COUNTRIES};
use meshguard_core::scrub::Kind;

#[test]
fn national_and_00_prefixed_phones() {
    for phone in [
        // International with 00 instead of +.
        "0044 20 7946 0958",
        "0049 30 1234567",
        "0033 1 09 75 83 51",
        "001-415-555-0132",
        // Trunk-0 national formats with dots and slashes.
        "01.09.75.83.51",
        "030/1234567",
        "0151 12345678",
        "06-12345678",
        "(02) 9876 5432",
        "03-1234-5678",
        "090-1234-5678",
        // NANP with spaces.
        "415 555 0132",
        "1 415 555 0132",
        // Russia, Brazil, China, India, Spain.
        "8 (495) 123-45-67",
        "(11) 91234-5678",
        "138 0013 8000",
        "98765 43210",
        "612 345 678",
    ] {
        only(&format!("reach me at {phone} today"), Kind::Phone, phone);
    }
}

#[test]
fn phone_shaped_non_phones_stay() {
    for text in [
        "released 2024-06-11 at 10.30",
        "total 1 234 567 units",
        "order 12345 shipped",
        "build 3.14.159.26",
        "ratio 123-456-7890 test",
        "ids 0000 0000 0000",
    ] {
        let phones: Vec<_> = found(text)
            .into_iter()
            .filter(|(k, _)| *k == Kind::Phone)
            .collect();
        assert!(phones.is_empty(), "{text}: {phones:?}");
    }
}

/// A valid IBAN for `country` of `len` characters: the BBAN is digits, the check digits
/// computed.
fn make_iban(country: &[u8; 2], len: usize) -> String {
    let bban: String = (0..len - 4)
        .map(|i| char::from(b'0' + (i * 7 % 10) as u8))
        .collect();
    for check in 2..=98 {
        let candidate = format!("{}{check:02}{bban}", std::str::from_utf8(country).unwrap());
        if iban_mod97(candidate.as_bytes()) {
            return candidate;
        }
    }
    panic!("no check digits for {country:?}")
}

#[test]
fn ibans_of_every_registry_country() {
    assert!(IBAN_COUNTRIES.len() >= 89, "{}", IBAN_COUNTRIES.len());
    for (country, len) in IBAN_COUNTRIES {
        let iban = make_iban(country, *len);
        only(&format!("pay to {iban} now"), Kind::Iban, &iban);
        // One character short is not an IBAN of that country.
        let short = &iban[..iban.len() - 1];
        let text = format!("pay to {short} now");
        assert!(
            found(&text).iter().all(|(k, _)| *k != Kind::Iban),
            "{short}"
        );
    }
}

/// A Luhn-valid number of `len` digits starting with `prefix`.
fn make_card(prefix: &str, len: usize) -> String {
    let body: String = prefix
        .chars()
        .chain((0..).map(|i| char::from(b'0' + (i * 3 % 10) as u8)))
        .take(len - 1)
        .collect();
    (0..10)
        .map(|d| format!("{body}{d}"))
        .find(|c| luhn(c))
        .unwrap()
}

#[test]
fn cards_of_every_issuer_and_length() {
    for (prefix, lens) in [
        ("4", &[13, 16, 19][..]),
        ("51", &[16]),
        ("2221", &[16]),
        ("34", &[15]),
        ("37", &[15]),
        ("6011", &[16, 19]),
        ("65", &[16]),
        ("3528", &[16, 19]),
        ("1800", &[15]),
        ("2131", &[15]),
        ("3088", &[16]),
        ("36", &[14]),
        ("300", &[14]),
        ("62", &[16, 19]),
        ("6759", &[12, 16, 19]),
        ("2200", &[16]),
        ("9792", &[16]),
        ("60", &[16]),
        ("5019", &[16]),
        ("1", &[15]),
    ] {
        for &len in lens {
            let card = make_card(prefix, len);
            only(&format!("card {card} on file"), Kind::CreditCard, &card);
        }
    }
}

#[test]
fn addresses_after_phone_words_stay_addresses() {
    only(
        "please reach out to 10.205.138.12 today",
        Kind::IpAddress,
        "10.205.138.12",
    );
    only(
        r#"{"name": "Ana Tello", "client_ip": "131.244.102.60"}"#,
        Kind::IpAddress,
        "131.244.102.60",
    );
}

#[test]
fn a_hyphenated_label_after_a_phone_does_not_hide_it() {
    only("407-545-7273-Fax", Kind::Phone, "407-545-7273");
    only("Office: 078 3780 0656-Office", Kind::Phone, "078 3780 0656");
    assert!(found("ORD-415-555-0132").is_empty());
}
