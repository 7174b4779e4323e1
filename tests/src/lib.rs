//! meshguard's end-to-end harness: real Envoy running the built `.wasm` filters, a real MCP
//! server built with the official Rust SDK (`rmcp`), and a JSON-RPC client.
//!
//! Every test that claims a filter does something proves it here, through Envoy, over HTTP.

pub mod agent;
pub mod approval;
pub mod chroma;
pub mod client;
pub mod egress;
pub mod envoy;
pub mod guardrail_corpus;
pub mod identity;
pub mod load;
pub mod manifests;
pub mod mesh;
pub mod mesh_memory;
pub mod oidc;
pub mod paths;
pub mod pki;
pub mod ports;
pub mod ratelimit;
pub mod redis;
pub mod rugpull;
pub mod tls;
pub mod upstream;
pub mod wasm_imports;

pub use client::{McpClient, Reply};
pub use envoy::{Envoy, EnvoyBuilder, WasmFilter};
pub use oidc::{Alg, OidcIssuer, UserClaims};
pub use pki::{Pki, Svid};
pub use upstream::{tool_registry_entry, McpUpstream, ResponseMode};
