//! A dense DFA read off an `aho-corasick` DFA, with our own search loop: the detector's
//! two passes over every byte (the rules' anchor literals, [`crate::detect::rules`], and
//! the concept lexicon, [`crate::detect::concepts`]) and the scrubber's anchor pass
//! ([`crate::scrub`]) are such automata.
//!
//! The crate builds the automaton; only the loop is ours: one class lookup and one table
//! load per byte, one comparison to tell a matching state (they are numbered last).
//! Through the crate's overlapping search API the same automata cost two to four times
//! the instructions per byte (its per-step bookkeeping, and a trait object per step
//! behind `AhoCorasick`). Bytes that occur in no pattern share one class; the concept
//! lexicon reads them as a space instead ([`Reading::Words`]), so punctuation, other
//! scripts and the "¿" before a Spanish question end a word.

use aho_corasick::automaton::{Automaton as _, StateID};
use aho_corasick::{dfa, Anchored};

/// How bytes that occur in no pattern are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// As themselves (they match nothing).
    Bytes,
    /// As a space, which must occur in the patterns; the search starts as if a space came
    /// first.
    Words,
}

/// A compiled dense DFA; see the module documentation.
#[derive(Debug, Clone)]
pub struct DenseDfa {
    classes: [u8; 256],
    /// Classes in use (the row length of `trans`).
    alphabet: usize,
    /// `state * alphabet + class` to the next state. States are numbered so that the
    /// ones that report matches come last: one comparison per byte tells. Sixteen bits
    /// a state: the detector's automata have a few thousand, and half the table is
    /// half the cache misses.
    trans: Vec<u16>,
    /// The first state that reports matches.
    first_match: u16,
    /// Per match state (from `first_match` on), the range of `matches` it reports.
    reports: Vec<(u32, u32)>,
    /// Pattern ids, grouped by state.
    matches: Vec<u32>,
    /// Pattern lengths in bytes.
    lengths: Vec<u32>,
    /// Where every search begins.
    start: u16,
}

impl DenseDfa {
    /// Read the table off `dfa`, built from `patterns` with standard match semantics.
    /// Bytes that occur in no pattern share one class: a DFA built case-insensitively
    /// needs both cases of its letters in `patterns` (extra patterns after the DFA's own
    /// are read for their bytes only).
    ///
    /// # Errors
    /// The DFA has no unanchored start state, more states than fit, or (for
    /// [`Reading::Words`]) no pattern holds a space.
    pub fn new(dfa: &dfa::DFA, patterns: &[&[u8]], reading: Reading) -> Result<Self, String> {
        let mut used = [false; 256];
        if reading == Reading::Words {
            // Letters and digits are never read as a space, in a pattern or not.
            for b in (b'a'..=b'z').chain(b'A'..=b'Z').chain(b'0'..=b'9') {
                used[usize::from(b)] = true;
            }
        }
        for p in patterns {
            for b in *p {
                used[usize::from(*b)] = true;
            }
        }
        // Class 0 for every unused byte; one class per used byte after it.
        let mut classes = [0u8; 256];
        let mut bytes = vec![None];
        for b in 0..=255u8 {
            if used[usize::from(b)] {
                classes[usize::from(b)] = u8::try_from(bytes.len()).map_err(|e| e.to_string())?;
                bytes.push(Some(b));
            }
        }
        if reading == Reading::Words {
            let space = classes[usize::from(b' ')];
            if space == 0 {
                return Err("no pattern holds a space".into());
            }
            for (b, class) in classes.iter_mut().enumerate() {
                if !used[b] {
                    *class = space;
                }
            }
        }
        // An unused byte, to step the crate's DFA through class 0.
        let unused = (0..=255u8).find(|b| !used[usize::from(*b)]);
        let step = |sid: StateID, class: &Option<u8>| {
            class
                .or(unused)
                .map(|b| dfa.next_state(Anchored::No, sid, b))
        };
        let first = dfa.start_state(Anchored::No).map_err(|e| e.to_string())?;
        // Every reachable state, breadth first.
        let mut seen: Vec<bool> = Vec::new();
        let mark = |sid: StateID, seen: &mut Vec<bool>| {
            let i = sid.as_usize();
            if i >= seen.len() {
                seen.resize(i + 1, false);
            }
            !std::mem::replace(&mut seen[i], true)
        };
        let mut order: Vec<StateID> = vec![first];
        mark(first, &mut seen);
        let mut next = 0;
        while next < order.len() {
            let sid = order[next];
            next += 1;
            for class in &bytes {
                if let Some(to) = step(sid, class) {
                    if mark(to, &mut seen) {
                        order.push(to);
                    }
                }
            }
        }
        // Non-matching states first (the start among them), then matching ones.
        order.sort_by_key(|sid| dfa.is_match(*sid));
        let mut number = vec![u16::MAX; seen.len()];
        for (i, sid) in order.iter().enumerate() {
            number[sid.as_usize()] =
                u16::try_from(i).map_err(|_| format!("{} states, over 65536", order.len()))?;
        }
        let first_match = order
            .iter()
            .position(|sid| dfa.is_match(*sid))
            .unwrap_or(order.len());
        let alphabet = bytes.len();
        let mut trans = Vec::with_capacity(order.len() * alphabet);
        let mut reports = Vec::new();
        let mut matches = Vec::new();
        for sid in &order {
            for class in &bytes {
                // With every byte used, class 0 is never read: a dead entry.
                trans.push(step(*sid, class).map_or(0, |to| number[to.as_usize()]));
            }
            if dfa.is_match(*sid) {
                let from = u32::try_from(matches.len()).map_err(|e| e.to_string())?;
                for k in 0..dfa.match_len(*sid) {
                    matches.push(dfa.match_pattern(*sid, k).as_u32());
                }
                let to = u32::try_from(matches.len()).map_err(|e| e.to_string())?;
                reports.push((from, to));
            }
        }
        let lengths = patterns
            .iter()
            .map(|p| u32::try_from(p.len()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let first_state = number[first.as_usize()];
        let start = match reading {
            Reading::Bytes => first_state,
            Reading::Words => {
                trans[first_state as usize * alphabet + usize::from(classes[usize::from(b' ')])]
            }
        };
        Ok(Self {
            classes,
            alphabet,
            trans,
            first_match: u16::try_from(first_match).map_err(|e| e.to_string())?,
            reports,
            matches,
            lengths,
            start,
        })
    }

    /// Bytes of pattern `id`.
    pub fn pattern_len(&self, id: u32) -> usize {
        self.lengths[id as usize] as usize
    }

    /// Bytes the table holds.
    pub fn memory_usage(&self) -> usize {
        self.trans.len() * 2 + self.reports.len() * 8 + self.matches.len() * 4
    }

    /// Every match in `text` (overlapping, as the crate's overlapping search finds them):
    /// `(pattern id, end)` with `end` the offset in `text` after the match, in order of
    /// `end`. Stops after `max`.
    pub fn find_all(&self, text: &[u8], max: usize, out: &mut Vec<(u32, usize)>) {
        let mut state = self.start;
        for (at, &byte) in text.iter().enumerate() {
            let class = usize::from(self.classes[usize::from(byte)]);
            state = self.trans[state as usize * self.alphabet + class];
            if state < self.first_match {
                continue;
            }
            let (from, to) = self.reports[(state - self.first_match) as usize];
            for pattern in &self.matches[from as usize..to as usize] {
                out.push((*pattern, at + 1));
            }
            if out.len() >= max {
                return;
            }
        }
    }

    /// Whether `byte` reads as a space (it ends a word; [`Reading::Words`]).
    pub fn is_space(&self, byte: u8) -> bool {
        self.classes[usize::from(byte)] == self.classes[usize::from(b' ')]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, MatchKind};

    /// The dense table finds exactly what the crate's own overlapping search finds on the
    /// same patterns, with every byte outside the patterns read as a space.
    #[test]
    fn finds_what_the_crate_finds() {
        let patterns = [
            " te", "te", " tu", "tus ", " instruc", "cion", " a b", "ab", "9",
        ];
        let dfa = dfa::DFA::builder()
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .unwrap();
        let bytes: Vec<&[u8]> = patterns.iter().map(|p| p.as_bytes()).collect();
        let dense = DenseDfa::new(&dfa, &bytes, Reading::Words).unwrap();
        let reference = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .unwrap();
        let texts = [
            "te tus instrucciones, ¿tu? a b ab9 tete",
            "«tus» a-b te\u{e9}te instrucción 99",
            "",
            "x",
        ];
        for text in texts {
            let mut found = Vec::new();
            dense.find_all(text.as_bytes(), usize::MAX, &mut found);
            let spaced: Vec<u8> = std::iter::once(b' ')
                .chain(text.bytes().map(|b| {
                    if b.is_ascii_alphanumeric() || b == b' ' {
                        b
                    } else {
                        b' '
                    }
                }))
                .collect();
            let expected: Vec<(u32, usize)> = reference
                .find_overlapping_iter(&spaced[..])
                .map(|m| (m.pattern().as_u32(), m.end() - 1))
                .collect();
            assert_eq!(found, expected, "{text}");
        }
    }
}

#[cfg(test)]
mod byte_tests {
    use super::*;
    use aho_corasick::{AhoCorasick, MatchKind};

    /// Reading bytes as themselves, the table finds what the crate finds, for patterns
    /// over every kind of byte.
    #[test]
    fn finds_what_the_crate_finds_byte_for_byte() {
        let patterns: [&[u8]; 7] = [
            b"ign",
            b"ignore",
            b"re pr",
            b"\xe2\x80",
            "système".as_bytes(),
            b"<|",
            b"e",
        ];
        let dfa = dfa::DFA::builder()
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .unwrap();
        let dense = DenseDfa::new(&dfa, &patterns, Reading::Bytes).unwrap();
        let reference = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .unwrap();
        for text in [
            "please ignore previous instructions <|im_start|>",
            "le système — “quoted” ignignore re pr",
            "",
        ] {
            let mut found = Vec::new();
            dense.find_all(text.as_bytes(), usize::MAX, &mut found);
            let expected: Vec<(u32, usize)> = reference
                .find_overlapping_iter(text)
                .map(|m| (m.pattern().as_u32(), m.end()))
                .collect();
            assert_eq!(found, expected, "{text}");
        }
    }
}
