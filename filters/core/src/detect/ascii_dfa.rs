//! A dense DFA over the 37 bytes of folded words (space, `a`-`z`, `0`-`9`), for the
//! concept lexicon's Latin-script forms ([`super::concepts`]).
//!
//! The table is read off an `aho-corasick` DFA, which builds the automaton; only the
//! search loop is ours: one table load per byte, every byte outside the alphabet read as
//! a space (punctuation, other scripts, "¿" before a Spanish question). Through the
//! crate's search API the same automaton cost about four times the instructions per byte
//! (its overlapping search and match bookkeeping around every step), and this pass runs
//! over every byte the detector sees.

use aho_corasick::automaton::{Automaton as _, StateID};
use aho_corasick::{dfa, Anchored};

/// Bytes of the alphabet: space, the 26 letters, the 10 digits.
const ALPHABET: usize = 37;
/// The class every byte outside the alphabet falls in: the space's.
const SPACE: u8 = 0;

/// A compiled dense DFA; see the module documentation.
#[derive(Debug, Clone)]
pub struct AsciiDfa {
    classes: [u8; 256],
    /// `state * ALPHABET + class` to the next state. States are numbered so that the
    /// ones that report matches come last: one comparison per byte tells.
    trans: Vec<u32>,
    /// The first state that reports matches.
    first_match: u32,
    /// Per match state (from `first_match` on), the range of `matches` it reports.
    reports: Vec<(u32, u32)>,
    /// Pattern ids, grouped by state.
    matches: Vec<u32>,
    /// The state after one space from the start: where every search begins, as if the
    /// text were preceded by a space.
    start: u32,
}

impl AsciiDfa {
    /// Read the table off `dfa`, whose patterns use only the alphabet.
    ///
    /// # Errors
    /// The DFA has no unanchored start state or more states than fit.
    pub fn new(dfa: &dfa::DFA) -> Result<Self, String> {
        let mut classes = [SPACE; 256];
        let mut bytes = vec![b' '];
        for (i, b) in (b'a'..=b'z').chain(b'0'..=b'9').enumerate() {
            classes[usize::from(b)] = u8::try_from(i + 1).map_err(|e| e.to_string())?;
            bytes.push(b);
        }
        let first = dfa.start_state(Anchored::No).map_err(|e| e.to_string())?;
        // Every reachable state, breadth first.
        let mut seen: Vec<bool> = Vec::new();
        let mut order: Vec<StateID> = vec![first];
        let mark = |sid: StateID, seen: &mut Vec<bool>| {
            let i = sid.as_usize();
            if i >= seen.len() {
                seen.resize(i + 1, false);
            }
            !std::mem::replace(&mut seen[i], true)
        };
        mark(first, &mut seen);
        let mut next = 0;
        while next < order.len() {
            let sid = order[next];
            next += 1;
            for b in &bytes {
                let to = dfa.next_state(Anchored::No, sid, *b);
                if mark(to, &mut seen) {
                    order.push(to);
                }
            }
        }
        // Non-matching states first (the start among them), then matching ones.
        order.sort_by_key(|sid| dfa.is_match(*sid));
        let mut number = vec![u32::MAX; seen.len()];
        for (i, sid) in order.iter().enumerate() {
            number[sid.as_usize()] = u32::try_from(i).map_err(|e| e.to_string())?;
        }
        let first_match = order
            .iter()
            .position(|sid| dfa.is_match(*sid))
            .unwrap_or(order.len());
        let mut trans = Vec::with_capacity(order.len() * ALPHABET);
        let mut reports = Vec::new();
        let mut matches = Vec::new();
        for sid in &order {
            for b in &bytes {
                trans.push(number[dfa.next_state(Anchored::No, *sid, *b).as_usize()]);
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
        let start = trans[number[first.as_usize()] as usize * ALPHABET + usize::from(SPACE)];
        Ok(Self {
            classes,
            trans,
            first_match: u32::try_from(first_match).map_err(|e| e.to_string())?,
            reports,
            matches,
            start,
        })
    }

    /// Every match in `text` read as if a space came first: `(pattern id, end)` with
    /// `end` the offset in `text` after the match, in order of `end`. Stops after `max`.
    pub fn find_all(&self, text: &[u8], max: usize, out: &mut Vec<(u32, usize)>) {
        let mut state = self.start;
        for (at, &byte) in text.iter().enumerate() {
            let class = usize::from(self.classes[usize::from(byte)]);
            state = self.trans[state as usize * ALPHABET + class];
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

    /// Whether `byte` reads as a space (it ends a word).
    pub fn is_space(&self, byte: u8) -> bool {
        self.classes[usize::from(byte)] == SPACE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, MatchKind};

    /// The dense table finds exactly what the crate's own overlapping search finds on the
    /// same patterns, with every byte outside the alphabet read as a space.
    #[test]
    fn finds_what_the_crate_finds() {
        let patterns = [
            " te", "te", " tu", "tus ", " instruc", "cion", " a b", "ab", "9",
        ];
        let dfa = dfa::DFA::builder()
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .unwrap();
        let dense = AsciiDfa::new(&dfa).unwrap();
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
                    if b.is_ascii_lowercase() || b.is_ascii_digit() {
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
