//! Team isolation on request content (MCP-09): an argument of a tool call must match a
//! pattern built from the caller's verified claims, e.g. `repo` must match `org-{team}/*`.
//!
//! Patterns are globs (`*` matches any run of characters) with `{team}`, `{sub}` and
//! `{role}` replaced by the claim values; a claim that is absent fails the rule closed.

use crate::config::{ConfigError, Validate};
use crate::denial::{Control, Denial};
use crate::jwt::Claims;
use serde::Deserialize;
use serde_json::{Map, Value};

/// One rule tying a call argument to the caller's claims.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamRule {
    /// Tool the rule applies to, or `*` for every tool.
    pub tool: String,
    /// Argument name; dots reach into nested objects (`target.repo`).
    pub argument: String,
    /// Glob the argument must match, with `{team}`, `{sub}`, `{role}` placeholders.
    pub pattern: String,
}

impl Validate for TeamRule {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.tool.is_empty() {
            return Err(ConfigError::invalid("tool", "must name a tool or be \"*\""));
        }
        if self.argument.is_empty() || self.argument.split('.').any(str::is_empty) {
            return Err(ConfigError::invalid(
                "argument",
                "must be a dotted argument path",
            ));
        }
        let stripped = self
            .pattern
            .replace("{team}", "")
            .replace("{sub}", "")
            .replace("{role}", "");
        if stripped.contains('{') || stripped.contains('}') {
            return Err(ConfigError::invalid(
                "pattern",
                "unknown placeholder (use {team}, {sub} or {role})",
            ));
        }
        if !self.pattern.contains('{') {
            return Err(ConfigError::invalid(
                "pattern",
                "must use at least one claim placeholder",
            ));
        }
        Ok(())
    }
}

/// Check every rule that applies to `tool` against the call's arguments.
pub fn check(
    rules: &[TeamRule],
    claims: &Claims,
    tool: &str,
    arguments: Option<&Map<String, Value>>,
) -> Result<(), Denial> {
    for rule in rules.iter().filter(|r| r.tool == "*" || r.tool == tool) {
        let Some(value) = argument(arguments, &rule.argument) else {
            continue;
        };
        let allowed = match (value, expand(&rule.pattern, claims)) {
            (Value::String(s), Some(pattern)) => glob(&pattern, s),
            _ => false,
        };
        if !allowed {
            return Err(Denial::new(
                403,
                Control::Mcp09,
                "team_scope_violation",
                format!("argument `{}` is outside the caller's team", rule.argument),
            ));
        }
    }
    Ok(())
}

fn argument<'a>(arguments: Option<&'a Map<String, Value>>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = arguments?.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn expand(pattern: &str, claims: &Claims) -> Option<String> {
    let mut out = pattern.to_string();
    for (placeholder, value) in [
        ("{team}", &claims.team),
        ("{sub}", &claims.sub),
        ("{role}", &claims.role),
    ] {
        if out.contains(placeholder) {
            let value = value
                .as_deref()
                .filter(|v| !v.is_empty() && !v.contains('*'))?;
            out = out.replace(placeholder, value);
        }
    }
    Some(out)
}

/// Glob match where `*` matches any run of characters; linear in practice (greedy with
/// single backtrack point, the classic wildcard algorithm).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(tool: &str, argument: &str, pattern: &str) -> TeamRule {
        TeamRule {
            tool: tool.into(),
            argument: argument.into(),
            pattern: pattern.into(),
        }
    }

    fn sre() -> Claims {
        Claims {
            sub: Some("alice".into()),
            team: Some("sre".into()),
            ..Claims::default()
        }
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn glob_matches() {
        assert!(glob("org-sre/*", "org-sre/api"));
        assert!(glob("org-sre/*", "org-sre/"));
        assert!(!glob("org-sre/*", "org-security/api"));
        assert!(!glob("org-sre/*", "org-sre"));
        assert!(glob("*-sre", "team-sre"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("sre", "sre"));
        assert!(!glob("sre", "sre2"));
    }

    #[test]
    fn repo_outside_team_is_denied() {
        let rules = [rule("*", "repo", "org-{team}/*")];
        assert!(check(
            &rules,
            &sre(),
            "get_issue",
            Some(&args(json!({"repo": "org-sre/api"})))
        )
        .is_ok());
        let d = check(
            &rules,
            &sre(),
            "get_issue",
            Some(&args(json!({"repo": "org-security/vault"}))),
        )
        .unwrap_err();
        assert_eq!(
            (d.status, d.control, d.reason.as_ref()),
            (403, Control::Mcp09, "team_scope_violation")
        );
        // Prefix tricks: org-sre-evil is not org-sre/.
        assert!(check(
            &rules,
            &sre(),
            "t",
            Some(&args(json!({"repo": "org-sre-evil/x"})))
        )
        .is_err());
        // A non-string value cannot be matched: denied.
        assert!(check(
            &rules,
            &sre(),
            "t",
            Some(&args(json!({"repo": ["org-sre/api"]})))
        )
        .is_err());
        // Absent argument: the rule does not apply.
        assert!(check(&rules, &sre(), "t", Some(&args(json!({"other": 1})))).is_ok());
    }

    #[test]
    fn nested_arguments_and_missing_claims() {
        let rules = [rule("list_pods", "target.namespace", "{team}")];
        let a = args(json!({"target": {"namespace": "security"}}));
        assert!(check(&rules, &sre(), "list_pods", Some(&a)).is_err());
        assert!(check(&rules, &sre(), "other_tool", Some(&a)).is_ok());
        let no_team = Claims {
            sub: Some("x".into()),
            ..Claims::default()
        };
        let a = args(json!({"target": {"namespace": "sre"}}));
        assert!(check(&rules, &no_team, "list_pods", Some(&a)).is_err());
        // A team claim of "*" must not turn into a wildcard.
        let star = Claims {
            team: Some("*".into()),
            ..Claims::default()
        };
        assert!(check(
            &rules,
            &star,
            "list_pods",
            Some(&args(json!({"target": {"namespace": "x"}})))
        )
        .is_err());
    }

    #[test]
    fn rule_validation_names_fields() {
        assert_eq!(
            rule("*", "a..b", "{team}").validate().unwrap_err().field,
            "argument"
        );
        assert_eq!(
            rule("*", "repo", "{tenant}").validate().unwrap_err().field,
            "pattern"
        );
        assert_eq!(
            rule("*", "repo", "org-x/*").validate().unwrap_err().field,
            "pattern"
        );
        assert!(rule("*", "repo", "org-{team}/*").validate().is_ok());
    }
}
