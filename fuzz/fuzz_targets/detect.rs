//! The detection engine (normaliser, decoders, rules) never panics, spans always fall on
//! character boundaries of the original text, and neutralising never panics either.
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard_core::detect::{neutralise, Detector};
use std::sync::OnceLock;

static DETECTOR: OnceLock<Detector> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let detector = DETECTOR.get_or_init(Detector::default);
    let scan = detector.scan(text);
    for f in &scan.findings {
        assert!(f.span.end <= text.len() && text.is_char_boundary(f.span.start) && text.is_char_boundary(f.span.end));
    }
    let _ = neutralise(text, &scan.findings);
});
