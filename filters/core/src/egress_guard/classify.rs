//! Classifying a destination: IP addresses by range (with every embedded IPv4 form unwrapped),
//! host names against the metadata and internal-name lists and the FQDN allow-list.
//!
//! A URL is judged by every host the common clients would dial ([`super::read`]): the
//! WHATWG reading and the RFC 3986 readings of curl, Python, Java and Go. Every IPv4
//! spelling (`0x7f.1`, `2130706433`, `0177.0.0.1`, `169.254.169.254.`, `%31%36%39...`,
//! fullwidth and circled digits, ideographic dots) reaches this module as the address it
//! names.

use super::read::{self, Dest, Readings};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of destination an address or name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A cloud instance-metadata endpoint (credentials live there).
    Metadata,
    Loopback,
    LinkLocal,
    /// RFC 1918, IPv6 unique-local and site-local.
    Private,
    Unspecified,
    /// RFC 6598 shared address space (carrier-grade NAT, some cloud internals).
    Cgnat,
    Multicast,
    Broadcast,
    /// Special-purpose ranges (documentation, benchmarking, future use, IETF protocol).
    Reserved,
    /// `localhost`, `*.internal`, `*.svc.cluster.local` and friends.
    InternalName,
    /// Anything else: public.
    Public,
}

impl Class {
    /// snake_case name for denial data, logs and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Metadata => "metadata",
            Class::Loopback => "loopback",
            Class::LinkLocal => "link_local",
            Class::Private => "private",
            Class::Unspecified => "unspecified",
            Class::Cgnat => "cgnat",
            Class::Multicast => "multicast",
            Class::Broadcast => "broadcast",
            Class::Reserved => "reserved",
            Class::InternalName => "internal_name",
            Class::Public => "public",
        }
    }
}

/// Why a destination is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An internal or metadata destination (SSRF).
    Ssrf(Class),
    /// A name (or public address) not on the FQDN allow-list.
    HostNotAllowed,
    /// A scheme not on the scheme allow-list (`file:`, `gopher:`...).
    SchemeNotAllowed,
    /// Looks like a URL but does not parse: no client can be trusted to read it the same way.
    InvalidUrl,
    /// Clients would dial different hosts for the same URL (`http://a\\@b/`).
    Ambiguous,
}

impl Refusal {
    /// The stable denial reason.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Ssrf(_) => "ssrf_blocked",
            Refusal::HostNotAllowed => "host_not_allowed",
            Refusal::SchemeNotAllowed => "scheme_not_allowed",
            Refusal::InvalidUrl => "invalid_url",
            Refusal::Ambiguous => "ambiguous_url",
        }
    }

    /// How serious a refusal is, to report the worst of several: metadata first, then a
    /// forbidden scheme (`gopher://127.0.0.1` is a scheme refusal, as it always was).
    pub fn severity(self) -> u8 {
        match self {
            Refusal::Ssrf(Class::Metadata) => 6,
            Refusal::SchemeNotAllowed => 5,
            Refusal::Ssrf(_) => 4,
            Refusal::HostNotAllowed => 3,
            Refusal::Ambiguous => 2,
            Refusal::InvalidUrl => 1,
        }
    }

    /// The destination class of an SSRF refusal.
    pub fn class(self) -> Option<Class> {
        match self {
            Refusal::Ssrf(c) => Some(c),
            _ => None,
        }
    }
}

/// An address range of `allow_private`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `10.0.0.0/8` or `fd12::/16` (host bits must be zero).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a CIDR such as 10.0.0.0/8");
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = len.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        let cidr = Self { net, prefix };
        if !cidr.contains(net) || mask(net, prefix) != bits(net) {
            return Err(format!("`{s}` has host bits set"));
        }
        Ok(cidr)
    }

    /// Whether `ip` (same family) is inside the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.net.is_ipv4() && mask(ip, self.prefix) == mask(self.net, self.prefix)
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn mask(ip: IpAddr, prefix: u8) -> u128 {
    let width = if ip.is_ipv4() { 32 } else { 128 };
    let host = width - u32::from(prefix);
    if host >= 128 {
        return 0;
    }
    (bits(ip) >> host) << host
}

/// Instance-metadata addresses of AWS (IMDS, ECS, EKS pod identity, DNS, NTP), GCP, Azure
/// (IMDS and WireServer), Alibaba, Oracle, DigitalOcean, OpenStack, Tencent.
const METADATA_V4: [[u8; 4]; 9] = [
    [169, 254, 169, 254],
    [169, 254, 169, 253],
    [169, 254, 169, 123],
    [169, 254, 170, 2],
    [169, 254, 170, 23],
    [169, 254, 0, 23],
    [100, 100, 100, 200],
    [192, 0, 0, 192],
    [168, 63, 129, 16],
];

/// Metadata host names (exact, or any subdomain of them).
const METADATA_NAMES: [&str; 8] = [
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
    "metadata.platformequinix.com",
    "metadata.packet.net",
];

/// Names that only ever mean "inside": loopback and private-use DNS suffixes, the
/// Kubernetes API's short names, and public wildcard-DNS services whose names resolve to
/// whatever address they spell (`169.254.169.254.nip.io`) or to loopback (`localtest.me`).
const INTERNAL_NAMES: [&str; 24] = [
    "localhost",
    "localdomain",
    "internal",
    "local",
    "home.arpa",
    "intranet",
    "lan",
    "cluster.local",
    "svc",
    "kubernetes.default",
    "nip.io",
    "sslip.io",
    "xip.io",
    "nip.direct",
    "localtest.me",
    "lvh.me",
    "vcap.me",
    "lacolhost.com",
    "localho.st",
    "fuf.me",
    "traefik.me",
    "1u.ms",
    "rbndr.us",
    "ip6-localhost",
];

/// Single-label names that are destinations wherever they appear (a bare word otherwise).
pub const INTERNAL_WORDS: [&str; 8] = [
    "localhost",
    "metadata",
    "instance-data",
    "kubernetes",
    "ip6-localhost",
    "ip6-loopback",
    "localhost4",
    "localhost6",
];

fn is_metadata_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => METADATA_V4.contains(&a.octets()),
        // AWS puts IMDS, the EKS pod identity agent and NTP under fd00:ec2::/32.
        IpAddr::V6(a) => a.segments()[..2] == [0xfd00, 0x0ec2],
    }
}

/// Whether `name` (lowercase, no trailing dot) is `suffix` or a subdomain of it.
fn is_or_under(name: &str, suffix: &str) -> bool {
    name == suffix
        || name
            .strip_suffix(suffix)
            .is_some_and(|head| head.ends_with('.'))
}

/// Whether a host name is a metadata endpoint's name.
pub fn is_metadata_name(name: &str) -> bool {
    METADATA_NAMES.iter().any(|m| is_or_under(name, m))
}

/// Whether a host name is an internal-only name (`localhost`, `x.internal`...).
pub fn is_internal_name(name: &str) -> bool {
    INTERNAL_NAMES.iter().any(|m| is_or_under(name, m))
}

/// The IPv4 address an IPv6 address carries: mapped (`::ffff:a.b.c.d`), SIIT-translated,
/// compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`), 6to4 (`2002::/16`)
/// and Teredo (`2001::/32`, client address inverted).
pub fn embedded_v4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = a.segments();
    let last = Ipv4Addr::from(((u32::from(s[6])) << 16) | u32::from(s[7]));
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(last),
        [0, 0, 0, 0, 0, 0, _, _] => Some(last),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => Some(last),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        [0x2001, 0, ..] => Some(Ipv4Addr::from(!u32::from(last))),
        _ => None,
    }
}

/// Range class of an IPv4 address.
pub fn class_v4(a: Ipv4Addr) -> Class {
    let [o0, o1, o2, _] = a.octets();
    if is_metadata_ip(IpAddr::V4(a)) {
        return Class::Metadata;
    }
    match (o0, o1, o2) {
        (0, ..) => Class::Unspecified,
        (127, ..) => Class::Loopback,
        (169, 254, _) => Class::LinkLocal,
        (10, ..) | (192, 168, _) => Class::Private,
        (172, b, _) if (16..=31).contains(&b) => Class::Private,
        (100, b, _) if (64..=127).contains(&b) => Class::Cgnat,
        (224..=239, ..) => Class::Multicast,
        _ if a == Ipv4Addr::BROADCAST => Class::Broadcast,
        (240..=255, ..) => Class::Reserved,
        (192, 0, 0 | 2) | (192, 88, 99) | (198, 18 | 19, _) | (198, 51, 100) | (203, 0, 113) => {
            Class::Reserved
        }
        _ => Class::Public,
    }
}

/// Range class of an IPv6 address; an embedded IPv4 address that is not public decides.
pub fn class_v6(a: Ipv6Addr) -> Class {
    if is_metadata_ip(IpAddr::V6(a)) {
        return Class::Metadata;
    }
    if a.is_unspecified() {
        return Class::Unspecified;
    }
    if a.is_loopback() {
        return Class::Loopback;
    }
    if let Some(v4) = embedded_v4(a) {
        let c = class_v4(v4);
        if c != Class::Public {
            return c;
        }
    }
    let s0 = a.segments()[0];
    match s0 {
        _ if s0 & 0xffc0 == 0xfe80 => Class::LinkLocal,
        _ if s0 & 0xffc0 == 0xfec0 => Class::Private,
        _ if s0 & 0xfe00 == 0xfc00 => Class::Private,
        _ if s0 & 0xff00 == 0xff00 => Class::Multicast,
        0x64 if a.segments()[1] == 0xff9b => Class::Private,
        0x100 if a.segments()[1..4] == [0, 0, 0] => Class::Reserved,
        0x2001 if a.segments()[1] == 0xdb8 => Class::Reserved,
        _ => Class::Public,
    }
}

/// Range class of any address.
pub fn class_ip(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(a) => class_v4(a),
        IpAddr::V6(a) => class_v6(a),
    }
}

/// The compiled allow-lists: what a destination is checked against.
#[derive(Debug, Clone)]
pub struct Policy {
    exact: Vec<String>,
    suffixes: Vec<String>,
    schemes: Vec<String>,
    cidrs: Vec<Cidr>,
}

/// How much a candidate is held to: `Full` applies the allow-list (and refuses a URL the
/// readings disagree on); `SsrfOnly` refuses only internal and metadata destinations (for
/// what may not be a destination at all: words in free text, whole values under keys that
/// do not say they are destinations, decoded spans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strictness {
    Full,
    SsrfOnly,
}

/// A refusal and the address it concerned (for the audit line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    /// Why it was refused.
    pub refusal: Refusal,
    /// The address the refused reading named, when it was an IP (safe to log).
    pub ip: Option<IpAddr>,
}

impl Finding {
    fn new(refusal: Refusal) -> Self {
        Self { refusal, ip: None }
    }
}

/// Keep the worse of two findings.
pub fn worse(a: Option<Finding>, b: Finding) -> Finding {
    match a {
        Some(a) if a.refusal.severity() >= b.refusal.severity() => a,
        _ => b,
    }
}

impl Policy {
    /// Compile the validated lists.
    pub fn new(hosts: &[String], schemes: &[String], cidrs: Vec<Cidr>) -> Self {
        let (wild, exact): (Vec<&String>, Vec<&String>) =
            hosts.iter().partition(|h| h.starts_with("*."));
        Self {
            exact: exact.into_iter().cloned().collect(),
            suffixes: wild.into_iter().map(|h| h[1..].to_string()).collect(),
            schemes: schemes.to_vec(),
            cidrs,
        }
    }

    /// Whether a scheme (any case) is allowed.
    pub fn scheme_allowed(&self, scheme: &str) -> bool {
        self.schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme))
    }

    /// Whether a host name (lowercase, no trailing dot) is on the allow-list.
    pub fn host_allowed(&self, name: &str) -> bool {
        self.exact.iter().any(|e| e == name)
            || self
                .suffixes
                .iter()
                .any(|s| name.len() > s.len() && name.ends_with(s.as_str()))
    }

    /// Judge an address.
    pub fn check_ip(&self, ip: IpAddr, strict: Strictness) -> Result<(), Refusal> {
        let embedded = match ip {
            IpAddr::V6(a) => embedded_v4(a).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let class = class_ip(ip);
        if class == Class::Metadata {
            return Err(Refusal::Ssrf(class));
        }
        let allowed = |x: IpAddr| self.cidrs.iter().any(|c| c.contains(x));
        if allowed(ip) || embedded.is_some_and(allowed) {
            return Ok(());
        }
        match (class, strict) {
            (Class::Public, Strictness::Full) => Err(Refusal::HostNotAllowed),
            (Class::Public, Strictness::SsrfOnly) => Ok(()),
            (c, _) => Err(Refusal::Ssrf(c)),
        }
    }

    /// Judge a destination. A single-label name is internal when held to the allow-list
    /// (`redis`, `metadata`); in free text only the well-known ones are.
    pub fn check_dest(&self, dest: &Dest, strict: Strictness) -> Result<(), Refusal> {
        let name = match dest {
            Dest::Ip(ip) => return self.check_ip(*ip, strict),
            Dest::Name(n) => n.as_str(),
        };
        if is_metadata_name(name) {
            return Err(Refusal::Ssrf(Class::Metadata));
        }
        if self.host_allowed(name) {
            return Ok(());
        }
        let single = !name.contains('.');
        if is_internal_name(name)
            || INTERNAL_WORDS.contains(&name)
            || (single && strict == Strictness::Full)
        {
            return Err(Refusal::Ssrf(Class::InternalName));
        }
        match strict {
            Strictness::Full => Err(Refusal::HostNotAllowed),
            Strictness::SsrfOnly => Ok(()),
        }
    }

    /// Judge a URL with a scheme by every host the common clients would dial. In full:
    /// the scheme must be allowed (when `scheme` is set), WHATWG must parse it, every
    /// reading must pass and all must name the same host. `SsrfOnly`: no reading may land
    /// on an internal or metadata destination.
    pub fn judge_url(&self, text: &str, strict: Strictness, scheme: bool) -> Result<(), Finding> {
        let r = read::url_readings(text);
        if strict == Strictness::Full && scheme && !self.scheme_allowed(&r.scheme) {
            return Err(Finding::new(Refusal::SchemeNotAllowed));
        }
        self.judge_readings(&r, strict)
    }

    /// Judge the readings of one candidate.
    pub fn judge_readings(&self, r: &Readings, strict: Strictness) -> Result<(), Finding> {
        let full = strict == Strictness::Full;
        let mut worst: Option<Finding> = None;
        for d in &r.hosts {
            if let Err(refusal) = self.check_dest(d, strict) {
                let ip = match d {
                    Dest::Ip(ip) => Some(*ip),
                    Dest::Name(_) => None,
                };
                worst = Some(worse(worst, Finding { refusal, ip }));
            }
        }
        if full && (!r.whatwg_parses || r.hosts.is_empty()) {
            worst = Some(worse(worst, Finding::new(Refusal::InvalidUrl)));
        }
        if full && !r.agree() {
            worst = Some(worse(worst, Finding::new(Refusal::Ambiguous)));
        }
        worst.map_or(Ok(()), Err)
    }

    /// Judge a destination without a scheme: `host[:port][/path]`, `[v6]:port`, a bare IPv6
    /// literal, an scp-like remote (`git@host:org/repo`), each read as the clients would.
    pub fn judge_schemeless(&self, text: &str, strict: Strictness) -> Result<(), Finding> {
        let text = text.trim();
        if let Some(ip) = bare_v6(text) {
            return self.check_ip(ip, strict).map_err(|refusal| Finding {
                refusal,
                ip: Some(ip),
            });
        }
        let t = text
            .strip_prefix("//")
            .or_else(|| text.strip_prefix("\\\\"))
            .unwrap_or(text);
        self.judge_url(&format!("http://{t}"), strict, false)
    }

    /// Judge an authority (`host`, `host:port`, `[v6]:port`), as seen in `:authority` or a
    /// CONNECT target. It is normalised first and must be canonical: one trailing dot is
    /// dropped; empty labels (`a..b`, `host..`), an empty or non-numeric port, userinfo,
    /// zone ids, escapes and non-ASCII are refused as invalid.
    pub fn check_authority(&self, authority: &str) -> Result<(), Finding> {
        let invalid = || Finding::new(Refusal::InvalidUrl);
        let a = authority.trim();
        let clean = !a.is_empty()
            && !a
                .bytes()
                .any(|b| b"/?#@\\ %".contains(&b) || !(0x20..0x7f).contains(&b));
        if !clean {
            return Err(invalid());
        }
        let (host, port) = if a.starts_with('[') {
            let end = a.find(']').ok_or_else(invalid)?;
            a.split_at(end + 1)
        } else {
            a.rfind(':').map_or((a, ""), |i| a.split_at(i))
        };
        if !port.is_empty() {
            let p = port.strip_prefix(':').ok_or_else(invalid)?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() {
                return Err(invalid());
            }
        }
        if !host.starts_with('[') && host.contains(':') {
            return Err(invalid());
        }
        let dest = read::dest(host).ok_or_else(invalid)?;
        if let Dest::Name(n) = &dest {
            let dns = n
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
            if !dns {
                return Err(invalid());
            }
        }
        let ip = match dest {
            Dest::Ip(ip) => Some(ip),
            Dest::Name(_) => None,
        };
        self.check_dest(&dest, Strictness::Full)
            .map_err(|refusal| Finding { refusal, ip })
    }
}

/// A scheme-less IPv6 literal (`::1`, `fe80::1%eth0`, `fd00::1/64`), zone id dropped.
pub fn bare_v6(text: &str) -> Option<IpAddr> {
    if text.starts_with('[') || text.matches(':').count() < 2 {
        return None;
    }
    let addr = text.split(['%', '/']).next()?;
    addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}
