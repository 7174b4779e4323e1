//! Team/role policy: which callers may reach which tools of a tool server (MCP-09).

use crate::config::{ConfigError, Validate};
use serde::Deserialize;

/// One allow rule: a caller in one of `teams` with one of `roles` may call `tools`.
/// An empty `roles` list means any role; `"*"` in `tools` means every tool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    pub teams: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    pub tools: Vec<String>,
}

impl AllowRule {
    /// Whether this rule lets (team, role) use `tool` (`None`: a method naming no tool,
    /// such as `tools/list`, which any rule for the team allows).
    pub fn allows(&self, team: Option<&str>, role: Option<&str>, tool: Option<&str>) -> bool {
        let team_ok = team.is_some_and(|t| self.teams.iter().any(|x| x == t));
        let role_ok =
            self.roles.is_empty() || role.is_some_and(|r| self.roles.iter().any(|x| x == r));
        let tool_ok = match tool {
            None => true,
            Some(name) => self.tools.iter().any(|x| x == "*" || x == name),
        };
        team_ok && role_ok && tool_ok
    }
}

impl Validate for AllowRule {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.teams.is_empty() {
            return Err(ConfigError::invalid("teams", "must list at least one team"));
        }
        if self.tools.is_empty() {
            return Err(ConfigError::invalid(
                "tools",
                "must list at least one tool (or \"*\")",
            ));
        }
        Ok(())
    }
}

/// Whether any rule allows the call.
pub fn allowed(
    rules: &[AllowRule],
    team: Option<&str>,
    role: Option<&str>,
    tool: Option<&str>,
) -> bool {
    rules.iter().any(|r| r.allows(team, role, tool))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(teams: &[&str], roles: &[&str], tools: &[&str]) -> AllowRule {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        AllowRule {
            teams: v(teams),
            roles: v(roles),
            tools: v(tools),
        }
    }

    #[test]
    fn matches_team_role_and_tool() {
        let r = rule(&["sre"], &["operator"], &["get_issue"]);
        assert!(r.allows(Some("sre"), Some("operator"), Some("get_issue")));
        assert!(!r.allows(Some("security"), Some("operator"), Some("get_issue")));
        assert!(!r.allows(Some("sre"), Some("viewer"), Some("get_issue")));
        assert!(!r.allows(Some("sre"), Some("operator"), Some("delete_repo")));
        assert!(!r.allows(None, Some("operator"), Some("get_issue")));
        assert!(r.allows(Some("sre"), Some("operator"), None));
    }

    #[test]
    fn wildcards_and_any_role() {
        let r = rule(&["sre"], &[], &["*"]);
        assert!(r.allows(Some("sre"), None, Some("anything")));
        assert!(allowed(
            &[rule(&["x"], &[], &["a"]), r],
            Some("sre"),
            None,
            Some("b")
        ));
        assert!(!allowed(&[], Some("sre"), None, None));
    }
}
