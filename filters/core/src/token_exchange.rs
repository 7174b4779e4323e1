//! Token exchange at the gateway (MCP-02, MCP-09, MCP-18): configuration schema.

use crate::config::{ConfigError, Validate};
use serde::Deserialize;

/// Plugin configuration of the token-exchange filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `iss` of the tokens this gateway mints; tools pin it.
    pub issuer: String,
    /// Lifetime of minted tokens: seconds to minutes, never hours.
    #[serde(default = "default_ttl")]
    pub token_ttl_seconds: u64,
}

fn default_ttl() -> u64 {
    300
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.issuer.trim().is_empty() {
            return Err(ConfigError::invalid("issuer", "must not be empty"));
        }
        if !(1..=3600).contains(&self.token_ttl_seconds) {
            return Err(ConfigError::invalid(
                "token_ttl_seconds",
                "must be between 1 and 3600",
            ));
        }
        Ok(())
    }
}
