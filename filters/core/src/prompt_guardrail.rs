//! Prompt guardrail on requests (MCP-01): configuration schema.

use crate::body::BodyLimits;
use crate::config::{ConfigError, Validate};
use serde::Deserialize;

/// Plugin configuration of the prompt-guardrail filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How much body to inspect and what to do with bodies that cannot be inspected.
    #[serde(default)]
    pub body: BodyLimits,
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.body.validate()
    }
}
