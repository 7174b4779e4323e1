//! Response bodies: JSON rewritten whole with the headers held for a correct length, SSE
//! streamed event by event.

use crate::{record, Stream, FILTER};
use meshguard_core::mcp::SseEvent;
use meshguard_core::pii_scrubber::{Decision, Direction, Engine, Verdict};
use meshguard_proxy::paced;
use meshguard_proxy::response::{
    sse_error_event, BodyAction, Judgement, ResponseBody, ResponseInspector,
};
use meshguard_proxy::sse_stream::{EventAction, EventJudge};
use meshguard_proxy::{log, stats};
use proxy_wasm::types::Action;
use std::rc::Rc;

/// The scrubber's side of [`ResponseInspector`]: judges bodies and events.
pub(crate) struct Inspector {
    engine: Rc<Engine>,
}

impl Inspector {
    /// An inspector for one response.
    pub(crate) fn new(engine: Rc<Engine>) -> Self {
        Self { engine }
    }
}

impl Inspector {
    /// What the pipeline does with a judged body.
    fn body_action(decision: Decision) -> BodyAction {
        record("response", &decision);
        match decision.verdict {
            Verdict::Clean => BodyAction::Forward,
            Verdict::Rewrite(new) => BodyAction::Replace(new),
            Verdict::Block(denial) => BodyAction::Deny(denial),
        }
    }
}

impl ResponseInspector for Inspector {
    fn inspect_json(&mut self, body: &[u8]) -> BodyAction {
        stats::increment(FILTER, "inspected.json");
        Self::body_action(self.engine.json_body(body, Direction::Response))
    }

    /// Results are scrubbed in slices: a large one does not stall the worker.
    fn judge_json(&mut self, body: Rc<[u8]>) -> Judgement {
        stats::increment(FILTER, "inspected.json");
        let engine = self.engine.clone();
        Box::pin(async move {
            let pace = paced::pace();
            let decision = engine
                .json_body_paced(&body, Direction::Response, &pace)
                .await;
            Self::body_action(decision)
        })
    }

    fn inspect_event(&mut self, event: &SseEvent) -> EventAction {
        stats::increment(FILTER, "inspected.sse_event");
        event_action(self.engine.sse_event(event))
    }

    /// Events are scrubbed in slices: a large one does not stall the worker.
    fn event_judge(&self) -> Option<EventJudge> {
        let engine = self.engine.clone();
        Some(Rc::new(move |event| {
            let engine = engine.clone();
            Box::pin(async move {
                stats::increment(FILTER, "inspected.sse_event");
                event_action(engine.sse_event_paced(&event, &paced::pace()).await)
            })
        }))
    }
}

/// What the pipeline does with one judged SSE event.
fn event_action(decision: Decision) -> EventAction {
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

impl Stream {
    /// Decide how the response body is handled (the shared pipeline holds a JSON body and
    /// its headers until it is judged).
    pub(crate) fn response_headers(&mut self, end_of_stream: bool) -> Action {
        stats::increment(FILTER, "responses");
        if !self.engine.applies_to(Direction::Response) {
            return Action::Continue;
        }
        let (body, action) = ResponseBody::on_headers(
            self,
            self.id,
            FILTER,
            &self.engine.config().body,
            self.request_id.id(),
            end_of_stream,
        );
        self.response = Some(body);
        action
    }

    /// Feed a body chunk (or, with `trailers`, the end of the body) through the pipeline.
    pub(crate) fn response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.with_response(|body, ctx, inspector| {
            body.on_body(ctx, inspector, body_size, end_of_stream)
        })
    }

    /// Trailers end the response body.
    pub(crate) fn response_trailers(&mut self) -> Action {
        self.with_response(|body, ctx, inspector| body.on_trailers(ctx, inspector))
    }

    fn with_response(
        &mut self,
        f: impl FnOnce(&mut ResponseBody, &Self, &mut Inspector) -> Action,
    ) -> Action {
        let Some(mut body) = self.response.take() else {
            return Action::Continue;
        };
        let mut inspector = Inspector::new(self.engine.clone());
        let action = f(&mut body, self, &mut inspector);
        self.response = Some(body);
        action
    }
}
