//! meshguard-proxy: the proxy-wasm glue every meshguard filter shares.
//!
//! The core crate decides; this crate talks to Envoy: it loads and logs configuration
//! errors, sends denials, exports counters and streams SSE bodies through a rewriter. A
//! filter crate is then a few callbacks that call into both.

pub mod config;
pub mod denial;
pub mod host;
pub mod jwks_fetch;
pub mod log;
pub mod paced;
pub mod request;
pub mod response;
pub mod shared;
pub mod sse_stream;
pub mod stats;
pub mod verifier;
