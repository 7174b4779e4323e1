//! Structural signals: content a human reader does not see but a model does.
//!
//! Regex rules read the normalised text; these read the original: HTML comments that carry
//! instructions, markdown/HTML images whose URL smuggles data to a host (fetched without a
//! click, so a zero-click exfiltration channel), ANSI escapes that hide or rewrite terminal
//! output, and the invisible and tag characters the normaliser removed.

use super::normalize::{escape_len, Marks};
use super::Finding;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;
use std::ops::Range;
use std::sync::LazyLock;

/// Most HTML comments examined per scan.
pub const MAX_COMMENTS: usize = 64;
/// Most images examined per scan.
pub const MAX_IMAGES: usize = 64;
/// Most findings of one structural signal per scan.
pub const MAX_SIGNAL_FINDINGS: usize = 16;
/// A query value at least this long is treated as smuggled data.
pub const LONG_QUERY_VALUE: usize = 32;

/// A structural signal; each has a stable id usable in `disable_rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Unicode tag characters (ASCII smuggling).
    TagChars,
    /// Zero-width, bidi-control and similar invisible characters.
    Invisible,
    /// An HTML comment containing text that another rule flagged.
    HtmlComment,
    /// An HTML comment addressing a model or giving orders.
    HtmlCommentCue,
    /// An image URL carrying data-looking query values or placeholders.
    ImageBeacon,
    /// An image URL with a query string to a host not on the allow-list.
    ImageQuery,
    /// ANSI sequences that move the cursor, erase, conceal or set titles/links.
    AnsiControl,
    /// More encoded printable spans than the decoding budget allows.
    DecodeBudget,
}

impl Signal {
    /// Every signal.
    pub const ALL: [Signal; 8] = [
        Signal::TagChars,
        Signal::Invisible,
        Signal::HtmlComment,
        Signal::HtmlCommentCue,
        Signal::ImageBeacon,
        Signal::ImageQuery,
        Signal::AnsiControl,
        Signal::DecodeBudget,
    ];

    /// The rule id reported in findings.
    pub fn id(self) -> &'static str {
        match self {
            Signal::TagChars => "hidden.tag_chars",
            Signal::Invisible => "hidden.invisible_chars",
            Signal::HtmlComment => "hidden.html_comment",
            Signal::HtmlCommentCue => "hidden.html_comment_cue",
            Signal::ImageBeacon => "hidden.image_beacon",
            Signal::ImageQuery => "hidden.image_query",
            Signal::AnsiControl => "hidden.ansi_control",
            Signal::DecodeBudget => "hidden.decode_budget",
        }
    }

    /// Default weight (threshold 1.0).
    pub fn weight(self) -> f32 {
        match self {
            Signal::TagChars | Signal::ImageBeacon => 1.0,
            Signal::HtmlComment | Signal::AnsiControl => 0.6,
            Signal::DecodeBudget => 0.5,
            Signal::HtmlCommentCue | Signal::ImageQuery => 0.4,
            Signal::Invisible => 0.3,
        }
    }

    /// Signals about characters that neutralising strips anyway; their spans are not
    /// replaced by the redaction marker.
    pub fn is_char_level(id: &str) -> bool {
        [
            Signal::TagChars,
            Signal::Invisible,
            Signal::AnsiControl,
            Signal::DecodeBudget,
        ]
        .iter()
        .any(|s| s.id() == id)
    }
}

/// Markdown and HTML images with an absolute URL. No counted repetitions (`{1,2048}` makes
/// the automaton too big for the lazy DFA and the regex crate falls back to its NFA).
#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static IMAGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)!\[[^\]]*\]\(\s*<?(https?://[^\s)>]+)>?\)?|<img(?-u:\b)[^>]*?(?-u:\b)src\s*=\s*["']?(https?://[^"'\s>]+)[^>]*>?"#,
    )
    .expect("constant regex")
});

/// Cheap pre-check: the image regex only runs on texts that can contain an image.
#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static IMAGE_START: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .build(["![", "<img"])
        .expect("constant automaton")
});

#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static COMMENT_CUES: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostFirst)
        .build([
            "ai ",
            "a.i.",
            "assistant",
            "llm",
            "language model",
            "chatbot",
            "the model",
            "agent",
            "you must",
            "you should",
            "you need to",
            "instruction",
            "ignore",
            "disregard",
            "system prompt",
            "do not tell",
            "don't tell",
            "do not mention",
        ])
        .expect("constant automaton")
});

/// Query keys that name what an exfiltration beacon usually carries. Not `token` or `key`:
/// badges and map images carry public access tokens under them (a codecov badge's
/// `?token=3KA3R2D9fV` in a third of crate READMEs' badge rows); a long value under any key
/// is still data ([`LONG_QUERY_VALUE`]).
const BEACON_KEYS: &[&str] = &[
    "data",
    "d",
    "q",
    "secret",
    "password",
    "pwd",
    "prompt",
    "conversation",
    "history",
    "chat",
    "msg",
    "message",
    "content",
    "info",
    "payload",
    "exfil",
    "leak",
    "session",
    "cookie",
    "email",
    "user",
    "memory",
];

/// Structural detection, configured once per detector.
#[derive(Debug, Clone)]
pub struct Hidden {
    /// Weight per signal (index of [`Signal::ALL`]); `None` when disabled.
    pub weights: [Option<f32>; 8],
    /// Hosts (and their subdomains) whose images are not reported.
    pub allowed_hosts: Vec<String>,
}

impl Hidden {
    fn emit(&self, s: Signal, span: Range<usize>, detail: Option<String>, out: &mut Vec<Finding>) {
        let Some(weight) = self.weights[s as usize] else {
            return;
        };
        let n = out.iter().filter(|f| &*f.rule_id == s.id()).count();
        if n < MAX_SIGNAL_FINDINGS {
            out.push(Finding::new(
                s.id().into(),
                super::Family::HiddenContent,
                weight,
                span,
                detail,
            ));
        }
    }

    /// All structural findings of `text`; `prior` holds the rule findings so far (used to
    /// tell instruction-bearing comments from ordinary ones).
    pub fn scan(&self, text: &str, marks: &Marks, prior: &[Finding]) -> Vec<Finding> {
        let mut out = Vec::new();
        for r in &marks.tags {
            self.emit(Signal::TagChars, r.clone(), None, &mut out);
        }
        for r in &marks.invisible {
            self.emit(Signal::Invisible, r.clone(), None, &mut out);
        }
        self.comments(text, prior, &mut out);
        self.images(text, &mut out);
        if text.as_bytes().contains(&0x1B) {
            self.ansi(text.as_bytes(), &mut out);
        }
        out
    }

    fn comments(&self, text: &str, prior: &[Finding], out: &mut Vec<Finding>) {
        for r in comment_ranges(text).take(MAX_COMMENTS) {
            let inside = prior.iter().any(|f| {
                f.span.start >= r.start && f.span.end <= r.end && f.span.start < f.span.end
            });
            if inside {
                self.emit(Signal::HtmlComment, r, None, out);
            } else if COMMENT_CUES.is_match(&text[r.clone()]) {
                self.emit(Signal::HtmlCommentCue, r, None, out);
            }
        }
    }

    fn images(&self, text: &str, out: &mut Vec<Finding>) {
        if !IMAGE_START.is_match(text) {
            return;
        }
        for caps in IMAGE.captures_iter(text).take(MAX_IMAGES) {
            let (Some(whole), Some(url)) = (caps.get(0), caps.get(1).or_else(|| caps.get(2)))
            else {
                continue;
            };
            let Some(host) = url_host(url.as_str()) else {
                continue;
            };
            if self.host_allowed(&host) {
                continue;
            }
            if let Some(signal) = classify_url(url.as_str()) {
                self.emit(signal, whole.range(), Some(host), out);
            }
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts.iter().any(|a| {
            host == a
                || host
                    .strip_suffix(a.as_str())
                    .is_some_and(|p| p.ends_with('.'))
        })
    }

    fn ansi(&self, bytes: &[u8], out: &mut Vec<Finding>) {
        let mut i = 0;
        while let Some(p) = bytes[i..].iter().position(|&b| b == 0x1B) {
            let start = i + p;
            let len = escape_len(bytes, start);
            if !is_plain_sgr(&bytes[start..start + len]) {
                self.emit(Signal::AnsiControl, start..start + len, None, out);
            }
            i = start + len;
        }
    }
}

/// Byte ranges of `<!-- ... -->` (an unterminated comment runs to the end).
fn comment_ranges(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut from = 0;
    std::iter::from_fn(move || {
        let start = from + text.get(from..)?.find("<!--")?;
        let end = text[start + 4..]
            .find("-->")
            .map_or(text.len(), |e| start + 4 + e + 3);
        from = end;
        Some(start..end)
    })
}

/// Colour/style SGR without the conceal attribute: common in honest CI logs.
fn is_plain_sgr(seq: &[u8]) -> bool {
    let [0x1B, b'[', params @ .., b'm'] = seq else {
        return false;
    };
    params.iter().all(|b| b.is_ascii_digit() || *b == b';')
        && !params.split(|&b| b == b';').any(|p| p == b"8")
}

/// Lowercase host of an absolute http(s) URL, without userinfo or port.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if host_port.starts_with('[') {
        host_port.split(']').next()?.trim_start_matches('[')
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Beacon when the URL carries placeholders or data-looking values; plain query otherwise.
fn classify_url(url: &str) -> Option<Signal> {
    let without_fragment = url.split('#').next().unwrap_or(url);
    let (path, query) = without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""));
    let placeholder = |s: &str| {
        s.contains(['{', '}', '$', '<', '>', '[', ']']) || s.contains("%7b") || s.contains("%7B")
    };
    if placeholder(path) || placeholder(query) {
        return Some(Signal::ImageBeacon);
    }
    if query.is_empty() {
        return None;
    }
    let data_like = query.split('&').any(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or(("", kv));
        v.len() >= LONG_QUERY_VALUE
            || (BEACON_KEYS.contains(&k.to_ascii_lowercase().as_str()) && v.len() >= 8)
    });
    Some(if data_like {
        Signal::ImageBeacon
    } else {
        Signal::ImageQuery
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_parsed() {
        assert_eq!(
            url_host("https://u:p@Evil.Example:8080/x?y").as_deref(),
            Some("evil.example")
        );
        assert_eq!(url_host("http://[::1]/a").as_deref(), Some("::1"));
        assert_eq!(url_host("https:///nohost"), None);
    }

    #[test]
    fn urls_are_classified() {
        assert_eq!(classify_url("https://docs.rs/logo.png"), None);
        assert_eq!(
            classify_url("https://img.shields.io/badge/ci-green?style=flat"),
            Some(Signal::ImageQuery)
        );
        assert_eq!(
            classify_url("https://x.io/p.png?q=c2VjcmV0IGFwaSBrZXk6IHNrLWxpdmUtMTIzNDU2"),
            Some(Signal::ImageBeacon)
        );
        assert_eq!(
            classify_url("https://x.io/p.png?data={conversation}"),
            Some(Signal::ImageBeacon)
        );
        assert_eq!(
            classify_url("https://x.io/p.png?secret=abcdef123456"),
            Some(Signal::ImageBeacon)
        );
        // A badge's public token is a plain query; a long one is data.
        assert_eq!(
            classify_url("https://codecov.io/gh/a/b/graph/badge.svg?token=3KA3R2D9fV"),
            Some(Signal::ImageQuery)
        );
        assert_eq!(
            classify_url("https://x.io/p.png?token=c2VjcmV0IGFwaSBrZXk6IHNrLWxpdmUtMTIz"),
            Some(Signal::ImageBeacon)
        );
    }

    #[test]
    fn comment_ranges_include_unterminated() {
        let t = "a <!-- one --> b <!-- two";
        let r: Vec<_> = comment_ranges(t).collect();
        assert_eq!(&t[r[0].clone()], "<!-- one -->");
        assert_eq!(&t[r[1].clone()], "<!-- two");
    }

    #[test]
    fn sgr_colours_are_plain_but_conceal_is_not() {
        assert!(is_plain_sgr(b"\x1b[1;31m"));
        assert!(is_plain_sgr(b"\x1b[0m"));
        assert!(!is_plain_sgr(b"\x1b[8m"));
        assert!(!is_plain_sgr(b"\x1b[2K"));
    }

    #[test]
    fn char_level_signals() {
        assert!(Signal::is_char_level("hidden.tag_chars"));
        assert!(!Signal::is_char_level("hidden.image_beacon"));
    }
}
