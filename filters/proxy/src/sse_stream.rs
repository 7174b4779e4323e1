//! Streaming an SSE response body through a per-event rewriter without holding it back.
//!
//! Each chunk Envoy delivers is replaced by the bytes of the events it completed (rewritten
//! or not); the bytes of an incomplete event are held until its blank line arrives. So a
//! progress event reaches the client at once, while a payload split across chunks is still
//! seen whole by the rewriter.
//!
//! With an [`EventJudge`] the events a chunk completes are judged in slices
//! ([`crate::paced`]): a large event does not stall the worker. While that judgement is
//! parked the stream waits, and chunks that arrive meanwhile are taken out of Envoy's
//! buffer and queued; the judgement goes on with the events they complete, so every byte
//! is judged before the stream resumes, and the output keeps the events' order.

use crate::paced::{self, Held};
use meshguard_core::mcp::{SseError, SseEvent, SseParser};
use proxy_wasm::traits::HttpContext;
use proxy_wasm::types::Action;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// What a rewriter decides for one complete event.
pub enum EventAction {
    /// Forward the event's raw bytes unchanged.
    Forward,
    /// Forward these bytes instead.
    Replace(Vec<u8>),
}

/// A judgement of one event that may run in slices.
pub type EventJudgement = Pin<Box<dyn Future<Output = EventAction>>>;

/// Judges events in slices; built by an inspector that can (it owns what it needs).
pub type EventJudge = Rc<dyn Fn(Rc<SseEvent>) -> EventJudgement>;

/// Per-response streaming state.
pub struct SseStream {
    feed: Rc<RefCell<Feed>>,
}

/// The parser and what arrives while a judgement is parked, shared with that judgement.
struct Feed {
    parser: SseParser,
    /// Bytes taken out of Envoy's buffer while a judgement was parked.
    queued: Vec<u8>,
    /// A judgement of this stream's events is running or its output not yet written.
    busy: bool,
    /// The stream broke (an oversize event): what follows is dropped.
    failed: bool,
    /// The chunk that started the parked judgement was taken out of Envoy's buffer.
    drained: bool,
}

impl SseStream {
    /// A stream that refuses events larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            feed: Rc::new(RefCell::new(Feed {
                parser: SseParser::new(max_event_bytes),
                queued: Vec::new(),
                busy: false,
                failed: false,
                drained: false,
            })),
        }
    }

    /// A judgement of this stream's events is parked or its output not yet written: the
    /// stream's trailers must wait for it.
    pub fn busy(&self) -> bool {
        self.feed.borrow().busy
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
        let events = self.feed.borrow_mut().parser.push(&chunk)?;
        let mut out = Vec::with_capacity(chunk.len());
        for event in &events {
            append(&mut out, event, rewrite(event));
        }
        if out != chunk {
            ctx.set_http_response_body(0, body_size, &out);
        }
        Ok(())
    }

    /// [`SseStream::on_body`] with events judged in slices by `judge` (`held` names the
    /// stream, its response and this chunk's size); returns the action
    /// for this body callback (`Pause` while a judgement is parked). A stream error ends
    /// the output with `on_error`'s bytes (an SSE error event) and is returned.
    pub fn on_body_paced(
        &mut self,
        ctx: &dyn HttpContext,
        held: Held,
        filter: &'static str,
        judge: EventJudge,
        on_error: Rc<dyn Fn(SseError) -> Vec<u8>>,
    ) -> Result<Action, SseError> {
        let body_size = held.bytes;
        if self.feed.borrow().failed {
            ctx.set_http_response_body(0, body_size, b"");
            return Ok(Action::Continue);
        }
        let chunk = ctx.get_http_response_body(0, body_size).unwrap_or_default();
        if self.feed.borrow().busy {
            self.feed.borrow_mut().queued.extend_from_slice(&chunk);
            ctx.set_http_response_body(0, body_size, b"");
            return Ok(Action::Pause);
        }
        let events = self.feed.borrow_mut().parser.push(&chunk)?;
        if events.is_empty() {
            if !chunk.is_empty() {
                ctx.set_http_response_body(0, body_size, b"");
            }
            return Ok(Action::Continue);
        }
        let feed = self.feed.clone();
        feed.borrow_mut().busy = true;
        let judgement = judge_all(feed.clone(), events, judge.clone(), on_error.clone());
        let enforce = move |ctx: &dyn HttpContext, mut out: Vec<u8>| {
            // Bytes queued after the judgement ended, before this write (a large output is
            // written from the next tick), are judged now, in one go.
            if !feed.borrow().queued.is_empty() {
                let rest = judge_all(feed.clone(), Vec::new(), judge, on_error);
                out.extend(meshguard_core::pace::finish(rest));
            }
            let mut state = feed.borrow_mut();
            let size = if state.drained { 0 } else { body_size };
            state.drained = false;
            state.busy = false;
            ctx.set_http_response_body(0, size, &out);
            Action::Continue
        };
        let action = paced::judge(filter, held, judgement, Vec::len, enforce);
        if action == Action::Pause {
            // Parked (or done with a large output written from the tick): the chunk leaves
            // Envoy's buffer and the output takes its place.
            self.feed.borrow_mut().drained = true;
            ctx.set_http_response_body(0, body_size, b"");
        }
        Ok(action)
    }
}

/// Judge `events`, then the events completed by bytes queued meanwhile, until none are
/// left; the output of all of them, in order.
async fn judge_all(
    feed: Rc<RefCell<Feed>>,
    mut events: Vec<SseEvent>,
    judge: EventJudge,
    on_error: Rc<dyn Fn(SseError) -> Vec<u8>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        for event in events.into_iter().map(Rc::new) {
            let action = judge(event.clone()).await;
            append(&mut out, &event, action);
        }
        let queued = std::mem::take(&mut feed.borrow_mut().queued);
        if queued.is_empty() {
            break;
        }
        let pushed = feed.borrow_mut().parser.push(&queued);
        match pushed {
            Ok(next) => events = next,
            Err(e) => {
                out.extend_from_slice(&on_error(e));
                feed.borrow_mut().failed = true;
                break;
            }
        }
    }
    out
}

fn append(out: &mut Vec<u8>, event: &SseEvent, action: EventAction) {
    match action {
        EventAction::Forward => out.extend_from_slice(&event.raw),
        EventAction::Replace(bytes) => out.extend_from_slice(&bytes),
    }
}
