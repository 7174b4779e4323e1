//! Plugin configuration of the audience-check filter.
//!
//! ```json
//! {
//!   "tokens": { "issuer": "meshguard-gateway", "audiences": ["mcp-github"], "algorithms": ["ES256"],
//!               "jwks": {"remote": {"uri": "http://gateway/.well-known/jwks.json", "cluster": "gateway"}},
//!               "required_claims": ["tool", "team", "sid"] },
//!   "team_rules": [{ "tool": "*", "argument": "repo", "pattern": "org-{team}/*" }],
//!   "replay_protection": false
//! }
//! ```

use super::team_rules::TeamRule;
use crate::config::{in_range, ConfigError, Validate};
use crate::jwt::VerifierConfig;
use serde::Deserialize;

/// Plugin configuration of the audience-check filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How tool tokens are verified: the gateway as issuer, this tool's id as audience,
    /// algorithms pinned, the gateway's JWKS.
    pub tokens: VerifierConfig,
    /// Request arguments that must stay inside the caller's team (MCP-09).
    #[serde(default)]
    pub team_rules: Vec<TeamRule>,
    /// Reject a token `jti` seen before within its lifetime (shared by all workers). Use only
    /// when the gateway mints a fresh token per call (`minter.mint_cache_capacity: 0`).
    #[serde(default)]
    pub replay_protection: bool,
    /// Bound on the JSON-RPC body read to learn the tool name (fail closed beyond it).
    #[serde(default)]
    pub body: crate::body::BodyLimits,
    /// Verified-token cache entries per worker.
    #[serde(default = "default_cache_capacity")]
    pub token_cache_capacity: usize,
    /// What the protected workload speaks: `mcp` (default) reads the JSON-RPC body to
    /// check the tool name and team rules; `http` (a REST API such as a vector database)
    /// only verifies the token and its binding and forwards the identity headers, leaving
    /// the body to the filter behind it (memory-guard).
    #[serde(default)]
    pub protocol: Protocol,
}

/// The protected workload's protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    #[default]
    Mcp,
    Http,
}

fn default_cache_capacity() -> usize {
    1024
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.tokens.validate().map_err(|e| e.within("tokens"))?;
        for (i, rule) in self.team_rules.iter().enumerate() {
            rule.validate()
                .map_err(|e| e.within(&format!("team_rules[{i}]")))?;
        }
        if self.protocol == Protocol::Http && !self.team_rules.is_empty() {
            return Err(ConfigError::invalid(
                "team_rules",
                "team rules read MCP tool arguments: not with protocol `http`",
            ));
        }
        self.body.validate()?;
        in_range(
            "token_cache_capacity",
            self.token_cache_capacity as u64,
            1,
            100_000,
        )
    }
}
