//! Egress guard (MCP-08): SSRF protection and the FQDN allow-list for what a tool reaches.
//!
//! Two placements share one policy:
//! - `inbound`, at the tool sidecar: every URL or host found in `tools/call`
//!   `params.arguments` (any depth, raw and percent-decoded, see [`extract`]) is classified
//!   ([`classify`]) before the tool sees the call;
//! - `outbound`, on the sidecar's outbound listener or an egress gateway: the request
//!   authority (`:authority`, the CONNECT target) is classified the same way, and the body
//!   goes through the scrubber's data-loss check ([`crate::pii_scrubber`], request side).
//!
//! Refusals are JSON-RPC errors with control MCP-08 and reason `ssrf_blocked` (with the
//! destination class in `data.class`), `host_not_allowed`, `scheme_not_allowed` or
//! `invalid_url`. The offending text is never echoed. What no filter can see: a name on the
//! allow-list that resolves to an internal address at connect time (DNS rebinding) — the
//! mesh's `REGISTRY_ONLY` egress and NetworkPolicies close that gap (see `istio/README.md`).

pub mod classify;
pub mod config;
pub mod extract;

pub use classify::{Class, Policy, Refusal, Strictness};
pub use config::{Config, DlpConfig, Mode};

use crate::config::{ConfigError, Validate};
use crate::denial::{Control, Denial};
use crate::mcp::{parse_payload, Message, Method};
use crate::pii_scrubber::{self, Direction, Directions, Engine, RequestAction};
use extract::{Candidate, Kind};
use serde_json::{json, Value};
use std::net::IpAddr;

/// A refusal of one candidate, with where it was found (for the audit line, not the client).
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    pub refusal: Refusal,
    /// The JSON-RPC id of the offending request (null when unknown).
    pub id: Value,
    /// How the candidate was found.
    pub kind: Kind,
    /// The address it named, when it was an IP literal (canonical form, safe to log).
    pub ip: Option<IpAddr>,
}

impl Blocked {
    /// The JSON-RPC error answering the call (403, control MCP-08).
    pub fn denial(&self) -> Denial {
        let message = match self.refusal {
            Refusal::Ssrf(_) => "tool call refused: it names an internal or metadata destination",
            Refusal::HostNotAllowed => "tool call refused: it names a host off the allow-list",
            Refusal::SchemeNotAllowed => {
                "tool call refused: it names a URL scheme that is not allowed"
            }
            Refusal::InvalidUrl => "tool call refused: it carries a URL that does not parse",
        };
        let d = Denial::new(403, Control::Mcp08, self.refusal.reason(), message)
            .with_id(self.id.clone());
        match self.refusal.class() {
            Some(c) => d.with_data("class", json!(c.as_str())),
            None => d,
        }
    }

    /// One audit line: decision, control, reason, class, candidate kind, address if literal.
    pub fn audit_line(&self, direction: &str) -> String {
        format!(
            "decision=deny control=MCP-08 reason={} class={} where={direction} kind={:?} id={} ip={}",
            self.refusal.reason(),
            self.refusal.class().map_or("-", Class::as_str),
            self.kind,
            self.id,
            self.ip.map_or("-".to_string(), |ip| ip.to_string()),
        )
    }
}

/// The decision on an inbound body.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing refused: forward unchanged. Carries the number of candidates checked.
    Pass(usize),
    /// A destination was refused.
    Block(Blocked),
    /// The body is not JSON-RPC.
    Refuse(Denial),
}

/// The compiled guard: policy and, in outbound mode, the data-loss engine.
#[derive(Debug, Clone)]
pub struct Guard {
    config: Config,
    policy: Policy,
    dlp: Option<Engine>,
}

impl Guard {
    /// Validate and compile a configuration.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let policy = Policy::new(
            &config.allowed_hosts,
            &config.allowed_schemes,
            config.cidrs()?,
        );
        let dlp = match (config.mode, config.dlp.enabled) {
            (Mode::Outbound, true) => Some(dlp_engine(&config).map_err(|e| e.within("dlp"))?),
            _ => None,
        };
        Ok(Self {
            config,
            policy,
            dlp,
        })
    }

    /// The configuration this guard was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The compiled allow-lists.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Inbound: judge a complete request body; only `tools/call` arguments are inspected.
    pub fn inspect(&self, body: &[u8]) -> Decision {
        let payload = match parse_payload(body) {
            Ok(p) => p,
            Err(e) => {
                return Decision::Refuse(Denial::new(
                    400,
                    Control::Protocol,
                    e.reason(),
                    e.to_string(),
                ))
            }
        };
        let mut checked = 0;
        for message in payload.messages() {
            let Message::Request(r) = message else {
                continue;
            };
            if r.mcp_method() != Method::ToolsCall {
                continue;
            }
            let Some(args) = r.params.as_ref().and_then(|p| p.get("arguments")) else {
                continue;
            };
            for c in extract::candidates(args) {
                checked += 1;
                if let Err(refusal) = self.check_candidate(&c) {
                    return Decision::Block(Blocked {
                        refusal,
                        id: r.id.clone().unwrap_or(Value::Null),
                        kind: c.kind,
                        ip: literal_ip(&c),
                    });
                }
            }
        }
        Decision::Pass(checked)
    }

    /// Judge one candidate by how it was found.
    pub fn check_candidate(&self, c: &Candidate) -> Result<(), Refusal> {
        match c.kind {
            Kind::Url => self.policy.check_url(&c.text, Strictness::Full),
            Kind::KeyedHost => self.check_schemeless(&c.text, Strictness::Full),
            Kind::Word => self.check_schemeless(&c.text, Strictness::SsrfOnly),
        }
    }

    fn check_schemeless(&self, text: &str, strict: Strictness) -> Result<(), Refusal> {
        if let Some(ip) = bare_v6(text) {
            return self.policy.check_ip(ip, strict);
        }
        match url::Url::parse(&format!("http://{text}")) {
            Ok(u) => match u.host() {
                Some(h) => self.policy.check_host(&h, strict),
                None => Err(Refusal::InvalidUrl),
            },
            // Free text that merely looked like an address; a keyed value must parse.
            Err(_) if strict == Strictness::SsrfOnly && !text.starts_with('[') => Ok(()),
            Err(_) => Err(Refusal::InvalidUrl),
        }
    }

    /// Outbound: judge the authority of a request leaving the mesh.
    pub fn check_authority(&self, authority: &str) -> Result<(), Blocked> {
        self.policy
            .check_authority(authority)
            .map_err(|refusal| Blocked {
                refusal,
                id: Value::Null,
                kind: Kind::KeyedHost,
                ip: url::Url::parse(&format!("http://{}/", authority.trim()))
                    .ok()
                    .and_then(|u| host_ip(&u)),
            })
    }

    /// Outbound: the data-loss check on a body leaving the mesh (`None` when DLP is off).
    /// A finding refuses the request (control MCP-04, reason `sensitive_data`).
    pub fn check_body(&self, body: &[u8], json: bool) -> Option<pii_scrubber::Decision> {
        let engine = self.dlp.as_ref()?;
        Some(if json {
            engine.json_body(body, Direction::Request)
        } else {
            engine.text_body(body, Direction::Request)
        })
    }

    /// Whether outbound bodies are inspected at all.
    pub fn dlp_enabled(&self) -> bool {
        self.dlp.is_some()
    }
}

/// The scrubber engine for outbound bodies: request side only, every finding blocks.
fn dlp_engine(config: &Config) -> Result<Engine, ConfigError> {
    let scrub_config = pii_scrubber::Config {
        body: config.body.clone(),
        scrub: config.dlp.scrub.clone(),
        directions: Directions {
            response: false,
            request: true,
        },
        request_action: RequestAction::Block,
        hmac_key_env: None,
    };
    Engine::new(scrub_config, |_| None)
}

/// A scheme-less IPv6 literal (`::1`, `fe80::1%eth0`), zone id dropped.
fn bare_v6(text: &str) -> Option<IpAddr> {
    if text.starts_with('[') || text.matches(':').count() < 2 {
        return None;
    }
    let addr = text.split(['%', '/']).next()?;
    addr.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

fn host_ip(u: &url::Url) -> Option<IpAddr> {
    match u.host()? {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(_) => None,
    }
}

/// The address a candidate names, if it is a literal (for audit lines).
fn literal_ip(c: &Candidate) -> Option<IpAddr> {
    if let Some(ip) = bare_v6(&c.text) {
        return Some(ip);
    }
    let text = match c.kind {
        Kind::Url => c.text.clone(),
        _ => format!("http://{}", c.text),
    };
    url::Url::parse(&text).ok().and_then(|u| host_ip(&u))
}

#[cfg(test)]
mod tests;
