//! Maskers: how a finding is rewritten, written straight into the output buffer.
//!
//! Every replacement is plain ASCII without quotes or backslashes, so a masked JSON
//! string value stays a valid JSON string and a masked log line stays one line.

use super::config::Action;
use std::fmt::Write;

/// Values shorter than this are masked entirely by `partial`: keeping four characters of a
/// six-character password would reveal most of it.
pub const PARTIAL_MIN_CHARS: usize = 8;

/// How many hex digits of the HMAC a `hash` placeholder shows (64 bits: collisions are
/// negligible for correlation, and the full MAC is never exposed).
pub const HASH_HEX_CHARS: usize = 16;

/// Append the replacement for `value` (of kind `label`) under `action` to `out`.
/// `Block` renders like `Redact`: the message is refused, but whatever copy survives (a log
/// line, a debug dump) must still be clean.
pub fn render(out: &mut String, action: Action, label: &str, value: &str, key: Option<&[u8]>) {
    match (action, key) {
        (Action::Partial, _) => partial(out, value),
        (Action::Hash, Some(key)) => hash(out, label, value, key),
        // `Scrubber::new` refuses `hash` without a key; redacting is the safe fallback.
        (Action::Hash, None) | (Action::Redact, _) | (Action::Block, _) => redact(out, label),
    }
}

/// `[REDACTED:EMAIL]`.
pub fn redact(out: &mut String, label: &str) {
    out.push_str("[REDACTED:");
    out.push_str(label);
    out.push(']');
}

/// Mask every letter and digit but the last four with `*`, keeping separators so the
/// shape stays recognisable: `4111 1111 1111 1111` becomes `**** **** **** 1111`. Quotes
/// and backslashes are masked too: the value may sit inside JSON-escaped text, where a kept
/// backslash before a `*` would be an invalid escape.
pub fn partial(out: &mut String, value: &str) {
    let total = value.chars().filter(|c| c.is_alphanumeric()).count();
    let keep = if value.chars().count() < PARTIAL_MIN_CHARS {
        0
    } else {
        4
    };
    let mut seen = 0;
    for c in value.chars() {
        if c.is_alphanumeric() {
            seen += 1;
            out.push(if seen > total.saturating_sub(keep) {
                c
            } else {
                '*'
            });
        } else if (c.is_ascii_punctuation() && c != '"' && c != '\\') || c == ' ' {
            out.push(c);
        } else {
            out.push('*');
        }
    }
}

/// `[HASH:EMAIL:<first 16 hex of HMAC-SHA256(key, value)>]`.
pub fn hash(out: &mut String, label: &str, value: &str, key: &[u8]) {
    let mac = hmac_sha256::HMAC::mac(value.as_bytes(), key);
    out.push_str("[HASH:");
    out.push_str(label);
    out.push(':');
    for b in mac.iter().take(HASH_HEX_CHARS / 2) {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(action: Action, value: &str, key: Option<&[u8]>) -> String {
        let mut s = String::new();
        render(&mut s, action, "CREDIT_CARD", value, key);
        s
    }

    #[test]
    fn redact_is_typed() {
        assert_eq!(run(Action::Redact, "x", None), "[REDACTED:CREDIT_CARD]");
        assert_eq!(run(Action::Block, "x", None), "[REDACTED:CREDIT_CARD]");
    }

    #[test]
    fn partial_keeps_last_four_and_separators() {
        assert_eq!(
            run(Action::Partial, "4111111111111111", None),
            "************1111"
        );
        assert_eq!(
            run(Action::Partial, "4111 1111 1111 1111", None),
            "**** **** **** 1111"
        );
        assert_eq!(run(Action::Partial, "hunter2", None), "*******");
    }

    #[test]
    fn hash_is_keyed_and_deterministic() {
        let a = run(
            Action::Hash,
            "4111111111111111",
            Some(b"k1-0123456789abcdef"),
        );
        let b = run(
            Action::Hash,
            "4111111111111111",
            Some(b"k1-0123456789abcdef"),
        );
        let c = run(
            Action::Hash,
            "4111111111111111",
            Some(b"k2-0123456789abcdef"),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(
            a.starts_with("[HASH:CREDIT_CARD:") && a.len() == 18 + 16 + 1,
            "{a}"
        );
    }
}
