//! Request bodies (data-loss prevention): buffered with the headers held, then blocked or
//! rewritten before the upstream sees any of it.

use crate::{record, Stream, FILTER};
use meshguard_core::body::BodyVerdict;
use meshguard_core::denial::Denial;
use meshguard_core::pii_scrubber::{Decision, Direction, Verdict};
use meshguard_proxy::{denial, paced, request, stats};
use proxy_wasm::traits::HttpContext;
use proxy_wasm::types::Action;

/// How the request body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestState {
    /// Not scrubbed (direction off, no body, passed uninspected, or already decided).
    Off,
    /// Buffering a body of this shape; the headers are held.
    Buffering(Shape),
}

/// What the request headers said about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    json: bool,
    /// The client sent `content-length` (then it is set to the rewritten length).
    had_length: bool,
}

impl Stream {
    /// Decide from the request headers whether the body is scrubbed, refused or passed.
    pub(crate) fn request_headers(&mut self, end_of_stream: bool) -> Action {
        if !self.engine.applies_to(Direction::Request) || end_of_stream {
            return Action::Continue;
        }
        let limits = self.engine.config().body.clone();
        let (verdict, shape) = request::dlp_headers(self, &limits);
        match verdict {
            BodyVerdict::Refuse(d) => self.refuse(&d),
            BodyVerdict::PassUninspected(reason) => {
                stats::increment(FILTER, &format!("uninspected.{reason}"));
                Action::Continue
            }
            BodyVerdict::Inspect => {
                self.request = RequestState::Buffering(Shape {
                    json: shape == Some(true),
                    had_length: self.get_http_request_header("content-length").is_some(),
                });
                Action::Pause
            }
        }
    }

    /// Buffer the body; once complete, block it or rewrite it (and its length).
    pub(crate) fn request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let RequestState::Buffering(shape) = self.request else {
            let limit = self.engine.config().body.max_bytes;
            let chunk = self.get_http_request_body(0, body_size);
            self.request_id.push(chunk.as_deref(), limit);
            return Action::Continue;
        };
        let limits = &self.engine.config().body;
        let Some(body_size) = self.hold.take(self, limits, body_size, end_of_stream) else {
            return Action::Pause;
        };
        match limits.verdict_on_overflow(body_size) {
            Some(BodyVerdict::Refuse(d)) => return self.refuse(&d),
            Some(_) => {
                stats::increment(FILTER, "uninspected.body_too_large");
                self.request = RequestState::Off;
                return Action::Continue;
            }
            None => {}
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.request = RequestState::Off;
        stats::increment(FILTER, "inspected.request");
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        self.request_id.whole(&body);
        if let Err(d) = meshguard_proxy::request::check_mirror(self, &body) {
            return self.refuse(&d);
        }
        let held = paced::Held {
            context_id: self.id,
            direction: paced::Direction::Request,
            bytes: body.len(),
        };
        let engine = self.engine.clone();
        let judgement = async move {
            let pace = paced::pace();
            if shape.json {
                engine
                    .json_body_paced(&body, Direction::Request, &pace)
                    .await
            } else {
                engine
                    .text_body_paced(&body, Direction::Request, &pace)
                    .await
            }
        };
        let writes = |decision: &Decision| match &decision.verdict {
            Verdict::Rewrite(new) => new.len(),
            _ => 0,
        };
        paced::judge(FILTER, held, judgement, writes, move |ctx, decision| {
            record("request", &decision);
            match decision.verdict {
                Verdict::Clean => Action::Continue,
                Verdict::Rewrite(new) => {
                    ctx.set_http_request_body(0, body_size, &new);
                    if shape.had_length {
                        let length = new.len().to_string();
                        ctx.set_http_request_header("content-length", Some(&length));
                    }
                    Action::Continue
                }
                Verdict::Block(d) => {
                    denial::send(ctx, FILTER, &d);
                    Action::Pause
                }
            }
        })
    }

    fn refuse(&mut self, d: &Denial) -> Action {
        self.request = RequestState::Off;
        denial::send(self, FILTER, d);
        Action::Pause
    }
}
