//! JSON-aware scrubbing: only string values are rewritten, so the document keeps its
//! structure and stays valid JSON-RPC; object keys are never changed (clients address data
//! by them) but are used as context: the value of `"password"` is a secret even when it
//! does not look like one on its own, and a bare 9-digit `"ssn"` is an SSN.
//!
//! The walk is iterative, so nesting depth cannot overflow the (small, Wasm) stack;
//! every level serde_json parsed is visited, so nothing hides below a depth limit.

use super::kind::{Confidence, Finding, Kind};
use super::secrets::{aws_secret_shape, secret_value, Family};
use super::validate::{contains_ci, non_secret_key, ssn_valid};

/// Key words that make a value a credential: the password family first (three), then the
/// token family.
const SECRET_KEY_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "accesskey",
    "credential",
    "private_key",
    "privatekey",
    "accountkey",
    "account_key",
    "sharedaccesskey",
    "signing_key",
    "encryption_key",
];
use super::{overlap, Scrubber};
use crate::pace::Pace;
use serde_json::Value;
use std::collections::BTreeMap;

/// What scrubbing a JSON document did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Findings per kind, for audit records and stats.
    pub counts: BTreeMap<Kind, usize>,
    /// The first kind (in document order) whose action is `block`; the caller must refuse
    /// the message with control MCP-04.
    pub blocked: Option<Kind>,
    /// Whether any string value was rewritten.
    pub changed: bool,
}

impl Report {
    /// Total number of findings.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
}

/// What an object key says about its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    None,
    Secret { family: Family, aws: bool },
    Ssn,
    Phone,
}

fn hint_for_key(key: &str) -> Hint {
    let k = key.as_bytes();
    let any = |words: &[&str]| words.iter().any(|w| contains_ci(k, w.as_bytes()));
    if any(SECRET_KEY_WORDS) && non_secret_key(k) {
        return Hint::None;
    }
    if any(&["password", "passwd", "passphrase"]) {
        return Hint::Secret {
            family: Family::Password,
            aws: false,
        };
    }
    if any(&SECRET_KEY_WORDS[3..]) {
        let aws = any(&["aws", "secret_access", "secretaccess"]);
        return Hint::Secret {
            family: Family::Token,
            aws,
        };
    }
    if any(&["ssn", "social_security", "socialsecurity"]) {
        return Hint::Ssn;
    }
    if any(&["phone", "mobile", "fax"]) || key.eq_ignore_ascii_case("tel") {
        return Hint::Phone;
    }
    Hint::None
}

/// A finding covering the whole value, when the key vouches for it.
fn hinted_finding(s: &str, hint: Hint) -> Option<Finding> {
    let trimmed = s.trim();
    let start = s.len() - s.trim_start().len();
    let span = start..start + trimmed.len();
    let b = trimmed.as_bytes();
    let kind = match hint {
        Hint::None => return None,
        Hint::Secret { aws: true, .. } if aws_secret_shape(trimmed) => Kind::AwsSecretAccessKey,
        Hint::Secret { family, .. } => {
            secret_value(trimmed, family).then_some(Kind::GenericSecret)?
        }
        Hint::Ssn => {
            let digits: Vec<u8> = b.iter().copied().filter(u8::is_ascii_digit).collect();
            let shape = b
                .iter()
                .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b' '));
            (shape && ssn_valid(&digits)).then_some(Kind::Ssn)?
        }
        Hint::Phone => {
            let shape = b
                .iter()
                .all(|c| c.is_ascii_digit() || b" +-.()".contains(c));
            let n = b.iter().filter(|c| c.is_ascii_digit()).count();
            (shape && (7..=15).contains(&n)).then_some(Kind::Phone)?
        }
    };
    Some(Finding::new(kind, span, Confidence::Low))
}

impl Scrubber {
    /// Scrub every string value of `value` in place, at any depth. Object keys are left
    /// alone; numbers, booleans and nulls are never touched.
    pub fn scrub_json(&self, value: &mut Value) -> Report {
        let mut report = Report::default();
        let mut stack: Vec<(&mut Value, Hint)> = vec![(value, Hint::None)];
        while let Some((v, hint)) = stack.pop() {
            match v {
                Value::String(s) => self.scrub_string(s, hint, &mut report),
                Value::Array(items) => stack.extend(items.iter_mut().rev().map(|x| (x, hint))),
                Value::Object(map) => {
                    let children: Vec<_> =
                        map.iter_mut().map(|(k, x)| (x, hint_for_key(k))).collect();
                    stack.extend(children.into_iter().rev());
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        report
    }

    /// Scrub one string value (with the hint its key gives), recording into `report`.
    fn scrub_string(&self, s: &mut String, hint: Hint, report: &mut Report) {
        if let Some(text) = self.scrub_hinted(s, hint, report) {
            *s = text;
        }
    }

    /// Scrub one JSON string value found under object key `key` (for array items, the key
    /// holding the array; `None` at top level), exactly as [`Scrubber::scrub_json`] treats
    /// each string. For callers that walk JSON text themselves and splice masked values
    /// back in, so everything else in the document stays byte for byte. Returns the masked
    /// text when it differs from `s`.
    pub fn scrub_json_str(
        &self,
        key: Option<&str>,
        s: &str,
        report: &mut Report,
    ) -> Option<String> {
        crate::pace::finish(self.scrub_json_str_paced(key, s, report, &Pace::unbounded()))
    }

    /// [`Scrubber::scrub_json_str`] in slices (see [`crate::pace`]).
    pub async fn scrub_json_str_paced(
        &self,
        key: Option<&str>,
        s: &str,
        report: &mut Report,
        pace: &Pace,
    ) -> Option<String> {
        let hint = key.map_or(Hint::None, hint_for_key);
        self.scrub_hinted_paced(s, hint, report, pace).await
    }

    fn scrub_hinted(&self, s: &str, hint: Hint, report: &mut Report) -> Option<String> {
        crate::pace::finish(self.scrub_hinted_paced(s, hint, report, &Pace::unbounded()))
    }

    async fn scrub_hinted_paced(
        &self,
        s: &str,
        hint: Hint,
        report: &mut Report,
        pace: &Pace,
    ) -> Option<String> {
        let mut findings = self.find_paced(s, pace).await;
        if let Some(f) = hinted_finding(s, hint).filter(|f| self.is_enabled(f.kind)) {
            findings.push(f);
            findings = overlap::resolve(findings);
        }
        if findings.is_empty() {
            return None;
        }
        let out = self.apply(s, findings);
        for f in &out.findings {
            *report.counts.entry(f.kind).or_insert(0) += 1;
        }
        if report.blocked.is_none() {
            report.blocked = out.blocked;
        }
        let text = out.text.into_owned();
        let changed = text != s;
        report.changed |= changed;
        changed.then_some(text)
    }
}
