//! JSON-RPC parsing and the MCP accessors never panic, and a parsed payload's reply id is
//! always a legal JSON-RPC id.
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard_core::mcp::{parse_payload, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(payload) = parse_payload(data) {
        let id = payload.reply_id();
        assert!(id.is_null() || id.is_string() || id.is_number());
        for m in payload.messages() {
            if let Message::Request(r) = m {
                let _ = r.mcp_method();
                let _ = r.named_call();
            }
        }
    }
});
