//! Plugin configuration of the egress guard.
//!
//! ```json
//! {
//!   "mode": "inbound",
//!   "allowed_hosts": ["api.github.com", "*.githubusercontent.com"],
//!   "allowed_schemes": ["https"],
//!   "allow_private": ["10.20.0.0/16"],
//!   "destination_keys": ["upstream_base"],
//!   "strict_text_tools": ["fetch_page"],
//!   "dlp": { "enabled": true, "scrub": { "actions": { "email": "redact" } } },
//!   "body": { "max_bytes": 1048576 }
//! }
//! ```
//!
//! `mode` is required: the same module guards two very different places (a tool's
//! `tools/call` arguments, or the tool's own outbound requests) and guessing wrong would
//! enforce the wrong thing. Cloud metadata endpoints are refused whatever the lists say.

use super::classify::Cidr;
use crate::body::BodyLimits;
use crate::config::{ConfigError, Validate};
use crate::scrub::ScrubConfig;
use serde::Deserialize;

/// Most allow-list entries (each is compared for every candidate).
pub const MAX_ENTRIES: usize = 256;

/// Where the filter sits, and so what it inspects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Tool sidecar inbound: every URL or host in `tools/call` `params.arguments`.
    Inbound,
    /// Tool sidecar outbound listener or egress gateway: the request authority, and the
    /// body through the scrubber's data-loss check.
    Outbound,
}

/// Data-loss check on bodies leaving the mesh (outbound mode only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlpConfig {
    /// Refuse outbound bodies that carry PII or secrets (on by default).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Which kinds to look for, as in the pii-scrubber's `scrub` section; any finding refuses.
    #[serde(default)]
    pub scrub: ScrubConfig,
}

impl Default for DlpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            scrub: ScrubConfig::default(),
        }
    }
}

/// Plugin configuration of the egress-guard filter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `inbound` or `outbound`.
    pub mode: Mode,
    /// FQDNs the tool may reach: exact (`api.github.com`) or `*.github.com` (any subdomain,
    /// not the apex). Lowercase ASCII (punycode for IDNs), no IP literals.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// URL schemes the tool may be handed; `https` and `http` by default.
    #[serde(default = "default_schemes")]
    pub allowed_schemes: Vec<String>,
    /// CIDRs an IP literal may fall in and still pass (private ranges are refused otherwise).
    /// Metadata endpoints stay refused even inside these ranges.
    #[serde(default)]
    pub allow_private: Vec<String>,
    /// Extra argument keys whose whole value is a destination, judged in full (added to the
    /// built-in list: `url`, `uri`, `host`, `endpoint`, `ip`, `proxy`…; compared
    /// lowercase with `_` and `-` removed).
    #[serde(default)]
    pub destination_keys: Vec<String>,
    /// Tools (`tools/call` `params.name`) and prompts (`prompts/get` `params.name`) whose
    /// free text is fetched as is: every internal address or name mentioned anywhere in
    /// their arguments (`see 10.0.0.5`) is refused. `*` means every tool. By default a
    /// scheme-less address in prose, code, SQL or logs is not a destination.
    #[serde(default)]
    pub strict_text_tools: Vec<String>,
    /// Outbound data-loss check.
    #[serde(default)]
    pub dlp: DlpConfig,
    /// Body inspection bound; uninspectable bodies are refused unless allowed.
    #[serde(default)]
    pub body: BodyLimits,
}

fn yes() -> bool {
    true
}

fn default_schemes() -> Vec<String> {
    vec!["https".into(), "http".into()]
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.body.validate()?;
        self.dlp
            .scrub
            .validate()
            .map_err(|e| e.within("dlp.scrub"))?;
        check_len("allowed_hosts", self.allowed_hosts.len())?;
        check_len("allow_private", self.allow_private.len())?;
        check_len("destination_keys", self.destination_keys.len())?;
        check_len("strict_text_tools", self.strict_text_tools.len())?;
        for (i, k) in self.destination_keys.iter().enumerate() {
            if super::extract::normalise_key(k).is_empty() {
                return Err(ConfigError::invalid(
                    format!("destination_keys[{i}]"),
                    "must name a key",
                ));
            }
        }
        for (i, t) in self.strict_text_tools.iter().enumerate() {
            if t.is_empty() {
                return Err(ConfigError::invalid(
                    format!("strict_text_tools[{i}]"),
                    "must name a tool or be `*`",
                ));
            }
        }
        for (i, h) in self.allowed_hosts.iter().enumerate() {
            check_host_pattern(h)
                .map_err(|r| ConfigError::invalid(format!("allowed_hosts[{i}]"), r))?;
        }
        if self.allowed_schemes.is_empty() {
            return Err(ConfigError::invalid("allowed_schemes", "must not be empty"));
        }
        for (i, s) in self.allowed_schemes.iter().enumerate() {
            check_scheme(s)
                .map_err(|r| ConfigError::invalid(format!("allowed_schemes[{i}]"), r))?;
        }
        self.cidrs().map(|_| ())
    }
}

impl Config {
    /// Whether a tool's (or prompt's) free-text mentions are destinations.
    pub fn strict_text(&self, tool: &str) -> bool {
        self.strict_text_tools.iter().any(|t| t == "*" || t == tool)
    }

    /// `allow_private`, parsed.
    pub fn cidrs(&self) -> Result<Vec<Cidr>, ConfigError> {
        self.allow_private
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Cidr::parse(c).map_err(|r| ConfigError::invalid(format!("allow_private[{i}]"), r))
            })
            .collect()
    }
}

fn check_len(field: &str, n: usize) -> Result<(), ConfigError> {
    if n > MAX_ENTRIES {
        return Err(ConfigError::invalid(
            field,
            format!("at most {MAX_ENTRIES} entries"),
        ));
    }
    Ok(())
}

fn check_scheme(s: &str) -> Result<(), String> {
    let ok = s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if !ok {
        return Err("must be a lowercase URL scheme such as `https`".into());
    }
    if s == "file" {
        return Err("`file` reads the tool's own disk and cannot be allowed".into());
    }
    Ok(())
}

/// An allow-list entry: `host.example.com` or `*.example.com` with at least two labels after
/// the wildcard (so `*.com` cannot allow the whole TLD).
fn check_host_pattern(h: &str) -> Result<(), String> {
    let (wild, name) = match h.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, h),
    };
    if name.parse::<std::net::IpAddr>().is_ok() || name.starts_with('[') {
        return Err(
            "IP literals are not host names; use `allow_private` for address ranges".into(),
        );
    }
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !labels.iter().all(label_ok) {
        return Err("must be a lowercase FQDN (`api.github.com`) or `*.github.com`".into());
    }
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(
            "IP literals are not host names; use `allow_private` for address ranges".into(),
        );
    }
    if wild && labels.len() < 2 {
        return Err("a wildcard needs at least two labels after `*.` (`*.github.com`)".into());
    }
    Ok(())
}
