//! Egress guard (MCP-08): SSRF protection and the FQDN allow-list for what a tool reaches.
//!
//! Thin proxy-wasm adapter over [`meshguard_core::egress_guard`], in one of two modes:
//! - `inbound` ([`inbound`]), at the tool sidecar: the body is buffered with the headers
//!   held, and a `tools/call`, `prompts/get` or `resources/read` that names a refused
//!   destination is answered with a JSON-RPC error (403, control MCP-08) before the tool sees
//!   a byte of it;
//! - `outbound` ([`outbound`]), on the sidecar's outbound listener or an egress gateway: the
//!   request authority is judged from the headers, and the body goes through the scrubber's
//!   data-loss check (control MCP-04) before it leaves.
//!
//! Counters: `meshguard.egress_guard.{requests,passed}`, `denied.<reason>`,
//! `blocked.<class>`; decision lines at warn (denials) and debug (passes), no request text.

mod inbound;
mod outbound;

use meshguard_core::egress_guard::{Blocked, Config, Guard, Mode};
use meshguard_proxy::request::RequestHold;
use meshguard_proxy::{config, denial, log, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

/// The filter name in logs, counters and the `.wasm` file.
const FILTER: &str = "egress_guard";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Per-plugin state: the compiled guard, shared with every stream.
#[derive(Default)]
struct Root {
    guard: Option<Rc<Guard>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = config::load::<Config>(self, FILTER);
        self.guard = config.and_then(|c| match Guard::new(c) {
            Ok(g) => Some(Rc::new(g)),
            Err(e) => {
                log::at(LogLevel::Critical, FILTER, &e.to_string());
                None
            }
        });
        self.guard.is_some()
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        let guard = self.guard.clone()?;
        Some(Box::new(Stream {
            hold: RequestHold::default(),
            guard,
            body: BodyState::Off,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// How the request body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// Not inspected (no body, passed uninspected, or already decided).
    Off,
    /// Buffering with the headers held; `json` says how an outbound body is scrubbed.
    Buffering { json: bool },
}

/// Per-request state.
struct Stream {
    /// The request body, held by the filter until it is judged.
    hold: RequestHold,
    guard: Rc<Guard>,
    body: BodyState,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        stats::increment(FILTER, "requests");
        match self.guard.config().mode {
            Mode::Inbound => self.inbound_headers(end_of_stream),
            Mode::Outbound => self.outbound_headers(end_of_stream),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let BodyState::Buffering { json } = self.body else {
            return Action::Continue;
        };
        let Some(body_size) =
            self.hold
                .take(self, &self.guard.config().body, body_size, end_of_stream)
        else {
            return Action::Pause;
        };
        match self.guard.config().mode {
            Mode::Inbound => self.inbound_body(body_size, end_of_stream),
            Mode::Outbound => self.outbound_body(json, body_size, end_of_stream),
        }
    }

    /// Trailers end the body: judge it now (the SDK's default would forward it unjudged).
    fn on_http_request_trailers(&mut self, _trailers: usize) -> Action {
        let size = self.hold.end(self, &self.guard.config().body);
        self.on_http_request_body(size, true)
    }
}

impl Stream {
    /// Refuse a destination: count it by reason and class, audit it, answer with the denial.
    fn block(&mut self, blocked: &Blocked, direction: &str) -> Action {
        if let Some(class) = blocked.refusal.class() {
            stats::increment(FILTER, &format!("blocked.{}", class.as_str()));
        }
        log::warn(FILTER, &blocked.audit_line(direction));
        self.refuse(&blocked.denial())
    }

    fn refuse(&mut self, d: &meshguard_core::denial::Denial) -> Action {
        self.body = BodyState::Off;
        denial::send(self, FILTER, d);
        Action::Pause
    }

    fn pass(&mut self, what: &str) -> Action {
        self.body = BodyState::Off;
        stats::increment(FILTER, "passed");
        log::debug(FILTER, &format!("decision=pass control=MCP-08 {what}"));
        Action::Continue
    }
}
