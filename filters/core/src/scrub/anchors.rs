//! The prefilter: one Aho-Corasick pass over the text finds every place a secret or an
//! e-mail address could start (`AKIA`, `ghp_`, `-----BEGIN`, `@`, `password` ...), and
//! only there do the detectors look. Honest text costs one automaton pass.

use super::kind::{Finding, Kind, KindSet};
use super::pii;
use super::secrets::{self, Family};
use crate::dense_dfa::{DenseDfa, Reading};
use aho_corasick::{dfa, MatchKind};
use std::sync::LazyLock;

/// Which detector an anchor leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Aws,
    Prefixed(Kind),
    SkDash,
    Jwt,
    Pem,
    Url,
    Email,
    Assign(Family),
    Bearer,
}

/// Anchors, matched ASCII-case-insensitively (keywords appear as `PASSWORD`, `Password`,
/// `password`); token prefixes are then confirmed case-sensitively by their regexes.
const ANCHORS: &[(&str, Anchor)] = &[
    ("AKIA", Anchor::Aws),
    ("ASIA", Anchor::Aws),
    ("ABIA", Anchor::Aws),
    ("ACCA", Anchor::Aws),
    ("A3T", Anchor::Aws),
    ("ghp_", Anchor::Prefixed(Kind::GithubToken)),
    ("gho_", Anchor::Prefixed(Kind::GithubToken)),
    ("ghu_", Anchor::Prefixed(Kind::GithubToken)),
    ("ghs_", Anchor::Prefixed(Kind::GithubToken)),
    ("ghr_", Anchor::Prefixed(Kind::GithubToken)),
    ("github_pat_", Anchor::Prefixed(Kind::GithubToken)),
    ("glpat-", Anchor::Prefixed(Kind::GitlabToken)),
    ("xox", Anchor::Prefixed(Kind::SlackToken)),
    (
        "hooks.slack.com/services/",
        Anchor::Prefixed(Kind::SlackWebhook),
    ),
    (
        "hooks.slack.com/workflows/",
        Anchor::Prefixed(Kind::SlackWebhook),
    ),
    (
        "hooks.slack.com/triggers/",
        Anchor::Prefixed(Kind::SlackWebhook),
    ),
    ("sk_live_", Anchor::Prefixed(Kind::StripeKey)),
    ("rk_live_", Anchor::Prefixed(Kind::StripeKey)),
    ("sk_test_", Anchor::Prefixed(Kind::StripeKey)),
    ("rk_test_", Anchor::Prefixed(Kind::StripeKey)),
    ("AIza", Anchor::Prefixed(Kind::GoogleApiKey)),
    ("sk-", Anchor::SkDash),
    ("eyJ", Anchor::Jwt),
    ("-----BEGIN ", Anchor::Pem),
    ("://", Anchor::Url),
    ("@", Anchor::Email),
    ("password", Anchor::Assign(Family::Password)),
    ("passwd", Anchor::Assign(Family::Password)),
    ("passphrase", Anchor::Assign(Family::Password)),
    ("secret", Anchor::Assign(Family::Token)),
    ("token", Anchor::Assign(Family::Token)),
    ("api_key", Anchor::Assign(Family::Token)),
    ("apikey", Anchor::Assign(Family::Token)),
    ("api-key", Anchor::Assign(Family::Token)),
    ("access_key", Anchor::Assign(Family::Token)),
    ("accesskey", Anchor::Assign(Family::Token)),
    ("credential", Anchor::Assign(Family::Token)),
    ("private_key", Anchor::Assign(Family::Token)),
    ("accountkey", Anchor::Assign(Family::Token)),
    ("account_key", Anchor::Assign(Family::Token)),
    ("sharedaccesskey", Anchor::Assign(Family::Token)),
    ("bearer", Anchor::Bearer),
];

/// The anchors in any ASCII case, as a dense table walked by our own loop
/// ([`DenseDfa`]): through the crate's overlapping iterator this pass cost 16 instructions
/// per byte, a fifth of the scrubber's work on mixed text.
#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static AUTOMATON: LazyLock<DenseDfa> = LazyLock::new(|| {
    let patterns: Vec<&[u8]> = ANCHORS.iter().map(|(p, _)| p.as_bytes()).collect();
    let dfa = dfa::DFA::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(&patterns)
        .expect("constant anchors");
    let cases: Vec<Vec<u8>> = patterns
        .iter()
        .flat_map(|p| [p.to_ascii_lowercase(), p.to_ascii_uppercase()])
        .collect();
    let bytes: Vec<&[u8]> = patterns
        .iter()
        .copied()
        .chain(cases.iter().map(Vec::as_slice))
        .collect();
    DenseDfa::new(&dfa, &bytes, Reading::Bytes).expect("constant anchors")
});

/// Kinds an anchor can produce, to skip anchors whose kinds are all disabled.
fn wanted(anchor: Anchor, on: KindSet) -> bool {
    match anchor {
        Anchor::Aws => on.contains(Kind::AwsAccessKeyId) || on.contains(Kind::AwsSecretAccessKey),
        Anchor::Prefixed(k) => on.contains(k),
        Anchor::SkDash => on.contains(Kind::OpenaiApiKey) || on.contains(Kind::AnthropicApiKey),
        Anchor::Jwt => on.contains(Kind::Jwt),
        Anchor::Pem => on.contains(Kind::PrivateKey),
        Anchor::Url => on.contains(Kind::UrlPassword),
        Anchor::Email => on.contains(Kind::Email),
        Anchor::Assign(_) | Anchor::Bearer => {
            on.contains(Kind::GenericSecret) || on.contains(Kind::AwsSecretAccessKey)
        }
    }
}

/// Run every anchored detector over `text`, appending candidates (overlaps unresolved).
///
/// Anchors inside a private key already found are skipped: a PEM block may span 64 KiB,
/// and re-scanning it from every `-----BEGIN ` inside would make crafted input quadratic.
pub fn scan(text: &str, on: KindSet, out: &mut Vec<Finding>) {
    let mut pem_end = 0;
    let mut found = Vec::new();
    AUTOMATON.find_all(text.as_bytes(), usize::MAX, &mut found);
    for (pattern, end) in found {
        let anchor = ANCHORS[pattern as usize].1;
        let start = end - AUTOMATON.pattern_len(pattern);
        if start < pem_end || !wanted(anchor, on) {
            continue;
        }
        let before = out.len();
        dispatch(text, anchor, start, end, on, out);
        if anchor == Anchor::Pem {
            pem_end = out[before..]
                .iter()
                .map(|f| f.span.end)
                .max()
                .unwrap_or(pem_end);
        }
    }
}

fn dispatch(
    text: &str,
    anchor: Anchor,
    start: usize,
    end: usize,
    on: KindSet,
    out: &mut Vec<Finding>,
) {
    let found = match anchor {
        Anchor::Aws => {
            secrets::aws(text, start, on.contains(Kind::AwsSecretAccessKey), out);
            None
        }
        Anchor::Prefixed(kind) => secrets::prefixed(text, start, kind),
        Anchor::SkDash => secrets::sk_dash(text, start),
        Anchor::Jwt => secrets::jwt(text, start),
        Anchor::Pem => secrets::pem(text, start),
        Anchor::Url => secrets::url_password(text, start),
        Anchor::Email => pii::email_at(text, start),
        Anchor::Assign(family) => secrets::assignment(text, start..end, family),
        Anchor::Bearer => secrets::bearer(text, end),
    };
    out.extend(found);
}
