//! Tool-output sanitizer on responses (MCP-13): rewrite tool results so they cannot
//! re-inject instructions into the model that reads them.
//!
//! The filter hands a whole JSON body ([`Sanitizer::sanitize_body`]) or one SSE event's
//! data ([`Sanitizer::sanitize_event`]). Only JSON-RPC responses carrying a `result` are
//! touched; requests and notifications (progress, logging) pass as they are. Inside a
//! result, the text a model reads is rewritten ([`text`]): `content[].text`, embedded
//! resources' `resource.text`, `contents[].text` of `resources/read`, and every string of
//! `structuredContent`. A result whose total score reaches `block_threshold` is replaced by
//! a JSON-RPC error with the same id (control MCP-13, reason `tool_output_injection`). The
//! emitted JSON keeps `jsonrpc` and `id`, so clients see valid JSON-RPC either way; a body
//! that needs no change is forwarded byte for byte.

pub mod config;
pub mod links;
pub mod text;

pub use config::{Config, NeutraliseMode};

use crate::config::{ConfigError, Validate};
use crate::denial::{Control, Denial};
use crate::detect::{score_of, Channel, Detector, Family, Finding, Scan, Verdict};
use crate::pace::{self, Pace};
use links::LinkFilter;
use serde_json::{json, Value};
use std::sync::Arc;

/// The denial reason of a withheld result.
pub const REASON: &str = "tool_output_injection";
/// Deepest `structuredContent` nesting walked; deeper strings are cut off with the value.
pub const MAX_DEPTH: usize = 64;

/// What sanitizing a body or an event did, for counters and the audit line (no text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Result messages seen.
    pub results: usize,
    /// Text items inspected.
    pub texts: usize,
    /// Text items whose bytes changed.
    pub rewritten: usize,
    /// Text items whose detected spans were redacted.
    pub redacted: usize,
    /// Text items wrapped in the untrusted-data envelope.
    pub enveloped: usize,
    /// Markdown/HTML images and links removed.
    pub links_removed: usize,
    /// Text items cut at `max_text_bytes`.
    pub cut: usize,
    /// Text items over the threshold in annotate-mode families only (left as they are).
    pub annotated: usize,
    /// Results replaced by a JSON-RPC error.
    pub blocked: usize,
    /// Distinct rule ids that fired.
    pub rules: Vec<Arc<str>>,
    /// Families that contributed.
    pub families: Vec<Family>,
    /// Highest result score seen.
    pub max_score: f32,
}

impl Report {
    fn add_findings(&mut self, findings: &[Finding]) {
        for f in findings {
            if !self.rules.contains(&f.rule_id) {
                self.rules.push(f.rule_id.clone());
            }
            if !self.families.contains(&f.family) {
                self.families.push(f.family);
            }
        }
        self.families.sort();
    }

    /// One audit line: what was done, which rules and families fired, never the text.
    pub fn audit_line(&self) -> String {
        let rules: Vec<&str> = self.rules.iter().map(|r| r.as_ref()).collect();
        let families: Vec<&str> = self.families.iter().map(|f| f.as_str()).collect();
        format!(
            "control=MCP-13 results={} texts={} rewritten={} redacted={} enveloped={} links_removed={} cut={} annotated={} blocked={} score={:.2} rules={} families={}",
            self.results,
            self.texts,
            self.rewritten,
            self.redacted,
            self.enveloped,
            self.links_removed,
            self.cut,
            self.annotated,
            self.blocked,
            self.max_score,
            rules.join(","),
            families.join(",")
        )
    }

    /// Whether anything a counter or log should show happened.
    pub fn eventful(&self) -> bool {
        self.rewritten + self.annotated + self.blocked > 0
    }
}

/// The result of sanitizing a body or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Forward the original bytes.
    Unchanged(Report),
    /// Forward these bytes instead.
    Rewritten(Vec<u8>, Report),
    /// Not inspectable (not JSON): replace with this denial.
    Refused(Denial),
}

/// The compiled sanitizer; build once per plugin configuration.
#[derive(Debug, Clone)]
pub struct Sanitizer {
    config: Config,
    detector: Detector,
    links: LinkFilter,
}

/// One text location in a result and its scan.
struct Planned {
    pointer: String,
    scan: Scan,
}

impl Sanitizer {
    /// Validate and compile a configuration.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            detector: Detector::for_channel(&config.detect, Channel::ToolOutput)?,
            links: LinkFilter::new(&config.allowed_link_hosts),
            config,
        })
    }

    /// The configuration this sanitizer was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sanitize a complete `application/json` body (one message or a batch).
    pub fn sanitize_body(&self, body: &[u8]) -> Outcome {
        pace::finish(self.sanitize_body_paced(body, &Pace::unbounded()))
    }

    /// [`Sanitizer::sanitize_body`] in slices: the scans suspend at `pace`'s checkpoints
    /// (see [`crate::pace`]), so the proxy can serve other streams while a large result is
    /// judged.
    pub async fn sanitize_body_paced(&self, body: &[u8], pace: &Pace) -> Outcome {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Outcome::Unchanged(Report::default());
        }
        match crate::json::parse_message(body) {
            Ok(v) => {
                pace.checkpoint(body.len()).await;
                self.sanitize_value(v, pace).await
            }
            Err(crate::json::StrictError::Syntax(_)) => Outcome::Refused(not_json()),
            Err(e) => Outcome::Refused(crate::json::response_denial(&e)),
        }
    }

    /// Sanitize one SSE `message` event's data (one JSON-RPC message or a batch).
    pub fn sanitize_event(&self, data: &str) -> Outcome {
        self.sanitize_body(data.as_bytes())
    }

    async fn sanitize_value(&self, mut value: Value, pace: &Pace) -> Outcome {
        let mut report = Report::default();
        let changed = match &mut value {
            Value::Array(items) => {
                let mut any = false;
                for item in items.iter_mut() {
                    any |= self.sanitize_message(item, pace, &mut report).await;
                }
                any
            }
            other => self.sanitize_message(other, pace, &mut report).await,
        };
        if !changed {
            return Outcome::Unchanged(report);
        }
        match serde_json::to_vec(&value) {
            Ok(bytes) => Outcome::Rewritten(bytes, report),
            Err(_) => Outcome::Refused(not_json()),
        }
    }

    /// Rewrite one message in place if it is a result; `true` if it changed.
    async fn sanitize_message(
        &self,
        message: &mut Value,
        pace: &Pace,
        report: &mut Report,
    ) -> bool {
        let is_result = message.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
            && message.get("id").is_some()
            && message.get("method").is_none()
            && message.get("result").is_some_and(Value::is_object);
        if !is_result {
            return false;
        }
        report.results += 1;
        let Some(result) = message.get_mut("result") else {
            return false;
        };
        let plans = self.plan(result, pace).await;
        report.texts += plans.len();
        let all: Vec<Finding> = plans
            .iter()
            .flat_map(|p| p.scan.findings.iter().cloned())
            .collect();
        report.add_findings(&all);
        let total = score_of(all.iter());
        report.max_score = report.max_score.max(total);
        if let Some(threshold) = self.config.block_threshold {
            let verdict = self
                .detector
                .verdict_of(total, all.iter().map(|f| f.family));
            if total >= threshold && verdict == Verdict::Block {
                report.blocked += 1;
                let id = message.get("id").cloned().unwrap_or(Value::Null);
                *message = self.block_error(id, report);
                return true;
            }
        }
        let mut changed = false;
        for plan in plans {
            let Some(Value::String(slot)) = result.pointer_mut(&plan.pointer) else {
                continue;
            };
            if let Some(new) = self.rewrite_text(slot, &plan.scan, report) {
                *slot = new;
                report.rewritten += 1;
                changed = true;
            }
        }
        changed
    }

    /// Pointers (relative to `result`) of every text a model reads, with their scans.
    async fn plan(&self, result: &Value, pace: &Pace) -> Vec<Planned> {
        let mut pointers = Vec::new();
        for list in ["content", "contents"] {
            if let Some(items) = result.get(list).and_then(Value::as_array) {
                for (i, item) in items.iter().enumerate() {
                    if item.get("text").is_some_and(Value::is_string) {
                        pointers.push(format!("/{list}/{i}/text"));
                    }
                    let resource_text = item.get("resource").and_then(|r| r.get("text"));
                    if resource_text.is_some_and(Value::is_string) {
                        pointers.push(format!("/{list}/{i}/resource/text"));
                    }
                }
            }
        }
        if let Some(structured) = result.get("structuredContent") {
            let mut at = String::from("/structuredContent");
            strings(structured, &mut at, 0, &mut pointers);
        }
        let mut plans = Vec::with_capacity(pointers.len());
        for pointer in pointers {
            if let Some(text) = result.pointer(&pointer).and_then(Value::as_str) {
                plans.push(Planned {
                    scan: self.detector.scan_paced(text, pace).await,
                    pointer,
                });
            }
        }
        plans
    }

    /// The sanitized form of one text, or `None` when it is unchanged.
    fn rewrite_text(&self, original: &str, scan: &Scan, report: &mut Report) -> Option<String> {
        let verdict = self.detector.verdict(scan);
        if verdict == Verdict::Annotate {
            report.annotated += 1;
        }
        let block = verdict == Verdict::Block;
        let edit = text::sanitize(
            original,
            scan,
            block.then_some(self.config.mode),
            |f| self.detector.mode(f),
            &self.links,
            self.config.max_text_bytes,
        );
        report.links_removed += edit.links_removed;
        report.cut += usize::from(edit.cut);
        if block {
            match self.config.mode {
                NeutraliseMode::Redact => report.redacted += 1,
                NeutraliseMode::Envelope => report.enveloped += 1,
            }
        }
        (edit.text != original).then_some(edit.text)
    }

    fn block_error(&self, id: Value, report: &Report) -> Value {
        Denial::new(
            403,
            Control::Mcp13,
            REASON,
            "tool output withheld by the output sanitizer: instruction-like content detected",
        )
        .with_id(id)
        .with_data(
            "rules",
            json!(report.rules.iter().map(|r| r.as_ref()).collect::<Vec<_>>()),
        )
        .with_data(
            "families",
            json!(report
                .families
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()),
        )
        .to_jsonrpc()
    }
}

/// Pointers of every string value under `v` (not keys), bounded in depth.
fn strings(v: &Value, at: &mut String, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    let child = |at: &mut String, token: &str, item: &Value, out: &mut Vec<String>| {
        let len = at.len();
        at.push('/');
        at.push_str(&token.replace('~', "~0").replace('/', "~1"));
        strings(item, at, depth + 1, out);
        at.truncate(len);
    };
    match v {
        Value::String(_) => out.push(at.clone()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                child(at, &i.to_string(), item, out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                child(at, k, item, out);
            }
        }
        _ => {}
    }
}

fn not_json() -> Denial {
    Denial::new(
        502,
        Control::Protocol,
        "invalid_json",
        "tool response is not valid JSON and cannot be inspected",
    )
}

#[cfg(test)]
mod tests;
