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

/// The request body as Envoy lends it to a filter: what [`RequestHold`] needs, so the hold
/// is tested natively against a model of Envoy's buffer.
pub trait RequestBuffer {
    /// Up to `max` bytes of the buffered body from `start`.
    fn body(&self, start: usize, max: usize) -> Option<Vec<u8>>;
    /// Envoy's `setBuffer`: from `start` 0, drop `size` bytes and put `value` first; from the
    /// end, append `value`.
    fn replace_body(&self, start: usize, size: usize, value: &[u8]);
}

impl<T: HttpContext + ?Sized> RequestBuffer for T {
    fn body(&self, start: usize, max: usize) -> Option<Vec<u8>> {
        self.get_http_request_body(start, max)
    }

    fn replace_body(&self, start: usize, size: usize, value: &[u8]) {
        self.set_http_request_body(start, size, value);
    }
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
        ctx: &dyn RequestBuffer,
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
            held.extend(ctx.body(0, body_size).unwrap_or_default());
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
    pub fn end(&self, ctx: &dyn RequestBuffer, limits: &BodyLimits) -> usize {
        let buffered = ctx
            .body(0, limits.max_bytes.saturating_add(1))
            .map_or(0, |b| b.len());
        self.take(ctx, limits, buffered, true).unwrap_or(buffered)
    }
}

/// Put every held byte back into Envoy's buffer, in place of the current chunk.
fn release(ctx: &dyn RequestBuffer, state: &mut HoldState, body_size: usize) {
    if let HoldState::Holding(held) = std::mem::replace(state, HoldState::Released) {
        ctx.replace_body(0, body_size, &held);
    }
}

/// Empty Envoy's buffer of the chunk just taken.
fn clear(ctx: &dyn RequestBuffer, body_size: usize) {
    if body_size > 0 {
        ctx.replace_body(0, body_size, b"");
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

/// Check the MCP 2026-07-28 mirror headers against a complete request body, for a filter
/// that parses the body itself rather than through [`on_body`] (which checks them already).
/// The body is parsed only when the request carries a mirror header or declares a revision
/// that requires them, so older clients cost nothing. A body that is not JSON-RPC cannot
/// match headers claiming a method: refused with the parser's reason.
pub fn check_mirror(ctx: &dyn HttpContext, body: &[u8]) -> Result<(), Denial> {
    let mirror = mirror_headers(ctx);
    if !mirror.needs_body() {
        return Ok(());
    }
    match parse_payload(body) {
        Ok(payload) => headers::check(&mirror, &payload).map_err(|d| d.with_id(payload.reply_id())),
        Err(e) => Err(Denial::new(
            400,
            Control::Protocol,
            e.reason(),
            e.to_string(),
        )),
    }
}

/// The request headers MCP 2026-07-28 mirrors from the body, `Mcp-Param-*` included
/// (checked against it once the body is complete, so routing on them downstream is safe).
pub fn mirror_headers(ctx: &dyn HttpContext) -> MirrorHeaders {
    let headers = ctx.get_http_request_headers();
    MirrorHeaders::from_pairs(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Envoy's request buffer for one paused stream: a chunk is appended before each call,
    /// and what a paused filter leaves in it stays for the next call.
    #[derive(Default)]
    struct EnvoyBuffer {
        bytes: RefCell<Vec<u8>>,
        /// The most it ever held (Envoy answers 413 itself past its own limit).
        peak: RefCell<usize>,
    }

    impl RequestBuffer for EnvoyBuffer {
        fn body(&self, start: usize, max: usize) -> Option<Vec<u8>> {
            let b = self.bytes.borrow();
            let end = b.len().min(start.saturating_add(max));
            b.get(start..end).map(<[u8]>::to_vec)
        }

        fn replace_body(&self, start: usize, size: usize, value: &[u8]) {
            let mut b = self.bytes.borrow_mut();
            if start == 0 {
                let drop = size.min(b.len());
                b.drain(..drop);
                b.splice(0..0, value.iter().copied());
            } else if start >= b.len() {
                b.extend_from_slice(value);
            }
        }
    }

    impl EnvoyBuffer {
        /// Deliver `chunk` and call the hold as Envoy calls `on_http_request_body`.
        fn deliver(
            &self,
            hold: &RequestHold,
            limits: &BodyLimits,
            chunk: &[u8],
            end: bool,
        ) -> Option<usize> {
            self.bytes.borrow_mut().extend_from_slice(chunk);
            let len = self.bytes.borrow().len();
            let peak = (*self.peak.borrow()).max(len);
            *self.peak.borrow_mut() = peak;
            hold.take(self, limits, len, end)
        }
    }

    fn limits(max_bytes: usize, allow_uninspectable: bool) -> BodyLimits {
        BodyLimits {
            max_bytes,
            allow_uninspectable,
            ..BodyLimits::default()
        }
    }

    #[test]
    fn a_streamed_body_is_held_by_the_filter_and_put_back_whole() {
        let envoy = EnvoyBuffer::default();
        let hold = RequestHold::default();
        let l = limits(100, false);
        let body: Vec<u8> = (0..90u8).collect();
        let chunks: Vec<&[u8]> = body.chunks(20).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let got = envoy.deliver(&hold, &l, chunk, last);
            assert_eq!(got, last.then_some(90), "chunk {i}");
        }
        assert_eq!(*envoy.bytes.borrow(), body);
        // Envoy never held more than one chunk while the filter waited.
        assert_eq!(*envoy.peak.borrow(), 20);
        // A later call (trailers replaying the body) sees Envoy's own size.
        assert_eq!(hold.take(&envoy, &l, 90, true), Some(90));
    }

    #[test]
    fn trailers_end_a_held_body() {
        let envoy = EnvoyBuffer::default();
        let hold = RequestHold::default();
        let l = limits(100, false);
        assert_eq!(envoy.deliver(&hold, &l, b"{\"a\":", false), None);
        assert_eq!(envoy.deliver(&hold, &l, b"1}", false), None);
        assert_eq!(hold.end(&envoy, &l), 7);
        assert_eq!(*envoy.bytes.borrow(), b"{\"a\":1}".to_vec());
    }

    #[test]
    fn an_oversize_stream_is_reported_and_dropped_not_buffered_by_envoy() {
        let envoy = EnvoyBuffer::default();
        let hold = RequestHold::default();
        let l = limits(50, false);
        assert_eq!(envoy.deliver(&hold, &l, &[b'x'; 40], false), None);
        assert_eq!(envoy.deliver(&hold, &l, &[b'x'; 40], false), Some(80));
        assert!(envoy.bytes.borrow().is_empty());
        // Whatever follows is dropped too, and the size keeps growing past the limit.
        assert_eq!(envoy.deliver(&hold, &l, &[b'x'; 40], true), Some(120));
        assert!(envoy.bytes.borrow().is_empty());
        assert_eq!(*envoy.peak.borrow(), 40);
    }

    #[test]
    fn an_oversize_body_the_operator_lets_through_is_put_back_and_streams_on() {
        let envoy = EnvoyBuffer::default();
        let hold = RequestHold::default();
        let l = limits(50, true);
        assert_eq!(envoy.deliver(&hold, &l, &[b'a'; 40], false), None);
        assert_eq!(envoy.deliver(&hold, &l, &[b'b'; 40], false), Some(80));
        assert_eq!(envoy.bytes.borrow().len(), 80);
        // The filter continues: Envoy forwards, later chunks pass with their own size.
        envoy.bytes.borrow_mut().clear();
        assert_eq!(envoy.deliver(&hold, &l, &[b'c'; 10], true), Some(10));
    }

    #[test]
    fn an_empty_body_ended_by_trailers_is_empty() {
        let envoy = EnvoyBuffer::default();
        let hold = RequestHold::default();
        assert_eq!(hold.end(&envoy, &limits(10, false)), 0);
    }
}
