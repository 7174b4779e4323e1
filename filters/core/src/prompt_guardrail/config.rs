//! Plugin configuration of the prompt guardrail.
//!
//! ```json
//! {"body": {"max_bytes": 1048576},
//!  "detect": {"families": {"jailbreak": {"mode": "annotate"}},
//!             "model": {"min_probability": 0.98}},
//!  "inspect": {"tool_arguments": true, "prompt_arguments": true,
//!              "sampling_messages": true, "json_paths": ["messages[].content"]}}
//! ```

use super::paths::JsonPath;
use crate::body::BodyLimits;
use crate::config::{ConfigError, Validate};
use crate::detect::{DetectConfig, Family, Mode};
use serde::Deserialize;

/// Most JSON paths an operator may configure (each one is walked for every request).
pub const MAX_JSON_PATHS: usize = 32;

/// Plugin configuration of the prompt-guardrail filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How much body to inspect and what to do with bodies that cannot be inspected.
    #[serde(default)]
    pub body: BodyLimits,
    /// Detection threshold, per-family modes (block/annotate/off), extra rules.
    #[serde(default)]
    pub detect: DetectConfig,
    /// Which text fields of a request reach the detector.
    #[serde(default)]
    pub inspect: InspectConfig,
}

/// The text fields that reach a model or a tool, and so are inspected.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectConfig {
    /// `tools/call` `params.arguments`: every string value and key, at any depth.
    #[serde(default = "yes")]
    pub tool_arguments: bool,
    /// `prompts/get` `params.arguments`.
    #[serde(default = "yes")]
    pub prompt_arguments: bool,
    /// `sampling/createMessage` `params.messages` and `params.systemPrompt`.
    #[serde(default = "yes")]
    pub sampling_messages: bool,
    /// Extra paths (`messages[].content`, `params.input`). For a JSON-RPC request they are
    /// resolved against the message (only `params...` paths can match); a body that is not
    /// JSON-RPC is accepted as a chat-style body only when at least one path is configured,
    /// and the paths are resolved against its root. A path ending on an object or array
    /// inspects every string under it.
    #[serde(default)]
    pub json_paths: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for InspectConfig {
    fn default() -> Self {
        Self {
            tool_arguments: true,
            prompt_arguments: true,
            sampling_messages: true,
            json_paths: Vec::new(),
        }
    }
}

impl Config {
    /// Whether any family may annotate: only then must the filter hold request headers
    /// until the body is judged (to add the annotation header).
    pub fn may_annotate(&self) -> bool {
        Family::ALL
            .iter()
            .any(|f| self.detect.family(*f).mode == Mode::Annotate)
    }

    /// The configured paths, parsed.
    pub fn parsed_paths(&self) -> Result<Vec<JsonPath>, ConfigError> {
        self.inspect
            .json_paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                JsonPath::parse(p)
                    .map_err(|e| ConfigError::invalid(format!("inspect.json_paths[{i}]"), e))
            })
            .collect()
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.body.validate()?;
        self.detect.validate()?;
        if self.inspect.json_paths.len() > MAX_JSON_PATHS {
            return Err(ConfigError::invalid(
                "inspect.json_paths",
                format!("at most {MAX_JSON_PATHS} paths"),
            ));
        }
        self.parsed_paths().map(|_| ())
    }
}
