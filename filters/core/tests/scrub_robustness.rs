//! No input may panic the scrubber or make it return spans off `char` boundaries: it runs
//! on attacker-controlled bodies inside the proxy.
// Tests: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use meshguard_core::scrub::{default_scrubber, scrub_line};

/// Fragments chosen to sit next to every anchor and validator edge.
const FRAGMENTS: &[&str] = &[
    "é",
    "日本",
    "😀",
    "\u{0}",
    "\n",
    " ",
    "-",
    ".",
    ":",
    "::",
    "@",
    "://",
    "\"",
    "\\",
    "=",
    "AKIA",
    "ASIA",
    "ghp_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "sk-",
    "sk-ant-",
    "sk_live_",
    "AIza",
    "eyJ",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END ",
    "password",
    "token",
    "=",
    "bearer ",
    "GB",
    "DE89",
    "4111",
    "1111",
    "+44",
    "(415)",
    "555",
    "0132",
    "123-45-",
    "6789",
    "10.0.",
    "255",
    "fe80",
    "ffff",
    "SSN",
    "phone",
    "a@b.co",
    "x:y@h",
    "'",
    "ÄÖ",
    "ß",
];

/// A small deterministic generator (xorshift), so failures reproduce.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn random_fragment_soup_never_panics() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..3000 {
        let n = (next(&mut seed) % 24) as usize;
        let text: String = (0..n)
            .map(|_| FRAGMENTS[(next(&mut seed) % FRAGMENTS.len() as u64) as usize])
            .collect();
        let findings = default_scrubber().find(&text);
        for f in &findings {
            assert!(text.is_char_boundary(f.span.start) && text.is_char_boundary(f.span.end));
        }
        for w in findings.windows(2) {
            assert!(w[0].span.end <= w[1].span.start, "overlap in {text:?}");
        }
        let _ = scrub_line(&text);
    }
}

#[test]
fn scrubbing_is_idempotent() {
    let text =
        "mail jane@example.com card 4111 1111 1111 1111 password=hunter2x9 AKIAIOSFODNN7EXAMPLE";
    let once = scrub_line(text).into_owned();
    assert_eq!(scrub_line(&once), once.as_str());
}

#[test]
fn huge_inputs_stay_linear() {
    // Long runs of anchor-like bytes must not go quadratic: four times the input may cost
    // at most eight times the time (linear is four, quadratic sixteen). Small and large are
    // timed alternately, five rounds, and each keeps its best: a burst of load on a shared
    // machine then slows one round of both sides, not one side (a CI run once saw 9x from
    // load alone, while this input scales 4.0x on a quiet machine).
    for unit in [
        "@",
        "a@",
        "1 ",
        "1-",
        "::",
        "eyJ",
        "sk-",
        "password=",
        "AKIA",
        "-----BEGIN ",
        // Whole headers with no key after them, and no line break anywhere (JSON-escaped
        // text): each is judged from the next few lines only, not the rest of the body.
        "-----BEGIN PRIVATE KEY----- ",
        "-----BEGIN RSA PRIVATE KEY-----\\n...\\n",
    ] {
        let scrubber = default_scrubber();
        let time = |text: &str| {
            let start = std::time::Instant::now();
            let _ = scrubber.find(text);
            start.elapsed()
        };
        let small_text = unit.repeat(25_000 / unit.len());
        let large_text = unit.repeat(100_000 / unit.len());
        let (mut small, mut large) = (std::time::Duration::MAX, std::time::Duration::MAX);
        for _ in 0..5 {
            small = small.min(time(&small_text));
            large = large.min(time(&large_text));
        }
        assert!(
            large.as_secs_f64() <= 8.0 * small.as_secs_f64() + 0.05,
            "{unit:?}: 25 kB {small:?}, 100 kB {large:?}"
        );
    }
}
