//! Egress guard (MCP-08): SSRF protection and the FQDN allow-list for what a tool reaches.
//!
//! Two placements share one policy:
//! - `inbound`, at the tool sidecar: every destination found in `tools/call` and
//!   `prompts/get` `params.arguments`, the `resources/read` `uri` and any `params._meta`
//!   (any depth, raw, percent-decoded and base64/hex-decoded, see [`extract`]) is judged
//!   ([`classify`]) by every host the common clients would dial ([`read`]: WHATWG, and
//!   the RFC 3986 readings of curl, Python, Java and Go) before the tool sees the call;
//! - `outbound`, on the sidecar's outbound listener or an egress gateway: the request
//!   authority (`:authority`, the CONNECT target), normalised and required canonical, is
//!   classified the same way, and the body goes through the scrubber's data-loss check
//!   ([`crate::pii_scrubber`], request side).
//!
//! Refusals are JSON-RPC errors with control MCP-08 and reason `ssrf_blocked` (with the
//! destination class in `data.class`), `host_not_allowed`, `scheme_not_allowed`,
//! `invalid_url` or `ambiguous_url` (clients would dial different hosts). The offending text
//! is never echoed. What no filter can see: a name on the allow-list (or any public name in
//! free text) that resolves to an internal address at connect time (DNS rebinding) — the
//! mesh's `REGISTRY_ONLY` egress and NetworkPolicies close that gap (see `istio/README.md`).

pub mod classify;
pub mod config;
pub mod extract;
pub mod read;

pub use classify::{Class, Finding, Policy, Refusal, Strictness};
pub use config::{Config, DlpConfig, Mode};

use crate::config::{ConfigError, Validate};
use crate::denial::{Control, Denial};
use crate::mcp::{parse_payload, Message, Method};
use crate::pii_scrubber::{self, Direction, Directions, Engine, RequestAction};
use extract::{Candidate, Kind, Scan};
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
            Refusal::Ambiguous => {
                "tool call refused: it carries a URL that HTTP clients read as different hosts"
            }
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
    keys: Vec<String>,
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
        let keys = config
            .destination_keys
            .iter()
            .map(|k| extract::normalise_key(k))
            .collect();
        Ok(Self {
            config,
            policy,
            dlp,
            keys,
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

    /// Inbound: judge a complete request body: `tools/call` and `prompts/get` arguments,
    /// the `resources/read` URI and `params._meta` of each. Every candidate is judged and
    /// the worst refusal of the first offending message answers it.
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
            let Some(params) = r.params.as_ref() else {
                continue;
            };
            let found = self.request_candidates(r.mcp_method(), params);
            checked += found.len();
            let mut worst: Option<(Finding, Kind)> = None;
            for c in &found {
                if let Err(f) = self.judge(c) {
                    let w = classify::worse(worst.map(|w| w.0), f);
                    if worst.is_none_or(|(p, _)| p != w) {
                        worst = Some((w, c.kind));
                    }
                }
            }
            if let Some((f, kind)) = worst {
                return Decision::Block(Blocked {
                    refusal: f.refusal,
                    id: r.id.clone().unwrap_or(Value::Null),
                    kind,
                    ip: f.ip,
                });
            }
        }
        Decision::Pass(checked)
    }

    /// The candidates of one request's params, by method.
    fn request_candidates(&self, method: Method, params: &Value) -> Vec<Candidate> {
        let name = params.get("name").and_then(Value::as_str).unwrap_or("");
        let scan = Scan {
            keys: self.keys.clone(),
            mentions: false,
        };
        let mut out = match method {
            Method::ToolsCall | Method::PromptsGet => match params.get("arguments") {
                Some(args) => {
                    let scan = Scan {
                        mentions: self.config.strict_text(name),
                        ..scan.clone()
                    };
                    extract::candidates(args, &scan)
                }
                None => Vec::new(),
            },
            Method::ResourcesRead => match params.get("uri") {
                Some(Value::String(uri)) => extract::resource_uri(uri, &scan),
                Some(other) => extract::candidates(other, &scan),
                None => Vec::new(),
            },
            _ => return Vec::new(),
        };
        if let Some(meta) = params.get("_meta") {
            out.extend(extract::candidates(meta, &scan));
        }
        out
    }

    /// Judge one candidate by how it was found.
    pub fn check_candidate(&self, c: &Candidate) -> Result<(), Refusal> {
        self.judge(c).map_err(|f| f.refusal)
    }

    fn judge(&self, c: &Candidate) -> Result<(), Finding> {
        match c.kind {
            Kind::Url => self.policy.judge_url(&c.text, c.strict, true),
            Kind::KeyedHost | Kind::Value | Kind::Word => {
                self.policy.judge_schemeless(&c.text, c.strict)
            }
        }
    }

    /// Outbound: judge the authority of a request leaving the mesh.
    pub fn check_authority(&self, authority: &str) -> Result<(), Blocked> {
        self.policy.check_authority(authority).map_err(|f| Blocked {
            refusal: f.refusal,
            id: Value::Null,
            kind: Kind::KeyedHost,
            ip: f.ip,
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

#[cfg(test)]
mod tests;
