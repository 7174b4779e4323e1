//! Scrubbing for log and audit lines, without the regex engine.
//!
//! Every filter logs decisions, but not every filter carries the full detector set (the
//! identity filters would double in size for it). Log lines are short and written by us,
//! so a byte-level pass that masks the shapes a leaked value takes is enough: email
//! addresses, JWTs, long token-like runs (API keys, secrets) and long digit runs (cards,
//! account and phone numbers). Clean lines are returned borrowed, at no cost.

use std::borrow::Cow;

/// Shortest run of token characters that is masked as a possible secret.
const MIN_SECRET_RUN: usize = 24;
/// Fewest digits (separators aside) masked as a possible card/account/phone number.
const MIN_DIGITS: usize = 9;

/// The line with emails, JWTs, secret-like tokens and long numbers masked.
pub fn scrub_log_line(line: &str) -> Cow<'_, str> {
    let words: Vec<(usize, usize)> = words(line);
    let mut out: Option<String> = None;
    let mut last = 0;
    for (start, end) in words {
        // In `key=value`, only the value is judged and masked.
        let start = line[start..end].rfind('=').map_or(start, |i| start + i + 1);
        let Some(label) = classify(&line[start..end]) else {
            continue;
        };
        let buf = out.get_or_insert_with(|| String::with_capacity(line.len()));
        buf.push_str(&line[last..start]);
        buf.push_str(label);
        last = end;
    }
    match out {
        None => Cow::Borrowed(line),
        Some(mut buf) => {
            buf.push_str(&line[last..]);
            Cow::Owned(buf)
        }
    }
}

/// Byte ranges of maximal runs of characters that can belong to a value.
fn words(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        let part = c.is_ascii_alphanumeric() || "@._-+/=:%".contains(c);
        match (part, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, line.len()));
    }
    out
}

fn classify(word: &str) -> Option<&'static str> {
    let word = word.trim_matches(|c: char| ".:,=".contains(c));
    if is_email(word) {
        Some("[REDACTED:EMAIL]")
    } else if word.starts_with("eyJ") && word.matches('.').count() == 2 {
        Some("[REDACTED:JWT]")
    } else if digit_count(word) >= MIN_DIGITS
        && word
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'+')
    {
        Some("[REDACTED:NUMBER]")
    } else if is_secret_like(word) {
        Some("[REDACTED:SECRET]")
    } else {
        None
    }
}

fn is_email(word: &str) -> bool {
    let Some((local, domain)) = word.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
}

fn digit_count(word: &str) -> usize {
    word.bytes().filter(u8::is_ascii_digit).count()
}

/// A long run mixing letters and digits (or case) with no separators a path or name has.
fn is_secret_like(word: &str) -> bool {
    let token = word;
    if token.len() < MIN_SECRET_RUN || token.contains('/') && token.starts_with('/') {
        return false;
    }
    let bytes = token.as_bytes();
    let digits = bytes.iter().any(u8::is_ascii_digit);
    let upper = bytes.iter().any(u8::is_ascii_uppercase);
    let lower = bytes.iter().any(u8::is_ascii_lowercase);
    let dots = bytes.iter().filter(|&&b| b == b'.').count();
    dots < 2 && (digits as u8 + upper as u8 + lower as u8) >= 2 && !token.contains("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_lines_are_borrowed() {
        let line =
            "meshguard audience_check: denied control=MCP-02 reason=wrong_audience status=401";
        assert!(matches!(scrub_log_line(line), Cow::Borrowed(_)));
        let line = "allowed sub=Some(\"alice\") team=Some(\"sre\") tool=Some(\"get_issue\") path=/tools/mcp-github/mcp";
        assert!(matches!(scrub_log_line(line), Cow::Borrowed(_)));
    }

    #[test]
    fn masks_leaked_values() {
        let cases = [
            (
                "sub=alice@example.com team=sre",
                "sub=[REDACTED:EMAIL] team=sre",
            ),
            (
                "token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln end",
                "token [REDACTED:JWT] end",
            ),
            (
                "card 4111-1111-1111-1111 seen",
                "card [REDACTED:NUMBER] seen",
            ),
            (
                "key AKIAIOSFODNN7EXAMPLEKEYABCD in body",
                "key [REDACTED:SECRET] in body",
            ),
            (
                "api_key=sk_live_4eC39HqLyjWDarjtT1zdp7dc",
                "api_key=[REDACTED:SECRET]",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(scrub_log_line(input), expected, "{input}");
        }
    }

    #[test]
    fn leaves_ids_and_paths_alone() {
        for line in [
            "jti 550e8400 status 401",
            "path=/tools/mcp-github/mcp",
            "JWKS refreshed: 3 keys",
            "2026-11-22T03:27:18Z",
        ] {
            assert_eq!(scrub_log_line(line), line);
        }
    }
}
