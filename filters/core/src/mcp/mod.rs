//! MCP over Streamable HTTP: JSON-RPC 2.0 messages, the MCP methods meshguard polices,
//! and the Server-Sent Events framing MCP servers stream responses in.

pub mod headers;
pub mod jsonrpc;
pub mod method;
pub mod sse;

pub use headers::MirrorHeaders;
pub use jsonrpc::{parse_payload, Message, ParseError, Payload, Request, Response};
pub use method::{Method, NamedCall};
pub use sse::{SseError, SseEvent, SseParser};
