//! Finding destinations in tool arguments: every string (and key) at any depth is searched
//! for URLs, host-like words and addresses, in its raw and percent-decoded forms.
//!
//! Three kinds of candidate, held to different standards:
//! - a URL with a scheme (`https://…`, `gopher://…`, `http:169.254.169.254`, and URLs nested in
//!   another URL's query) is judged in full: scheme, metadata, ranges, allow-list;
//! - the whole value of a host-like key (`url`, `host`, `endpoint`, `webhook_url`…) is a
//!   destination even without a scheme, and is judged in full too;
//! - an address-looking word anywhere else (`169.254.169.254`, `0xa9fea9fe`, `[::1]:80`,
//!   `metadata.google.internal`, `localhost:8080/x`) may be prose, so only internal and
//!   metadata destinations are refused there.

use serde_json::Value;

/// How a candidate was found, which decides how strictly it is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `scheme:` + rest.
    Url,
    /// The value of a host-like key, no scheme.
    KeyedHost,
    /// An address-looking word in free text (no scheme): `host[:port][/path]`.
    Word,
}

/// One destination-looking piece of an argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Candidate {
    pub kind: Kind,
    pub text: String,
}

/// Schemes WHATWG parses a host from even without `//` (`http:evil`).
const SPECIAL: [&str; 6] = ["http", "https", "ws", "wss", "ftp", "file"];
/// Schemes SSRF payloads use that name no `//` either (`gopher:`, `dict:`).
const DANGEROUS: [&str; 14] = [
    "gopher", "dict", "ldap", "ldaps", "tftp", "jar", "netdoc", "smb", "sftp", "telnet", "ssh",
    "expect", "phar", "php",
];
/// Key names (lowercase, `_`/`-` removed) whose value is a destination; suffix match.
const HOST_KEY_SUFFIXES: [&str; 9] = [
    "url",
    "uri",
    "host",
    "hostname",
    "endpoint",
    "domain",
    "webhook",
    "href",
    "ipaddress",
];
/// Key names matched exactly.
const HOST_KEYS: [&str; 5] = ["ip", "addr", "ipaddr", "server", "proxy"];

/// Most percent-decoding rounds (double encoding is common; more is noise).
const DECODE_ROUNDS: usize = 2;

/// Every candidate in a JSON value, strings and keys, at any depth, each once (in order of
/// discovery). Work and memory are linear in the size of the value.
pub fn candidates(value: &Value) -> Vec<Candidate> {
    let mut out = Vec::new();
    walk(value, None, &mut out);
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.clone()));
    out
}

fn walk(value: &Value, key: Option<&str>, out: &mut Vec<Candidate>) {
    match value {
        Value::String(s) => in_text(s, key.is_some_and(is_host_key), out),
        Value::Array(items) => items.iter().for_each(|v| walk(v, key, out)),
        Value::Object(map) => {
            for (k, v) in map {
                in_text(k, false, out);
                walk(v, Some(k), out);
            }
        }
        _ => {}
    }
}

/// Whether a key names a destination.
pub fn is_host_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    HOST_KEYS.contains(&k.as_str()) || HOST_KEY_SUFFIXES.iter().any(|s| k.ends_with(s))
}

/// Candidates in one string, raw and percent-decoded.
pub fn in_text(text: &str, keyed: bool, out: &mut Vec<Candidate>) {
    let mut variant = text.to_string();
    for round in 0..=DECODE_ROUNDS {
        scan(&variant, keyed, out);
        if round == DECODE_ROUNDS || !variant.contains('%') {
            break;
        }
        let decoded = percent_encoding::percent_decode_str(&variant)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == variant {
            break;
        }
        variant = decoded;
    }
}

fn scan(text: &str, keyed: bool, out: &mut Vec<Candidate>) {
    let whole = text.trim();
    if keyed && !whole.is_empty() && url_starts(whole).is_empty() {
        push(out, Kind::KeyedHost, whole);
    }
    for token in whole.split(is_separator).filter(|t| !t.is_empty()) {
        // Each URL ends where the next (nested) one starts, so a token packed with
        // `x://` costs linear work, not one copy of its tail per scheme.
        let starts = url_starts(token);
        for (i, start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(token.len());
            push(out, Kind::Url, &token[*start..end]);
        }
        if starts.is_empty() {
            word(token, out);
        }
    }
}

fn push(out: &mut Vec<Candidate>, kind: Kind, text: &str) {
    out.push(Candidate {
        kind,
        text: text.to_string(),
    });
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || "\"'<>`,;(){}|^".contains(c)
}

fn is_scheme_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.'
}

/// Byte offsets where a URL starts in `token`: a scheme followed by `:` and then `//` (any
/// slash direction), or a special or dangerous scheme followed by anything.
fn url_starts(token: &str) -> Vec<usize> {
    let bytes = token.as_bytes();
    let mut starts = Vec::new();
    for (colon, _) in token.match_indices(':') {
        let mut start = colon;
        while start > 0 && is_scheme_char(bytes[start - 1]) {
            start -= 1;
        }
        while start < colon && !bytes[start].is_ascii_alphabetic() {
            start += 1;
        }
        if start == colon {
            continue;
        }
        let scheme = token[start..colon].to_ascii_lowercase();
        let rest = &bytes[colon + 1..];
        let slashes =
            rest.len() >= 2 && matches!(rest[0], b'/' | b'\\') && matches!(rest[1], b'/' | b'\\');
        let named = !rest.is_empty()
            && (SPECIAL.contains(&scheme.as_str()) || DANGEROUS.contains(&scheme.as_str()));
        if slashes || named {
            starts.push(start);
        }
    }
    starts
}

/// A scheme-less word that looks like an address or an internal name.
fn word(token: &str, out: &mut Vec<Candidate>) {
    let token = token.trim_end_matches(['.', '!', '?', ':']);
    let token = token
        .strip_prefix("//")
        .or_else(|| token.strip_prefix("\\\\"))
        .unwrap_or(token);
    if looks_like_address(token) {
        push(out, Kind::Word, token);
    }
}

/// Split `host[:port]` off a scheme-less word: `(host, has_port, has_path)`.
pub fn split_word(token: &str) -> (&str, bool, bool) {
    let end = token.find(['/', '?', '#', '\\']).unwrap_or(token.len());
    let has_path = end < token.len();
    let authority = &token[..end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        let has_port = host_port.contains("]:");
        return (host_port, has_port, has_path);
    }
    match host_port.split_once(':') {
        Some((h, p)) if !p.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, true, has_path)
        }
        _ => (host_port, false, has_path),
    }
}

fn looks_like_address(token: &str) -> bool {
    let (host, has_port, has_path) = split_word(token);
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return false;
    }
    if host.starts_with('[') || host.matches(':').count() >= 2 {
        return true;
    }
    let lower = host.to_ascii_lowercase();
    if lower.contains('.')
        && (super::classify::is_metadata_name(&lower) || super::classify::is_internal_name(&lower))
    {
        return true;
    }
    if ["localhost", "metadata", "instance-data"].contains(&lower.as_str()) {
        return has_port || has_path;
    }
    looks_numeric(&lower, has_port || has_path)
}

/// IPv4 in a spelling a resolver accepts: four dotted parts in any radix, any part with a
/// `0x` prefix, or a numeric form of two or more parts (or one of 8+ digits) followed by a
/// port or path.
fn looks_numeric(host: &str, anchored: bool) -> bool {
    if !host
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'x' || b == b'.')
    {
        return false;
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) || parts.len() > 4 {
        return false;
    }
    let numeric = |p: &&str| {
        p.bytes().all(|b| b.is_ascii_digit())
            || p.strip_prefix("0x")
                .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    if !parts.iter().all(numeric) {
        return false;
    }
    // A lone small number before a port is a clock time (`10:30`), not an address.
    let lone_small = parts.len() == 1 && parts[0].len() < 8;
    parts.len() == 4 || parts.iter().any(|p| p.starts_with("0x")) || (anchored && !lone_small)
}
