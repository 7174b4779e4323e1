//! Plugin configuration of the token-exchange filter.
//!
//! ```json
//! {
//!   "user_tokens": { "issuer": "https://idp.example.com", "audiences": ["meshguard"],
//!                    "algorithms": ["RS256"], "jwks": {"remote": {...}} },
//!   "minter": { "issuer": "meshguard-gateway", "ttl_seconds": 120,
//!               "signing_keys_env": "MESHGUARD_SIGNING_KEYS",
//!               "session_keys_env": "MESHGUARD_SESSION_KEYS" },
//!   "agents": [{ "id": "sre-agent", "path_prefix": "/agents/sre-agent/",
//!                "spiffe": "spiffe://cluster.local/ns/agents-sre/sa/sre-agent", "teams": ["sre"] }],
//!   "tools": [{ "id": "mcp-github", "path_prefix": "/tools/mcp-github/",
//!               "allow": [{ "teams": ["sre"], "roles": ["operator"], "tools": ["get_issue"] }] }]
//! }
//! ```

use super::policy::AllowRule;
use crate::config::{in_range, non_empty, ConfigError, Validate};
use crate::jwt::{MinterConfig, VerifierConfig};
use serde::Deserialize;

/// Plugin configuration of the token-exchange filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How user OIDC tokens are verified (flow 1).
    pub user_tokens: VerifierConfig,
    /// How this gateway mints tokens; its `issuer` is also the `iss` of agent tokens it
    /// accepts back in flow 2. Keys come from the environment variables it names.
    pub minter: MinterConfig,
    /// Lifetime of agent tokens (flow 1), seconds; tool tokens use `minter.ttl_seconds`.
    #[serde(default = "default_agent_ttl")]
    pub agent_token_ttl_seconds: u64,
    /// SPIFFE id of this gateway; tool tokens are bound to it, so only the gateway's own
    /// mTLS identity can present them.
    #[serde(default)]
    pub gateway_spiffe: Option<String>,
    /// Agents reachable through the gateway (flow 1 targets).
    #[serde(default)]
    pub agents: Vec<AgentRoute>,
    /// Tool servers reachable through the gateway (flow 2 targets).
    #[serde(default)]
    pub tools: Vec<ToolRoute>,
    /// Request header naming the chat session (MCP-18).
    #[serde(default = "default_session_header")]
    pub session_header: String,
    /// Path on which an authenticated user obtains a new session id.
    #[serde(default = "default_session_path")]
    pub session_path: String,
    /// Bound on the JSON-RPC body read to learn the tool name (fail closed beyond it).
    #[serde(default)]
    pub body: crate::body::BodyLimits,
    /// Verified-token cache entries per worker.
    #[serde(default = "default_cache_capacity")]
    pub token_cache_capacity: usize,
    /// The gateway as an OAuth 2.1 protected resource (RFC 9728 metadata, challenges,
    /// RFC 8707 audience); absent: no metadata and plain challenges.
    #[serde(default)]
    pub protected_resource: Option<super::resource::ProtectedResource>,
    /// Browser origins (`scheme://host[:port]`) allowed to call the gateway besides the
    /// resource's own; a request without `Origin` (not from a browser) is always allowed.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// An agent workload reachable through the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRoute {
    /// The agent's id: the `aud` of its tokens.
    pub id: String,
    /// Requests whose path starts with this go to the agent.
    pub path_prefix: String,
    /// The agent workload's SPIFFE id; its tokens are bound to it.
    pub spiffe: String,
    /// Teams whose users may drive this agent.
    pub teams: Vec<String>,
}

/// A tool server reachable through the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRoute {
    /// The tool server's id: the `aud` of its tokens.
    pub id: String,
    /// Requests whose path starts with this go to the tool server.
    pub path_prefix: String,
    /// Who may call which tools; the first matching rule allows, none matching denies.
    pub allow: Vec<AllowRule>,
}

fn default_agent_ttl() -> u64 {
    900
}

fn default_session_header() -> String {
    "x-chat-session".into()
}

fn default_session_path() -> String {
    "/meshguard/session".into()
}

fn default_cache_capacity() -> usize {
    1024
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.user_tokens
            .validate()
            .map_err(|e| e.within("user_tokens"))?;
        self.minter.validate().map_err(|e| e.within("minter"))?;
        in_range(
            "agent_token_ttl_seconds",
            self.agent_token_ttl_seconds,
            1,
            3600,
        )?;
        if self.agents.is_empty() && self.tools.is_empty() {
            return Err(ConfigError::invalid(
                "agents",
                "configure at least one agent or tool route",
            ));
        }
        for (i, a) in self.agents.iter().enumerate() {
            a.validate()
                .map_err(|e| e.within(&format!("agents[{i}]")))?;
        }
        for (i, t) in self.tools.iter().enumerate() {
            t.validate().map_err(|e| e.within(&format!("tools[{i}]")))?;
        }
        let header = self.session_header.to_ascii_lowercase();
        if header.is_empty() || header.starts_with(crate::identity::HEADER_PREFIX) {
            return Err(ConfigError::invalid(
                "session_header",
                "must be a header name outside x-meshguard- (those are stripped on entry)",
            ));
        }
        if !self.session_path.starts_with('/') {
            return Err(ConfigError::invalid("session_path", "must start with /"));
        }
        self.body.validate()?;
        if let Some(pr) = &self.protected_resource {
            pr.validate().map_err(|e| e.within("protected_resource"))?;
        }
        super::resource::validate_origins(&self.allowed_origins)?;
        in_range(
            "token_cache_capacity",
            self.token_cache_capacity as u64,
            1,
            100_000,
        )
    }
}

impl Validate for AgentRoute {
    fn validate(&self) -> Result<(), ConfigError> {
        non_empty("id", &self.id)?;
        path_prefix(&self.path_prefix)?;
        if !self.spiffe.starts_with("spiffe://") {
            return Err(ConfigError::invalid("spiffe", "must be a spiffe:// URI"));
        }
        if self.teams.is_empty() {
            return Err(ConfigError::invalid("teams", "must list at least one team"));
        }
        Ok(())
    }
}

impl Validate for ToolRoute {
    fn validate(&self) -> Result<(), ConfigError> {
        non_empty("id", &self.id)?;
        path_prefix(&self.path_prefix)?;
        for (i, rule) in self.allow.iter().enumerate() {
            rule.validate()
                .map_err(|e| e.within(&format!("allow[{i}]")))?;
        }
        Ok(())
    }
}

fn path_prefix(prefix: &str) -> Result<(), ConfigError> {
    if !prefix.starts_with('/') {
        return Err(ConfigError::invalid("path_prefix", "must start with /"));
    }
    Ok(())
}
