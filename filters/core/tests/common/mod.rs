//! Helpers shared by the detector test files.

use meshguard_core::scrub::{default_scrubber, Kind};

/// `(kind, matched text)` for every finding in `text` under the default configuration.
pub fn found(text: &str) -> Vec<(Kind, &str)> {
    default_scrubber()
        .find(text)
        .into_iter()
        .map(|f| (f.kind, &text[f.span]))
        .collect()
}

/// Assert `text` holds exactly one finding: `value` of `kind`.
pub fn only(text: &str, kind: Kind, value: &str) {
    assert_eq!(found(text), vec![(kind, value)], "in {text:?}");
}
