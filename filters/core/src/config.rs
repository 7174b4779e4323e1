//! Strict plugin-configuration parsing.
//!
//! A filter that starts with a half-understood configuration enforces something other than
//! what the operator wrote, so every configuration type denies unknown fields and every
//! error names the field it is about (`rules[2].mode: unknown variant ...`).

use serde::de::DeserializeOwned;
use std::fmt;

/// Why a plugin configuration was refused; `Display` names the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the offending field (`.` for the document itself).
    pub field: String,
    /// What is wrong with it, in serde's words or ours.
    pub reason: String,
}

impl ConfigError {
    /// An error found by validation after parsing (a value of the right type but wrong meaning).
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl ConfigError {
    /// The same error for a section embedded under `prefix` (`user_tokens` + `issuer` ->
    /// `user_tokens.issuer`), so nested validators need not know where they are embedded.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = match self.field.as_str() {
            "" | "." => prefix.to_string(),
            f if f.starts_with('[') => format!("{prefix}{f}"),
            f => format!("{prefix}.{f}"),
        };
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid plugin configuration: field `{}`: {}",
            self.field, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

/// A configuration that can check its own values once its types are known to be right.
pub trait Validate {
    /// Refuse values the type system cannot (empty lists, zero limits, bad patterns).
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Refuse an empty (or blank) string field.
pub fn non_empty(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::invalid(field, "must not be empty"));
    }
    Ok(())
}

/// Refuse a number outside `min..=max`, saying the range.
pub fn in_range(field: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if !(min..=max).contains(&value) {
        return Err(ConfigError::invalid(
            field,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(())
}

/// Parse and validate a plugin configuration; an empty configuration is parsed as `{}`.
pub fn parse<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, ConfigError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        ConfigError {
            field,
            reason: strip_position(&e.inner().to_string()),
        }
    })?;
    de.end()
        .map_err(|e| ConfigError::invalid(".", e.to_string()))?;
    value.validate()?;
    Ok(value)
}

/// serde_json appends "at line 1 column 37" which means little in a YAML-embedded config.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        limit: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        #[serde(default)]
        inner: Vec<Inner>,
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), ConfigError> {
            if self.name.is_empty() {
                return Err(ConfigError::invalid("name", "must not be empty"));
            }
            Ok(())
        }
    }

    #[test]
    fn accepts_valid_config() {
        let s: Sample = parse(br#"{"name":"x","inner":[{"limit":3}]}"#).unwrap();
        assert_eq!(s.inner[0].limit, 3);
    }

    #[test]
    fn unknown_field_is_named() {
        let e = parse::<Sample>(br#"{"name":"x","bogus":1}"#).unwrap_err();
        assert!(e.reason.contains("unknown field `bogus`"), "{e}");
    }

    #[test]
    fn wrong_type_names_nested_path() {
        let e =
            parse::<Sample>(br#"{"name":"x","inner":[{"limit":1},{"limit":"many"}]}"#).unwrap_err();
        assert_eq!(e.field, "inner[1].limit");
        assert!(e.reason.contains("invalid type"), "{e}");
        assert!(!e.reason.contains("line"), "{e}");
    }

    #[test]
    fn missing_field_is_named() {
        let e = parse::<Sample>(br#"{"inner":[]}"#).unwrap_err();
        assert!(e.reason.contains("missing field `name`"), "{e}");
    }

    #[test]
    fn validation_error_is_reported() {
        let e = parse::<Sample>(br#"{"name":""}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid plugin configuration: field `name`: must not be empty"
        );
    }

    #[test]
    fn nested_errors_get_the_section_prefix() {
        let e = ConfigError::invalid("issuer", "x").within("user_tokens");
        assert_eq!(e.field, "user_tokens.issuer");
        assert_eq!(
            ConfigError::invalid("[2].id", "x").within("tools").field,
            "tools[2].id"
        );
    }

    #[test]
    fn trailing_garbage_is_refused() {
        assert!(parse::<Sample>(br#"{"name":"x"} {"#).is_err());
    }

    #[test]
    fn empty_config_is_empty_object() {
        let e = parse::<Sample>(b"  ").unwrap_err();
        assert!(e.reason.contains("missing field `name`"));
    }
}
