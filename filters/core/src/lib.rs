//! meshguard-core: everything a meshguard filter decides, with no proxy-wasm in sight.
//!
//! Each filter crate is a thin adapter from proxy-wasm callbacks to this crate, so the
//! logic is tested natively (and fuzzed) without Envoy.
//!
//! Shared plumbing: [`config`] (strict parsing whose errors name the field), [`mcp`]
//! (JSON-RPC 2.0, MCP methods, incremental SSE), [`denial`] (the one denial format) and
//! [`body`] (fail-closed body limits). One module per filter holds that filter's
//! configuration schema and decisions.

// The scanners index byte slices at positions they just bounds-checked; they are fuzzed
// (`make fuzz`) and are to be rewritten with checked access (the workspace denies this lint
// everywhere else).
#![allow(clippy::indexing_slicing)]

pub mod body;
pub mod canonical;
pub mod config;
pub mod denial;
pub mod dense_dfa;
pub mod identity;
pub mod json;
pub mod mcp;
pub mod pace;
pub mod tool_class;

pub mod detect;
pub mod jwt;
pub mod scrub;

pub mod approval_gate;
pub mod audience_check;
pub mod egress_guard;
pub mod memory_guard;
pub mod output_sanitizer;
pub mod pii_scrubber;
pub mod prompt_guardrail;
pub mod token_exchange;
pub mod tool_policy;
