//! Plugin configuration of the pii-scrubber filter.
//!
//! ```json
//! {
//!   "body": { "max_bytes": 1048576, "allow_uninspectable": false },
//!   "scrub": { "actions": { "email": "hash", "private_key": "block" } },
//!   "directions": { "response": true, "request": true },
//!   "request_action": "block",
//!   "hmac_key_env": "MESHGUARD_SCRUB_HMAC_KEY"
//! }
//! ```
//!
//! Every field is optional: `{}` scrubs responses with the built-in actions (redact, card
//! numbers keep their last four digits) and leaves requests alone. The HMAC key for `hash`
//! actions is never a field: `hmac_key_env` names the VM environment variable holding it, so
//! the configuration (in Git, in `kubectl get wasmplugin`) never holds the key.

use crate::body::BodyLimits;
use crate::config::{ConfigError, Validate};
use crate::scrub::{Action, ScrubConfig};
use serde::Deserialize;

/// Plugin configuration of the pii-scrubber filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How much body to inspect and what to do with bodies that cannot be inspected
    /// (oversize, compressed): refused unless `allow_uninspectable` says otherwise.
    #[serde(default)]
    pub body: BodyLimits,
    /// Which kinds to detect and what to do with each (see [`ScrubConfig`]).
    #[serde(default)]
    pub scrub: ScrubConfig,
    /// Which directions are scrubbed.
    #[serde(default)]
    pub directions: Directions,
    /// What a finding in a request body does (data-loss prevention).
    #[serde(default)]
    pub request_action: RequestAction,
    /// Name of the VM environment variable holding the HMAC key for `hash` actions.
    /// Required as soon as any action is `hash`.
    #[serde(default)]
    pub hmac_key_env: Option<String>,
}

/// Which traffic the filter scrubs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directions {
    /// Response bodies (tool results on their way to a model): on by default.
    #[serde(default = "yes")]
    pub response: bool,
    /// Request bodies (data leaving through a tool call or to an external backend): off by
    /// default, because rewriting what an agent sends changes its meaning; turn it on where
    /// the route leads out of the trust boundary.
    #[serde(default)]
    pub request: bool,
}

fn yes() -> bool {
    true
}

impl Default for Directions {
    fn default() -> Self {
        Self {
            response: true,
            request: false,
        }
    }
}

/// What a finding in a request body does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestAction {
    /// Refuse the request (403, control MCP-04, reason `sensitive_data`): the upstream
    /// never sees any of it. The default, because DLP exists to stop data leaving.
    #[default]
    Block,
    /// Rewrite the request with the per-kind actions of `scrub` (kinds whose action is
    /// `block` still block) and forward it.
    Redact,
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.body.validate()?;
        self.scrub.validate()?;
        if !self.directions.response && !self.directions.request {
            return Err(ConfigError::invalid(
                "directions",
                "at least one of `response` and `request` must be true",
            ));
        }
        if let Some(name) = &self.hmac_key_env {
            let ok =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(ConfigError::invalid(
                    "hmac_key_env",
                    "must be an environment variable name ([A-Za-z0-9_]+)",
                ));
            }
        }
        if self.hmac_key_env.is_none() {
            if let Some(field) = self.first_hash_field() {
                return Err(ConfigError::invalid(
                    "hmac_key_env",
                    format!("required: `{field}` is `hash`, which needs an HMAC key from the environment"),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// The first field whose action is `hash`, for errors that say why a key is needed.
    pub fn first_hash_field(&self) -> Option<String> {
        let s = &self.scrub;
        if s.default_action == Some(Action::Hash) {
            return Some("scrub.default_action".into());
        }
        if let Some((k, _)) = s.actions.iter().find(|(_, a)| **a == Action::Hash) {
            return Some(format!("scrub.actions.{k}"));
        }
        s.custom
            .iter()
            .position(|c| c.action == Some(Action::Hash))
            .map(|i| format!("scrub.custom[{i}].action"))
    }
}
