//! Plugin configuration of the output sanitizer.
//!
//! ```json
//! {"body": {"max_bytes": 1048576},
//!  "detect": {"families": {"jailbreak": {"mode": "annotate"}}},
//!  "mode": "redact",
//!  "allowed_link_hosts": ["docs.example.com"],
//!  "max_text_bytes": 65536,
//!  "block_threshold": 6.0}
//! ```

use crate::body::BodyLimits;
use crate::config::{ConfigError, Validate};
use crate::detect::config::MAX_WEIGHT;
use crate::detect::DetectConfig;
use serde::Deserialize;

/// Default cap per text item: large enough for a file or a page, small enough that one
/// tool result cannot flood the model's context.
pub const DEFAULT_MAX_TEXT_BYTES: usize = 256 << 10;
/// Default result score above which the whole result is withheld.
pub const DEFAULT_BLOCK_THRESHOLD: f32 = 6.0;

/// How a detected injection in a text item is neutralised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NeutraliseMode {
    /// Replace the detected spans with a visible marker.
    #[default]
    Redact,
    /// Keep the text but quote it inside a clearly marked untrusted-data envelope.
    Envelope,
}

/// Plugin configuration of the output-sanitizer filter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How much body (or SSE event) to inspect and what to do with bodies that cannot be.
    #[serde(default)]
    pub body: BodyLimits,
    /// Detection threshold, per-family modes (block = neutralise, annotate = count and
    /// log only, off), extra rules.
    #[serde(default)]
    pub detect: DetectConfig,
    /// Redact or envelope detected texts.
    #[serde(default)]
    pub mode: NeutraliseMode,
    /// Hosts (exact, or any subdomain) whose markdown links and images are kept; every
    /// other absolute link or image is dropped (images are the classic exfiltration beacon).
    #[serde(default)]
    pub allowed_link_hosts: Vec<String>,
    /// Longest text item passed on, in bytes; the rest is cut with a marker.
    #[serde(default = "default_max_text_bytes")]
    pub max_text_bytes: usize,
    /// Result score (distinct rules over all its texts) at or above which the whole result
    /// is replaced by a JSON-RPC error (MCP-13); `null` never blocks.
    #[serde(default = "default_block_threshold")]
    pub block_threshold: Option<f32>,
}

fn default_max_text_bytes() -> usize {
    DEFAULT_MAX_TEXT_BYTES
}

fn default_block_threshold() -> Option<f32> {
    Some(DEFAULT_BLOCK_THRESHOLD)
}

impl Default for Config {
    fn default() -> Self {
        Self {
            body: BodyLimits::default(),
            detect: DetectConfig::default(),
            mode: NeutraliseMode::default(),
            allowed_link_hosts: Vec::new(),
            max_text_bytes: DEFAULT_MAX_TEXT_BYTES,
            block_threshold: default_block_threshold(),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.body.validate()?;
        self.detect.validate()?;
        if self.max_text_bytes < 64 || self.max_text_bytes > 64 << 20 {
            return Err(ConfigError::invalid(
                "max_text_bytes",
                "must be between 64 and 67108864",
            ));
        }
        if let Some(t) = self.block_threshold {
            if !(t.is_finite() && t > 0.0 && t <= MAX_WEIGHT * 10.0) {
                return Err(ConfigError::invalid(
                    "block_threshold",
                    "must be a number greater than 0 and at most 1000, or null",
                ));
            }
        }
        for (i, host) in self.allowed_link_hosts.iter().enumerate() {
            let ok = !host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !ok {
                return Err(ConfigError::invalid(
                    format!("allowed_link_hosts[{i}]"),
                    "must be a lowercase host name",
                ));
            }
        }
        Ok(())
    }
}
