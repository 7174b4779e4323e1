//! Tool-output sanitizer on responses (MCP-13).
//!
//! Thin proxy-wasm adapter over [`meshguard_core::output_sanitizer`]: JSON responses are
//! buffered within the configured limits and SSE responses streamed event by event through
//! the shared [`ResponseBody`] glue (uninspectable bodies are refused); each complete JSON
//! body or `message` event goes to [`Sanitizer`], and what it rewrites replaces the
//! original. Events that carry no result (progress, notifications) pass at once.

use meshguard_core::denial::Denial;
use meshguard_core::mcp::{SseError, SseEvent};
use meshguard_core::output_sanitizer::{Config, Outcome, Report, Sanitizer};
use meshguard_core::pace::{self, Pace};
use meshguard_proxy::paced;
use meshguard_proxy::request::RequestIdTap;
use meshguard_proxy::response::{
    sse_error_event, BodyAction, Judgement, ResponseBody, ResponseInspector,
};
use meshguard_proxy::sse_stream::{EventAction, EventJudge};
use meshguard_proxy::{config, log, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

const FILTER: &str = "output_sanitizer";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Per-plugin state: the compiled sanitizer, shared with every stream.
#[derive(Default)]
struct Root {
    sanitizer: Option<Rc<Sanitizer>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = config::load::<Config>(self, FILTER);
        self.sanitizer = config.and_then(|c| match Sanitizer::new(c) {
            Ok(s) => Some(Rc::new(s)),
            Err(e) => {
                log::warn(FILTER, &e.to_string());
                None
            }
        });
        self.sanitizer.is_some()
    }

    fn create_http_context(&self, id: u32) -> Option<Box<dyn HttpContext>> {
        let sanitizer = self.sanitizer.clone()?;
        Some(Box::new(Stream {
            id,
            inspector: Inspector(sanitizer),
            body: None,
            request_id: RequestIdTap::default(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    /// Give a large result's judgement its next slice.
    fn on_tick(&mut self) {
        paced::on_tick();
    }

    /// Write a decided body put back from outside its stream's callback.
    fn on_queue_ready(&mut self, queue_id: u32) {
        paced::on_queue_ready(queue_id);
    }
}

/// Per-response state.
struct Stream {
    /// Envoy's id of this stream (a sliced judgement resumes it by id).
    id: u32,
    inspector: Inspector,
    body: Option<ResponseBody>,
    /// The request's JSON-RPC id, echoed when the response is replaced by a denial.
    request_id: RequestIdTap,
}

/// The decisions of this filter over a response body.
struct Inspector(Rc<Sanitizer>);

impl Inspector {
    /// What the pipeline does with a sanitized body.
    fn body_action(outcome: Outcome) -> BodyAction {
        match outcome {
            Outcome::Unchanged(report) => {
                Self::record(&report);
                BodyAction::Forward
            }
            Outcome::Rewritten(bytes, report) => {
                Self::record(&report);
                BodyAction::Replace(bytes)
            }
            Outcome::Refused(denial) => BodyAction::Deny(denial),
        }
    }

    /// Count and log what a sanitization did.
    fn record(report: &Report) {
        if report.rewritten > 0 {
            stats::increment(FILTER, "rewritten");
        }
        if report.blocked > 0 {
            stats::increment(FILTER, "blocked");
        }
        if report.annotated > 0 {
            stats::increment(FILTER, "annotated");
        }
        if report.links_removed > 0 {
            stats::increment(FILTER, "links_removed");
        }
        if report.cut > 0 {
            stats::increment(FILTER, "truncated");
        }
        if report.blocked > 0 || report.redacted + report.enveloped > 0 {
            log::warn(FILTER, &report.audit_line());
        } else if report.eventful() {
            log::at(LogLevel::Info, FILTER, &report.audit_line());
        }
    }
}

impl ResponseInspector for Inspector {
    fn inspect_json(&mut self, body: &[u8]) -> BodyAction {
        stats::increment(FILTER, "inspected.json");
        Self::body_action(self.0.sanitize_body(body))
    }

    /// Results are scanned in slices: a large one does not stall the worker.
    fn judge_json(&mut self, body: Rc<[u8]>) -> Judgement {
        stats::increment(FILTER, "inspected.json");
        let sanitizer = self.0.clone();
        Box::pin(async move {
            let pace = paced::pace();
            Self::body_action(sanitizer.sanitize_body_paced(&body, &pace).await)
        })
    }

    fn inspect_event(&mut self, event: &SseEvent) -> EventAction {
        pace::finish(event_action(&self.0, event, &Pace::unbounded()))
    }

    /// Events are scanned in slices: a large one does not stall the worker.
    fn event_judge(&self) -> Option<EventJudge> {
        let sanitizer = self.0.clone();
        Some(Rc::new(move |event| {
            let sanitizer = sanitizer.clone();
            Box::pin(async move { event_action(&sanitizer, &event, &paced::pace()).await })
        }))
    }
}

/// What the pipeline does with one SSE event: a `message` event's data is sanitized as a
/// JSON-RPC message; other events pass.
async fn event_action(sanitizer: &Sanitizer, event: &SseEvent, pace: &Pace) -> EventAction {
    stats::increment(FILTER, "inspected.sse_event");
    let limit = sanitizer.config().body.max_bytes;
    if event.raw.len() > limit {
        // A whole oversize event can arrive in one chunk, past the parser's bound.
        let denial = Denial::from(SseError::EventTooLarge { limit });
        stats::increment(FILTER, &format!("denied.{}", denial.reason));
        return EventAction::Replace(sse_error_event(&denial));
    }
    let is_message = event.event.as_deref().is_none_or(|t| t == "message");
    let data = match event.data.as_deref() {
        Some(d) if is_message && !d.trim().is_empty() => d,
        _ => return EventAction::Forward,
    };
    match sanitizer.sanitize_body_paced(data.as_bytes(), pace).await {
        Outcome::Unchanged(report) => {
            Inspector::record(&report);
            EventAction::Forward
        }
        Outcome::Rewritten(bytes, report) => {
            Inspector::record(&report);
            EventAction::Replace(event.with_data(&String::from_utf8_lossy(&bytes)))
        }
        Outcome::Refused(denial) => {
            stats::increment(FILTER, &format!("denied.{}", denial.reason));
            log::warn(
                FILTER,
                "event replaced: data is not JSON and cannot be inspected",
            );
            EventAction::Replace(sse_error_event(&denial))
        }
    }
}

impl Context for Stream {
    fn on_done(&mut self) -> bool {
        paced::cancel(FILTER, self.id);
        true
    }
}

impl HttpContext for Stream {
    fn on_http_request_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        let limit = self.inspector.0.config().body.max_bytes;
        let chunk = self.get_http_request_body(0, body_size);
        self.request_id.push(chunk.as_deref(), limit);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        stats::increment(FILTER, "responses");
        let (body, action) = ResponseBody::on_headers(
            self,
            self.id,
            FILTER,
            &self.inspector.0.config().body,
            self.request_id.id(),
            end_of_stream,
        );
        self.body = Some(body);
        action
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(mut body) = self.body.take() else {
            return Action::Continue;
        };
        let mut inspector = Inspector(self.inspector.0.clone());
        let action = body.on_body(self, &mut inspector, body_size, end_of_stream);
        self.body = Some(body);
        action
    }

    fn on_http_response_trailers(&mut self, _trailers: usize) -> Action {
        let Some(mut body) = self.body.take() else {
            return Action::Continue;
        };
        let mut inspector = Inspector(self.inspector.0.clone());
        let action = body.on_trailers(self, &mut inspector);
        self.body = Some(body);
        action
    }
}
