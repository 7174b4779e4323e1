//! Audience check at each tool (MCP-02, MCP-09): configuration schema.

use crate::config::{ConfigError, Validate};
use serde::Deserialize;

/// Plugin configuration of the audience-check filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This tool server's own id: a token's `aud` must contain it.
    pub audience: String,
    /// The gateway's `iss`: the only issuer whose tokens this tool accepts.
    pub issuer: String,
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.audience.trim().is_empty() {
            return Err(ConfigError::invalid("audience", "must not be empty"));
        }
        if self.issuer.trim().is_empty() {
            return Err(ConfigError::invalid("issuer", "must not be empty"));
        }
        Ok(())
    }
}
