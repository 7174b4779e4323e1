//! The strict reader and the pipeline's parsing paths: duplicate and case-variant keys, media
//! types and the MCP mirror headers never panic, and a body the strict reader accepts is
//! also accepted by serde_json with the same value (no reading the two disagree on).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshguard_core::body::classify_media;
use meshguard_core::json::{parse, parse_message};
use meshguard_core::mcp::{headers, parse_payload, MirrorHeaders};

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = parse(data) {
        let plain: serde_json::Value = serde_json::from_slice(data).expect("strict ⊂ serde_json");
        assert_eq!(value, plain);
    }
    let _ = parse_message(data);
    let text = String::from_utf8_lossy(data);
    let _ = classify_media(Some(&text));
    let mut parts = text.splitn(5, '\n');
    let mut mirror = MirrorHeaders {
        method: parts.next().map(str::to_string),
        name: parts.next().map(str::to_string),
        protocol_version: parts.next().map(str::to_string),
        ..MirrorHeaders::default()
    };
    // One `Mcp-Param-*` header line, `name: value`, run through the header collector.
    if let Some((name, value)) = parts.next().and_then(|l| l.split_once(':')) {
        let param = format!("mcp-param-{name}");
        mirror.params = MirrorHeaders::from_pairs([(param.as_str(), value)]).params;
    }
    if let Ok(payload) = parse_payload(parts.next().unwrap_or("").as_bytes()) {
        let _ = headers::check(&mirror, &payload);
    }
});
