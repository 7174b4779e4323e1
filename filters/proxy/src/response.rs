//! Response-body inspection shared by the response filters (output sanitizer, scrubber).
//!
//! JSON bodies are buffered whole (bounded) and handed to the inspector once complete; SSE
//! bodies are streamed event by event through [`SseStream`]; anything else passes. Headers
//! are never held: a JSON body that must be replaced after the headers left is replaced by
//! a body of its own (a JSON-RPC error for a denial), and `content-length` is dropped up
//! front whenever the inspector may change the length, so it is never stale.

use crate::sse_stream::{EventAction, SseStream};
use meshguard_core::body::{BodyLimits, BodyVerdict};
use meshguard_core::denial::Denial;
use meshguard_core::mcp::SseEvent;
use proxy_wasm::traits::HttpContext;
use proxy_wasm::types::Action;

/// What an inspector decides for a whole JSON body.
pub enum BodyAction {
    Forward,
    Replace(Vec<u8>),
    Deny(Denial),
}

/// The decisions a response filter makes; the glue does the buffering and streaming.
pub trait ResponseInspector {
    /// Whether bodies may be rewritten (then `content-length` is removed up front).
    fn may_rewrite(&self) -> bool;
    /// Judge a complete `application/json` body.
    fn inspect_json(&mut self, body: &[u8]) -> BodyAction;
    /// Judge one complete SSE event.
    fn inspect_event(&mut self, event: &SseEvent) -> EventAction;
}

enum Mode {
    Json,
    Sse(SseStream),
    Pass,
    /// A denial already replaced the body: whatever else arrives is dropped.
    Discard,
}

/// Per-response state of a response filter.
pub struct ResponseBody {
    mode: Mode,
    /// What the headers alone decided (compressed or declared oversize); headers cannot be
    /// read again once the body flows.
    header_verdict: BodyVerdict,
    limits: BodyLimits,
    filter: &'static str,
}

impl ResponseBody {
    /// Decide from the response headers how the body will be handled.
    pub fn on_headers(
        ctx: &dyn HttpContext,
        filter: &'static str,
        limits: &BodyLimits,
        inspector: &dyn ResponseInspector,
    ) -> Self {
        let content_type = ctx
            .get_http_response_header("content-type")
            .unwrap_or_default();
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let mut mode = match media.as_str() {
            "application/json" => Mode::Json,
            "text/event-stream" => Mode::Sse(SseStream::new(limits.max_bytes)),
            _ => Mode::Pass,
        };
        let encoding = ctx.get_http_response_header("content-encoding");
        let length = ctx.get_http_response_header("content-length");
        let header_verdict = limits.verdict(encoding.as_deref(), length.as_deref());
        let uninspectable = header_verdict != BodyVerdict::Inspect;
        if !matches!(mode, Mode::Pass) {
            if uninspectable {
                // Replaced by a denial (or passed, if allowed) once the body starts.
                mode = Mode::Json;
            }
            if inspector.may_rewrite() || uninspectable {
                ctx.set_http_response_header("content-length", None);
            }
        }
        Self {
            mode,
            header_verdict,
            limits: limits.clone(),
            filter,
        }
    }

    /// Handle one `on_http_response_body` call.
    pub fn on_body(
        &mut self,
        ctx: &dyn HttpContext,
        inspector: &mut dyn ResponseInspector,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        match &mut self.mode {
            Mode::Pass => Action::Continue,
            Mode::Discard => {
                ctx.set_http_response_body(0, body_size, b"");
                Action::Continue
            }
            Mode::Sse(stream) => {
                let result = stream.on_body(ctx, body_size, |e| inspector.inspect_event(e));
                if let Err(e) = result {
                    let denial = Denial::new(
                        502,
                        meshguard_core::denial::Control::Protocol,
                        e.reason(),
                        "unsafe event stream",
                    );
                    crate::stats::increment(self.filter, &format!("denied.{}", e.reason()));
                    ctx.set_http_response_body(0, body_size, &sse_error_event(&denial));
                    self.mode = Mode::Discard;
                }
                Action::Continue
            }
            Mode::Json => self.on_json_body(ctx, inspector, body_size, end_of_stream),
        }
    }

    fn on_json_body(
        &mut self,
        ctx: &dyn HttpContext,
        inspector: &mut dyn ResponseInspector,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        let verdict = match &self.header_verdict {
            BodyVerdict::Inspect => self.limits.verdict_on_overflow(body_size),
            other => Some(other.clone()),
        };
        match verdict {
            Some(BodyVerdict::PassUninspected(reason)) => {
                crate::stats::increment(self.filter, &format!("uninspected.{reason}"));
                self.mode = Mode::Pass;
                return Action::Continue;
            }
            Some(BodyVerdict::Refuse(denial)) => {
                self.replace_with_denial(ctx, body_size, &denial);
                return Action::Continue;
            }
            _ => {}
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = ctx.get_http_response_body(0, body_size).unwrap_or_default();
        match inspector.inspect_json(&body) {
            BodyAction::Forward => {}
            BodyAction::Replace(new) => ctx.set_http_response_body(0, body_size, &new),
            BodyAction::Deny(denial) => self.replace_with_denial(ctx, body_size, &denial),
        }
        Action::Continue
    }

    fn replace_with_denial(&mut self, ctx: &dyn HttpContext, body_size: usize, denial: &Denial) {
        crate::stats::increment(self.filter, &format!("denied.{}", denial.reason));
        crate::log::warn(
            self.filter,
            &format!(
                "response replaced control={} reason={}",
                denial.control.as_str(),
                denial.reason
            ),
        );
        ctx.set_http_response_body(0, body_size, &denial.body());
        self.mode = Mode::Discard;
    }
}

/// A denial as an SSE `message` event carrying the JSON-RPC error.
pub fn sse_error_event(denial: &Denial) -> Vec<u8> {
    SseEvent::encode(None, &denial.to_jsonrpc().to_string(), None)
}
