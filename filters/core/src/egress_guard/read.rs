//! How clients read a URL: the host each common HTTP client would dial.
//!
//! The guard must decide on the host the tool's client connects to, and clients disagree:
//! - WHATWG (browsers, Node's `URL`, the `url` crate, undici): `\` is a path separator in
//!   special schemes, userinfo ends at the last `@` of the authority, hosts are
//!   percent-decoded and mapped with IDNA (UTS-46), IPv4 in every legacy spelling;
//! - RFC 3986 readers (curl, Python's `urlsplit`/requests, `java.net.URL`, Go's `net/url`):
//!   the authority ends at the first `/`, `?` or `#` (backslash is an ordinary character),
//!   userinfo ends at the first or the last `@` (clients differ), the port at the first or
//!   the last `:`, and the host may or may not be percent-decoded.
//!
//! [`url_readings`] returns every host these readings produce; the policy refuses when any of
//! them is refused, and (for destinations judged in full) when they disagree. Hosts are
//! normalised the way a resolver would see them ([`dest`]): Unicode mapped as IDNA and NFKC
//! do ([`map_host`]), IPv4 parsed like `inet_aton` and WHATWG ([`parse_ipv4`]), one trailing
//! dot dropped.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use unicode_normalization::UnicodeNormalization;

/// A destination as a client would dial it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dest {
    /// An IP address (any spelling, already decoded).
    Ip(IpAddr),
    /// A host name: lowercase, Unicode mapped, one trailing dot removed, no empty label.
    Name(String),
}

/// The hosts a URL names under each reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Readings {
    /// The scheme, lowercase (empty when there is none).
    pub scheme: String,
    /// Whether the WHATWG parser accepts the URL at all.
    pub whatwg_parses: bool,
    /// Every distinct host the readings produce (WHATWG first).
    pub hosts: Vec<Dest>,
}

impl Readings {
    /// Whether every reading names the same host.
    pub fn agree(&self) -> bool {
        self.hosts.windows(2).all(|w| w[0] == w[1])
    }
}

/// Schemes WHATWG treats as special (`\` is a slash, the authority needs no `//`).
pub const SPECIAL: [&str; 6] = ["http", "https", "ws", "wss", "ftp", "file"];

/// Every host `text` (a URL with a scheme) names under the WHATWG and RFC 3986 readings.
pub fn url_readings(text: &str) -> Readings {
    let clean: String = text
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let scheme = scheme_of(&clean).unwrap_or("").to_ascii_lowercase();
    let mut r = Readings {
        scheme,
        ..Readings::default()
    };
    match url::Url::parse(&clean) {
        Ok(u) => {
            r.whatwg_parses = true;
            let d = match u.host() {
                Some(url::Host::Ipv4(a)) => Some(Dest::Ip(IpAddr::V4(a))),
                Some(url::Host::Ipv6(a)) => Some(Dest::Ip(IpAddr::V6(a))),
                // Opaque hosts of non-special schemes keep their escapes: read them as a
                // special-scheme host would be read.
                Some(url::Host::Domain(d)) => dest(&percent_decode(d)),
                None => None,
            };
            push(d, &mut r.hosts);
        }
        // The `url` crate is built without Unicode tables: a non-ASCII host fails there, so
        // it is read here with the same rules (percent-decoded, then mapped).
        Err(_) if !clean.is_ascii() => {
            if let Some(host) = whatwg_host(&clean) {
                r.whatwg_parses = true;
                push(dest(&percent_decode(host)), &mut r.hosts);
            }
        }
        Err(_) => {}
    }
    for host in rfc_hosts(&clean) {
        push(dest(host), &mut r.hosts);
        if host.contains('%') {
            push(dest(&percent_decode(host)), &mut r.hosts);
        }
    }
    r
}

fn push(d: Option<Dest>, hosts: &mut Vec<Dest>) {
    if let Some(d) = d {
        if !hosts.contains(&d) {
            hosts.push(d);
        }
    }
}

/// The scheme of a URL: a letter, then letters, digits, `+`, `-`, `.`, then `:`.
pub fn scheme_of(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    (first.is_ascii_alphabetic() && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)))
        .then_some(scheme)
}

/// The host string of a URL under WHATWG's authority rules (before host parsing).
fn whatwg_host(clean: &str) -> Option<&str> {
    let scheme = scheme_of(clean)?;
    let special = SPECIAL.contains(&scheme.to_ascii_lowercase().as_str());
    let rest = &clean[scheme.len() + 1..];
    let rest = if special {
        rest.trim_start_matches(['/', '\\'])
    } else {
        rest.strip_prefix("//")?
    };
    let enders: &[char] = if special {
        &['/', '?', '#', '\\']
    } else {
        &['/', '?', '#']
    };
    let authority = &rest[..rest.find(enders).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(host_of(host_port, false))
}

/// The host strings RFC 3986 readers take from a URL: userinfo to the first or the last
/// `@`, port from the first or the last `:`.
fn rfc_hosts(clean: &str) -> Vec<&str> {
    let Some(scheme) = scheme_of(clean) else {
        return Vec::new();
    };
    let rest = &clean[scheme.len() + 1..];
    let after = rest.trim_start_matches('/');
    if after.len() == rest.len() {
        return Vec::new();
    }
    let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    let mut hosts = Vec::with_capacity(4);
    let last = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let first = authority.split_once('@').map_or(authority, |(_, h)| h);
    for host_port in [last, first] {
        for h in [host_of(host_port, false), host_of(host_port, true)] {
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
    }
    hosts
}

/// The host of `host[:port]`: a bracketed literal, or up to the first (or last) `:`.
fn host_of(host_port: &str, last_colon: bool) -> &str {
    if host_port.starts_with('[') {
        return host_port.find(']').map_or(host_port, |i| &host_port[..=i]);
    }
    let colon = if last_colon {
        host_port.rfind(':')
    } else {
        host_port.find(':')
    };
    colon.map_or(host_port, |i| &host_port[..i])
}

/// Percent-decode (lossy: invalid UTF-8 becomes U+FFFD, which no name matches).
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

/// The destination a host string names, or `None` when it names none (empty, an empty
/// label, an unparseable bracketed literal).
pub fn dest(host: &str) -> Option<Dest> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        return parse_ipv6(inner).map(|a| Dest::Ip(IpAddr::V6(a)));
    }
    let mapped = map_host(host);
    let name = mapped.strip_suffix('.').unwrap_or(&mapped);
    if name.is_empty() {
        return None;
    }
    if let Some(a) = parse_ipv4(name) {
        return Some(Dest::Ip(IpAddr::V4(a)));
    }
    if name.contains(':') {
        return parse_ipv6(name).map(|a| Dest::Ip(IpAddr::V6(a)));
    }
    if name.split('.').any(str::is_empty) {
        return None;
    }
    Some(Dest::Name(name.to_string()))
}

/// An IPv6 literal, zone id (`%eth0`, `%25eth0`) dropped.
pub fn parse_ipv6(text: &str) -> Option<Ipv6Addr> {
    text.split('%').next()?.parse().ok()
}

/// IPv4 in every spelling `inet_aton` and WHATWG accept: one to four parts, each decimal,
/// octal (leading `0`) or hex (`0x`), the last filling the remaining bytes
/// (`127.1`, `2852039166`, `0xa9.0376.43518`).
pub fn parse_ipv4(text: &str) -> Option<Ipv4Addr> {
    let text = text.strip_suffix('.').unwrap_or(text);
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(4);
    for p in &parts {
        numbers.push(parse_part(p)?);
    }
    let (last, head) = numbers.split_last()?;
    if head.iter().any(|&n| n > 255) {
        return None;
    }
    let room = 8 * (5 - numbers.len()) as u32;
    if room < 32 && *last >= 1u64 << room {
        return None;
    }
    if room >= 32 && *last > u64::from(u32::MAX) {
        return None;
    }
    let mut value = *last;
    for (i, n) in head.iter().enumerate() {
        value |= n << (24 - 8 * i);
    }
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_part(p: &str) -> Option<u64> {
    if p.is_empty() || p.len() > 32 {
        return None;
    }
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if digits.is_empty() {
        return (radix == 16).then_some(0);
    }
    let valid = digits.bytes().all(|b| match radix {
        16 => b.is_ascii_hexdigit(),
        8 => (b'0'..=b'7').contains(&b),
        _ => b.is_ascii_digit(),
    });
    valid
        .then(|| u64::from_str_radix(digits, radix).ok())
        .flatten()
}

/// Map a host the way IDNA (UTS-46) and NFKC do before a resolver sees it: default-ignorable
/// code points removed, the ideographic and fullwidth full stops read as `.`, compatibility
/// forms folded (`１６９` -> `169`, `①` -> `1`, `ⓜ` -> `m`), case folded. ASCII is only
/// lowercased.
pub fn map_host(raw: &str) -> Cow<'_, str> {
    if raw.is_ascii() {
        if raw.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Owned(raw.to_ascii_lowercase());
        }
        return Cow::Borrowed(raw);
    }
    let pre: String = raw
        .chars()
        .filter(|c| !is_default_ignorable(*c))
        .map(|c| match c {
            '\u{3002}' | '\u{FF0E}' | '\u{FF61}' => '.',
            c => c,
        })
        .collect();
    let folded: String = pre.nfkc().flat_map(char::to_lowercase).collect();
    Cow::Owned(folded.nfkc().collect())
}

/// Unicode's Default_Ignorable_Code_Point (UTS-46 maps these to nothing).
fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}
