//! The `scrub` configuration section: which kinds to look for and what to do with each.
//!
//! ```json
//! {
//!   "default_action": "redact",
//!   "actions": { "credit_card": "partial", "email": "hash", "private_key": "block" },
//!   "disabled": ["ip_address"],
//!   "custom": [ { "name": "employee_id", "pattern": "EMP-[0-9]{6}", "action": "hash" } ]
//! }
//! ```
//!
//! Every field is optional; `{}` means every built-in detector on, secrets and PII redacted,
//! card numbers partially masked. The HMAC key for `hash` is deliberately not a field: it
//! comes from the host environment so the configuration (stored in Git, shown by
//! `kubectl get`) never holds it.

use super::kind::Kind;
use crate::config::{ConfigError, Validate};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

/// Most operator-defined detectors one configuration may hold; each costs a full scan.
pub const MAX_CUSTOM: usize = 32;

/// Compiled-size bound for an operator pattern, so a config cannot exhaust filter memory.
pub const CUSTOM_PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// What to do with a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Replace with a typed placeholder: `[REDACTED:EMAIL]`.
    Redact,
    /// Keep the last 4 letters or digits, mask the rest with `*`, keep separators.
    Partial,
    /// Replace with `[HASH:EMAIL:<16 hex>]`, a keyed HMAC-SHA256, so equal values correlate
    /// across records without being revealed.
    Hash,
    /// Refuse the whole message (control MCP-04); the text is still redacted.
    Block,
}

/// An operator-defined detector: a name for placeholders and audit, and a regex.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    /// snake_case name; upper-cased in placeholders (`[REDACTED:EMPLOYEE_ID]`).
    pub name: String,
    /// Regex (Rust `regex` syntax, linear time); must not match the empty string.
    pub pattern: String,
    /// Action for this detector; `default_action` (or redact) when absent.
    #[serde(default)]
    pub action: Option<Action>,
}

/// The `scrub` section shared by the pii-scrubber filter and audit-line scrubbing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrubConfig {
    /// Action for every kind `actions` does not name. When absent, the built-in defaults
    /// apply: `partial` for `credit_card`, `redact` for everything else.
    #[serde(default)]
    pub default_action: Option<Action>,
    /// Per-kind actions, by kind name; these win over `default_action`.
    #[serde(default)]
    pub actions: BTreeMap<Kind, Action>,
    /// Only these built-in kinds are detected; absent means all of them.
    #[serde(default)]
    pub enabled: Option<Vec<Kind>>,
    /// Built-in kinds never detected (applied after `enabled`).
    #[serde(default)]
    pub disabled: Vec<Kind>,
    /// Operator-defined detectors.
    #[serde(default)]
    pub custom: Vec<CustomDetector>,
}

impl ScrubConfig {
    /// The action for a built-in kind: `actions`, then `default_action`, then the built-in
    /// default for that kind.
    pub fn action_for(&self, kind: Kind) -> Action {
        if let Some(a) = self.actions.get(&kind) {
            return *a;
        }
        if let Some(a) = self.default_action {
            return a;
        }
        builtin_action(kind)
    }

    /// The action for the custom detector at `index`.
    pub fn custom_action(&self, index: usize) -> Action {
        self.custom
            .get(index)
            .and_then(|c| c.action)
            .or(self.default_action)
            .unwrap_or(Action::Redact)
    }

    /// Whether a built-in kind is switched on.
    pub fn is_enabled(&self, kind: Kind) -> bool {
        let listed = self.enabled.as_ref().is_none_or(|e| e.contains(&kind));
        listed && !self.disabled.contains(&kind)
    }

    /// Every configured action with the field that sets it, for errors that name the field.
    pub(crate) fn configured_actions(&self) -> Vec<(String, Action)> {
        let mut out = Vec::new();
        if let Some(a) = self.default_action {
            out.push(("scrub.default_action".to_string(), a));
        }
        for (k, a) in &self.actions {
            out.push((format!("scrub.actions.{k}"), *a));
        }
        for (i, c) in self.custom.iter().enumerate() {
            if let Some(a) = c.action {
                out.push((format!("scrub.custom[{i}].action"), a));
            }
        }
        out
    }
}

/// Secrets and PII are redacted; card numbers keep their last four digits, which support
/// staff need to recognise a card and PCI DSS allows to be shown.
pub fn builtin_action(kind: Kind) -> Action {
    match kind {
        Kind::CreditCard => Action::Partial,
        _ => Action::Redact,
    }
}

impl Validate for ScrubConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(enabled) = &self.enabled {
            if enabled.is_empty() {
                return Err(ConfigError::invalid(
                    "scrub.enabled",
                    "must name at least one kind (omit it to enable all)",
                ));
            }
        }
        if self.custom.len() > MAX_CUSTOM {
            return Err(ConfigError::invalid(
                "scrub.custom",
                format!("at most {MAX_CUSTOM} custom detectors"),
            ));
        }
        let mut names = HashSet::new();
        for (i, c) in self.custom.iter().enumerate() {
            validate_custom(i, c)?;
            if !names.insert(c.name.as_str()) {
                return Err(ConfigError::invalid(
                    format!("scrub.custom[{i}].name"),
                    format!("duplicate detector name `{}`", c.name),
                ));
            }
        }
        Ok(())
    }
}

fn validate_custom(i: usize, c: &CustomDetector) -> Result<(), ConfigError> {
    let name_ok = !c.name.is_empty()
        && c.name.len() <= 40
        && c.name.starts_with(|ch: char| ch.is_ascii_lowercase())
        && c.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(ConfigError::invalid(
            format!("scrub.custom[{i}].name"),
            "must be snake_case: a lower-case letter, then up to 39 of [a-z0-9_]",
        ));
    }
    if Kind::BUILTIN.iter().any(|k| k.as_str() == c.name) || c.name == "custom" {
        return Err(ConfigError::invalid(
            format!("scrub.custom[{i}].name"),
            format!("`{}` is a built-in kind name", c.name),
        ));
    }
    compile_custom(&c.pattern)
        .map(|_| ())
        .map_err(|reason| ConfigError::invalid(format!("scrub.custom[{i}].pattern"), reason))
}

/// Compile an operator pattern with a size bound; refuse patterns that match nothing-at-all
/// (an empty match would be a finding of zero bytes at every position).
pub(crate) fn compile_custom(pattern: &str) -> Result<regex::Regex, String> {
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(CUSTOM_PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regex: {e}"))?;
    if re.is_match("") {
        return Err("must not match the empty string".to_string());
    }
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn empty_config_has_documented_defaults() {
        let c: ScrubConfig = parse(b"{}").unwrap();
        assert_eq!(c.action_for(Kind::CreditCard), Action::Partial);
        assert_eq!(c.action_for(Kind::Email), Action::Redact);
        assert_eq!(c.action_for(Kind::AwsAccessKeyId), Action::Redact);
        assert!(Kind::BUILTIN.iter().all(|k| c.is_enabled(*k)));
    }

    #[test]
    fn actions_win_over_default_action() {
        let c: ScrubConfig =
            parse(br#"{"default_action":"block","actions":{"email":"hash"}}"#).unwrap();
        assert_eq!(c.action_for(Kind::Email), Action::Hash);
        assert_eq!(c.action_for(Kind::CreditCard), Action::Block);
    }

    #[test]
    fn enabled_and_disabled() {
        let c: ScrubConfig =
            parse(br#"{"enabled":["email","ip_address"],"disabled":["ip_address"]}"#).unwrap();
        assert!(c.is_enabled(Kind::Email));
        assert!(!c.is_enabled(Kind::IpAddress));
        assert!(!c.is_enabled(Kind::Jwt));
    }

    #[test]
    fn unknown_kind_and_field_are_refused() {
        let e = parse::<ScrubConfig>(br#"{"actions":{"emial":"redact"}}"#).unwrap_err();
        assert!(e.reason.contains("unknown variant `emial`"), "{e}");
        let e = parse::<ScrubConfig>(br#"{"actoins":{}}"#).unwrap_err();
        assert!(e.reason.contains("unknown field"), "{e}");
        let e = parse::<ScrubConfig>(br#"{"actions":{"email":"shred"}}"#).unwrap_err();
        assert!(e.reason.contains("unknown variant `shred`"), "{e}");
    }

    #[test]
    fn bad_custom_pattern_names_the_field() {
        let e = parse::<ScrubConfig>(
            br#"{"custom":[{"name":"a","pattern":"x"},{"name":"b","pattern":"("}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "scrub.custom[1].pattern");
        let e = parse::<ScrubConfig>(br#"{"custom":[{"name":"b","pattern":"x*"}]}"#).unwrap_err();
        assert!(e.reason.contains("empty string"), "{e}");
    }

    #[test]
    fn bad_custom_names_are_refused() {
        for body in [
            r#"{"custom":[{"name":"Bad Name","pattern":"x"}]}"#,
            r#"{"custom":[{"name":"email","pattern":"x"}]}"#,
            r#"{"custom":[{"name":"a","pattern":"x"},{"name":"a","pattern":"y"}]}"#,
        ] {
            let e = parse::<ScrubConfig>(body.as_bytes()).unwrap_err();
            assert!(e.field.ends_with(".name"), "{body}: {e}");
        }
    }

    #[test]
    fn empty_enabled_list_is_refused() {
        let e = parse::<ScrubConfig>(br#"{"enabled":[]}"#).unwrap_err();
        assert_eq!(e.field, "scrub.enabled");
    }
}
