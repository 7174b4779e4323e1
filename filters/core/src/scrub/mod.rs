//! PII and secret detectors and maskers (MCP-04, DLP), shared by the scrubber and every audit line.
//!
//! Tool results carry customer data and credentials; agents push data out through tools;
//! and every filter writes audit lines that must not become a leak of their own. This
//! module finds sensitive values ([`Scrubber::find`]), rewrites them per configured
//! [`Action`] ([`Scrubber::scrub`], [`Scrubber::scrub_json`]) and offers [`scrub_line`] for
//! log lines.
//!
//! Detection is linear time (regex and Aho-Corasick only) and cheap on honest text: an
//! Aho-Corasick pass finds anchors for secrets and e-mails ([`anchors`]), a byte loop finds
//! numeric regions for phones, SSNs, cards, IBANs and IPv4 ([`pii`]), and only those places
//! reach a regex. Every candidate passes a validity check ([`validate`]) so order ids,
//! timestamps, hashes and UUIDs pass untouched. Overlaps are resolved by a fixed rule
//! ([`overlap`]).

pub mod action;
pub mod anchors;
pub mod config;
pub mod json;
pub mod kind;
pub mod log_line;
pub mod overlap;
pub mod pii;
pub mod providers;
pub mod secrets;
pub mod validate;
pub mod view;
pub mod words;

pub use config::{Action, CustomDetector, ScrubConfig};
pub use json::Report;
pub use kind::{Confidence, Finding, Kind, KindSet};
pub use log_line::scrub_log_line;

use crate::config::{ConfigError, Validate};
use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// Shortest HMAC key accepted for `hash`: a shorter key makes the hash of a phone number or
/// an e-mail address cheap to brute-force.
pub const MIN_HMAC_KEY_BYTES: usize = 16;

/// An operator-defined detector, compiled.
#[derive(Debug, Clone)]
struct Custom {
    name: String,
    label: String,
    regex: Regex,
    action: Action,
}

/// A compiled scrubber: built once per plugin configuration, used for every message.
#[derive(Debug, Clone)]
pub struct Scrubber {
    on: KindSet,
    actions: [Action; Kind::BUILTIN.len()],
    custom: Vec<Custom>,
    key: Option<Vec<u8>>,
}

/// The outcome of scrubbing one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrubbed<'a> {
    /// The masked text; borrowed (no copy) when nothing was found.
    pub text: Cow<'a, str>,
    /// What was found, by start, non-overlapping; spans refer to the *input* text.
    pub findings: Vec<Finding>,
    /// Set when a finding's action is `block`: the first such kind by position. The
    /// caller must refuse the message (control MCP-04); `text` is still fully masked.
    pub blocked: Option<Kind>,
}

impl Scrubber {
    /// Compile a configuration. `hmac_key` comes from the host environment (never from the
    /// configuration) and is required, at least [`MIN_HMAC_KEY_BYTES`] long, as soon as any
    /// action is `hash`.
    pub fn new(config: &ScrubConfig, hmac_key: Option<&[u8]>) -> Result<Self, ConfigError> {
        config.validate()?;
        let key = hmac_key.filter(|k| !k.is_empty());
        for (field, action) in config.configured_actions() {
            check_hash_key(&field, action, key)?;
        }
        let mut on = KindSet::default();
        let mut actions = [Action::Redact; Kind::BUILTIN.len()];
        for (i, kind) in Kind::BUILTIN.iter().enumerate() {
            actions[i] = config.action_for(*kind);
            if config.is_enabled(*kind) {
                on = on.with(*kind);
            }
        }
        let custom = compile_customs(config)?;
        Ok(Self {
            on,
            actions,
            custom,
            key: key.map(<[u8]>::to_vec),
        })
    }

    /// Every sensitive value in `text`, by start, overlaps resolved. The detectors scan the
    /// text as its reader sees it ([`view::View`]: JSON escapes decoded, digits and spaces
    /// of every script mapped to ASCII); spans refer to `text` and cover whole escapes.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        crate::pace::finish(self.find_paced(text, &crate::pace::Pace::unbounded()))
    }

    /// [`Scrubber::find`] in slices: it offers to suspend (see [`crate::pace`]) after each
    /// pass over the text.
    pub async fn find_paced(&self, text: &str, pace: &crate::pace::Pace) -> Vec<Finding> {
        let view = view::View::new(text);
        pace.checkpoint(text.len()).await;
        let mut out = self.find_in_view(view.text(), pace).await;
        view.map_back(&mut out);
        out
    }

    async fn find_in_view(&self, text: &str, pace: &crate::pace::Pace) -> Vec<Finding> {
        let n = text.len();
        let mut out = Vec::new();
        anchors::scan(text, self.on, &mut out);
        pace.checkpoint(n).await;
        let provider_kinds = [
            Kind::ApiToken,
            Kind::GitlabToken,
            Kind::SlackToken,
            Kind::StripeKey,
        ];
        if provider_kinds.iter().any(|k| self.on.contains(*k)) {
            providers::scan(text, &mut out);
            pace.checkpoint(n).await;
        }
        pii::numeric(text, self.pii_kinds(), &mut out);
        pace.checkpoint(n).await;
        if self.on.contains(Kind::IpAddress) {
            pii::ipv6(text, &mut out);
            pace.checkpoint(n).await;
        }
        for (i, c) in self.custom.iter().enumerate() {
            let kind = Kind::Custom(i as u16);
            let spans = c.regex.find_iter(text).filter(|m| !m.is_empty());
            out.extend(spans.map(|m| Finding::new(kind, m.range(), Confidence::Medium)));
            pace.checkpoint(n).await;
        }
        out.retain(|f| self.on.contains(f.kind));
        overlap::resolve(out)
    }

    /// Find and mask. Returns the input borrowed when nothing was found.
    pub fn scrub<'a>(&self, text: &'a str) -> Scrubbed<'a> {
        let findings = self.find(text);
        self.apply(text, findings)
    }

    /// Mask `findings` (sorted, non-overlapping, as [`Scrubber::find`] returns them).
    pub fn apply<'a>(&self, text: &'a str, findings: Vec<Finding>) -> Scrubbed<'a> {
        if findings.is_empty() {
            return Scrubbed {
                text: Cow::Borrowed(text),
                findings,
                blocked: None,
            };
        }
        let blocked = findings
            .iter()
            .find(|f| self.action(f.kind) == Action::Block)
            .map(|f| f.kind);
        let mut out = String::with_capacity(text.len() + 24 * findings.len());
        let mut pos = 0;
        for f in &findings {
            out.push_str(&text[pos..f.span.start]);
            let value = &text[f.span.clone()];
            action::render(
                &mut out,
                self.action(f.kind),
                self.label(f.kind),
                value,
                self.key(),
            );
            pos = f.span.end;
        }
        out.push_str(&text[pos..]);
        Scrubbed {
            text: Cow::Owned(out),
            findings,
            blocked,
        }
    }

    /// The action configured for `kind`.
    pub fn action(&self, kind: Kind) -> Action {
        match kind {
            Kind::Custom(i) => self
                .custom
                .get(usize::from(i))
                .map_or(Action::Redact, |c| c.action),
            k => k.index().map_or(Action::Redact, |i| self.actions[i]),
        }
    }

    /// The kind's name for audit records and denials: the snake_case built-in name, or the
    /// operator's name for a custom detector.
    pub fn name(&self, kind: Kind) -> &str {
        match kind {
            Kind::Custom(i) => self
                .custom
                .get(usize::from(i))
                .map_or("custom", |c| &c.name),
            k => k.as_str(),
        }
    }

    /// The upper-case label used in placeholders.
    pub fn label(&self, kind: Kind) -> &str {
        match kind {
            Kind::Custom(i) => self
                .custom
                .get(usize::from(i))
                .map_or("CUSTOM", |c| &c.label),
            k => k.label(),
        }
    }

    /// Whether a kind is detected under this configuration.
    pub fn is_enabled(&self, kind: Kind) -> bool {
        self.on.contains(kind)
    }

    fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    fn pii_kinds(&self) -> pii::PiiKinds {
        pii::PiiKinds {
            card: self.on.contains(Kind::CreditCard),
            ssn: self.on.contains(Kind::Ssn),
            phone: self.on.contains(Kind::Phone),
            iban: self.on.contains(Kind::Iban),
            ip: self.on.contains(Kind::IpAddress),
        }
    }
}

fn check_hash_key(field: &str, action: Action, key: Option<&[u8]>) -> Result<(), ConfigError> {
    if action != Action::Hash {
        return Ok(());
    }
    match key {
        None => Err(ConfigError::invalid(
            field,
            "`hash` needs an HMAC key from the host environment, and none was supplied",
        )),
        Some(k) if k.len() < MIN_HMAC_KEY_BYTES => Err(ConfigError::invalid(
            field,
            format!("`hash` needs an HMAC key of at least {MIN_HMAC_KEY_BYTES} bytes"),
        )),
        Some(_) => Ok(()),
    }
}

fn compile_customs(config: &ScrubConfig) -> Result<Vec<Custom>, ConfigError> {
    let mut out = Vec::with_capacity(config.custom.len());
    for (i, c) in config.custom.iter().enumerate() {
        let regex = config::compile_custom(&c.pattern)
            .map_err(|r| ConfigError::invalid(format!("scrub.custom[{i}].pattern"), r))?;
        out.push(Custom {
            name: c.name.clone(),
            label: c.name.to_ascii_uppercase(),
            regex,
            action: config.custom_action(i),
        });
    }
    Ok(out)
}

/// The scrubber with the default configuration (every detector, redact / partial for
/// cards, no hashing), compiled on first use.
#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static DEFAULT: LazyLock<Scrubber> = LazyLock::new(|| {
    Scrubber::new(&ScrubConfig::default(), None).expect("the default configuration is valid")
});

/// The default scrubber, for callers that have no configuration of their own.
pub fn default_scrubber() -> &'static Scrubber {
    &DEFAULT
}

/// Scrub one audit or log line with the default configuration. Every filter passes its log
/// output through this so a denial reason or a request excerpt never leaks what the
/// scrubber would have masked in a body.
pub fn scrub_line(line: &str) -> Cow<'_, str> {
    DEFAULT.scrub(line).text
}
