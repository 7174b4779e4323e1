//! The response half of the body pipeline, shared by every filter that judges responses
//! (output-sanitizer, pii-scrubber, tool-policy's `tools/list`).
//!
//! Nothing reaches the client before the filter has decided:
//! - the media type is read as loosely as MCP clients read it ([`classify_media`]); JSON
//!   bodies are held whole (bounded) with their headers, then forwarded, rewritten (with a
//!   correct `content-length`) or replaced by a denial whose status and headers are set
//!   while the headers are still held. The filter holds the bytes itself (each chunk is
//!   taken out of Envoy's buffer), so its own limit decides, never Envoy's buffer limit
//!   (which would answer a plain-text 500 for an HTTP/1.1 client);
//! - SSE bodies stream event by event through [`SseStream`] (interactive progress is never
//!   held back); a broken or oversize stream ends with an SSE error event;
//! - anything the filter cannot inspect (a compressed body, one announced or found to be
//!   over the limit, a body of a media type that is neither JSON nor SSE, or that mentions
//!   both) is replaced by a JSON-RPC error: 502 for a 2xx answer (the upstream's status is
//!   kept for an error answer, so a client still sees its 404 or 405), `content-type:
//!   application/json`, no stale `content-encoding`, the length of the error, and the id
//!   of the request it answers;
//! - trailers end the body like `end_of_stream` does (Envoy would otherwise forward a held
//!   body when the trailers arrive).
//!
//! A held body is written back whole; a large one from the root's tick
//! ([`paced::INLINE_WRITE_MAX`]), so a filter using this forwards its root's `on_tick` and
//! `on_queue_ready` to [`paced`] and its stream's `on_done` to [`paced::cancel`].

use crate::host::response_header;
use crate::paced::{self, Direction};
use crate::sse_stream::{EventAction, EventJudge, SseStream};
use meshguard_core::body::{classify_media, BodyLimits, BodyVerdict, Media};
use meshguard_core::denial::{Control, Denial};
use meshguard_core::mcp::{SseError, SseEvent};
use proxy_wasm::traits::HttpContext;
use proxy_wasm::types::Action;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// A judgement of a whole JSON body that may run in slices ([`crate::paced`]).
pub type Judgement = Pin<Box<dyn Future<Output = BodyAction>>>;

/// What an inspector decides for a whole JSON body.
pub enum BodyAction {
    Forward,
    Replace(Vec<u8>),
    Deny(Denial),
}

/// The decisions a response filter makes; the glue does the buffering and streaming.
pub trait ResponseInspector {
    /// Judge a complete JSON body.
    fn inspect_json(&mut self, body: &[u8]) -> BodyAction;
    /// Judge a complete JSON body in slices when it is large (see [`crate::paced`]); an
    /// inspector whose work is small judges it in one go, as here.
    fn judge_json(&mut self, body: Rc<[u8]>) -> Judgement {
        let action = self.inspect_json(&body);
        Box::pin(std::future::ready(action))
    }
    /// Judge one complete SSE event.
    fn inspect_event(&mut self, event: &SseEvent) -> EventAction;
    /// Judges events in slices (see [`crate::paced`]), for an inspector whose work on a
    /// large event is large; `None`: events are judged in one go by `inspect_event`.
    fn event_judge(&self) -> Option<EventJudge> {
        None
    }
}

enum Mode {
    /// Headers and body held (in `held`) until the body is complete.
    Json,
    /// A body of a type nobody inspects: held until it is known to be empty or not.
    Unknown(Denial),
    Sse(SseStream),
    /// Nothing to inspect (no body, or allowed through uninspected).
    Pass,
    /// The headers already announce a denial: its body replaces the first chunk.
    Refusing(Vec<u8>),
    /// A denial already replaced the body: whatever else arrives is dropped.
    Discard,
}

/// Per-response state of a response filter.
pub struct ResponseBody {
    mode: Mode,
    limits: BodyLimits,
    filter: &'static str,
    /// The stream, for a judgement that completes in a later tick.
    context_id: u32,
    reply: Reply,
    /// The JSON body received so far (at most `limits.max_bytes`).
    held: Vec<u8>,
}

/// What a denial replacing the response needs to know about it.
#[derive(Clone)]
struct Reply {
    filter: &'static str,
    /// The JSON-RPC id of the request this response answers (echoed in denials).
    request_id: Value,
    /// The upstream's status, kept in a denial when it is not a success.
    status: u16,
}

impl ResponseBody {
    /// Decide from the response headers how the body will be handled; returns the state and
    /// what to answer from `on_http_response_headers`.
    pub fn on_headers(
        ctx: &dyn HttpContext,
        context_id: u32,
        filter: &'static str,
        limits: &BodyLimits,
        request_id: Value,
        end_of_stream: bool,
    ) -> (Self, Action) {
        let status = ctx
            .get_http_response_header(":status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(200);
        let mut body = Self {
            mode: Mode::Pass,
            limits: limits.clone(),
            filter,
            context_id,
            reply: Reply {
                filter,
                request_id,
                status,
            },
            held: Vec::new(),
        };
        if end_of_stream {
            return (body, Action::Continue);
        }
        let action = body.decide_from_headers(ctx);
        (body, action)
    }

    fn decide_from_headers(&mut self, ctx: &dyn HttpContext) -> Action {
        let media = classify_media(response_header(ctx, "content-type").as_deref());
        let encoding = response_header(ctx, "content-encoding");
        let length = response_header(ctx, "content-length");
        if length.as_deref().map(str::trim) == Some("0") {
            return Action::Continue;
        }
        match self.limits.verdict(encoding.as_deref(), length.as_deref()) {
            BodyVerdict::Inspect => {}
            BodyVerdict::PassUninspected(reason) => {
                crate::stats::increment(self.filter, &format!("uninspected.{reason}"));
                return Action::Continue;
            }
            BodyVerdict::Refuse(denial) => {
                let body = self.announce_denial(ctx, denial);
                self.mode = Mode::Refusing(body);
                return Action::Continue;
            }
        }
        match media {
            Media::Json => {
                self.mode = Mode::Json;
                Action::Pause
            }
            Media::EventStream => {
                // Events may be rewritten: a length announced up front would be stale.
                ctx.set_http_response_header("content-length", None);
                self.mode = Mode::Sse(SseStream::new(self.limits.max_bytes));
                Action::Continue
            }
            other if self.limits.allows_media(&other) => {
                crate::stats::increment(self.filter, "uninspected.allowed_media_type");
                Action::Continue
            }
            other => {
                self.mode = Mode::Unknown(media_denial(&other));
                Action::Pause
            }
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
            Mode::Refusing(body) => {
                let body = std::mem::take(body);
                ctx.set_http_response_body(0, body_size, &body);
                self.mode = Mode::Discard;
                Action::Continue
            }
            Mode::Sse(stream) => {
                if let Some(judge) = inspector.event_judge() {
                    let held = paced::Held {
                        context_id: self.context_id,
                        direction: Direction::Response,
                        bytes: body_size,
                    };
                    let on_error = self.reply.sse_error();
                    let result =
                        stream.on_body_paced(ctx, held, self.filter, judge, on_error.clone());
                    return result.unwrap_or_else(|e| {
                        ctx.set_http_response_body(0, body_size, &on_error(e));
                        self.mode = Mode::Discard;
                        Action::Continue
                    });
                }
                let result = stream.on_body(ctx, body_size, |e| inspector.inspect_event(e));
                if let Err(e) = result {
                    ctx.set_http_response_body(0, body_size, &self.reply.sse_error()(e));
                    self.mode = Mode::Discard;
                }
                Action::Continue
            }
            Mode::Unknown(denial) => {
                if body_size == 0 && end_of_stream {
                    self.mode = Mode::Pass;
                    return Action::Continue;
                }
                if body_size == 0 {
                    return Action::Pause;
                }
                let denial = denial.clone();
                self.replace_held(ctx, body_size, denial);
                Action::Continue
            }
            Mode::Json => self.on_json_body(ctx, inspector, body_size, end_of_stream),
        }
    }

    /// Handle `on_http_response_trailers`: the body has ended; judge what is held.
    pub fn on_trailers(
        &mut self,
        ctx: &dyn HttpContext,
        inspector: &mut dyn ResponseInspector,
    ) -> Action {
        match &self.mode {
            Mode::Json | Mode::Unknown(_) => {
                let size = buffered_response_size(ctx, self.limits.max_bytes);
                self.on_body(ctx, inspector, size, true)
            }
            // The events' output is not written yet: the trailers wait for it.
            Mode::Sse(stream) if stream.busy() => Action::Pause,
            _ => Action::Continue,
        }
    }

    fn on_json_body(
        &mut self,
        ctx: &dyn HttpContext,
        inspector: &mut dyn ResponseInspector,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        // Envoy's buffer holds only what arrived since the last call: take it.
        let chunk = ctx.get_http_response_body(0, body_size).unwrap_or_default();
        match self
            .limits
            .verdict_on_overflow(self.held.len() + chunk.len())
        {
            Some(BodyVerdict::PassUninspected(reason)) => {
                crate::stats::increment(self.filter, &format!("uninspected.{reason}"));
                self.mode = Mode::Pass;
                let mut all = std::mem::take(&mut self.held);
                all.extend_from_slice(&chunk);
                return self.write(ctx, body_size, all);
            }
            Some(BodyVerdict::Refuse(denial)) => {
                self.held = Vec::new();
                self.replace_held(ctx, body_size, denial);
                return Action::Continue;
            }
            _ => {}
        }
        self.held.extend_from_slice(&chunk);
        if !end_of_stream {
            ctx.set_http_response_body(0, body_size, b"");
            return Action::Pause;
        }
        self.mode = Mode::Pass;
        let body: Rc<[u8]> = std::mem::take(&mut self.held).into();
        let held = paced::Held {
            context_id: self.context_id,
            direction: Direction::Response,
            bytes: body.len(),
        };
        let judgement = inspector.judge_json(body.clone());
        let reply = self.reply.clone();
        let forwarded = body.len();
        let writes = move |action: &BodyAction| match action {
            BodyAction::Forward => forwarded,
            BodyAction::Replace(new) => new.len(),
            BodyAction::Deny(_) => 0,
        };
        // Headers first: a body over Envoy's buffer limit ends the stream as it is written.
        let apply = move |ctx: &dyn HttpContext, action| {
            match action {
                BodyAction::Forward => ctx.set_http_response_body(0, body_size, &body),
                BodyAction::Replace(new) => {
                    let length = new.len().to_string();
                    ctx.set_http_response_header("content-length", Some(&length));
                    ctx.set_http_response_body(0, body_size, &new);
                }
                BodyAction::Deny(denial) => {
                    let denied = reply.announce_denial(ctx, denial);
                    ctx.set_http_response_body(0, body_size, &denied);
                }
            }
            Action::Continue
        };
        paced::judge(self.filter, held, judgement, writes, apply)
    }

    /// Put `body` back whole in place of the current chunk and let the response go on;
    /// from a tick when it is large (see [`paced::INLINE_WRITE_MAX`]).
    fn write(&self, ctx: &dyn HttpContext, body_size: usize, body: Vec<u8>) -> Action {
        if body.len() <= paced::INLINE_WRITE_MAX {
            ctx.set_http_response_body(0, body_size, &body);
            return Action::Continue;
        }
        let held = paced::Held {
            context_id: self.context_id,
            direction: Direction::Response,
            bytes: body.len(),
        };
        paced::write_later(self.filter, held, move |ctx| {
            ctx.set_http_response_body(0, body_size, &body);
            Action::Continue
        })
    }

    /// Replace a held body (headers still held) by the denial.
    fn replace_held(&mut self, ctx: &dyn HttpContext, body_size: usize, denial: Denial) {
        let body = self.reply.announce_denial(ctx, denial);
        ctx.set_http_response_body(0, body_size, &body);
        self.mode = Mode::Discard;
    }

    fn announce_denial(&self, ctx: &dyn HttpContext, denial: Denial) -> Vec<u8> {
        self.reply.announce_denial(ctx, denial)
    }
}

impl Reply {
    /// What ends an SSE stream that broke (an oversize event): an error event carrying the
    /// request's id, counted and logged.
    fn sse_error(&self) -> Rc<dyn Fn(SseError) -> Vec<u8>> {
        let reply = self.clone();
        Rc::new(move |e| {
            let denial = Denial::from(e).with_id(reply.request_id.clone());
            reply.count(&denial);
            sse_error_event(&denial)
        })
    }

    /// Rewrite the (not yet sent) response headers to describe `denial`; returns its body.
    fn announce_denial(&self, ctx: &dyn HttpContext, denial: Denial) -> Vec<u8> {
        let mut denial = as_response_denial(denial);
        if denial.id.is_null() {
            denial.id = self.request_id.clone();
        }
        // The one status decision (policy denials with an id answer 200), except that an
        // upstream error status is kept.
        let status = if (200..300).contains(&self.status) {
            crate::denial::status_for(&denial)
        } else {
            self.status
        };
        self.count(&denial);
        let body = denial.body();
        ctx.set_http_response_header(":status", Some(&status.to_string()));
        ctx.set_http_response_header("content-encoding", None);
        ctx.set_http_response_header("content-length", Some(&body.len().to_string()));
        for (name, value) in denial.headers() {
            ctx.set_http_response_header(name, Some(&value));
        }
        body
    }

    fn count(&self, denial: &Denial) {
        crate::stats::increment(self.filter, &format!("denied.{}", denial.reason));
        crate::log::warn(
            self.filter,
            &format!(
                "response replaced control={} reason={} status={}",
                denial.control.as_str(),
                denial.reason,
                denial.status
            ),
        );
    }
}

/// The limits' request-side statuses (413 too large, 415 compressed) describe a client
/// error; for a response the upstream answered something the filter cannot inspect: 502.
fn as_response_denial(mut denial: Denial) -> Denial {
    if matches!(denial.status, 413 | 415) {
        denial.status = 502;
    }
    denial
}

/// The denial for a response body of a media type that is neither JSON nor SSE.
fn media_denial(media: &Media) -> Denial {
    let (reason, message) = match media {
        Media::Ambiguous => (
            "ambiguous_media_type",
            "the response's content type reads as both JSON and an event stream",
        ),
        Media::Missing => (
            "missing_media_type",
            "the response carries a body without a content type",
        ),
        _ => (
            "uninspectable_media_type",
            "the response's content type is neither JSON nor an event stream",
        ),
    };
    Denial::new(502, Control::Protocol, reason, message)
}

/// Bytes of the response body Envoy holds for this filter (read when trailers end it).
fn buffered_response_size(ctx: &dyn HttpContext, limit: usize) -> usize {
    ctx.get_http_response_body(0, limit.saturating_add(1))
        .map_or(0, |b| b.len())
}

/// A denial as an SSE `message` event carrying the JSON-RPC error.
pub fn sse_error_event(denial: &Denial) -> Vec<u8> {
    SseEvent::encode(None, &denial.to_jsonrpc().to_string(), None)
}
