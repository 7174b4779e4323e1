//! PII and secret scrubber (MCP-04, DLP): masks what must not leave, in response bodies and,
//! for data-loss prevention, in request bodies.
//!
//! Thin proxy-wasm adapter over [`meshguard_core::pii_scrubber`], which makes every decision:
//! - responses ([`response_side`]): `application/json` bodies are buffered (bounded) and
//!   rewritten whole, with the response headers held so `content-length` is set to the new
//!   length; `text/event-stream` bodies are streamed event by event through the shared
//!   [`meshguard_proxy::response::ResponseBody`] glue, so values split across chunks are
//!   still seen whole and interactive streams are never held back;
//! - requests ([`request_side`], off by default): buffered, then blocked or rewritten before
//!   the upstream sees a byte, `content-length` fixed while the headers are held.
//!
//! Uninspectable bodies (oversize, compressed) are refused unless the configuration
//! explicitly lets them pass. Counters: `meshguard.pii_scrubber.<action>.<kind>` with action
//! `redacted`, `masked`, `hashed` or `blocked`; decision logs at debug, kinds only.

mod request_side;
mod response_side;

use meshguard_core::pii_scrubber::{Config, Decision, Engine};
use meshguard_proxy::request::RequestHold;
use meshguard_proxy::request::RequestIdTap;
use meshguard_proxy::response::ResponseBody;
use meshguard_proxy::{config, host, log, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

/// The filter name in logs, counters and the `.wasm` file.
const FILTER: &str = "pii_scrubber";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Per-plugin state: the compiled scrubber, shared with every stream.
#[derive(Default)]
struct Root {
    engine: Option<Rc<Engine>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let Some(config) = config::load::<Config>(self, FILTER) else {
            return false;
        };
        match Engine::new(config, host::env) {
            Ok(engine) => {
                self.engine = Some(Rc::new(engine));
                true
            }
            Err(e) => {
                log::at(LogLevel::Critical, FILTER, &e.to_string());
                false
            }
        }
    }

    fn create_http_context(&self, id: u32) -> Option<Box<dyn HttpContext>> {
        let engine = self.engine.clone()?;
        Some(Box::new(Stream {
            id,
            hold: RequestHold::default(),
            engine,
            response: None,
            request: request_side::RequestState::Off,
            request_id: RequestIdTap::default(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    /// Give a large result's judgement its next slice.
    fn on_tick(&mut self) {
        meshguard_proxy::paced::on_tick();
    }

    /// Write a decided body put back from outside its stream's callback.
    fn on_queue_ready(&mut self, queue_id: u32) {
        meshguard_proxy::paced::on_queue_ready(queue_id);
    }
}

/// Per-exchange state.
struct Stream {
    /// Envoy's id of this stream (a sliced judgement resumes it by id).
    id: u32,
    /// The request body, held by the filter until it is judged.
    hold: RequestHold,
    engine: Rc<Engine>,
    /// Response-body handling, once the response headers decided it.
    response: Option<ResponseBody>,
    request: request_side::RequestState,
    /// The request's JSON-RPC id, echoed when the response is replaced by a denial.
    request_id: RequestIdTap,
}

impl Context for Stream {
    fn on_done(&mut self) -> bool {
        meshguard_proxy::paced::cancel(FILTER, self.id);
        true
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        self.request_headers(end_of_stream)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.request_body(body_size, end_of_stream)
    }

    fn on_http_request_trailers(&mut self, _trailers: usize) -> Action {
        let size = self.hold.end(self, &self.engine.config().body);
        self.request_body(size, true)
    }

    fn on_http_response_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        self.response_headers(end_of_stream)
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.response_body(body_size, end_of_stream)
    }

    fn on_http_response_trailers(&mut self, _trailers: usize) -> Action {
        self.response_trailers()
    }
}

/// Count and log one decision (kinds, actions and counts; never values).
fn record(direction: &str, decision: &Decision) {
    if decision.tally.is_empty() {
        return;
    }
    for (kind, action, n) in &decision.tally {
        let name = format!("{action}.{kind}");
        for _ in 0..*n {
            stats::increment(FILTER, &name);
        }
    }
    log::debug(FILTER, &format!("{direction} {}", decision.summary()));
}
