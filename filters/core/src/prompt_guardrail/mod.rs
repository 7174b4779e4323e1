//! Prompt guardrail on requests (MCP-01): which text of a request reaches the detector, and
//! what a detection means.
//!
//! The filter hands [`Guardrail::inspect`] the whole request body. The guardrail parses it
//! once, picks the text that reaches a model or a tool (tool and prompt arguments at any
//! depth, sampling messages, operator-named JSON paths), scans each message with the
//! shared [`Detector`], and decides per the families' modes: block (a JSON-RPC error,
//! control MCP-01, reason `prompt_injection`), annotate (pass, with a header and an audit
//! line) or pass. A batch is blocked when any of its messages is, answering the first
//! offending message's id. Reports name rules and families, never the matched text: the
//! text is the attacker's, and echoing it would hand it to whoever reads the logs.

pub mod config;
pub mod paths;

pub use config::{Config, InspectConfig};

use crate::config::ConfigError;
use crate::denial::{Control, Denial};
use crate::detect::{score_of, Detector, Family, Finding, Verdict};
use crate::mcp::jsonrpc::message_from_value;
use crate::mcp::{Message, Method, ParseError, Request};
use crate::pace::{self, Pace};
use paths::JsonPath;
use serde_json::{json, Value};
use std::sync::Arc;

/// Header carrying an annotate decision to the upstream (client-supplied copies are removed).
pub const ANNOTATION_HEADER: &str = "x-meshguard-guardrail";
/// The denial reason of a blocked request.
pub const REASON: &str = "prompt_injection";

/// What the detector found in one message (rule ids and families, no text).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The message's JSON-RPC id (null for a notification or a chat-style body).
    pub id: Value,
    /// The JSON-RPC method (empty for a chat-style body).
    pub method: String,
    /// Distinct rule ids that fired, in order of discovery.
    pub rules: Vec<Arc<str>>,
    /// Families that contributed, each once, in [`Family::ALL`] order.
    pub families: Vec<Family>,
    /// Sum over distinct rules.
    pub score: f32,
}

impl Report {
    fn new(id: Value, method: String, findings: &[Finding]) -> Self {
        let mut rules: Vec<Arc<str>> = Vec::new();
        for f in findings {
            if !rules.contains(&f.rule_id) {
                rules.push(f.rule_id.clone());
            }
        }
        let families = Family::ALL
            .into_iter()
            .filter(|fam| findings.iter().any(|f| f.family == *fam))
            .collect();
        Self {
            id,
            method,
            rules,
            families,
            score: score_of(findings.iter()),
        }
    }

    /// Comma-separated rule ids.
    pub fn rule_list(&self) -> String {
        self.rules
            .iter()
            .map(|r| r.as_ref())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Comma-separated family names.
    pub fn family_list(&self) -> String {
        self.families
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Value of [`ANNOTATION_HEADER`]: `annotate; rules=a,b; families=x`.
    pub fn header_value(&self) -> String {
        format!(
            "annotate; rules={}; families={}",
            self.rule_list(),
            self.family_list()
        )
    }

    /// One audit line for the log: decision, control, method, id, score, rules, families.
    pub fn audit_line(&self, decision: &str) -> String {
        format!(
            "decision={decision} control=MCP-01 reason={REASON} method={} id={} score={:.2} rules={} families={}",
            if self.method.is_empty() { "-" } else { &self.method },
            self.id,
            self.score,
            self.rule_list(),
            self.family_list()
        )
    }

    /// The JSON-RPC error that answers a blocked request.
    pub fn denial(&self) -> Denial {
        Denial::new(
            403,
            Control::Mcp01,
            REASON,
            "request blocked by the prompt guardrail: instruction-like content detected",
        )
        .with_id(self.id.clone())
        .with_data(
            "rules",
            json!(self.rules.iter().map(|r| r.as_ref()).collect::<Vec<_>>()),
        )
        .with_data(
            "families",
            json!(self.families.iter().map(|f| f.as_str()).collect::<Vec<_>>()),
        )
    }
}

/// What to do with a request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing over the threshold: forward unchanged.
    Pass,
    /// Over the threshold in annotate-mode families only: forward with the header.
    Annotate(Vec<Report>),
    /// Refuse with [`Report::denial`] of the first report; every offending message is listed.
    Block(Vec<Report>),
    /// The body is not acceptable (not JSON, not JSON-RPC, too large to scan).
    Refuse(Denial),
}

/// The outcome of inspecting one body.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The MCP method of each request in the body (for traffic-mix counters).
    pub methods: Vec<Method>,
    /// The decision.
    pub decision: Decision,
}

/// The compiled guardrail: configuration, detector and paths; build once per plugin.
#[derive(Debug, Clone)]
pub struct Guardrail {
    config: Config,
    detector: Detector,
    paths: Vec<JsonPath>,
}

impl Guardrail {
    /// Validate and compile a configuration.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        use crate::config::Validate;
        config.validate()?;
        let detector = Detector::new(&config.detect)?;
        let paths = config.parsed_paths()?;
        Ok(Self {
            config,
            detector,
            paths,
        })
    }

    /// The configuration this guardrail was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Judge a complete request body.
    pub fn inspect(&self, body: &[u8]) -> Outcome {
        pace::finish(self.inspect_paced(body, &Pace::unbounded()))
    }

    /// [`Guardrail::inspect`] in slices: the scans suspend at `pace`'s checkpoints (see
    /// [`crate::pace`]), so the proxy can serve other streams while a large body is judged.
    pub async fn inspect_paced(&self, body: &[u8], pace: &Pace) -> Outcome {
        let value: Value = match crate::json::parse_message(body) {
            Ok(v) => v,
            Err(crate::json::StrictError::Syntax(e)) => return refuse(ParseError::InvalidJson(e)),
            Err(e) => return refuse(ParseError::Ambiguous(e)),
        };
        pace.checkpoint(body.len()).await;
        if !looks_like_jsonrpc(&value) && !self.paths.is_empty() {
            return self.inspect_chat(&value, pace).await;
        }
        let items = match value {
            Value::Array(items) if items.is_empty() => {
                return refuse(ParseError::InvalidMessage("empty_batch"))
            }
            Value::Array(items) => items,
            other => vec![other],
        };
        let mut messages = Vec::with_capacity(items.len());
        for item in items {
            match message_from_value(item) {
                Ok(m) => messages.push(m),
                Err(e) => return refuse(e),
            }
        }
        let mut methods = Vec::new();
        let mut reports = Vec::new();
        let mut truncated = false;
        for message in &messages {
            if let Message::Request(r) = message {
                methods.push(r.mcp_method());
                let (findings, t) = self.scan_request(r, pace).await;
                truncated |= t;
                if !findings.is_empty() {
                    let id = r.id.clone().unwrap_or(Value::Null);
                    reports.push((Report::new(id, r.method.clone(), &findings), findings));
                }
            }
        }
        Outcome {
            methods,
            decision: self.decide(reports, truncated),
        }
    }

    async fn inspect_chat(&self, root: &Value, pace: &Pace) -> Outcome {
        let mut findings = Vec::new();
        let mut truncated = false;
        for path in &self.paths {
            for v in path.resolve(root) {
                truncated |= self.scan_value(v, pace, &mut findings).await;
            }
        }
        let reports = if findings.is_empty() {
            Vec::new()
        } else {
            vec![(Report::new(Value::Null, String::new(), &findings), findings)]
        };
        Outcome {
            methods: Vec::new(),
            decision: self.decide(reports, truncated),
        }
    }

    /// Findings over the inspected fields of one request; `true` if a scan was truncated.
    async fn scan_request(&self, r: &Request, pace: &Pace) -> (Vec<Finding>, bool) {
        let inspect = &self.config.inspect;
        let params = r.params.as_ref();
        let member = |name: &str| params.and_then(|p| p.get(name));
        let mut roots: Vec<&Value> = Vec::new();
        match r.mcp_method() {
            Method::ToolsCall if inspect.tool_arguments => roots.extend(member("arguments")),
            Method::PromptsGet if inspect.prompt_arguments => roots.extend(member("arguments")),
            Method::SamplingCreateMessage if inspect.sampling_messages => {
                roots.extend(member("messages"));
                roots.extend(member("systemPrompt"));
            }
            _ => {}
        }
        for path in &self.paths {
            roots.extend(path.resolve_in_params(params));
        }
        let mut findings = Vec::new();
        let mut truncated = false;
        for root in roots {
            truncated |= self.scan_value(root, pace, &mut findings).await;
        }
        (findings, truncated)
    }

    async fn scan_value(&self, v: &Value, pace: &Pace, out: &mut Vec<Finding>) -> bool {
        let scan = self.detector.scan_json_strings_paced(v, pace).await;
        out.extend(scan.findings.into_iter().map(|f| f.finding));
        scan.truncated
    }

    fn decide(&self, reports: Vec<(Report, Vec<Finding>)>, truncated: bool) -> Decision {
        if truncated && !self.config.body.allow_uninspectable {
            return Decision::Refuse(Denial::new(
                413,
                Control::Protocol,
                "body_too_large",
                "body exceeds what the guardrail can scan",
            ));
        }
        let mut blocked = Vec::new();
        let mut annotated = Vec::new();
        for (report, findings) in reports {
            match self
                .detector
                .verdict_of(report.score, findings.iter().map(|f| f.family))
            {
                Verdict::Block => blocked.push(report),
                Verdict::Annotate => annotated.push(report),
                Verdict::Clean => {}
            }
        }
        if !blocked.is_empty() {
            Decision::Block(blocked)
        } else if !annotated.is_empty() {
            Decision::Annotate(annotated)
        } else {
            Decision::Pass
        }
    }
}

fn refuse(e: ParseError) -> Outcome {
    Outcome {
        methods: Vec::new(),
        decision: Decision::Refuse(Denial::new(
            400,
            Control::Protocol,
            e.reason(),
            e.to_string(),
        )),
    }
}

/// A body is taken as JSON-RPC when it (or its first batch item) says `jsonrpc` or `method`.
fn looks_like_jsonrpc(v: &Value) -> bool {
    let first = match v {
        Value::Array(items) => items.first(),
        other => Some(other),
    };
    first
        .and_then(Value::as_object)
        .is_some_and(|o| o.contains_key("jsonrpc") || o.contains_key("method"))
}

/// The header value for a set of annotate reports (rules and families merged).
pub fn annotation_header(reports: &[Report]) -> String {
    let mut merged = Report {
        id: Value::Null,
        method: String::new(),
        rules: Vec::new(),
        families: Vec::new(),
        score: 0.0,
    };
    for r in reports {
        for rule in &r.rules {
            if !merged.rules.contains(rule) {
                merged.rules.push(rule.clone());
            }
        }
        for f in &r.families {
            if !merged.families.contains(f) {
                merged.families.push(*f);
            }
        }
    }
    merged.families.sort();
    merged.header_value()
}

#[cfg(test)]
mod tests;
