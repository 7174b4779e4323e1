//! Plugin configuration of the tool-policy filter (MCP-03): the tool registry, pins and
//! intent-based rate limits.
//!
//! ```json
//! {
//!   "tool_path_prefix": "/tools/",
//!   "servers": [{ "id": "mcp-github", "path_prefix": "/tools/mcp-github/", "tools": [
//!     { "name": "get_issue", "class": "read",
//!       "allow": [{ "teams": ["sre"], "roles": ["operator"] }],
//!       "pin": { "description": "sha256:…", "input_schema": "sha256:…" } }
//!   ]}],
//!   "rate_limits": [{ "class": "delete", "per": "user", "requests": 1, "window_seconds": 600 }],
//!   "global_rate_limit_headers": true
//! }
//! ```

use crate::body::BodyLimits;
use crate::config::{in_range, non_empty, ConfigError, Validate};
use serde::Deserialize;

pub use crate::tool_class::ToolClass;

/// Whose bucket a rate limit counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// The end user (`x-meshguard-sub`).
    User,
    /// The user's team (`x-meshguard-team`).
    Team,
    /// The agent acting for the user (`x-meshguard-agent`).
    Agent,
}

impl PrincipalKind {
    /// The descriptor / stats form (`user`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Team => "team",
            PrincipalKind::Agent => "agent",
        }
    }
}

/// Plugin configuration of the tool-policy filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Paths under this prefix are tool routes: one no server claims is refused.
    #[serde(default = "default_tool_path_prefix")]
    pub tool_path_prefix: String,
    /// The registry: every tool server and every tool callers may use.
    pub servers: Vec<ToolServer>,
    /// Token buckets per tool class and principal, shared by all workers.
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    /// Set `x-meshguard-rl-*` request headers for Envoy's rate limit filters (descriptors
    /// for the global rate limit service across gateway replicas).
    #[serde(default = "default_true")]
    pub global_rate_limit_headers: bool,
    /// Bound on buffered request bodies and `tools/list` responses (fail closed beyond).
    #[serde(default)]
    pub body: BodyLimits,
}

/// One tool server of the registry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolServer {
    /// The server's id (as token-exchange names it).
    pub id: String,
    /// Requests whose path starts with this go to the server.
    pub path_prefix: String,
    /// The tools callers may use; any other tool is refused and hidden.
    pub tools: Vec<ToolEntry>,
}

/// One registered tool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolEntry {
    pub name: String,
    pub class: ToolClass,
    /// Who may call it; none matching refuses.
    pub allow: Vec<Grant>,
    /// Hashes of the description and input schema the operator reviewed.
    #[serde(default)]
    pub pin: Option<Pin>,
}

/// Callers in one of `teams` with one of `roles` (empty: any role).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub teams: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `sha256:<hex>` of the canonical JSON of a tool's `description` and `inputSchema`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub description: String,
    pub input_schema: String,
}

/// A token bucket: `requests` per `window_seconds` for each principal, per tool class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub class: ToolClass,
    pub per: PrincipalKind,
    pub requests: u64,
    pub window_seconds: u64,
}

fn default_tool_path_prefix() -> String {
    "/tools/".into()
}

fn default_true() -> bool {
    true
}

impl Grant {
    /// Whether (team, role) is covered.
    pub fn allows(&self, team: &str, role: Option<&str>) -> bool {
        self.teams.iter().any(|t| t == team)
            && (self.roles.is_empty() || role.is_some_and(|r| self.roles.iter().any(|x| x == r)))
    }
}

fn valid_hash(field: &str, value: &str) -> Result<(), ConfigError> {
    let hex = value.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConfigError::invalid(
            field,
            "must be sha256:<64 hex digits>",
        ));
    }
    Ok(())
}

impl Validate for ToolEntry {
    fn validate(&self) -> Result<(), ConfigError> {
        non_empty("name", &self.name)?;
        if self.allow.is_empty() {
            return Err(ConfigError::invalid(
                "allow",
                "must list at least one grant",
            ));
        }
        for (i, g) in self.allow.iter().enumerate() {
            if g.teams.is_empty() {
                return Err(ConfigError::invalid(
                    format!("allow[{i}].teams"),
                    "must list at least one team",
                ));
            }
        }
        if let Some(pin) = &self.pin {
            valid_hash("pin.description", &pin.description)?;
            valid_hash("pin.input_schema", &pin.input_schema)?;
        }
        Ok(())
    }
}

impl Validate for ToolServer {
    fn validate(&self) -> Result<(), ConfigError> {
        non_empty("id", &self.id)?;
        if !self.path_prefix.starts_with('/') {
            return Err(ConfigError::invalid("path_prefix", "must start with /"));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, t) in self.tools.iter().enumerate() {
            t.validate().map_err(|e| e.within(&format!("tools[{i}]")))?;
            if !names.insert(t.name.as_str()) {
                return Err(ConfigError::invalid(
                    format!("tools[{i}].name"),
                    "is registered twice",
                ));
            }
        }
        Ok(())
    }
}

impl Validate for RateLimit {
    fn validate(&self) -> Result<(), ConfigError> {
        in_range("requests", self.requests, 1, 1_000_000)?;
        in_range("window_seconds", self.window_seconds, 1, 86_400)
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        non_empty("tool_path_prefix", &self.tool_path_prefix)?;
        if self.servers.is_empty() {
            return Err(ConfigError::invalid(
                "servers",
                "must register at least one tool server",
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, s) in self.servers.iter().enumerate() {
            s.validate()
                .map_err(|e| e.within(&format!("servers[{i}]")))?;
            if !ids.insert(s.id.as_str()) {
                return Err(ConfigError::invalid(
                    format!("servers[{i}].id"),
                    "is registered twice",
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, r) in self.rate_limits.iter().enumerate() {
            r.validate()
                .map_err(|e| e.within(&format!("rate_limits[{i}]")))?;
            if !seen.insert((r.class, r.per.as_str())) {
                return Err(ConfigError::invalid(
                    format!("rate_limits[{i}]"),
                    "a limit for this class and principal is already configured",
                ));
            }
        }
        self.body.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    const HASH: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn config(tools: &str, limits: &str) -> String {
        format!(
            r#"{{"servers":[{{"id":"gh","path_prefix":"/tools/gh/","tools":{tools}}}],"rate_limits":{limits}}}"#
        )
    }

    #[test]
    fn accepts_a_full_registry() {
        let tools = format!(
            r#"[{{"name":"get_issue","class":"read","allow":[{{"teams":["sre"]}}],"pin":{{"description":"{HASH}","input_schema":"{HASH}"}}}}]"#
        );
        let limits = r#"[{"class":"delete","per":"user","requests":1,"window_seconds":600}]"#;
        let c: Config = parse(config(&tools, limits).as_bytes()).unwrap();
        assert_eq!(c.servers[0].tools[0].class, ToolClass::Read);
        assert_eq!(c.tool_path_prefix, "/tools/");
        assert!(c.global_rate_limit_headers);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                config(
                    r#"[{"name":"x","class":"destroy","allow":[{"teams":["a"]}]}]"#,
                    "[]",
                ),
                "servers[0].tools[0].class",
            ),
            (
                config(r#"[{"name":"x","class":"read","allow":[]}]"#, "[]"),
                "servers[0].tools[0].allow",
            ),
            (
                config(
                    r#"[{"name":"x","class":"read","allow":[{"teams":["a"]}],"pin":{"description":"sha256:12","input_schema":"x"}}]"#,
                    "[]",
                ),
                "servers[0].tools[0].pin.description",
            ),
            (
                config(
                    r#"[{"name":"x","class":"read","allow":[{"teams":["a"]}]},{"name":"x","class":"read","allow":[{"teams":["a"]}]}]"#,
                    "[]",
                ),
                "servers[0].tools[1].name",
            ),
            (
                config(
                    "[]",
                    r#"[{"class":"read","per":"user","requests":0,"window_seconds":60}]"#,
                ),
                "rate_limits[0].requests",
            ),
            (
                config(
                    "[]",
                    r#"[{"class":"read","per":"user","requests":1,"window_seconds":60},{"class":"read","per":"user","requests":2,"window_seconds":60}]"#,
                ),
                "rate_limits[1]",
            ),
            (r#"{"servers":[]}"#.to_string(), "servers"),
            (
                config(
                    "[]",
                    r#"[{"class":"read","per":"robot","requests":1,"window_seconds":1}]"#,
                ),
                "rate_limits[0].per",
            ),
        ];
        for (text, field) in cases {
            let e = parse::<Config>(text.as_bytes()).unwrap_err();
            assert_eq!(e.field, field, "{text}: {e}");
        }
    }

    #[test]
    fn grants_match_team_and_role() {
        let g = Grant {
            teams: vec!["sre".into()],
            roles: vec!["operator".into()],
        };
        assert!(g.allows("sre", Some("operator")));
        assert!(!g.allows("sre", Some("viewer")));
        assert!(!g.allows("sre", None));
        assert!(!g.allows("security", Some("operator")));
        let any_role = Grant {
            teams: vec!["sre".into()],
            roles: vec![],
        };
        assert!(any_role.allows("sre", None));
    }
}
