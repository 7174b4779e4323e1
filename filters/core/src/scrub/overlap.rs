//! Deterministic overlap resolution.
//!
//! Detectors run independently, so one stretch of text can be claimed twice (the password
//! of `postgres://u:pw@db.example.com` is also the local part of an "e-mail"; an IBAN's
//! digits look like a phone number). Masking must not depend on detector order, so
//! candidates are ranked and accepted greedily:
//!
//! 1. secrets before PII before operator-defined kinds (a secret mis-typed as PII would
//!    get PII's weaker action, e.g. a partial mask that shows four characters of a key);
//! 2. then the longer span (it covers more of what is sensitive);
//! 3. then the earlier start;
//! 4. then [`Kind`](super::Kind) declaration order.
//!
//! A candidate is kept only if it overlaps no already-kept finding. The result is sorted
//! by start and never overlaps, which is what the maskers need.

use super::kind::Finding;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Rank of a candidate: smaller wins.
fn priority(a: &Finding, b: &Finding) -> Ordering {
    a.kind
        .class()
        .cmp(&b.kind.class())
        .then_with(|| b.span.len().cmp(&a.span.len()))
        .then_with(|| a.span.start.cmp(&b.span.start))
        .then_with(|| a.kind.cmp(&b.kind))
}

/// Keep the best non-overlapping subset of `candidates`, sorted by start.
pub fn resolve(mut candidates: Vec<Finding>) -> Vec<Finding> {
    candidates.retain(|f| !f.span.is_empty());
    if candidates.len() <= 1 {
        return candidates;
    }
    candidates.sort_by(priority);
    // Kept spans by start; spans never overlap, so the neighbours decide.
    let mut kept: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(candidates.len());
    for f in candidates {
        let (s, e) = (f.span.start, f.span.end);
        let before = kept.range(..e).next_back();
        let clash = before.is_some_and(|(_, &end)| end > s);
        if !clash {
            kept.insert(s, e);
            out.push(f);
        }
    }
    out.sort_by_key(|f| f.span.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::kind::{Confidence, Kind};

    fn f(kind: Kind, s: usize, e: usize) -> Finding {
        Finding::new(kind, s..e, Confidence::High)
    }

    #[test]
    fn secret_beats_longer_pii() {
        let out = resolve(vec![f(Kind::Email, 0, 20), f(Kind::UrlPassword, 5, 8)]);
        assert_eq!(out, vec![f(Kind::UrlPassword, 5, 8)]);
    }

    #[test]
    fn longer_span_wins_within_a_class() {
        let out = resolve(vec![f(Kind::Phone, 3, 10), f(Kind::Iban, 0, 22)]);
        assert_eq!(out, vec![f(Kind::Iban, 0, 22)]);
    }

    #[test]
    fn earlier_start_then_kind_order_break_ties() {
        let out = resolve(vec![f(Kind::Phone, 2, 6), f(Kind::Ssn, 0, 4)]);
        assert_eq!(out, vec![f(Kind::Ssn, 0, 4)]);
        let out = resolve(vec![
            f(Kind::GenericSecret, 0, 4),
            f(Kind::GithubToken, 0, 4),
        ]);
        assert_eq!(out, vec![f(Kind::GithubToken, 0, 4)]);
    }

    #[test]
    fn disjoint_findings_are_all_kept_in_order() {
        let out = resolve(vec![
            f(Kind::Phone, 10, 12),
            f(Kind::Email, 0, 4),
            f(Kind::Jwt, 4, 10),
        ]);
        let starts: Vec<usize> = out.iter().map(|x| x.span.start).collect();
        assert_eq!(starts, vec![0, 4, 10]);
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let a = vec![
            f(Kind::Email, 0, 10),
            f(Kind::Phone, 5, 15),
            f(Kind::Ssn, 12, 20),
        ];
        let mut b = a.clone();
        b.reverse();
        assert_eq!(resolve(a), resolve(b));
    }
}
