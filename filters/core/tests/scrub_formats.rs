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

/// Assert that none of `texts` holds a finding of `kind`.
fn assert_none(kind: Kind, texts: &[&str]) {
    for text in texts {
        let hits: Vec<_> = found(text)
            .into_iter()
            .filter(|(k, _)| *k == kind)
            .collect();
        assert!(hits.is_empty(), "{text:?}: {kind:?} found: {hits:?}");
    }
}

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
    assert_none(
        Kind::Phone,
        &[
            "released 2024-06-11 at 10.30",
            "total 1 234 567 units",
            "order 12345 shipped",
            "build 3.14.159.26",
            "ratio 123-456-7890 test",
            "ids 0000 0000 0000",
        ],
    );
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

#[test]
fn a_written_out_escape_before_a_value_does_not_glue_to_it() {
    // A record whose text already held `\n` as two characters, dumped as JSON (`\\n`):
    // decoded once, as the client does, the `n` still sits before the value, and it is not
    // a letter of it.
    only(
        r#"{"note": "Phone:\\n(989)478-0291x102"}"#,
        Kind::Phone,
        "(989)478-0291x102",
    );
    only(
        r#"{"note": "Acme Inc\\n+41 92 961 71 65 fax"}"#,
        Kind::Phone,
        "+41 92 961 71 65",
    );
    only(
        r#"{"note": "card no:\\t4111 1111 1111 1111"}"#,
        Kind::CreditCard,
        "4111 1111 1111 1111",
    );
    only(
        r#"{"note": "name\\r078-05-1120"}"#,
        Kind::Ssn,
        "078-05-1120",
    );
    // A letter glued to digits is still part of one token.
    assert!(found("n4158880132").is_empty());
    assert!(found(r#"{"k": "x\\q415-555-0132"}"#)
        .iter()
        .all(|(k, _)| *k != Kind::Phone));
}

#[test]
fn numbers_the_text_names_phones_count_in_any_national_shape() {
    // Local numbers without their area code and national shapes of many countries, named a
    // phone by a word before them or a label after them.
    for (text, phone) in [
        ("Phone:\n(30) 173-2700", "(30) 173-2700"),
        ("They're not answering at 85 99 60", "85 99 60"),
        ("no message on my registered 448 2197 yet", "448 2197"),
        ("call me on 28-64-27-85 please", "28-64-27-85"),
        ("Desk: 031-309-788", "031-309-788"),
        ("5622571686 fax", "5622571686"),
        ("06-53933840-Office", "06-53933840"),
        ("(1) 501-3830 mobile", "(1) 501-3830"),
        ("9688 8718 (home)", "9688 8718"),
    ] {
        only(text, Kind::Phone, phone);
    }
}

#[test]
fn phone_words_do_not_make_dates_quantities_or_ids_phones() {
    assert_none(
        Kind::Phone,
        &[
            "call on 12-05-2024 at noon",
            "message sent 2024.05.12",
            "we reach 100 000 users",
            "contact count 1 500 000",
            "phone model 12345",
            "office 2024",
            "5622571686 officers",
        ],
    );
}

#[test]
fn a_card_word_makes_any_luhn_valid_number_a_card() {
    // Issuer ranges the table does not hold (generated and test cards, new issuers) are
    // cards when the text says so.
    only(
        "My card 3501146169689600 is expiring",
        Kind::CreditCard,
        "3501146169689600",
    );
    only(
        "amount for cc 569813181447 please",
        Kind::CreditCard,
        "569813181447",
    );
    only("card no 0604 6798 5895", Kind::CreditCard, "0604 6798 5895");
    // Without the word, or with a word that only contains it, they are not.
    assert_none(
        Kind::CreditCard,
        &[
            "order 3501146169689600 shipped",
            "account 569813181447 closed",
            "card 3501146169689601 (check digit wrong)",
        ],
    );
}

#[test]
fn written_nanp_shapes_count_whatever_their_digits_and_country_codes_in_parentheses() {
    // Generated and fictional numbers break NANP's digit rules; written with dashes, dots
    // or parentheses they are still phone numbers. `+(370) ...` is an international number.
    for phone in [
        "(101) 661-3186",
        "939.099.6030",
        "1 (926) 018-1590",
        "123-056-7890",
        "+(370) 26018159",
    ] {
        only(&format!("Jane Doe, {phone}, Berlin"), Kind::Phone, phone);
    }
    // Page ranges and years, and spaced runs that may be three numbers, are not.
    assert_none(
        Kind::Phone,
        &[
            "Machine Learning 24(2): 123-140 (1996).",
            "vol. 20, pp 171-184 (1982.)",
            "counts 123 056 7890 in total",
        ],
    );
}

#[test]
fn lists_of_small_numbers_are_not_cards() {
    // Luhn-valid by chance, joined by single spaces: labels and scores, not a card in
    // groups of four.
    assert_none(
        Kind::CreditCard,
        &[
            "labels: [1 1 1 1 1 1 1 0 0 0 0 0 0 0 0]",
            "Group 2: 28 30 31 33 34 35 36 40 44 55 57 61 91 92 99",
            "#  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1",
        ],
    );
    only(
        "card 4111 1111 1111 1111 ok",
        Kind::CreditCard,
        "4111 1111 1111 1111",
    );
}
