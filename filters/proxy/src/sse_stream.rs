//! Streaming an SSE response body through a per-event rewriter without holding it back.
//!
//! Each chunk Envoy delivers is replaced by the bytes of the events it completed (rewritten
//! or not); the bytes of an incomplete event are held until its blank line arrives. So a
//! progress event reaches the client at once, while a payload split across chunks is still
//! seen whole by the rewriter.

use meshguard_core::mcp::{SseError, SseEvent, SseParser};
use proxy_wasm::traits::HttpContext;

/// What a rewriter decides for one complete event.
pub enum EventAction {
    /// Forward the event's raw bytes unchanged.
    Forward,
    /// Forward these bytes instead.
    Replace(Vec<u8>),
}

/// Per-response streaming state.
pub struct SseStream {
    parser: SseParser,
}

impl SseStream {
    /// A stream that refuses events larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            parser: SseParser::new(max_event_bytes),
        }
    }

    /// Handle one `on_http_response_body` call: read the chunk, rewrite completed events,
    /// write back what may go to the client now. Incomplete bytes at end of stream are
    /// dropped, as SSE clients drop them too.
    pub fn on_body(
        &mut self,
        ctx: &dyn HttpContext,
        body_size: usize,
        mut rewrite: impl FnMut(&SseEvent) -> EventAction,
    ) -> Result<(), SseError> {
        let chunk = ctx.get_http_response_body(0, body_size).unwrap_or_default();
        let events = self.parser.push(&chunk)?;
        let mut out = Vec::with_capacity(chunk.len());
        for event in &events {
            match rewrite(event) {
                EventAction::Forward => out.extend_from_slice(&event.raw),
                EventAction::Replace(bytes) => out.extend_from_slice(&bytes),
            }
        }
        if out != chunk {
            ctx.set_http_response_body(0, body_size, &out);
        }
        Ok(())
    }
}
