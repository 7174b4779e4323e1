//! The SSE parser never panics, never emits more bytes than it was fed, and gives the same
//! events however the input is split.
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard_core::mcp::SseParser;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let cut = (split as usize) % (rest.len() + 1);
    let mut whole = SseParser::new(1 << 16);
    let mut parts = SseParser::new(1 << 16);
    let a = whole.push(rest);
    let b = parts.push(&rest[..cut]).and_then(|mut first| {
        first.extend(parts.push(&rest[cut..])?);
        Ok(first)
    });
    if let (Ok(a), Ok(b)) = (a, b) {
        assert_eq!(a, b);
        let raw: usize = a.iter().map(|e| e.raw.len()).sum();
        assert!(raw + whole.pending().len() == rest.len());
    }
});
