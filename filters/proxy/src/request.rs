//! The request half of the body pipeline, shared by the filters that judge a request by its
//! body.
//!
//! The body is held (bounded by [`BodyLimits`]) with the headers until it is complete, then
//! parsed once with the strict reader; compressed or oversize bodies are refused before they
//! are buffered. A body ends with `end_of_stream` or with trailers: every body-reading
//! filter answers `on_http_request_trailers` with [`RequestHold::end`], so an HTTP/2 request
//! whose body is followed by a trailers frame is judged like any other (the proxy-wasm
//! SDK's default would continue the stream, and Envoy would forward the held body).
//! The filter holds the bytes itself ([`RequestHold`]), so its own limit decides and a
//! streamed oversize body gets the filter's JSON-RPC refusal, never Envoy's plain 413.

use crate::host::request_header;
use meshguard_core::body::{BodyLimits, BodyVerdict};
use meshguard_core::denial::{Control, Denial};
use meshguard_core::mcp::{headers, parse_payload, MirrorHeaders, Payload};
use meshguard_core::pii_scrubber::{binary_body_verdict, request_media};
use proxy_wasm::traits::HttpContext;
use std::cell::RefCell;

/// Outcome of one `on_http_request_body` call.
pub enum RequestBody {
    /// More body to come: keep buffering (return `Action::Pause`).
    Buffering,
    /// The body is complete and is JSON-RPC.
    Complete { payload: Payload, bytes: Vec<u8> },
    /// The body is not acceptable; send this denial.
    Refused(Denial),
    /// Uninspectable but the operator allowed it through.
    Uninspected,
}

/// Judge the request headers: `Some(denial)` if the body must be refused before it arrives.
pub fn check_headers(ctx: &dyn HttpContext, limits: &BodyLimits) -> Option<BodyVerdict> {
    let encoding = request_header(ctx, "content-encoding");
    let length = request_header(ctx, "content-length");
    match limits.verdict(encoding.as_deref(), length.as_deref()) {
        BodyVerdict::Inspect => None,
        other => Some(other),
    }
}

/// Judge the request headers for a data-loss check on the body (pii-scrubber's request
/// side, egress-guard's outbound side): the verdict, and the body's shape (`Some(true)`
/// JSON, `Some(false)` text, `None` binary, which only passes when the operator allows
/// uninspectable bodies).
pub fn dlp_headers(ctx: &dyn HttpContext, limits: &BodyLimits) -> (BodyVerdict, Option<bool>) {
    let shape = request_media(request_header(ctx, "content-type").as_deref());
    let verdict = match (check_headers(ctx, limits), shape) {
        (Some(v), _) => v,
        (None, None) => binary_body_verdict(limits.allow_uninspectable),
        (None, Some(_)) => BodyVerdict::Inspect,
    };
    (verdict, shape)
}

/// The request body, held by the filter itself while it waits to judge it.
///
/// Envoy refuses a buffered request body over its own buffer limit with a plain-text 413
/// before the filter sees it; a JSON-RPC client cannot read that, and the filter's
/// `body.max_bytes` would never decide. So each chunk is taken out of Envoy's buffer as it
/// arrives and kept here (at most `max_bytes` plus one chunk); when the body is complete it
/// is put back whole, and the filter reads and rewrites Envoy's buffer as before. A body
/// found oversize is either refused by the filter (its bytes dropped) or, when the operator
/// allows uninspected bodies, put back and forwarded.
///
/// The state sits in a `RefCell` so a filter can pass itself as the context while the hold
/// is one of its fields (`self.hold.take(self, ...)`).
#[derive(Debug, Default)]
pub struct RequestHold {
    state: RefCell<HoldState>,
}

#[derive(Debug)]
enum HoldState {
    /// Chunks taken out of Envoy's buffer so far.
    Holding(Vec<u8>),
    /// The body (or what is forwarded uninspected) is back in Envoy's buffer: sizes are
    /// Envoy's own.
    Released,
    /// Over the limit and refused: later bytes are dropped; the size seen so far.
    Overflowed(usize),
}

impl Default for HoldState {
    fn default() -> Self {
        Self::Holding(Vec::new())
    }
}

impl RequestHold {
    /// Take one `on_http_request_body` call's bytes. `None`: keep waiting (answer
    /// `Action::Pause`). `Some(size)`: judge now, with `size` the whole body's length; the
    /// body is complete in Envoy's buffer, or `size` exceeds `limits.max_bytes`.
    pub fn take(
        &self,
        ctx: &dyn HttpContext,
        limits: &BodyLimits,
        body_size: usize,
        end_of_stream: bool,
    ) -> Option<usize> {
        let mut state = self.state.borrow_mut();
        let held = match &mut *state {
            HoldState::Released => return Some(body_size),
            HoldState::Overflowed(total) => {
                *total = total.saturating_add(body_size);
                let total = *total;
                clear(ctx, body_size);
                return Some(total);
            }
            HoldState::Holding(held) => held,
        };
        if body_size > 0 {
            held.extend(ctx.get_http_request_body(0, body_size).unwrap_or_default());
        }
        let total = held.len();
        if total > limits.max_bytes {
            match limits.verdict_on_overflow(total) {
                Some(BodyVerdict::PassUninspected(_)) => release(ctx, &mut state, body_size),
                _ => {
                    clear(ctx, body_size);
                    *state = HoldState::Overflowed(total);
                }
            }
            return Some(total);
        }
        if end_of_stream {
            release(ctx, &mut state, body_size);
            return Some(total);
        }
        clear(ctx, body_size);
        None
    }

    /// Trailers end the body: take what Envoy still holds and return the size to judge
    /// (every body-reading filter then judges the body as if `end_of_stream` had come).
    pub fn end(&self, ctx: &dyn HttpContext, limits: &BodyLimits) -> usize {
        let buffered = ctx
            .get_http_request_body(0, limits.max_bytes.saturating_add(1))
            .map_or(0, |b| b.len());
        self.take(ctx, limits, buffered, true).unwrap_or(buffered)
    }
}

/// Put every held byte back into Envoy's buffer, in place of the current chunk.
fn release(ctx: &dyn HttpContext, state: &mut HoldState, body_size: usize) {
    if let HoldState::Holding(held) = std::mem::replace(state, HoldState::Released) {
        ctx.set_http_request_body(0, body_size, &held);
    }
}

/// Empty Envoy's buffer of the chunk just taken.
fn clear(ctx: &dyn HttpContext, body_size: usize) {
    if body_size > 0 {
        ctx.set_http_request_body(0, body_size, b"");
    }
}

/// The JSON-RPC id of a request, copied from its body as it passes (never holding it), so a
/// response filter can echo it when it replaces the response with a denial.
#[derive(Debug, Default)]
pub struct RequestIdTap {
    bytes: Vec<u8>,
    /// The body outgrew the tap; its id is not known.
    overflow: bool,
}

impl RequestIdTap {
    /// Copy one `on_http_request_body` chunk (the filter continues the body itself).
    pub fn push(&mut self, chunk: Option<&[u8]>, limit: usize) {
        let Some(chunk) = chunk.filter(|c| !c.is_empty() && !self.overflow) else {
            return;
        };
        if self.bytes.len() + chunk.len() > limit {
            self.overflow = true;
            self.bytes = Vec::new();
            return;
        }
        self.bytes.extend_from_slice(chunk);
    }

    /// Take the whole body at once (a filter that buffered it anyway).
    pub fn whole(&mut self, body: &[u8]) {
        self.bytes = body.to_vec();
        self.overflow = false;
    }

    /// The request's id (the first request's in a batch), or null when unknown.
    pub fn id(&self) -> serde_json::Value {
        parse_payload(&self.bytes).map_or(serde_json::Value::Null, |p| p.reply_id())
    }
}

/// Buffer the request body and parse it as JSON-RPC once complete.
pub fn on_body(
    ctx: &dyn HttpContext,
    limits: &BodyLimits,
    body_size: usize,
    end_of_stream: bool,
) -> RequestBody {
    match limits.verdict_on_overflow(body_size) {
        Some(BodyVerdict::Refuse(denial)) => return RequestBody::Refused(denial),
        Some(_) => return RequestBody::Uninspected,
        None => {}
    }
    if !end_of_stream {
        return RequestBody::Buffering;
    }
    let bytes = ctx.get_http_request_body(0, body_size).unwrap_or_default();
    match parse_payload(&bytes) {
        Ok(payload) => match headers::check(&mirror_headers(ctx), &payload) {
            Ok(()) => RequestBody::Complete { payload, bytes },
            Err(d) => RequestBody::Refused(d.with_id(payload.reply_id())),
        },
        Err(e) => RequestBody::Refused(Denial::new(
            400,
            Control::Protocol,
            e.reason(),
            e.to_string(),
        )),
    }
}

/// The request headers MCP 2026-07-28 mirrors from the body (checked against it once the
/// body is complete, so routing on them downstream is safe).
pub fn mirror_headers(ctx: &dyn HttpContext) -> MirrorHeaders {
    MirrorHeaders {
        method: ctx.get_http_request_header("mcp-method"),
        name: ctx.get_http_request_header("mcp-name"),
        protocol_version: ctx.get_http_request_header("mcp-protocol-version"),
    }
}
