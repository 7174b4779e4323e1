//! Secret detectors: each one is entered at an anchor found by the prefilter
//! ([`super::anchors`]) and confirms the token shape with a `^`-anchored regex, so its cost
//! is bounded by the token length, never by the text length.

use super::kind::{Confidence, Finding, Kind};
use super::validate::{
    contains_ci, entropy, floor_boundary, is_placeholder, is_word_byte, non_secret_key,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use regex::Regex;
use std::sync::LazyLock;

/// How far a PEM block may extend; a key is a few KiB, this bounds the END search.
const PEM_WINDOW: usize = 64 * 1024;
/// How far after an AWS access key id its secret key is looked for.
const AWS_PAIR_WINDOW: usize = 256;

struct Patterns {
    aws_key_id: Regex,
    aws_secret_nearby: Regex,
    github_classic: Regex,
    github_pat: Regex,
    gitlab: Regex,
    slack: Regex,
    slack_hook: Regex,
    stripe: Regex,
    google: Regex,
    anthropic: Regex,
    openai: Regex,
    jwt: Regex,
    pem_header: Regex,
    pem_body: Regex,
    url_userinfo: Regex,
    bearer: Regex,
}

#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("constant pattern");
    Patterns {
        aws_key_id: re(r"^(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}"),
        aws_secret_nearby: re(r"[A-Za-z0-9/+]{40}"),
        github_classic: re(r"^gh[pousr]_[A-Za-z0-9]{36}"),
        github_pat: re(r"^github_pat_[A-Za-z0-9_]{82}"),
        gitlab: re(r"^glpat-[A-Za-z0-9_-]{20,64}(?:\.[A-Za-z0-9_-]{1,64}){0,3}"),
        slack: re(r"^xox[abceprs]-[A-Za-z0-9-]{10,250}"),
        slack_hook: re(r"^hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]{20,200}"),
        stripe: re(r"^[sr]k_(?:live|test)_[A-Za-z0-9]{10,247}"),
        google: re(r"^AIza[0-9A-Za-z_-]{35}"),
        anthropic: re(r"^sk-ant-[A-Za-z0-9_-]{32,300}"),
        openai: re(r"^sk-(?:proj-|svcacct-|admin-)?([A-Za-z0-9_-]{20,300})"),
        jwt: re(r"^eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        pem_header: re(r"^-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"),
        pem_body: re(r"^(?:[A-Za-z0-9+/=:,. \t\r\n-]|\\[nr])*"),
        url_userinfo: re(r#"^([^\s:/?#@'"<>]{0,128}):([^\s/?#'"<>]{1,256})@[A-Za-z0-9\[]"#),
        bearer: re(r"^[ \t]+([A-Za-z0-9._~+/-]{16,}=*)"),
    }
});

/// Which keyword family an assignment key belongs to; they differ in what value is
/// random enough to be a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `password`, `passwd`, `passphrase`: human-chosen, so short values count.
    Password,
    /// `secret`, `token`, `api_key` ...: machine-generated, so values must look random.
    Token,
}

/// The byte before `pos` does not continue an identifier.
fn starts_word(b: &[u8], pos: usize) -> bool {
    pos == 0 || !is_word_byte(b[pos - 1])
}

/// The byte at `end` does not continue the token.
fn ends_word(b: &[u8], end: usize, extra: &[u8]) -> bool {
    b.get(end)
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || extra.contains(c)))
}

/// Match `re` at `pos` with word boundaries on both sides; the match end on success.
fn token_at(text: &str, pos: usize, re: &Regex, extra: &[u8]) -> Option<usize> {
    let b = text.as_bytes();
    if !starts_word(b, pos) || (pos > 0 && extra.contains(&b[pos - 1])) {
        return None;
    }
    let end = pos + re.find(&text[pos..])?.end();
    ends_word(b, end, extra).then_some(end)
}

/// A fixed-prefix token (GitHub, GitLab, Slack, Stripe, Google) at `pos`.
pub fn prefixed(text: &str, pos: usize, kind: Kind) -> Option<Finding> {
    let p = &*PATTERNS;
    let (re, extra): (&Regex, &[u8]) = match kind {
        Kind::GithubToken if text[pos..].starts_with("github_pat_") => (&p.github_pat, b"_"),
        Kind::GithubToken => (&p.github_classic, b"_"),
        Kind::GitlabToken => (&p.gitlab, b"_-"),
        Kind::SlackToken => (&p.slack, b"-"),
        Kind::SlackWebhook => (&p.slack_hook, b"_"),
        Kind::StripeKey => (&p.stripe, b"_"),
        Kind::GoogleApiKey => (&p.google, b"_-"),
        _ => return None,
    };
    let end = token_at(text, pos, re, extra)?;
    if kind == Kind::SlackToken && !text[pos..end].bytes().any(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(Finding::new(kind, pos..end, Confidence::High))
}

/// An AWS access key id at `pos`, plus its secret key if one follows closely.
pub fn aws(text: &str, pos: usize, want_secret: bool, out: &mut Vec<Finding>) {
    let Some(end) = token_at(text, pos, &PATTERNS.aws_key_id, b"") else {
        return;
    };
    out.push(Finding::new(
        Kind::AwsAccessKeyId,
        pos..end,
        Confidence::High,
    ));
    if !want_secret {
        return;
    }
    let window = &text[end..floor_boundary(text, end + AWS_PAIR_WINDOW)];
    let b = text.as_bytes();
    let b64 = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'+' | b'=');
    for m in PATTERNS.aws_secret_nearby.find_iter(window) {
        let (s, e) = (end + m.start(), end + m.end());
        let alone = !b64(&b[s - 1]) && b.get(e).is_none_or(|c| !b64(c));
        if alone && aws_secret_shape(m.as_str()) {
            out.push(Finding::new(
                Kind::AwsSecretAccessKey,
                s..e,
                Confidence::Medium,
            ));
            return;
        }
    }
}

/// 40 base64 characters mixing upper case, lower case and digits (hex digests do not).
pub fn aws_secret_shape(v: &str) -> bool {
    v.len() == 40
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'/' || c == b'+')
        && v.bytes().any(|c| c.is_ascii_uppercase())
        && v.bytes().any(|c| c.is_ascii_lowercase())
        && v.bytes().any(|c| c.is_ascii_digit())
}

/// An `sk-` key at `pos`: Anthropic (`sk-ant-`) or OpenAI-style.
pub fn sk_dash(text: &str, pos: usize) -> Option<Finding> {
    let b = text.as_bytes();
    if pos > 0 && (is_word_byte(b[pos - 1]) || b[pos - 1] == b'-') {
        return None;
    }
    let rest = &text[pos..];
    if let Some(m) = PATTERNS.anthropic.find(rest) {
        let end = pos + m.end();
        return Some(Finding::new(
            Kind::AnthropicApiKey,
            pos..end,
            Confidence::High,
        ));
    }
    let caps = PATTERNS.openai.captures(rest)?;
    let body = caps.get(1)?.as_str().as_bytes();
    let mixed = body.iter().any(u8::is_ascii_uppercase)
        && body.iter().any(u8::is_ascii_lowercase)
        && body.iter().any(u8::is_ascii_digit);
    let end = pos + caps.get(0)?.end();
    mixed.then(|| Finding::new(Kind::OpenaiApiKey, pos..end, Confidence::Medium))
}

/// A JWT at `pos` whose header decodes to a JSON object with an `alg`.
pub fn jwt(text: &str, pos: usize) -> Option<Finding> {
    let end = token_at(text, pos, &PATTERNS.jwt, b"_-")?;
    let header = text[pos..].split('.').next()?;
    let decoded = URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')).ok()?;
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&decoded).ok()?;
    json.get("alg")?.as_str()?;
    Some(Finding::new(Kind::Jwt, pos..end, Confidence::High))
}

/// A PEM private key block starting at `pos`, through its END line. A block cut short
/// (a truncated log line) is masked through the end of its base64 body. A header without
/// key material after it is a mention ("PEM files start with `-----BEGIN PRIVATE KEY-----`",
/// a placeholder `...`), not a key: masking it took the rest of a README's prose, which the
/// body pattern (letters, spaces, dots) reads as base64.
pub fn pem(text: &str, pos: usize) -> Option<Finding> {
    let header = PATTERNS.pem_header.find(&text[pos..])?;
    let body_start = pos + header.end();
    if !starts_key_material(&text[body_start..]) {
        return None;
    }
    let window = &text[body_start..floor_boundary(text, body_start + PEM_WINDOW)];
    let end = match window.find("-----END ") {
        Some(i) => {
            let after = i + "-----END ".len();
            let close = window[after..].find("-----").map(|j| after + j + 5);
            body_start + close.unwrap_or(after)
        }
        None => body_start + PATTERNS.pem_body.find(window).map_or(0, |m| m.end()),
    };
    Some(Finding::new(Kind::PrivateKey, pos..end, Confidence::High))
}

/// Bytes after a PEM header searched for the start of key material (up to four short
/// header lines, then the first body line).
const PEM_LOOKAHEAD: usize = 512;

/// Shortest run of base64 that starts a key body (a body line is 64 or 70 characters; the
/// shortest real key's first line is longer than this).
const PEM_FIRST_LINE: usize = 12;

/// Whether `body` (what follows a PEM header) starts with key material: after line breaks
/// (raw or JSON-escaped) and up to four RFC 1421 header lines (`Proc-Type: ...`,
/// `DEK-Info: ...`), a run of at least [`PEM_FIRST_LINE`] base64 characters.
fn starts_key_material(body: &str) -> bool {
    // Only the first lines matter: searching for a line end through the rest of a large
    // body at every header made many headers quadratic.
    let mut rest = &body[..floor_boundary(body, PEM_LOOKAHEAD)];
    for _ in 0..5 {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        while let Some(r) = rest
            .strip_prefix("\\n")
            .or_else(|| rest.strip_prefix("\\r"))
        {
            rest = r.trim_start_matches(|c: char| c.is_ascii_whitespace());
        }
        let line_end = rest
            .find(['\n', '\r'])
            .into_iter()
            .chain(rest.find("\\n"))
            .min()
            .unwrap_or(rest.len());
        let line = &rest[..line_end];
        if !line.contains(':') {
            let run = line
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
                .count();
            return run >= PEM_FIRST_LINE;
        }
        rest = &rest[line_end..];
    }
    false
}

/// The password of `scheme://user:password@host`, where `sep` is the index of `://`.
pub fn url_password(text: &str, sep: usize) -> Option<Finding> {
    let b = text.as_bytes();
    let mut s = sep;
    while s > 0 && sep - s < 32 && (b[s - 1].is_ascii_alphanumeric() || b"+.-".contains(&b[s - 1]))
    {
        s -= 1;
    }
    if s == sep || !b[s].is_ascii_alphabetic() {
        return None;
    }
    let at = sep + 3;
    let caps = PATTERNS.url_userinfo.captures(&text[at..])?;
    let pw = caps.get(2)?;
    if is_placeholder(pw.as_str()) {
        return None;
    }
    let span = at + pw.start()..at + pw.end();
    Some(Finding::new(Kind::UrlPassword, span, Confidence::High))
}

/// The value of a `key = value` / `"key": "value"` assignment whose key contains the
/// keyword at `kw`, if the value looks like a real secret.
pub fn assignment(text: &str, kw: std::ops::Range<usize>, family: Family) -> Option<Finding> {
    let b = text.as_bytes();
    let mut key_start = kw.start;
    while key_start > 0 && kw.start - key_start < 64 && is_key_byte(b[key_start - 1]) {
        key_start -= 1;
    }
    let (key_end, span) = assigned_value(b, kw.end)?;
    let key = &b[key_start..key_end];
    if non_secret_key(key) {
        return None;
    }
    let aws_key = [b"aws".as_slice(), b"secret_access", b"secretaccess"]
        .iter()
        .any(|w| contains_ci(key, w));
    let kind = value_kind(aws_key, &text[span.clone()], family)?;
    Some(Finding::new(kind, span, Confidence::Medium))
}

/// Parse `rest-of-key ["'] sep value` from `at` by hand (this runs for every `token` in
/// LLM traffic, so no regex and no allocation): the key end and the value span.
/// Separators: `=`, `:`, `=>`, `:=`; values: double- or single-quoted (JSON-escaped quotes
/// allowed) or bare up to whitespace or `,;&}])<>`.
fn assigned_value(b: &[u8], at: usize) -> Option<(usize, std::ops::Range<usize>)> {
    const MAX_VALUE: usize = 512;
    let mut i = at;
    while i < b.len() && i - at < 32 && is_key_byte(b[i]) {
        i += 1;
    }
    let key_end = i;
    i += usize::from(b.get(i) == Some(&b'\\'));
    i += usize::from(matches!(b.get(i), Some(b'"' | b'\'')));
    i = skip_blanks(b, i);
    i = match (b.get(i), b.get(i + 1)) {
        (Some(b'='), Some(b'>')) | (Some(b':'), Some(b'=')) => i + 2,
        (Some(b':' | b'='), _) => i + 1,
        _ => return None,
    };
    i = skip_blanks(b, i);
    i += usize::from(b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'"'));
    let (quote, start) = match b.get(i) {
        Some(q @ (b'"' | b'\'')) => (Some(*q), i + 1),
        _ => (None, i),
    };
    let stop = |c: u8| match quote {
        Some(b'"') => matches!(c, b'"' | b'\\' | b'\r' | b'\n'),
        Some(_) => matches!(c, b'\'' | b'\r' | b'\n'),
        None => c.is_ascii_whitespace() || b"\"',;&}])<>".contains(&c),
    };
    let len = b[start..]
        .iter()
        .take(MAX_VALUE + 1)
        .take_while(|c| !stop(**c))
        .count();
    let end = start + len;
    let closed = match quote {
        Some(b'"') => matches!(b.get(end), Some(b'"' | b'\\')),
        Some(q) => b.get(end) == Some(&q),
        None => true,
    };
    (len > 0 && len <= MAX_VALUE && closed).then_some((key_end, start..end))
}

fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    let from = i;
    while i < b.len() && i - from < 8 && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// Classify a value assigned to a secret-sounding key (`aws_key`: the key names AWS): an
/// AWS secret key, another secret, or nothing (placeholders, prose, low-entropy values).
pub fn value_kind(aws_key: bool, value: &str, family: Family) -> Option<Kind> {
    let v = value.trim();
    if aws_key && aws_secret_shape(v) {
        return Some(Kind::AwsSecretAccessKey);
    }
    secret_value(v, family).then_some(Kind::GenericSecret)
}

/// The entropy test: is this value random enough to be a credential of this family?
pub fn secret_value(v: &str, family: Family) -> bool {
    if is_placeholder(v) || v.contains("://") {
        return false;
    }
    let has_digit = v.bytes().any(|c| c.is_ascii_digit());
    let has_alpha = v.bytes().any(|c| c.is_ascii_alphabetic());
    let has_symbol = v.bytes().any(|c| c.is_ascii_punctuation());
    match family {
        Family::Password => {
            v.len() >= 6 && (v.len() >= 8 || has_digit || has_symbol) && entropy(v) >= 2.0
        }
        Family::Token => {
            v.len() >= 12
                && (has_digit || mixed_case(v))
                && has_alpha
                && !v.bytes().any(|c| c.is_ascii_whitespace())
                && entropy(v) >= 3.0
        }
    }
}

/// Random letters: at least a quarter upper case and a quarter lower case (`cfCWAyqPufFP`),
/// unlike words and CamelCase names (`MyApplicationName`).
fn mixed_case(v: &str) -> bool {
    let upper = v.bytes().filter(u8::is_ascii_uppercase).count();
    let lower = v.bytes().filter(u8::is_ascii_lowercase).count();
    let letters = upper + lower;
    letters >= 12 && upper * 4 >= letters && lower * 4 >= letters
}

/// `Bearer <token>` (an `Authorization` header in a log line) whose token looks random.
pub fn bearer(text: &str, kw_end: usize) -> Option<Finding> {
    let caps = PATTERNS.bearer.captures(&text[kw_end..])?;
    let tok = caps.get(1)?;
    if !secret_value(tok.as_str(), Family::Token) {
        return None;
    }
    let span = kw_end + tok.start()..kw_end + tok.end();
    Some(Finding::new(Kind::GenericSecret, span, Confidence::Medium))
}
