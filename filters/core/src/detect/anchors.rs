//! The literals a rule is searched around: for each rule, a set of byte strings such that
//! every match of the rule contains one of them, chosen to be as rare in ordinary text as
//! the pattern allows.
//!
//! The detector runs one Aho-Corasick pass over every rule's literals and then each rule's
//! regex only near their occurrences ([`super::rules::RuleSet::matches`]). With the rules'
//! *prefix* literals alone, a rule that starts with "the", "you", "not" or "send" is
//! searched around nearly every word of honest prose, so the scan did about fourteen passes
//! over the text. Anchoring on the rarest required part instead ("openai", "instructions",
//! "jailbreak") is the filtered-regex technique of RE2's `FilteredRE2` and Hyperscan: the
//! choice only changes where a rule is searched, never what it matches, because every
//! match contains one of its anchor literals.

use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// Where a rule is searched: around occurrences of one of `literals`.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchor {
    /// Every match of the rule contains one of these (none is empty).
    pub literals: Vec<Vec<u8>>,
    /// Whether every match also *starts* with one of them (a window then starts at the
    /// literal rather than a match length before it).
    pub leading: bool,
    /// Whether, in every match, the byte before the literal is not an ASCII word byte (or
    /// the literal starts the text): an occurrence inside a word ("ai" in "said") is then
    /// no place for a match.
    pub word_start: bool,
    /// Estimated occurrences per byte of ordinary text, summed over the literals (lower is
    /// better; see [`literal_cost`]).
    pub cost: f64,
    /// Most bytes a match holds before the start of its literal occurrence (`Some(0)` when
    /// leading; `None` when unbounded). A window around an occurrence of an inner anchor
    /// need not reach further back than this.
    pub lead: Option<usize>,
    /// Most bytes from the start of the literal occurrence to the end of the match
    /// (`None` when unbounded): how far forward the window must reach.
    pub tail: Option<usize>,
}

impl Anchor {
    /// The cost used to choose between anchors: occurrences at a word start only are
    /// several times rarer than occurrences anywhere.
    fn rank(&self) -> f64 {
        let occurrences = if self.word_start {
            self.cost / 4.0
        } else {
            self.cost
        };
        if self.leading {
            occurrences
        } else {
            occurrences * INNER_PENALTY
        }
    }
}

/// How much more an occurrence of an inner anchor costs than one of a leading anchor: a
/// window of a match length either side is scanned instead of an anchored search that
/// usually dies a few bytes in. (Scaling it down by the window an anchor's
/// [`Anchor::lead`] and [`Anchor::tail`] allow made the choices worse on real text: 264 ->
/// 277 instructions per byte; the literal costs are too coarse to trade on.)
const INNER_PENALTY: f64 = 6.0;

/// Words so frequent in English prose that a literal equal to one of them anchors almost
/// everywhere.
const COMMON_WORDS: &[&str] = &[
    "the",
    "to",
    "of",
    "and",
    "a",
    "in",
    "is",
    "it",
    "you",
    "that",
    "he",
    "was",
    "for",
    "on",
    "are",
    "with",
    "as",
    "i",
    "his",
    "they",
    "be",
    "at",
    "one",
    "have",
    "this",
    "from",
    "or",
    "had",
    "by",
    "not",
    "but",
    "what",
    "all",
    "were",
    "we",
    "when",
    "your",
    "can",
    "said",
    "there",
    "use",
    "an",
    "each",
    "which",
    "she",
    "do",
    "how",
    "their",
    "if",
    "will",
    "up",
    "other",
    "about",
    "out",
    "many",
    "then",
    "them",
    "these",
    "so",
    "some",
    "her",
    "would",
    "make",
    "like",
    "him",
    "into",
    "has",
    "more",
    "no",
    "new",
    "my",
    "any",
    "now",
    "me",
    "our",
    "us",
    "should",
    "must",
    "may",
    "also",
    "only",
    "first",
    "just",
    "than",
    "its",
    "does",
    "don't",
    "get",
    "set",
    "see",
    "send",
    "read",
    "open",
    "note",
    "user",
    "data",
    "file",
    "time",
    "way",
    "here",
    "need",
    "want",
    "following",
    "message",
    "model",
    "system",
];

/// Estimated occurrences of `lit` per byte of ordinary text: short and common literals
/// occur nearly everywhere, long rare ones almost never. A coarse model is enough: it only
/// has to rank the candidate sets of one rule against each other.
pub fn literal_cost(lit: &[u8]) -> f64 {
    let trimmed: Vec<u8> = lit
        .iter()
        .copied()
        .skip_while(|b| !b.is_ascii_alphanumeric())
        .collect();
    let end = trimmed
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .map_or(0, |p| p + 1);
    let word = &trimmed[..end];
    let by_length: f64 = match word.len() {
        0 | 1 => 0.05,
        2 => 0.01,
        3 => 0.003,
        4 => 0.001,
        5 => 0.0004,
        _ => 0.0002,
    };
    let common = COMMON_WORDS.iter().any(|w| w.as_bytes() == word);
    if common {
        by_length.max(0.002) * 4.0
    } else {
        by_length
    }
}

/// The cheapest anchor of `hir`, or `None` when some match need not contain any literal
/// the extractor can name (the rule is then searched over the whole text).
pub fn anchor(hir: &Hir) -> Option<Anchor> {
    let mut best = prefix_anchor(hir);
    let inner = match hir.kind() {
        HirKind::Empty | HirKind::Look(_) | HirKind::Class(_) => None,
        HirKind::Literal(_) => None, // the prefix anchor is the literal itself
        HirKind::Capture(c) => anchor(&c.sub),
        // Every copy holds an occurrence; the first one's is at most the whole match from
        // its end.
        HirKind::Repetition(r) if r.min >= 1 => anchor(&r.sub).map(|a| Anchor {
            tail: hir.properties().maximum_len(),
            ..a
        }),
        HirKind::Repetition(_) => None,
        HirKind::Alternation(branches) => union(branches),
        HirKind::Concat(children) => concat(children),
    };
    for candidate in inner.into_iter() {
        if best.as_ref().is_none_or(|b| candidate.rank() < b.rank()) {
            best = Some(candidate);
        }
    }
    best
}

/// The prefix literals of the whole of `hir` (every match starts with one of them).
fn prefix_anchor(hir: &Hir) -> Option<Anchor> {
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    let lits = seq.literals()?;
    if lits.is_empty() || lits.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    let literals: Vec<Vec<u8>> = lits.iter().map(|l| l.as_bytes().to_vec()).collect();
    Some(Anchor {
        cost: literals.iter().map(|l| literal_cost(l)).sum(),
        word_start: starts_with_word(&literals) && before_is_boundary(hir),
        literals,
        leading: true,
        lead: Some(0),
        tail: hir.properties().maximum_len(),
    })
}

/// Whether every literal starts with an ASCII word byte (only then does a word boundary in
/// front of it say the byte before is not one).
fn starts_with_word(literals: &[Vec<u8>]) -> bool {
    literals
        .iter()
        .all(|l| l.first().is_some_and(|b| is_word_byte(*b)))
}

/// An ASCII word byte, as `(?-u:\b)` sees it.
pub fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// What the part of a pattern before a literal says about the byte before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// It is not a word byte (or there is none).
    NonWord,
    /// The part may match nothing; when it matches something, that ends in a non-word byte.
    MaybeNonWord,
    /// Nothing is known.
    Unknown,
}

/// Whether every match of `hir` begins with a boundary that puts a non-word byte (or the
/// start of the text) before it.
fn before_is_boundary(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Look(look) => is_boundary_look(*look),
        HirKind::Capture(c) => before_is_boundary(&c.sub),
        HirKind::Concat(children) => children.first().is_some_and(before_is_boundary),
        HirKind::Alternation(branches) => branches.iter().all(before_is_boundary),
        _ => false,
    }
}

/// Looks after which, when a word byte follows, the byte before is not a word byte.
fn is_boundary_look(look: Look) -> bool {
    matches!(
        look,
        Look::Start
            | Look::StartLF
            | Look::StartCRLF
            | Look::WordAscii
            | Look::WordUnicode
            | Look::WordStartAscii
            | Look::WordStartUnicode
            | Look::WordStartHalfAscii
            | Look::WordStartHalfUnicode
    )
}

/// What a part of a concatenation tells about the byte right after it.
fn before_of(hir: &Hir) -> Before {
    let ends = ends_non_word(hir);
    match hir.kind() {
        HirKind::Look(look) if is_boundary_look(*look) => Before::NonWord,
        HirKind::Capture(c) => before_of(&c.sub),
        HirKind::Alternation(branches) => {
            let each: Vec<Before> = branches.iter().map(before_of).collect();
            if each.iter().all(|b| *b == Before::NonWord) {
                Before::NonWord
            } else if each.iter().all(|b| *b != Before::Unknown) {
                Before::MaybeNonWord
            } else {
                Before::Unknown
            }
        }
        _ if ends && hir.properties().minimum_len().is_some_and(|m| m > 0) => Before::NonWord,
        _ if ends => Before::MaybeNonWord,
        _ => Before::Unknown,
    }
}

/// Whether every non-empty match of `hir` ends with a byte that is not an ASCII word byte.
fn ends_non_word(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty => true,
        HirKind::Literal(l) => l.0.last().is_some_and(|b| !is_word_byte(*b)),
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .all(|r| !(r.start()..=r.end()).any(|ch| ch.is_ascii() && is_word_byte(ch as u8))),
        HirKind::Class(Class::Bytes(c)) => c
            .ranges()
            .iter()
            .all(|r| !(r.start()..=r.end()).any(is_word_byte)),
        HirKind::Look(_) => false,
        HirKind::Repetition(r) => ends_non_word(&r.sub),
        HirKind::Capture(c) => ends_non_word(&c.sub),
        HirKind::Alternation(branches) => branches.iter().all(ends_non_word),
        HirKind::Concat(children) => {
            // The last part that consumes bytes decides (zero-width looks after it do not).
            let last = children
                .iter()
                .rposition(|c| c.properties().maximum_len() != Some(0));
            last.is_some_and(|last| {
                children[last]
                    .properties()
                    .minimum_len()
                    .is_some_and(|m| m > 0)
                    && ends_non_word(&children[last])
            })
        }
    }
}

/// Whether the children before a part of a concatenation put a non-word byte before it.
fn preceded_by_non_word(before: &[Hir]) -> bool {
    for child in before.iter().rev() {
        match before_of(child) {
            Before::NonWord => return true,
            Before::MaybeNonWord => continue,
            Before::Unknown => return false,
        }
    }
    false
}

/// Every branch must be anchored; the union of their anchors anchors the alternation.
fn union(branches: &[Hir]) -> Option<Anchor> {
    let mut out = Anchor {
        literals: Vec::new(),
        leading: true,
        word_start: true,
        cost: 0.0,
        lead: Some(0),
        tail: Some(0),
    };
    for b in branches {
        let a = anchor(b)?;
        out.leading &= a.leading;
        out.word_start &= a.word_start;
        out.cost += a.cost;
        out.lead = out.lead.zip(a.lead).map(|(x, y)| x.max(y));
        out.tail = out.tail.zip(a.tail).map(|(x, y)| x.max(y));
        for l in a.literals {
            if !out.literals.contains(&l) {
                out.literals.push(l);
            }
        }
    }
    Some(out)
}

/// Any one child that every match passes through anchors a concatenation; the cheapest
/// wins. It is leading only when every child before it matches the empty string alone
/// (word boundaries, line anchors).
fn concat(children: &[Hir]) -> Option<Anchor> {
    let mut best: Option<Anchor> = None;
    let mut before_is_empty = true;
    for (i, child) in children.iter().enumerate() {
        if let Some(mut a) = anchor(child) {
            a.word_start |=
                a.leading && starts_with_word(&a.literals) && preceded_by_non_word(&children[..i]);
            a.leading &= before_is_empty;
            a.lead = a.lead.zip(max_len(&children[..i])).map(|(x, y)| x + y);
            a.tail = a.tail.zip(max_len(&children[i + 1..])).map(|(x, y)| x + y);
            if best.as_ref().is_none_or(|b| a.rank() < b.rank()) {
                best = Some(a);
            }
        }
        before_is_empty &= child.properties().maximum_len() == Some(0);
    }
    best
}

/// Most bytes `parts` match together (`None` when unbounded).
fn max_len(parts: &[Hir]) -> Option<usize> {
    parts.iter().try_fold(0usize, |sum, p| {
        p.properties().maximum_len().map(|m| sum.saturating_add(m))
    })
}

/// A second required part of `hir`, besides its `anchor`: the set of literals, cheapest
/// first, such that every match also contains one of them, taken from a part of the
/// top-level concatenation whose literals the anchor's do not already contain. A window
/// around an anchor occurrence without one of them inside cannot hold a match, so the
/// regex never runs there (two required atoms instead of one, as RE2's `FilteredRE2`
/// combines them). Only a part rarer than the anchor, or expected less than
/// [`MAX_FACTOR_HITS_PER_WINDOW`] times in a window of `reach` bytes, is used: a commoner
/// one would filter little and add occurrences to the literal pass. `None` when no part
/// qualifies.
pub fn factor(hir: &Hir, anchor: &Anchor, reach: usize) -> Option<Vec<Vec<u8>>> {
    let children = match hir.kind() {
        HirKind::Capture(c) => return factor(&c.sub, anchor, reach),
        HirKind::Concat(children) => children,
        _ => return None,
    };
    let redundant = |l: &[u8]| {
        anchor
            .literals
            .iter()
            .any(|a| a.windows(l.len()).any(|w| w == l))
    };
    children
        .iter()
        .filter_map(self::anchor)
        .filter(|a| a.literals.iter().all(|l| l.is_ascii() && !redundant(l)))
        .filter(|a| a.cost < anchor.cost || a.cost * (reach as f64) < MAX_FACTOR_HITS_PER_WINDOW)
        .min_by(|a, b| a.cost.total_cmp(&b.cost))
        .map(|a| a.literals)
}

/// Expected occurrences of a factor per window above which it is not worth searching for.
pub const MAX_FACTOR_HITS_PER_WINDOW: f64 = 0.5;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &str) -> Hir {
        regex_syntax::ParserBuilder::new().build().parse(p).unwrap()
    }

    fn lits(p: &str) -> (Vec<String>, bool) {
        let a = anchor(&parse(p)).unwrap();
        let mut l: Vec<String> = a
            .literals
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        l.sort();
        (l, a.leading)
    }

    #[test]
    fn a_rare_inner_part_beats_a_common_prefix() {
        let (l, leading) = lits(r"\b(?:not|never) (?:\S+ ){0,4}?(?:openai|anthropic)\b");
        assert_eq!(l, ["anthropic", "openai"]);
        assert!(!leading);
    }

    #[test]
    fn a_rare_prefix_stays_leading() {
        let (l, leading) = lits(r"\bjailbreak(?:ing|s)? (?:mode|prompt)");
        assert!(l.iter().all(|x| x.starts_with("jailbreak")), "{l:?}");
        assert!(leading);
    }

    #[test]
    fn every_branch_of_an_alternation_is_anchored_or_none_is() {
        let (l, _) = lits(r"\bsystem prompt|\bignore (?:all )?instructions");
        assert!(l.iter().any(|x| x.contains("system")), "{l:?}");
        assert!(
            l.iter()
                .any(|x| x.contains("ignore") || x.contains("instructions")),
            "{l:?}"
        );
        assert!(anchor(&parse(r"\bfoo|(?:\S+ )*")).is_none());
    }

    #[test]
    fn optional_parts_never_anchor() {
        // Either the prefixes of both shapes or the required part; never "openai" alone.
        let (l, _) = lits(r"(?:openai )?tell me");
        assert!(l.iter().all(|x| x.ends_with("tell me")), "{l:?}");
        assert!(l.contains(&"tell me".to_string()), "{l:?}");
        assert!(anchor(&parse(r"(?:openai)?\s*")).is_none());
    }

    #[test]
    fn an_inner_anchor_knows_how_far_a_match_reaches_around_it() {
        let a = anchor(&parse(
            r"\b(?:the|a) (?:new )?(?:openai|anthropic) (?:again|now)",
        ))
        .unwrap();
        assert!(!a.leading, "{a:?}");
        // "the " + "new " before the literal; "anthropic again" from its start.
        assert_eq!((a.lead, a.tail), (Some(8), Some(15)), "{a:?}");
        // A gap of words has no bound: the window falls back to the longest match.
        let a = anchor(&parse(
            r"\b(?:not|never) (?:\S+ ){0,4}?(?:openai|anthropic)\b",
        ))
        .unwrap();
        assert_eq!((a.lead, a.tail), (None, Some(9)), "{a:?}");
    }

    #[test]
    fn common_words_cost_more_than_rare_ones_of_the_same_length() {
        assert!(literal_cost(b"your") > literal_cost(b"evil"));
        assert!(literal_cost(b"ai") > literal_cost(b"openai"));
    }
}
