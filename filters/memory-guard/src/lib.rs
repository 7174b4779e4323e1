//! Memory guard in front of a vector database (MCP-11, cross-tenant memory isolation).
//!
//! Thin proxy-wasm adapter over [`meshguard_core::memory_guard`], which decides: the route
//! is classified from `:method` and `:path`, the caller read from the trusted identity
//! headers audience-check set (it runs first, with `protocol: http`), and a record
//! operation's JSON body buffered (bounded), checked and rewritten whole before the database
//! sees any of it, `content-length` fixed while the headers are held (needs
//! `allow_on_headers_stop_iteration: true`). Refusals are the JSON denial of every meshguard
//! filter with control `MCP-11`. Counters: `meshguard.memory_guard.requests`,
//! `allowed.<operation>`, `denied.<reason>`; decision logs at debug.

use meshguard_core::body::BodyVerdict;
use meshguard_core::denial::Denial;
use meshguard_core::memory_guard::{
    classify, rewrite_body, Caller, Config, Operation, Tenant, SESSION_HEADER, TEAM_HEADER,
    USER_HEADER,
};
use meshguard_proxy::request::RequestHold;
use meshguard_proxy::{config, denial, log, request, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

const FILTER: &str = "memory_guard";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Per-plugin state: the configuration, shared with every stream.
#[derive(Default)]
struct Root {
    config: Option<Rc<Config>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.config = config::load::<Config>(self, FILTER).map(Rc::new);
        self.config.is_some()
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            hold: RequestHold::default(),
            config: self.config.clone()?,
            caller: Caller::default(),
            pending: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Per-request state.
struct Stream {
    /// The request body, held by the filter until it is judged.
    hold: RequestHold,
    config: Rc<Config>,
    caller: Caller,
    /// A record operation whose body is being buffered (headers held), and whether the
    /// client sent `content-length`.
    pending: Option<(Operation, bool)>,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        stats::increment(FILTER, "requests");
        match self.judge_headers(end_of_stream) {
            Ok(action) => action,
            Err(d) => self.deny(&d),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some((op, had_length)) = self.pending else {
            return Action::Continue;
        };
        let Some(body_size) = self
            .hold
            .take(self, &self.config.body, body_size, end_of_stream)
        else {
            return Action::Pause;
        };
        if let Some(BodyVerdict::Refuse(d)) = self.config.body.verdict_on_overflow(body_size) {
            return self.deny(&d);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.pending = None;
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        match rewrite_body(&self.config, &self.caller, op, &body) {
            Ok(new) => {
                self.set_http_request_body(0, body_size, &new);
                if had_length {
                    self.set_http_request_header("content-length", Some(&new.len().to_string()));
                }
                self.allowed(op);
                Action::Continue
            }
            Err(d) => self.deny(&d),
        }
    }

    /// Trailers end the body: judge it now (the SDK's default would forward it unjudged).
    fn on_http_request_trailers(&mut self, _trailers: usize) -> Action {
        let size = self.hold.end(self, &self.config.body);
        self.on_http_request_body(size, true)
    }
}

impl Stream {
    /// Route, identity and body limits; a record operation's body is then awaited.
    fn judge_headers(&mut self, end_of_stream: bool) -> Result<Action, Denial> {
        let method = self.get_http_request_header(":method").unwrap_or_default();
        let path = self.get_http_request_header(":path").unwrap_or_default();
        let op = classify(&self.config, &method, &path)?;
        self.caller = Caller {
            team: self.get_http_request_header(TEAM_HEADER),
            session: self.get_http_request_header(SESSION_HEADER),
            user: self.get_http_request_header(USER_HEADER),
        };
        Tenant::new(&self.config, &self.caller)?;
        if !op.is_data() {
            self.allowed(op);
            return Ok(Action::Continue);
        }
        if end_of_stream {
            // A record operation without a body: judged (and refused) as an empty one.
            rewrite_body(&self.config, &self.caller, op, b"")?;
        }
        if let Some(BodyVerdict::Refuse(d)) = request::check_headers(self, &self.config.body) {
            return Err(d);
        }
        let had_length = self.get_http_request_header("content-length").is_some();
        self.pending = Some((op, had_length));
        Ok(Action::Pause)
    }

    fn allowed(&self, op: Operation) {
        stats::increment(FILTER, &format!("allowed.{}", op.as_str()));
        log::debug(
            FILTER,
            &format!(
                "allowed op={} team={:?} session={:?} sub={:?}",
                op.as_str(),
                self.caller.team,
                self.caller.session,
                self.caller.user
            ),
        );
    }

    fn deny(&mut self, d: &Denial) -> Action {
        self.pending = None;
        log::debug(
            FILTER,
            &format!(
                "refused reason={} team={:?} session={:?}",
                d.reason, self.caller.team, self.caller.session
            ),
        );
        denial::send(self, FILTER, d);
        Action::Pause
    }
}
