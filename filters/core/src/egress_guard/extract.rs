//! Finding destinations in MCP arguments: every string (and key) at any depth is searched,
//! in its raw and percent-decoded forms and, when it is base64 or hex as a whole or holds
//! bounded encoded spans, decoded.
//!
//! What is a destination, and how strictly it is judged:
//! - a value under a destination key (`url`, `host`, `endpoint`, `ip`, `proxy`… and the
//!   configured `destination_keys`) is one as a whole, scheme or not: judged in full;
//! - a value under a key that often names a destination (`target`, `address`, `remote`,
//!   `registry`, `bootstrap_servers`…) is split at commas and spaces; an item with a
//!   scheme, an IP in any spelling or a port is judged in full, a bare name for SSRF only
//!   (`release` or `origin` there is a word, not a host);
//! - any other value that as a whole is a URL is judged in full (SSRF only if it has spaces),
//!   and one that as a whole is an address in any spelling, an internal or metadata name,
//!   or `host:port` with a single label, is judged for SSRF;
//! - URLs with a scheme inside free text (prose, code, logs) are judged for SSRF twice: up
//!   to the first quote, bracket or comma (where linkifiers and JSON end them) and up to the
//!   next space (where `\S+` extractors end them: `http://a.com,@10.0.0.1`);
//! - scheme-less addresses and names mentioned in free text (prose, code, SQL, logs) are
//!   not destinations;
//! - unless the tool's free text is fetched as is (`strict_text_tools`): then its URLs are
//!   judged in full up to the first separator, and its scheme-less mentions for SSRF.
//!
//! Nothing is skipped because another part of the same value is an allowed URL.

use super::classify::{is_internal_name, is_metadata_name, Strictness, INTERNAL_WORDS};
use super::read::{self, map_host, parse_ipv4, SPECIAL};
use crate::detect::decode::{decode_spans, Budget};
use base64::Engine;
use serde_json::Value;

/// How a candidate was found (for the audit line) and how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `scheme:` + rest.
    Url,
    /// The value of a destination key, no scheme.
    KeyedHost,
    /// A whole value (any key) that is shaped like a destination, no scheme.
    Value,
    /// An address-looking word in free text (no scheme): `host[:port][/path]`.
    Word,
}

/// One destination-looking piece of an argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// How it was found (and so how it is read: with a scheme or as `http://` + it).
    pub kind: Kind,
    /// The candidate text.
    pub text: String,
    /// How strictly it is judged.
    pub strict: Strictness,
}

/// What the key of a value says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A destination key: the whole value is a destination.
    Destination,
    /// A key that often names a destination: items shaped like one are.
    Likely,
    /// Anything else: free text.
    Text,
    /// Text decoded from base64, hex or an escaped span: judged for SSRF only.
    Decoded,
}

/// Schemes SSRF payloads use that name no `//` either (`gopher:`, `dict:`).
const DANGEROUS: [&str; 14] = [
    "gopher", "dict", "ldap", "ldaps", "tftp", "jar", "netdoc", "smb", "sftp", "telnet", "ssh",
    "expect", "phar", "php",
];
/// Destination key names (lowercase, `_`/`-` removed); suffix match.
const DESTINATION_SUFFIXES: [&str; 9] = [
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
/// Destination key names matched exactly.
const DESTINATION_KEYS: [&str; 5] = ["ip", "addr", "ipaddr", "server", "proxy"];
/// Keys that often name a destination; suffix match.
const LIKELY_SUFFIXES: [&str; 14] = [
    "address",
    "addr",
    "target",
    "destination",
    "dest",
    "remote",
    "registry",
    "servers",
    "server",
    "upstream",
    "brokers",
    "origin",
    "mirror",
    "repository",
];
/// Keys that often name a destination; exact.
const LIKELY_KEYS: [&str; 4] = ["to", "repo", "peer", "connect"];

/// Most percent-decoding rounds (double encoding is common; more is noise).
const DECODE_ROUNDS: usize = 2;
/// Longest whole value tried as base64 or hex.
const MAX_WHOLE_DECODE: usize = 8192;

/// Where candidates are looked for and which keys name destinations.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Extra destination keys (lowercase, `_`/`-` removed), matched exactly.
    pub keys: Vec<String>,
    /// Whether scheme-less mentions in free text are destinations (`strict_text_tools`).
    pub mentions: bool,
}

impl Scan {
    /// What a key says about its value.
    pub fn role(&self, key: &str) -> Role {
        let k = normalise_key(key);
        if DESTINATION_KEYS.contains(&k.as_str())
            || DESTINATION_SUFFIXES.iter().any(|s| k.ends_with(s))
            || self.keys.contains(&k)
        {
            Role::Destination
        } else if LIKELY_KEYS.contains(&k.as_str())
            || LIKELY_SUFFIXES.iter().any(|s| k.ends_with(s))
        {
            Role::Likely
        } else {
            Role::Text
        }
    }
}

/// A key as compared: lowercase, `_` and `-` removed.
pub fn normalise_key(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Whether a key names a destination (with the built-in lists only).
pub fn is_host_key(key: &str) -> bool {
    Scan::default().role(key) == Role::Destination
}

/// Every candidate in a JSON value, strings and keys, at any depth, each once (in order of
/// discovery). Work and memory are linear in the size of the value; decoding is bounded.
pub fn candidates(value: &Value, scan: &Scan) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut budget = Budget::default();
    walk(value, Role::Text, scan, &mut budget, &mut out);
    dedup(out)
}

/// The candidates of an MCP resource URI (`resources/read`): a URL of an allowed, special or
/// dangerous scheme is judged in full; `file:` only when it names a remote host (a UNC
/// share); any other scheme with an authority is judged for SSRF; nested URLs as in text.
pub fn resource_uri(uri: &str, scan: &Scan) -> Vec<Candidate> {
    let mut out = Vec::new();
    let whole = uri.trim();
    let scheme = read::scheme_of(whole).map(str::to_ascii_lowercase);
    match scheme.as_deref() {
        Some("file") => {
            // The WHATWG file host (a UNC share on Windows); `file:///x` has none.
            let local = url::Url::parse(whole).is_ok_and(|u| {
                u.host_str()
                    .is_none_or(|h| h.is_empty() || h.eq_ignore_ascii_case("localhost"))
            });
            if !local {
                push(&mut out, Kind::Url, whole, Strictness::Full);
            }
        }
        Some(s) if SPECIAL.contains(&s) || DANGEROUS.contains(&s) => {
            push(&mut out, Kind::Url, whole, Strictness::Full)
        }
        Some(_) if whole.contains("://") => push(&mut out, Kind::Url, whole, Strictness::SsrfOnly),
        _ => {}
    }
    let mut budget = Budget::default();
    let inner = Scan {
        keys: scan.keys.clone(),
        mentions: false,
    };
    for variant in variants(whole) {
        tokens(&variant, &inner, false, &mut out);
        decoded(&variant, &mut budget, &mut out);
    }
    dedup(out)
}

fn dedup(out: Vec<Candidate>) -> Vec<Candidate> {
    let mut seen = std::collections::HashSet::new();
    out.into_iter().filter(|c| seen.insert(c.clone())).collect()
}

fn walk(value: &Value, role: Role, scan: &Scan, budget: &mut Budget, out: &mut Vec<Candidate>) {
    match value {
        Value::String(s) => in_string(s, role, scan, budget, out),
        // `{"ip": 2130706433}` is 127.0.0.1 to `inet_aton`.
        Value::Number(n) if role == Role::Destination => {
            in_string(&n.to_string(), role, scan, budget, out)
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, role, scan, budget, out)),
        Value::Object(map) => {
            for (k, v) in map {
                in_string(k, Role::Text, scan, budget, out);
                walk(v, scan.role(k), scan, budget, out);
            }
        }
        _ => {}
    }
}

/// The raw text and its percent-decoded forms (double encoding included).
fn variants(text: &str) -> Vec<String> {
    let mut out = vec![text.to_string()];
    for _ in 0..DECODE_ROUNDS {
        let last = out.last().map(String::as_str).unwrap_or("");
        if !last.contains('%') {
            break;
        }
        let decoded = read::percent_decode(last).into_owned();
        if decoded == last {
            break;
        }
        out.push(decoded);
    }
    out
}

/// Candidates in one string value.
fn in_string(text: &str, role: Role, scan: &Scan, budget: &mut Budget, out: &mut Vec<Candidate>) {
    for variant in variants(text) {
        whole(&variant, role, out);
        tokens(&variant, scan, role == Role::Decoded, out);
        if role != Role::Decoded {
            decoded(&variant, budget, out);
        }
    }
}

/// Base64 or hex as a whole value (a field the tool decodes), and bounded encoded spans
/// (the detector's decoder): what they decode to is judged for SSRF.
fn decoded(text: &str, budget: &mut Budget, out: &mut Vec<Candidate>) {
    let scan = Scan::default();
    if let Some(d) = decode_whole(text.trim()) {
        in_string(&d, Role::Decoded, &scan, budget, out);
    }
    if text.len() >= crate::detect::decode::MIN_HEX_LEN {
        for d in decode_spans(text, budget) {
            in_string(&d.text, Role::Decoded, &scan, budget, out);
        }
    }
}

/// A whole value that is hex or base64 of printable text.
fn decode_whole(w: &str) -> Option<String> {
    if w.len() < 8 || w.len() > MAX_WHOLE_DECODE {
        return None;
    }
    let bytes = if w.len().is_multiple_of(2) && w.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..w.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&w[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else if w
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/-_=".contains(&b))
    {
        let body = w.trim_end_matches('=');
        let engine = if body.contains(['-', '_']) {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD
        };
        engine.decode(body).ok()?
    } else {
        return None;
    };
    let s = String::from_utf8(bytes).ok()?;
    let printable = s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t');
    (printable && !s.trim().is_empty()).then_some(s)
}

/// A whole value judged by what its key says.
fn whole(text: &str, role: Role, out: &mut Vec<Candidate>) {
    let w = text.trim();
    if w.is_empty() {
        return;
    }
    let has_scheme = url_starts(w).first() == Some(&0);
    let spaced = w.contains(char::is_whitespace);
    match role {
        Role::Destination if has_scheme => push(out, Kind::Url, w, Strictness::Full),
        Role::Destination => push(out, Kind::KeyedHost, w, Strictness::Full),
        Role::Likely => {
            if has_scheme && !spaced {
                push(out, Kind::Url, w, Strictness::Full);
            }
            for item in w.split(|c: char| c == ',' || c.is_whitespace()) {
                if url_starts(item).first() == Some(&0) {
                    push(out, Kind::Url, item, Strictness::Full);
                } else if let Some(shape) = shape(item, Context::Likely) {
                    let strict = if shape == Shape::Name {
                        Strictness::SsrfOnly
                    } else {
                        Strictness::Full
                    };
                    push(out, Kind::Value, item, strict);
                }
            }
        }
        Role::Text | Role::Decoded => {
            if has_scheme {
                let strict = if spaced || role == Role::Decoded {
                    Strictness::SsrfOnly
                } else {
                    Strictness::Full
                };
                push(out, Kind::Url, w, strict);
            } else if !spaced {
                match shape(w, Context::Whole) {
                    Some(Shape::Name) if !named_inside(w) => {}
                    Some(s) => push(out, Kind::Value, w, held(w, s)),
                    None => {}
                }
            }
        }
    }
}

/// Where a scheme-less item was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// An item under a key that often names a destination: short IPv4 forms count.
    Likely,
    /// A whole value under any other key.
    Whole,
    /// A word in free text.
    Mention,
}

/// What a scheme-less item looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// An IP in some spelling, a bracketed or bare IPv6 literal.
    Address,
    /// `name:port` (a port makes any name a destination).
    HostPort,
    /// A dotted host name (or a known internal single label).
    Name,
}

/// Whether `item` (no scheme, no space) is shaped like a destination: `host[:port][/path]`
/// or `user@host:path`, the host an address in any spelling (Unicode digits included), a
/// bracketed IPv6 literal, a name with a port, or a dotted or well-known internal name.
/// A lone short number (`10.5`, `3`), a CIDR (`10.0.0.0/8`) and `x[0]` are not; a bare
/// `localhost` or `metadata` is one only as a whole value, not in prose; under a likely
/// destination key (`target: 127.1`) every IPv4 spelling but a lone short number is one.
fn shape(item: &str, ctx: Context) -> Option<Shape> {
    let bare_words = ctx != Context::Mention;
    let item = item
        .strip_prefix("//")
        .or_else(|| item.strip_prefix("\\\\"))
        .unwrap_or(item);
    if item.is_empty() || item.contains(char::is_whitespace) {
        return None;
    }
    if super::classify::bare_v6(item).is_some() {
        return Some(Shape::Address);
    }
    let (host, port, path) = split_word(item);
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.split(']').next().unwrap_or("");
        return read::parse_ipv6(inner).map(|_| Shape::Address);
    }
    let decoded = read::percent_decode(host);
    let mapped = map_host(&decoded);
    let mapped = mapped.strip_suffix('.').unwrap_or(&mapped);
    if mapped.is_empty() {
        return None;
    }
    let unicode = !host.is_ascii();
    if parse_ipv4(mapped).is_some() {
        let parts: Vec<&str> = mapped.split('.').collect();
        let marked = parts
            .iter()
            .any(|p| p.starts_with("0x") || (p.len() > 1 && p.starts_with('0')));
        let cidr = path.is_some_and(|p| p[1..].bytes().all(|b| b.is_ascii_digit()));
        let lone_small = parts.len() == 1 && parts[0].len() < 8 && !marked;
        let anchored = port || (path.is_some() && !cidr) || unicode;
        let short = parts.len() == 1 && parts[0].len() < 8;
        let address = if cidr {
            false
        } else {
            parts.len() == 4
                || marked
                || (anchored && !lone_small)
                || (ctx == Context::Likely && !short)
        };
        return address.then_some(Shape::Address);
    }
    let dns = mapped.split('.').all(|l| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    });
    if !dns {
        return None;
    }
    if port {
        return Some(Shape::HostPort);
    }
    let word = INTERNAL_WORDS.contains(&mapped) && (bare_words || path.is_some());
    (mapped.contains('.') || word).then_some(Shape::Name)
}

/// How a destination-shaped item outside destination keys is held: `name:port` with a
/// single label (`redis:6379`) is internal by construction, so in full; the rest for SSRF.
fn held(item: &str, shape: Shape) -> Strictness {
    if shape == Shape::HostPort && !split_word(item).0.contains('.') {
        Strictness::Full
    } else {
        Strictness::SsrfOnly
    }
}

/// Whether a name-shaped whole value names an internal or metadata host (a free-text value
/// `README.md` is not a destination; `redis.svc.cluster.local` is).
fn named_inside(item: &str) -> bool {
    let (host, _, _) = split_word(item);
    let mapped = map_host(&read::percent_decode(host)).into_owned();
    let name = mapped.strip_suffix('.').unwrap_or(&mapped);
    is_metadata_name(name) || is_internal_name(name) || INTERNAL_WORDS.contains(&name)
}

fn push(out: &mut Vec<Candidate>, kind: Kind, text: &str, strict: Strictness) {
    if text.is_empty() {
        return;
    }
    out.push(Candidate {
        kind,
        text: text.to_string(),
        strict,
    });
}

/// Where linkifiers and JSON end a URL in free text.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || "\"'<>`,;(){}|^".contains(c)
}

/// Punctuation that ends a sentence rather than a URL.
const TRAILING: [char; 13] = [
    '.', ',', ';', ':', '!', '?', ')', ']', '}', '>', '\'', '"', '`',
];

/// URLs and (with `scan.mentions`) address-looking words in free text.
fn tokens(text: &str, scan: &Scan, loose_only: bool, out: &mut Vec<Candidate>) {
    for token in text.split(char::is_whitespace).filter(|t| !t.is_empty()) {
        // Each URL ends where the next (nested) one starts, so a token packed with
        // `x://` costs linear work, not one copy of its tail per scheme.
        let starts = url_starts(token);
        for (i, start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(token.len());
            let span = &token[*start..end];
            push(
                out,
                Kind::Url,
                span.trim_end_matches(TRAILING),
                Strictness::SsrfOnly,
            );
            if !loose_only {
                let tight = &span[..tight_end(span)];
                let tight = tight.trim_end_matches(['.', '!', '?', ':']);
                if url_starts(tight).first() == Some(&0) {
                    let strict = if scan.mentions {
                        Strictness::Full
                    } else {
                        Strictness::SsrfOnly
                    };
                    push(out, Kind::Url, tight, strict);
                }
            }
        }
        if scan.mentions {
            let head = &token[..starts.first().copied().unwrap_or(token.len())];
            for word in head.split(is_separator).filter(|t| !t.is_empty()) {
                mention(word, out);
            }
        }
    }
}

/// Where a URL in free text ends for a linkifier: the first separator, or an escaped
/// newline, tab or quote of JSON-in-a-string (`\n`).
fn tight_end(span: &str) -> usize {
    let bytes = span.as_bytes();
    for (i, c) in span.char_indices() {
        if is_separator(c) {
            return i;
        }
        if c == '\\' && bytes.get(i + 1).is_some_and(|b| b"ntr\"'".contains(b)) {
            return i;
        }
    }
    span.len()
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

/// A scheme-less word in free text that names an address or an internal name.
fn mention(token: &str, out: &mut Vec<Candidate>) {
    let token = token.trim_end_matches(['.', '!', '?', ':']);
    let token = token
        .strip_prefix("//")
        .or_else(|| token.strip_prefix("\\\\"))
        .unwrap_or(token);
    match shape(token, Context::Mention) {
        Some(Shape::Name) if !named_inside(token) => {}
        Some(s) => push(out, Kind::Word, token, held(token, s)),
        None => {}
    }
}

/// Split `host[:port]` off a scheme-less word: `(host, has_port, path)` where the path
/// starts at the first `/`, `?`, `#` or `\`. An scp-like `user@host:path` has its host
/// after the `@` and no port.
pub fn split_word(token: &str) -> (&str, bool, Option<&str>) {
    let end = token.find(['/', '?', '#', '\\']).unwrap_or(token.len());
    let path = (end < token.len()).then(|| &token[end..]);
    let authority = &token[..end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        let has_port = host_port.contains("]:");
        return (host_port, has_port, path);
    }
    match host_port.split_once(':') {
        Some((h, p))
            if !p.is_empty() && !p.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (h, true, path)
        }
        // scp-like: `git@host:org/repo.git`, `host:path`.
        Some((h, _)) if !h.is_empty() && !h.contains(':') => (h, false, path.or(Some("/"))),
        _ => (host_port, false, path),
    }
}
