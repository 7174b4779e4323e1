//! `detect` section of a filter configuration: threshold, per-family modes and weights,
//! disabled built-in rules, operator-supplied extra rules and the n-gram model's cut
//! (`"model": {"min_probability": 0.98}`).
//!
//! Operators tune false positives on their own traffic, so everything a rule contributes
//! is adjustable without a rebuild, and every mistake is refused at load time with the
//! field named (`detect.rules[0].pattern: ...`).

use crate::config::{ConfigError, Validate};
use serde::{Deserialize, Serialize};

/// Prefix of every field name this section reports, as it sits in a filter configuration.
pub const FIELD_PREFIX: &str = "detect";
/// Most extra rules an operator may add; each one costs DFA states on every scan.
pub const MAX_EXTRA_RULES: usize = 256;
/// Longest extra-rule pattern accepted.
pub const MAX_PATTERN_LEN: usize = 1024;
/// Largest accepted weight, threshold or scale; keeps arithmetic far from overflow and NaN.
pub const MAX_WEIGHT: f32 = 100.0;

/// What a rule family is about; findings carry it so callers can act per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// "Ignore previous instructions" and its paraphrases.
    InstructionOverride,
    /// System/developer role claims and chat-template delimiters.
    RoleImpersonation,
    /// Requests to reveal the system prompt or send secrets somewhere.
    Exfiltration,
    /// Intent to act with someone else's identity or privileges.
    CredentialImpersonation,
    /// Jailbreak personas and "no restrictions" framings.
    Jailbreak,
    /// Content a human reader does not see: comments, tag characters, ANSI, image beacons.
    HiddenContent,
    /// Instructions addressed to the model from inside tool output.
    ToolOutputInjection,
}

impl Family {
    /// Every family, in a stable order.
    pub const ALL: [Family; 7] = [
        Family::InstructionOverride,
        Family::RoleImpersonation,
        Family::Exfiltration,
        Family::CredentialImpersonation,
        Family::Jailbreak,
        Family::HiddenContent,
        Family::ToolOutputInjection,
    ];

    /// The snake_case name used in configuration, headers and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::InstructionOverride => "instruction_override",
            Family::RoleImpersonation => "role_impersonation",
            Family::Exfiltration => "exfiltration",
            Family::CredentialImpersonation => "credential_impersonation",
            Family::Jailbreak => "jailbreak",
            Family::HiddenContent => "hidden_content",
            Family::ToolOutputInjection => "tool_output_injection",
        }
    }
}

/// What the filter should do when a family contributes to a score over the threshold.
/// The engine only records it; the filter adapter enforces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Refuse (requests) or block the result (responses).
    #[default]
    Block,
    /// Let it pass with a header and an audit record.
    Annotate,
    /// Do not run the family's rules at all.
    Off,
}

/// Per-family knobs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyConfig {
    /// Block, annotate or off.
    #[serde(default)]
    pub mode: Mode,
    /// Multiplier applied to every rule weight of the family (1.0 = as built).
    #[serde(default = "one")]
    pub weight_scale: f32,
}

impl Default for FamilyConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Block,
            weight_scale: 1.0,
        }
    }
}

/// An operator-supplied rule, matched against the normalised text (lowercase, NFKC,
/// invisible characters removed, whitespace runs collapsed to one space) and against
/// decoded base64/hex/URL spans.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraRule {
    /// Stable identifier reported in findings; `[a-z0-9_.-]`, unique.
    pub id: String,
    /// The family the rule scores into (and whose mode applies).
    pub family: Family,
    /// `regex` crate syntax (linear time, no look-around or back-references).
    pub pattern: String,
    /// Score contributed when the rule matches.
    #[serde(default = "one")]
    pub weight: f32,
}

/// Per-family settings, one optional field per [`Family`] (a struct rather than a map so
/// an unknown family is refused and errors name the family).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Families {
    /// [`Family::InstructionOverride`].
    #[serde(default)]
    pub instruction_override: Option<FamilyConfig>,
    /// [`Family::RoleImpersonation`].
    #[serde(default)]
    pub role_impersonation: Option<FamilyConfig>,
    /// [`Family::Exfiltration`].
    #[serde(default)]
    pub exfiltration: Option<FamilyConfig>,
    /// [`Family::CredentialImpersonation`].
    #[serde(default)]
    pub credential_impersonation: Option<FamilyConfig>,
    /// [`Family::Jailbreak`].
    #[serde(default)]
    pub jailbreak: Option<FamilyConfig>,
    /// [`Family::HiddenContent`].
    #[serde(default)]
    pub hidden_content: Option<FamilyConfig>,
    /// [`Family::ToolOutputInjection`].
    #[serde(default)]
    pub tool_output_injection: Option<FamilyConfig>,
}

impl Families {
    /// The configured settings of a family, if any.
    pub fn get(&self, family: Family) -> Option<&FamilyConfig> {
        match family {
            Family::InstructionOverride => self.instruction_override.as_ref(),
            Family::RoleImpersonation => self.role_impersonation.as_ref(),
            Family::Exfiltration => self.exfiltration.as_ref(),
            Family::CredentialImpersonation => self.credential_impersonation.as_ref(),
            Family::Jailbreak => self.jailbreak.as_ref(),
            Family::HiddenContent => self.hidden_content.as_ref(),
            Family::ToolOutputInjection => self.tool_output_injection.as_ref(),
        }
    }
}

/// The detection engine's configuration, embedded as `detect` in filter configurations.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// A scan whose score reaches this value is a detection.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Mode and weight scale per family; families not listed block with scale 1.0.
    #[serde(default)]
    pub families: Families,
    /// Built-in rule ids to switch off (for false positives on the operator's traffic).
    #[serde(default)]
    pub disable_rules: Vec<String>,
    /// Extra rules compiled alongside the built-in ones.
    #[serde(default)]
    pub rules: Vec<ExtraRule>,
    /// Hosts whose images are not reported as beacons (exact host or any subdomain).
    #[serde(default)]
    pub allowed_image_hosts: Vec<String>,
    /// The n-gram model (rule id `model.ngram`, family jailbreak).
    #[serde(default)]
    pub model: ModelConfig,
}

/// Knobs of the n-gram model ([`super::ngram_model`]); switch it off with
/// `disable_rules: ["model.ngram"]` or the jailbreak family's mode.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Probability from which a window is a finding; unset, the cut the trainer chose for a
    /// 0.2% false-positive budget on the dev corpus. Raise it for fewer false positives.
    #[serde(default)]
    pub min_probability: Option<f32>,
    /// Score of a finding before the family scale; unset, the threshold (the model alone
    /// is a detection).
    #[serde(default)]
    pub weight: Option<f32>,
}

fn one() -> f32 {
    1.0
}

fn default_threshold() -> f32 {
    1.0
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            threshold: default_threshold(),
            families: Families::default(),
            disable_rules: Vec::new(),
            rules: Vec::new(),
            allowed_image_hosts: Vec::new(),
            model: ModelConfig::default(),
        }
    }
}

impl DetectConfig {
    /// The effective knobs of a family (defaults when not configured).
    pub fn family(&self, family: Family) -> FamilyConfig {
        self.families.get(family).cloned().unwrap_or_default()
    }

    /// Whether a built-in or extra rule id is switched off, directly or through its family.
    pub fn rule_enabled(&self, id: &str, family: Family) -> bool {
        self.family(family).mode != Mode::Off && !self.disable_rules.iter().any(|d| d == id)
    }
}

/// `detect.<rest>`: the field name as the operator sees it.
pub(crate) fn field(rest: &str) -> String {
    format!("{FIELD_PREFIX}.{rest}")
}

fn check_weight(value: f32, name: &str, allow_zero: bool) -> Result<(), ConfigError> {
    let ok =
        value.is_finite() && value <= MAX_WEIGHT && (value > 0.0 || allow_zero && value == 0.0);
    if ok {
        return Ok(());
    }
    let low = if allow_zero { "0" } else { "greater than 0" };
    Err(ConfigError::invalid(
        field(name),
        format!("must be a number {low} and at most {MAX_WEIGHT}"),
    ))
}

impl Validate for DetectConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_weight(self.threshold, "threshold", false)?;
        for family in Family::ALL {
            if let Some(cfg) = self.families.get(family) {
                let name = format!("families.{}.weight_scale", family.as_str());
                check_weight(cfg.weight_scale, &name, true)?;
            }
        }
        self.validate_disabled()?;
        self.validate_model()?;
        self.validate_rules()?;
        self.validate_hosts()
    }
}

impl DetectConfig {
    fn validate_disabled(&self) -> Result<(), ConfigError> {
        for (i, id) in self.disable_rules.iter().enumerate() {
            if !super::rules::is_builtin_id(id) {
                return Err(ConfigError::invalid(
                    field(&format!("disable_rules[{i}]")),
                    format!("`{id}` is not a built-in rule id"),
                ));
            }
        }
        Ok(())
    }

    fn validate_model(&self) -> Result<(), ConfigError> {
        if let Some(p) = self.model.min_probability {
            if !(0.5..1.0).contains(&p) {
                return Err(ConfigError::invalid(
                    field("model.min_probability"),
                    "must be at least 0.5 and below 1",
                ));
            }
        }
        match self.model.weight {
            Some(w) => check_weight(w, "model.weight", true),
            None => Ok(()),
        }
    }

    fn validate_rules(&self) -> Result<(), ConfigError> {
        if self.rules.len() > MAX_EXTRA_RULES {
            return Err(ConfigError::invalid(
                field("rules"),
                format!("at most {MAX_EXTRA_RULES} extra rules"),
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            validate_rule(rule, &format!("rules[{i}]"))?;
            let dup = self.rules[..i].iter().any(|r| r.id == rule.id);
            if dup || super::rules::is_builtin_id(&rule.id) {
                return Err(ConfigError::invalid(
                    field(&format!("rules[{i}].id")),
                    format!("`{}` is already used by another rule", rule.id),
                ));
            }
        }
        Ok(())
    }

    fn validate_hosts(&self) -> Result<(), ConfigError> {
        for (i, host) in self.allowed_image_hosts.iter().enumerate() {
            let ok = !host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !ok {
                return Err(ConfigError::invalid(
                    field(&format!("allowed_image_hosts[{i}]")),
                    "must be a lowercase host name",
                ));
            }
        }
        Ok(())
    }
}

fn validate_rule(rule: &ExtraRule, at: &str) -> Result<(), ConfigError> {
    let id_ok = !rule.id.is_empty()
        && rule.id.len() <= 64
        && rule
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if !id_ok {
        return Err(ConfigError::invalid(
            field(&format!("{at}.id")),
            "must be 1 to 64 characters of [a-z0-9_.-]",
        ));
    }
    check_weight(rule.weight, &format!("{at}.weight"), false)?;
    if rule.pattern.is_empty() || rule.pattern.len() > MAX_PATTERN_LEN {
        return Err(ConfigError::invalid(
            field(&format!("{at}.pattern")),
            format!("must be 1 to {MAX_PATTERN_LEN} bytes"),
        ));
    }
    super::rules::compile_extra(&rule.pattern)
        .map(|_| ())
        .map_err(|e| ConfigError::invalid(field(&format!("{at}.pattern")), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn parse_detect(json: &str) -> Result<DetectConfig, ConfigError> {
        parse::<DetectConfig>(json.as_bytes())
    }

    #[test]
    fn empty_config_is_default() {
        let c = parse_detect("{}").unwrap();
        assert_eq!(c, DetectConfig::default());
        assert_eq!(c.family(Family::Jailbreak).mode, Mode::Block);
    }

    #[test]
    fn full_config_parses() {
        let c = parse_detect(
            r#"{"threshold":1.5,
                "families":{"jailbreak":{"mode":"annotate","weight_scale":0.5},
                            "hidden_content":{"mode":"off"}},
                "disable_rules":["role.xml_tag"],
                "rules":[{"id":"acme.wire","family":"exfiltration","pattern":"wire (the )?salary","weight":0.7}],
                "allowed_image_hosts":["docs.example.com"]}"#,
        )
        .unwrap();
        assert_eq!(c.family(Family::Jailbreak).weight_scale, 0.5);
        assert!(!c.rule_enabled("hidden.tag_chars", Family::HiddenContent));
        assert!(!c.rule_enabled("role.xml_tag", Family::RoleImpersonation));
        assert!(c.rule_enabled("acme.wire", Family::Exfiltration));
    }

    #[test]
    fn bad_pattern_names_the_field() {
        let e =
            parse_detect(r#"{"rules":[{"id":"x","family":"jailbreak","pattern":"(unclosed"}]}"#)
                .unwrap_err();
        assert_eq!(e.field, "detect.rules[0].pattern");
    }

    #[test]
    fn backtracking_syntax_is_refused() {
        let e = parse_detect(r#"{"rules":[{"id":"x","family":"jailbreak","pattern":"(a)\\1"}]}"#)
            .unwrap_err();
        assert_eq!(e.field, "detect.rules[0].pattern");
        let e = parse_detect(r#"{"rules":[{"id":"x","family":"jailbreak","pattern":"a(?=b)"}]}"#)
            .unwrap_err();
        assert_eq!(e.field, "detect.rules[0].pattern");
    }

    #[test]
    fn unknown_family_and_mode_are_refused() {
        let e = parse_detect(r#"{"families":{"nonsense":{"mode":"off"}}}"#).unwrap_err();
        assert!(e.reason.contains("unknown field `nonsense`"), "{e}");
        let e = parse_detect(r#"{"families":{"jailbreak":{"mode":"maybe"}}}"#).unwrap_err();
        assert_eq!(e.field, "families.jailbreak.mode");
    }

    #[test]
    fn values_are_checked() {
        let cases = [
            (r#"{"threshold":0}"#, "detect.threshold"),
            (r#"{"threshold":1000}"#, "detect.threshold"),
            (
                r#"{"families":{"jailbreak":{"weight_scale":-1}}}"#,
                "detect.families.jailbreak.weight_scale",
            ),
            (
                r#"{"disable_rules":["no.such.rule"]}"#,
                "detect.disable_rules[0]",
            ),
            (
                r#"{"rules":[{"id":"Bad Id","family":"jailbreak","pattern":"x"}]}"#,
                "detect.rules[0].id",
            ),
            (
                r#"{"rules":[{"id":"io.ignore_previous","family":"jailbreak","pattern":"x"}]}"#,
                "detect.rules[0].id",
            ),
            (
                r#"{"rules":[{"id":"a","family":"jailbreak","pattern":"x"},{"id":"a","family":"jailbreak","pattern":"y"}]}"#,
                "detect.rules[1].id",
            ),
            (
                r#"{"rules":[{"id":"a","family":"jailbreak","pattern":"x","weight":0}]}"#,
                "detect.rules[0].weight",
            ),
            (
                r#"{"rules":[{"id":"a","family":"jailbreak","pattern":""}]}"#,
                "detect.rules[0].pattern",
            ),
            (
                r#"{"allowed_image_hosts":["Docs.Example.com"]}"#,
                "detect.allowed_image_hosts[0]",
            ),
        ];
        for (json, want) in cases {
            let e = parse_detect(json).unwrap_err();
            assert_eq!(e.field, want, "{json}: {e}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = parse_detect(
            r#"{"rules":[{"id":"a","family":"jailbreak","pattern":"x","mode":"off"}]}"#,
        )
        .unwrap_err();
        assert!(e.reason.contains("unknown field `mode`"), "{e}");
    }
}
