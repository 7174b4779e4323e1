//! The service's configuration: which rate limit descriptors get which limit.
//!
//! ```yaml
//! domain: meshguard                 # Envoy's ratelimit filter `domain`
//! redis_url: redis://127.0.0.1:6379 # the shared counter store (every replica the same)
//! limits:
//!   - name: delete-per-user
//!     match: { class: delete }      # descriptor entries that must be present with these values
//!     per: user                     # descriptor entry whose value keys the counter
//!     requests: 1
//!     window_seconds: 600
//! ```
//!
//! A descriptor is the list of `(key, value)` entries Envoy sends (from tool-policy's
//! `x-meshguard-rl-*` headers: `class`, `user`, `team`, `agent`). A limit applies to a
//! descriptor that carries every `match` entry and the `per` entry; each distinct `per` value
//! counts in its own bucket. A descriptor no limit applies to is not limited.
//!
//! JSON is YAML, so either works. Unknown fields and bad values refuse the whole file, with
//! the field named (`limits[0].window_seconds: ...`).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The rate limit domain Envoy's filter names; requests for another domain are errors.
    pub domain: String,
    /// `redis://host:port[/db]` of the counter store shared by all service replicas.
    pub redis_url: String,
    /// The limits, checked in order.
    pub limits: Vec<LimitSpec>,
}

/// One limit: `requests` per `window_seconds` for each value of the `per` entry among the
/// descriptors that carry every `match` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// Names the limit in responses and logs.
    pub name: String,
    /// Descriptor entries (key: value) the descriptor must carry.
    #[serde(rename = "match", default)]
    pub matches: BTreeMap<String, String>,
    /// The descriptor entry whose value selects the bucket (absent: one bucket for all).
    #[serde(default)]
    pub per: Option<String>,
    /// Calls allowed per window (0 refuses every matching call).
    pub requests: u64,
    /// The window length in seconds (1 s .. 1 day).
    pub window_seconds: u64,
}

/// A configuration the service refuses to start with; names the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field path, e.g. `limits[0].window_seconds`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() || self.field == "." {
            write!(f, "rate limit config: {}", self.message)
        } else {
            write!(f, "rate limit config: {}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// The longest window: one day (the service's counters are rate limits, not quotas).
pub const MAX_WINDOW_SECONDS: u64 = 86_400;

/// Descriptor keys become variables of limitador's CEL conditions: identifiers only.
pub fn is_key(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 64
}

/// Match values are embedded in CEL string literals: a safe alphabet only.
fn is_match_value(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@' | '/'))
}

impl Config {
    /// Parse YAML (or JSON) and validate.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            err(field, e.into_inner().to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Read and parse a file.
    pub fn load(path: &str) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| err(path, e.to_string()))?;
        Config::parse(&text)
    }

    /// Every rule the parser cannot express, each naming its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.domain.trim().is_empty() {
            return Err(err("domain", "must not be empty"));
        }
        if !self.redis_url.starts_with("redis://") {
            // TLS to Redis (rediss://) is not built in (no OpenSSL): keep Redis on the
            // loopback or behind the mesh's mTLS.
            return Err(err(
                "redis_url",
                "must be a redis:// URL (rediss:// is not built in)",
            ));
        }
        if self.limits.is_empty() {
            return Err(err("limits", "at least one limit is required"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, l) in self.limits.iter().enumerate() {
            let at = |f: &str| format!("limits[{i}].{f}");
            if l.name.trim().is_empty() {
                return Err(err(at("name"), "must not be empty"));
            }
            if !names.insert(l.name.as_str()) {
                return Err(err(
                    at("name"),
                    format!("duplicate limit name {:?}", l.name),
                ));
            }
            if l.window_seconds == 0 || l.window_seconds > MAX_WINDOW_SECONDS {
                return Err(err(
                    at("window_seconds"),
                    format!("must be 1..={MAX_WINDOW_SECONDS}"),
                ));
            }
            if l.matches.is_empty() && l.per.is_none() {
                return Err(err(
                    at("match"),
                    "a limit needs `match` entries or `per` (it would count every descriptor)",
                ));
            }
            for (k, v) in &l.matches {
                if !is_key(k) {
                    return Err(err(
                        format!("limits[{i}].match.{k}"),
                        "keys are lowercase identifiers ([a-z_][a-z0-9_]*)",
                    ));
                }
                if !is_match_value(v) {
                    return Err(err(
                        format!("limits[{i}].match.{k}"),
                        "values are 1..128 of [A-Za-z0-9_.:@/-]",
                    ));
                }
            }
            if let Some(per) = &l.per {
                if !is_key(per) {
                    return Err(err(at("per"), "a lowercase identifier ([a-z_][a-z0-9_]*)"));
                }
                if l.matches.contains_key(per) {
                    return Err(err(at("per"), "is also a `match` key"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
domain: meshguard
redis_url: redis://127.0.0.1:6379
limits:
  - name: delete-per-user
    match: { class: delete }
    per: user
    requests: 1
    window_seconds: 600
";

    #[test]
    fn parses_yaml_and_json() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.limits[0].per.as_deref(), Some("user"));
        assert_eq!(c.limits[0].matches["class"], "delete");
        let json = r#"{"domain":"d","redis_url":"redis://r:1","limits":[
            {"name":"n","match":{"class":"read"},"requests":100,"window_seconds":60}]}"#;
        assert_eq!(Config::parse(json).unwrap().limits[0].requests, 100);
    }

    fn refused(text: &str) -> ConfigError {
        Config::parse(text).unwrap_err()
    }

    #[test]
    fn bad_configs_name_the_field() {
        let cases = [
            (GOOD.replace("600", "0"), "limits[0].window_seconds"),
            (GOOD.replace("600", "86401"), "limits[0].window_seconds"),
            (
                GOOD.replace("requests: 1", "requests: -1"),
                "limits[0].requests",
            ),
            (GOOD.replace("per: user", "per: User"), "limits[0].per"),
            (GOOD.replace("per: user", "per: class"), "limits[0].per"),
            (
                GOOD.replace("class: delete", "class: \"a'b\""),
                "limits[0].match.class",
            ),
            (
                GOOD.replace("class: delete", "Class: delete"),
                "limits[0].match.Class",
            ),
            (
                GOOD.replace("per: user", "per: user\n    burst: 3"),
                "limits[0]",
            ),
            (
                GOOD.replace("redis://127.0.0.1:6379", "http://x"),
                "redis_url",
            ),
            (GOOD.replace("domain: meshguard", "domain: \"\""), "domain"),
            (
                GOOD.replace("    match: { class: delete }\n    per: user\n", ""),
                "limits[0].match",
            ),
            (GOOD.replace("limits:", "limits: []\nx:"), "x"),
        ];
        for (text, field) in cases {
            let e = refused(&text);
            assert!(
                e.field == field || e.to_string().contains(field),
                "{field}: got {e}"
            );
        }
        let dup = format!(
            "{GOOD}  - name: delete-per-user\n    match: {{ class: read }}\n    requests: 1\n    window_seconds: 1\n"
        );
        assert_eq!(refused(&dup).field, "limits[1].name");
    }

    #[test]
    fn keys_are_identifiers() {
        assert!(is_key("user") && is_key("_a1"));
        assert!(!is_key("") && !is_key("1a") && !is_key("a-b") && !is_key("a.b"));
    }
}
