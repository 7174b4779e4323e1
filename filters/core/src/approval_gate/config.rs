//! Plugin configuration of the approval gate.
//!
//! ```json
//! {"classes": ["write", "delete", "admin"],
//!  "webhook": {"cluster": "approval", "authority": "approval.meshguard-system.svc",
//!              "path": "/v1/approvals", "timeout_ms": 2000},
//!  "tokens": {"issuer": "meshguard-approval", "audiences": ["meshguard-gateway"],
//!             "algorithms": ["ES256"], "jwks": {"inline": {"keys": [...]}}},
//!  "redeem": {"path": "/v1/redeem", "timeout_ms": 2000},
//!  "max_token_age_seconds": 300,
//!  "token_header": "meshguard-approval",
//!  "preview_bytes": 512,
//!  "body": {"max_bytes": 1048576}}
//! ```
//!
//! `tokens` is the core [`VerifierConfig`]; only inline keys are accepted (the gate verifies
//! every approval once, with no fetch to wait for). The agent carries the approval token in
//! `params._meta["meshguard/approval"]` (MCP's own request metadata, which survives the
//! gateway's header hygiene) or in the `token_header` request header (not `x-meshguard-`:
//! those are stripped from outside).
//!
//! `redeem` is where an approved call's approval is consumed before it is forwarded: the
//! same cluster and authority as the webhook (the approval service), its own path and
//! timeout. Redemption is always on: it is what makes an approval single-use across gateway
//! replicas and restarts.

use super::ToolClass;
use crate::body::BodyLimits;
use crate::config::{in_range, non_empty, ConfigError, Validate};
use crate::jwt::{JwksSource, VerifierConfig};
use serde::Deserialize;

/// Plugin configuration of the approval-gate filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Tool classes whose calls wait for a person's approval.
    #[serde(default = "default_classes")]
    pub classes: Vec<ToolClass>,
    /// Where approvals are requested.
    pub webhook: WebhookConfig,
    /// Where approvals are redeemed (consumed once) before an approved call is forwarded.
    #[serde(default)]
    pub redeem: RedeemConfig,
    /// How approval tokens are verified (issuer, audience, pinned algorithms, inline keys).
    pub tokens: VerifierConfig,
    /// Oldest approval token accepted, by `iat`, seconds (10 to 3600).
    #[serde(default = "default_max_age")]
    pub max_token_age_seconds: u64,
    /// Request header that may carry the approval token on the retry.
    #[serde(default = "default_token_header")]
    pub token_header: String,
    /// Longest scrubbed argument preview sent to the approver, bytes (0 to 4096).
    #[serde(default = "default_preview")]
    pub preview_bytes: usize,
    /// How much body is buffered; uninspectable bodies are always refused here.
    #[serde(default)]
    pub body: BodyLimits,
}

/// The approval webhook, reached through an Envoy cluster with `dispatch_http_call`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Envoy cluster of the approval service.
    pub cluster: String,
    /// `:authority` of the call.
    pub authority: String,
    /// `:path` of the call.
    #[serde(default = "default_path")]
    pub path: String,
    /// Timeout, milliseconds (50 to 30000); a timeout denies the call.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

/// The redemption endpoint of the approval service (the webhook's cluster and authority).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemConfig {
    /// `:path` of the call.
    #[serde(default = "default_redeem_path")]
    pub path: String,
    /// Timeout, milliseconds (50 to 30000); a timeout denies the call.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

impl Default for RedeemConfig {
    fn default() -> Self {
        Self {
            path: default_redeem_path(),
            timeout_ms: default_timeout(),
        }
    }
}

fn default_redeem_path() -> String {
    "/v1/redeem".into()
}

fn default_classes() -> Vec<ToolClass> {
    vec![ToolClass::Write, ToolClass::Delete, ToolClass::Admin]
}

fn default_max_age() -> u64 {
    300
}

fn default_token_header() -> String {
    "meshguard-approval".into()
}

fn default_preview() -> usize {
    512
}

fn default_path() -> String {
    "/v1/approvals".into()
}

fn default_timeout() -> u64 {
    2000
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.classes.is_empty() {
            return Err(ConfigError::invalid(
                "classes",
                "must list at least one class (remove the filter to approve nothing)",
            ));
        }
        self.webhook.validate().map_err(|e| e.within("webhook"))?;
        self.tokens.validate().map_err(|e| e.within("tokens"))?;
        if !self.redeem.path.starts_with('/') {
            return Err(ConfigError::invalid("redeem.path", "must start with /"));
        }
        in_range("redeem.timeout_ms", self.redeem.timeout_ms, 50, 30000)?;
        if matches!(self.tokens.jwks, JwksSource::Remote(_)) {
            return Err(ConfigError::invalid(
                "tokens.jwks",
                "only inline keys are supported",
            ));
        }
        in_range(
            "max_token_age_seconds",
            self.max_token_age_seconds,
            10,
            3600,
        )?;
        non_empty("token_header", &self.token_header)?;
        let header = self.token_header.to_ascii_lowercase();
        if header.starts_with(crate::identity::HEADER_PREFIX) || header.starts_with(':') {
            return Err(ConfigError::invalid(
                "token_header",
                "must not be a pseudo-header or an x-meshguard- header (those are stripped)",
            ));
        }
        in_range("preview_bytes", self.preview_bytes as u64, 0, 4096)?;
        self.body.validate()?;
        if self.body.allow_uninspectable {
            return Err(ConfigError::invalid(
                "body.allow_uninspectable",
                "must be false: an uninspected call would skip approval",
            ));
        }
        Ok(())
    }
}

impl Validate for WebhookConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        non_empty("cluster", &self.cluster)?;
        non_empty("authority", &self.authority)?;
        if !self.path.starts_with('/') {
            return Err(ConfigError::invalid("path", "must start with /"));
        }
        in_range("timeout_ms", self.timeout_ms, 50, 30000)
    }
}
