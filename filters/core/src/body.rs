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
}

fn default_max_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BODY_BYTES,
            allow_uninspectable: false,
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
        Ok(())
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
            allow_uninspectable: false,
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
        };
        assert_eq!(
            l.verdict(Some("br"), None),
            BodyVerdict::PassUninspected("compressed_body")
        );
    }

    #[test]
    fn zero_limit_is_refused() {
        let l = BodyLimits {
            max_bytes: 0,
            allow_uninspectable: false,
        };
        assert_eq!(l.validate().unwrap_err().field, "body.max_bytes");
    }
}
