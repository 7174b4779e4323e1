//! Body inspection limits shared by every filter that reads a body.
//!
//! A body policy is only as good as its view of the body: an oversize body the filter gave
//! up buffering, or a gzip body it cannot read, would otherwise slip through uninspected.
//! Both are refused unless the operator explicitly chose to let them pass.

use crate::config::{ConfigError, Validate};
use crate::denial::{Control, Denial};
use serde::Deserialize;

/// Default bound on a buffered body: large tool results fit, memory stays bounded.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// `body` section of a filter configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyLimits {
    /// Largest body (or single SSE event) the filter buffers and inspects.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Let bodies the filter cannot inspect (oversize, compressed) pass unchecked.
    /// Defaults to false: fail closed.
    #[serde(default)]
    pub allow_uninspectable: bool,
    /// Media types (`type/subtype`, compared ignoring case and parameters) of response
    /// bodies that pass uninspected. Any other type that is neither JSON nor SSE is refused
    /// when it carries a body, since MCP clients read JSON and SSE by substring match.
    #[serde(default)]
    pub allow_media_types: Vec<String>,
}

fn default_max_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BODY_BYTES,
            allow_uninspectable: false,
            allow_media_types: Vec::new(),
        }
    }
}

impl Validate for BodyLimits {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes == 0 || self.max_bytes > 64 << 20 {
            return Err(ConfigError::invalid(
                "body.max_bytes",
                "must be between 1 and 67108864",
            ));
        }
        for (i, media) in self.allow_media_types.iter().enumerate() {
            let essence = media_essence(media);
            let ok = essence
                .split_once('/')
                .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty());
            if !ok || classify_media(Some(media)) != Media::Other(essence) {
                return Err(ConfigError::invalid(
                    format!("body.allow_media_types[{i}]"),
                    "must be a type/subtype that is neither JSON nor text/event-stream",
                ));
            }
        }
        Ok(())
    }
}

/// How a body's `content-type` is read, as loosely as MCP clients read it: the TypeScript
/// SDK takes any type containing `text/event-stream` as SSE and any containing
/// `application/json` as JSON, the Python SDK compares prefixes. A filter therefore treats
/// every type that mentions `json` as JSON and refuses a type that mentions both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    /// Inspected as one JSON document (any `json`: `+json`, `json-rpc`, `x-ndjson`, ...).
    Json,
    /// Inspected event by event.
    EventStream,
    /// Mentions both JSON and SSE: clients disagree on how to read it.
    Ambiguous,
    /// No content type at all.
    Missing,
    /// Anything else, by its lower-case essence (`text/html`).
    Other(String),
}

/// The lower-case `type/subtype` of a content type, parameters dropped.
pub fn media_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Classify a `content-type` header value (see [`Media`]).
pub fn classify_media(content_type: Option<&str>) -> Media {
    let Some(value) = content_type.map(str::trim).filter(|v| !v.is_empty()) else {
        return Media::Missing;
    };
    let lower = value.to_ascii_lowercase();
    match (lower.contains("text/event-stream"), lower.contains("json")) {
        (true, true) => Media::Ambiguous,
        (true, false) => Media::EventStream,
        (false, true) => Media::Json,
        (false, false) => Media::Other(media_essence(value)),
    }
}

impl BodyLimits {
    /// Whether the operator lets bodies of this media type pass uninspected.
    pub fn allows_media(&self, media: &Media) -> bool {
        match media {
            Media::Other(essence) => self
                .allow_media_types
                .iter()
                .any(|m| media_essence(m) == *essence),
            _ => false,
        }
    }
}

/// What to do with a body, decided from headers before any byte of it arrives.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyVerdict {
    /// Buffer and inspect it.
    Inspect,
    /// Let it pass uninspected (operator's explicit choice).
    PassUninspected(&'static str),
    /// Refuse it.
    Refuse(Denial),
}

impl BodyLimits {
    /// Judge a body by its `content-encoding` and `content-length` headers.
    pub fn verdict(
        &self,
        content_encoding: Option<&str>,
        content_length: Option<&str>,
    ) -> BodyVerdict {
        let encoded = content_encoding
            .map(str::trim)
            .is_some_and(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"));
        if encoded {
            return self.uninspectable(
                415,
                "compressed_body",
                "compressed bodies cannot be inspected",
            );
        }
        let too_long = content_length
            .map(|l| {
                l.trim()
                    .parse::<usize>()
                    .map_or(true, |n| n > self.max_bytes)
            })
            .unwrap_or(false);
        if too_long {
            return self.uninspectable(413, "body_too_large", "body exceeds the inspection limit");
        }
        BodyVerdict::Inspect
    }

    /// Judge a body that grew past the limit while streaming in (no or lying content-length).
    pub fn verdict_on_overflow(&self, buffered: usize) -> Option<BodyVerdict> {
        (buffered > self.max_bytes)
            .then(|| self.uninspectable(413, "body_too_large", "body exceeds the inspection limit"))
    }

    fn uninspectable(
        &self,
        status: u16,
        reason: &'static str,
        message: &'static str,
    ) -> BodyVerdict {
        if self.allow_uninspectable {
            BodyVerdict::PassUninspected(reason)
        } else {
            BodyVerdict::Refuse(Denial::new(status, Control::Protocol, reason, message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_reason(v: BodyVerdict) -> String {
        match v {
            BodyVerdict::Refuse(d) => d.reason.into_owned(),
            other => panic!("expected refusal, got {other:?}"),
        }
    }

    #[test]
    fn plain_small_body_is_inspected() {
        let l = BodyLimits::default();
        assert_eq!(l.verdict(None, Some("12")), BodyVerdict::Inspect);
        assert_eq!(l.verdict(Some("identity"), None), BodyVerdict::Inspect);
    }

    #[test]
    fn compressed_and_oversize_bodies_fail_closed() {
        let l = BodyLimits {
            max_bytes: 10,
            ..BodyLimits::default()
        };
        assert_eq!(
            refused_reason(l.verdict(Some("gzip"), None)),
            "compressed_body"
        );
        assert_eq!(
            refused_reason(l.verdict(Some("GZIP, identity"), None)),
            "compressed_body"
        );
        assert_eq!(
            refused_reason(l.verdict(None, Some("11"))),
            "body_too_large"
        );
        assert_eq!(
            refused_reason(l.verdict(None, Some("nonsense"))),
            "body_too_large"
        );
        assert_eq!(
            refused_reason(l.verdict_on_overflow(11).unwrap()),
            "body_too_large"
        );
        assert!(l.verdict_on_overflow(10).is_none());
    }

    #[test]
    fn explicit_choice_lets_them_pass() {
        let l = BodyLimits {
            max_bytes: 10,
            allow_uninspectable: true,
            ..BodyLimits::default()
        };
        assert_eq!(
            l.verdict(Some("br"), None),
            BodyVerdict::PassUninspected("compressed_body")
        );
    }

    #[test]
    fn media_types_are_read_as_loosely_as_clients_read_them() {
        for json in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/json-rpc",
            "application/foo+json",
            "text/plain; profile=application/json",
            "application/x-ndjson",
        ] {
            assert_eq!(classify_media(Some(json)), Media::Json, "{json}");
        }
        assert_eq!(
            classify_media(Some("text/event-stream; charset=utf-8")),
            Media::EventStream
        );
        assert_eq!(
            classify_media(Some("text/event-stream; x=application/json")),
            Media::Ambiguous
        );
        assert_eq!(classify_media(None), Media::Missing);
        assert_eq!(classify_media(Some("  ")), Media::Missing);
        assert_eq!(
            classify_media(Some("Text/HTML; charset=utf-8")),
            Media::Other("text/html".into())
        );
    }

    #[test]
    fn only_listed_other_types_pass() {
        let l = BodyLimits {
            allow_media_types: vec!["Image/PNG".into()],
            ..BodyLimits::default()
        };
        assert!(l.validate().is_ok());
        assert!(l.allows_media(&classify_media(Some("image/png"))));
        assert!(!l.allows_media(&classify_media(Some("text/html"))));
        assert!(!l.allows_media(&Media::Missing));
        let json = BodyLimits {
            allow_media_types: vec!["application/json".into()],
            ..BodyLimits::default()
        };
        assert_eq!(
            json.validate().unwrap_err().field,
            "body.allow_media_types[0]"
        );
    }

    #[test]
    fn zero_limit_is_refused() {
        let l = BodyLimits {
            max_bytes: 0,
            ..BodyLimits::default()
        };
        assert_eq!(l.validate().unwrap_err().field, "body.max_bytes");
    }
}
