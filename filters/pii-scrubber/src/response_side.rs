//! Response bodies: JSON rewritten whole with the headers held for a correct length, SSE
//! streamed event by event.

use crate::{record, Stream, FILTER};
use meshguard_core::body::BodyVerdict;
use meshguard_core::denial::Denial;
use meshguard_core::mcp::SseEvent;
use meshguard_core::pii_scrubber::{Direction, Engine, Verdict};
use meshguard_proxy::response::{sse_error_event, BodyAction, ResponseBody, ResponseInspector};
use meshguard_proxy::sse_stream::EventAction;
use meshguard_proxy::{log, stats};
use proxy_wasm::traits::HttpContext;
use proxy_wasm::types::Action;
use std::rc::Rc;

/// The scrubber's side of [`ResponseInspector`]: judges bodies and events, and remembers
/// what the final JSON body is so the held headers can describe it.
pub(crate) struct Inspector {
    engine: Rc<Engine>,
    /// Length of the JSON body as forwarded (set once the body was judged).
    final_len: Option<usize>,
    /// The denial that replaced the JSON body, if any (its status and headers are applied
    /// while the response headers are still held).
    denied: Option<Denial>,
}

impl Inspector {
    /// An inspector for one response.
    pub(crate) fn new(engine: Rc<Engine>) -> Self {
        Self {
            engine,
            final_len: None,
            denied: None,
        }
    }
}

impl ResponseInspector for Inspector {
    fn may_rewrite(&self) -> bool {
        true
    }

    fn inspect_json(&mut self, body: &[u8]) -> BodyAction {
        stats::increment(FILTER, "inspected.json");
        let decision = self.engine.json_body(body, Direction::Response);
        record("response", &decision);
        match decision.verdict {
            Verdict::Clean => {
                self.final_len = Some(body.len());
                BodyAction::Forward
            }
            Verdict::Rewrite(new) => {
                self.final_len = Some(new.len());
                BodyAction::Replace(new)
            }
            Verdict::Block(denial) => {
                self.final_len = Some(denial.body().len());
                self.denied = Some(denial.clone());
                BodyAction::Deny(denial)
            }
        }
    }

    fn inspect_event(&mut self, event: &SseEvent) -> EventAction {
        stats::increment(FILTER, "inspected.sse_event");
        let decision = self.engine.sse_event(event);
        record("response event", &decision);
        match decision.verdict {
            Verdict::Clean => EventAction::Forward,
            Verdict::Rewrite(bytes) => EventAction::Replace(bytes),
            Verdict::Block(denial) => {
                stats::increment(FILTER, &format!("denied.{}", denial.reason));
                log::warn(
                    FILTER,
                    &format!(
                        "event replaced control={} reason={}",
                        denial.control.as_str(),
                        denial.reason
                    ),
                );
                EventAction::Replace(sse_error_event(&denial))
            }
        }
    }
}

impl Stream {
    /// Decide how the response body is handled; hold the headers of a JSON body that will
    /// be judged, so its `content-length` can be set to what is actually forwarded.
    pub(crate) fn response_headers(&mut self, end_of_stream: bool) -> Action {
        stats::increment(FILTER, "responses");
        if !self.engine.applies_to(Direction::Response) {
            return Action::Continue;
        }
        let limits = self.engine.config().body.clone();
        let media = self
            .get_http_response_header("content-type")
            .unwrap_or_default();
        let json = media
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json");
        let verdict = limits.verdict(
            self.get_http_response_header("content-encoding").as_deref(),
            self.get_http_response_header("content-length").as_deref(),
        );
        self.response = Some(ResponseBody::on_headers(
            self,
            FILTER,
            &limits,
            &self.inspector,
        ));
        if json && !end_of_stream && verdict == BodyVerdict::Inspect {
            self.headers_held = true;
            return Action::Pause;
        }
        Action::Continue
    }

    /// Feed a body chunk through the shared glue; once a held JSON body is judged, describe
    /// it in the headers before they leave.
    pub(crate) fn response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(mut body) = self.response.take() else {
            return Action::Continue;
        };
        let mut inspector =
            std::mem::replace(&mut self.inspector, Inspector::new(self.engine.clone()));
        let action = body.on_body(self, &mut inspector, body_size, end_of_stream);
        if self.headers_held && action == Action::Continue {
            self.headers_held = false;
            self.describe_body(&mut inspector);
        }
        self.inspector = inspector;
        self.response = Some(body);
        action
    }

    fn describe_body(&self, inspector: &mut Inspector) {
        if let Some(len) = inspector.final_len.take() {
            self.set_http_response_header("content-length", Some(&len.to_string()));
        }
        if let Some(denial) = inspector.denied.take() {
            let status = meshguard_proxy::denial::status_for(&denial);
            self.set_http_response_header(":status", Some(&status.to_string()));
            for (name, value) in denial.headers() {
                self.set_http_response_header(name, Some(&value));
            }
        }
    }
}
