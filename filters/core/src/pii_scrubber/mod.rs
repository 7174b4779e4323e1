//! PII and secret scrubber (MCP-04, DLP): configuration and every decision the filter makes.
//!
//! Tool results carry customer data and credentials (a payroll record, a CI log with an AWS
//! key); agents send data out through tools. The filter rewrites response bodies (and, when
//! configured, request bodies) so neither reaches a model, a log or an external backend in
//! the clear. This module decides, the filter crate only moves bytes:
//!
//! - JSON bodies: only string values are rewritten, in place ([`json`]); the document stays
//!   valid JSON-RPC with its envelope (`jsonrpc`, `id`, `method`) untouched.
//! - SSE events: each event's data as it completes; JSON data is scrubbed as JSON, other data
//!   as text.
//! - A finding whose action is `block` (or any request finding under
//!   `request_action: block`) refuses the message: a JSON-RPC error, control MCP-04, reason
//!   `sensitive_data`, listing the kinds found and never the values.

pub mod config;
pub mod json;

pub use config::{Config, Directions, RequestAction};

use crate::body::BodyVerdict;
use crate::config::ConfigError;
use crate::denial::{Control, Denial};
use crate::mcp::SseEvent;
use crate::pace::{self, Pace};
use crate::scrub::{Action, Report, Scrubber};
use serde_json::Value;
use std::borrow::Cow;

/// Stable denial reason of a blocked message.
pub const REASON: &str = "sensitive_data";

/// Which way a body travels; request findings follow `request_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A response on its way back to the caller (a tool result on its way to a model).
    Response,
    /// A request leaving for the upstream (data-loss prevention).
    Request,
}

impl Direction {
    /// `request` / `response`, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Response => "response",
            Direction::Request => "request",
        }
    }
}

/// What to do with one body or event.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing sensitive: forward the original bytes, byte for byte.
    Clean,
    /// Forward these bytes instead (values masked).
    Rewrite(Vec<u8>),
    /// Refuse the message with this denial (MCP-04).
    Block(Denial),
}

/// A verdict plus what led to it, for stats and decision logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What the filter does.
    pub verdict: Verdict,
    /// `(kind name, action taken, count)` per kind found, in kind order; the action is
    /// `redacted`, `masked`, `hashed` or `blocked` (every finding of a blocked message).
    pub tally: Vec<(String, &'static str, usize)>,
}

impl Decision {
    fn clean() -> Self {
        Self {
            verdict: Verdict::Clean,
            tally: Vec::new(),
        }
    }

    /// `email=1 credit_card=2` for decision logs (kinds and counts only, never values).
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .tally
            .iter()
            .map(|(kind, action, n)| format!("{kind}:{action}={n}"))
            .collect();
        parts.join(" ")
    }
}

/// The compiled scrubber of one plugin configuration.
#[derive(Debug, Clone)]
pub struct Engine {
    config: Config,
    scrubber: Scrubber,
}

impl Engine {
    /// Compile `config`, reading the HMAC key (if `hmac_key_env` names one) through `env`, the
    /// VM environment. A missing key when an action is `hash` refuses the configuration with
    /// an error naming `hmac_key_env`.
    pub fn new(config: Config, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use crate::config::Validate;
        config.validate()?;
        let key = match (&config.hmac_key_env, config.first_hash_field()) {
            (Some(name), Some(field)) => Some(env(name).ok_or_else(|| {
                ConfigError::invalid(
                    "hmac_key_env",
                    format!("environment variable {name} is not set (`{field}` is `hash` and needs its key)"),
                )
            })?),
            (Some(name), None) => env(name),
            (None, _) => None,
        };
        let scrubber =
            Scrubber::new(&config.scrub, key.as_deref().map(str::as_bytes)).map_err(|e| {
                match &config.hmac_key_env {
                    Some(name) if e.reason.contains("HMAC key") => ConfigError::invalid(
                        "hmac_key_env",
                        format!("the key in environment variable {name}: {}", e.reason),
                    ),
                    _ => e,
                }
            })?;
        Ok(Self { config, scrubber })
    }

    /// The configuration this engine was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The compiled scrubber (for callers that scrub other text the same way).
    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    /// Whether bodies travelling `direction` are scrubbed at all.
    pub fn applies_to(&self, direction: Direction) -> bool {
        match direction {
            Direction::Response => self.config.directions.response,
            Direction::Request => self.config.directions.request,
        }
    }

    /// Judge a whole body declared JSON. A body that is not JSON after all is scrubbed as
    /// text (its sensitive values must not pass because it is malformed); one that JSON
    /// readers read differently (duplicate or case-variant keys) is refused.
    pub fn json_body(&self, body: &[u8], direction: Direction) -> Decision {
        pace::finish(self.json_body_paced(body, direction, &Pace::unbounded()))
    }

    /// [`Engine::json_body`] in slices: the scans suspend at `pace`'s checkpoints (see
    /// [`crate::pace`]), so the proxy can serve other streams while a large body is judged.
    pub async fn json_body_paced(
        &self,
        body: &[u8],
        direction: Direction,
        pace: &Pace,
    ) -> Decision {
        if let Err(e) = crate::json::parse_message(body) {
            if !matches!(e, crate::json::StrictError::Syntax(_)) {
                let denial = match direction {
                    Direction::Request => crate::json::denial(&e),
                    Direction::Response => crate::json::response_denial(&e),
                };
                return Decision {
                    verdict: Verdict::Block(denial.with_id(jsonrpc_id(body))),
                    tally: Vec::new(),
                };
            }
        }
        pace.checkpoint(body.len()).await;
        match json::scrub_json_text_paced(&self.scrubber, body, pace).await {
            Ok((out, report)) => self.decide(out, report, body, direction),
            Err(json::NotJson) => self.text_body_paced(body, direction, pace).await,
        }
    }

    /// Judge a whole body of any other type as text.
    pub fn text_body(&self, body: &[u8], direction: Direction) -> Decision {
        pace::finish(self.text_body_paced(body, direction, &Pace::unbounded()))
    }

    /// [`Engine::text_body`] in slices (see [`crate::pace`]).
    pub async fn text_body_paced(
        &self,
        body: &[u8],
        direction: Direction,
        pace: &Pace,
    ) -> Decision {
        let text = String::from_utf8_lossy(body);
        let findings = self.scrubber.find_paced(&text, pace).await;
        let scrubbed = self.scrubber.apply(&text, findings);
        if scrubbed.findings.is_empty() {
            return Decision::clean();
        }
        let mut report = Report {
            blocked: scrubbed.blocked,
            changed: true,
            ..Report::default()
        };
        for f in &scrubbed.findings {
            *report.counts.entry(f.kind).or_insert(0) += 1;
        }
        let out = scrubbed.text.into_owned().into_bytes();
        self.decide(Cow::Owned(out), report, body, direction)
    }

    /// Judge one complete SSE event of a response stream: its data scrubbed as JSON when it
    /// is JSON, as text otherwise; a block becomes an error event for the same message id.
    pub fn sse_event(&self, event: &SseEvent) -> Decision {
        pace::finish(self.sse_event_paced(event, &Pace::unbounded()))
    }

    /// [`Engine::sse_event`] in slices (see [`crate::pace`]): one large event does not
    /// stall the proxy.
    pub async fn sse_event_paced(&self, event: &SseEvent, pace: &Pace) -> Decision {
        let Some(data) = event.data.as_deref() else {
            return Decision::clean();
        };
        let decision = self
            .json_body_paced(data.as_bytes(), Direction::Response, pace)
            .await;
        match decision.verdict {
            Verdict::Rewrite(new) => {
                let new = String::from_utf8_lossy(&new).into_owned();
                Decision {
                    verdict: Verdict::Rewrite(event.with_data(&new)),
                    tally: decision.tally,
                }
            }
            other => Decision {
                verdict: other,
                tally: decision.tally,
            },
        }
    }

    fn decide(
        &self,
        out: Cow<'_, [u8]>,
        report: Report,
        original: &[u8],
        direction: Direction,
    ) -> Decision {
        if report.total() == 0 {
            return Decision::clean();
        }
        let block_all =
            direction == Direction::Request && self.config.request_action == RequestAction::Block;
        let blocked = block_all || report.blocked.is_some();
        let tally = report
            .counts
            .iter()
            .map(|(kind, n)| {
                let action = if blocked {
                    "blocked"
                } else {
                    action_name(self.scrubber.action(*kind))
                };
                (self.scrubber.name(*kind).to_string(), action, *n)
            })
            .collect();
        let verdict = if blocked {
            Verdict::Block(self.denial(&report, original, direction))
        } else if report.changed {
            Verdict::Rewrite(out.into_owned())
        } else {
            Verdict::Clean
        };
        Decision { verdict, tally }
    }

    /// The MCP-04 denial: which kinds were found, never the values.
    fn denial(&self, report: &Report, original: &[u8], direction: Direction) -> Denial {
        let kinds: Vec<Value> = report
            .counts
            .keys()
            .map(|k| Value::String(self.scrubber.name(*k).to_string()))
            .collect();
        let message = match direction {
            Direction::Response => "response withheld: it carries sensitive data",
            Direction::Request => "request refused: it carries sensitive data",
        };
        Denial::new(403, Control::Mcp04, REASON, message)
            .with_id(jsonrpc_id(original))
            .with_data("kinds", Value::Array(kinds))
    }
}

/// The counter word for an action taken on a finding.
pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::Redact => "redacted",
        Action::Partial => "masked",
        Action::Hash => "hashed",
        Action::Block => "blocked",
    }
}

/// The id a denial should echo: the message's id, or in a batch the first id found.
fn jsonrpc_id(body: &[u8]) -> Value {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Value::Null;
    };
    let id_of = |v: &Value| {
        v.get("id")
            .filter(|id| !id.is_object() && !id.is_array())
            .cloned()
    };
    match &value {
        Value::Array(items) => items.iter().find_map(id_of),
        other => id_of(other),
    }
    .unwrap_or(Value::Null)
}

/// `application/json` and `+json` types are scrubbed as JSON, text-like types as text;
/// anything else (binary) cannot be rewritten safely. `None` = binary.
pub fn request_media(content_type: Option<&str>) -> Option<bool> {
    let media = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json" || media.ends_with("+json") {
        return Some(true);
    }
    let texty = media.is_empty()
        || media.starts_with("text/")
        || media == "application/x-www-form-urlencoded"
        || media == "application/x-ndjson"
        || media.ends_with("+xml")
        || media == "application/xml";
    texty.then_some(false)
}

/// A binary request body cannot be scrubbed: refused unless uninspectable bodies may pass.
pub fn binary_body_verdict(allow: bool) -> BodyVerdict {
    if allow {
        BodyVerdict::PassUninspected("binary_body")
    } else {
        BodyVerdict::Refuse(Denial::new(
            415,
            Control::Protocol,
            "binary_body",
            "binary request bodies cannot be inspected for sensitive data",
        ))
    }
}

#[cfg(test)]
mod tests;
