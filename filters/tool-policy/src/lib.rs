//! Tool policy at the gateway (MCP-03): registry, pins, intent-based rate limits.
//!
//! Thin proxy-wasm adapter over [`meshguard_core::tool_policy`], placed after
//! token-exchange (whose trusted `x-meshguard-*` identity headers it keys on):
//! - requests on a tool route are held until the JSON-RPC body is read; each `tools/call`
//!   must name a registered tool granted to the caller's team/role and not quarantined,
//!   and must get a token from every bucket of its class (shared data, CAS); forwarded
//!   calls carry `x-meshguard-tool-class` and the `x-meshguard-rl-*` descriptor headers;
//! - `tools/list` responses (JSON or SSE) are compared with the pins (a change quarantines
//!   the tool in shared data, with an audit line) and cut to what the caller may call.
//!
//! Requires `allow_on_headers_stop_iteration: true` (headers are set after the body).

use meshguard_core::body::BodyVerdict;
use meshguard_core::denial::Denial;
use meshguard_core::mcp::Payload;
use meshguard_core::mcp::SseEvent;
use meshguard_core::tool_policy::bucket::{take_in_table, TakeError};
use meshguard_core::tool_policy::list::ListReport;
use meshguard_core::tool_policy::{
    descriptor_headers, quarantine, rate_slot_key, Caller, Config, Policy, Refusal, RequestPlan,
    Route, CLASS_HEADER, OWN_HEADERS, RATE_SLOTS,
};
use meshguard_proxy::request::RequestHold;
use meshguard_proxy::request::{self, RequestBody};
use meshguard_proxy::response::{sse_error_event, BodyAction, ResponseBody, ResponseInspector};
use meshguard_proxy::shared::{self, UpdateError};
use meshguard_proxy::sse_stream::EventAction;
use meshguard_proxy::{config, denial, host, log, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use serde_json::Value;
use std::rc::Rc;

const FILTER: &str = "tool_policy";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Per-plugin state: the policy, shared with every stream.
#[derive(Default)]
struct Root {
    policy: Option<Rc<Policy>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let Some(config) = config::load::<Config>(self, FILTER) else {
            return false;
        };
        // Create every shared-data key before traffic: Envoy cannot create one with CAS.
        for slot in 0..RATE_SLOTS {
            shared::ensure(&rate_slot_key(slot));
        }
        for server in &config.servers {
            shared::ensure(&quarantine::key(&server.id));
        }
        self.policy = Some(Rc::new(Policy::new(config)));
        true
    }

    fn create_http_context(&self, id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            id,
            hold: RequestHold::default(),
            policy: self.policy.clone()?,
            server: None,
            caller: None,
            lists: false,
            request_id: Value::Null,
            response: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    /// Write a large `tools/list` answer back from the tick (see `paced::INLINE_WRITE_MAX`).
    fn on_tick(&mut self) {
        meshguard_proxy::paced::on_tick();
    }

    /// Write a decided body put back from outside its stream's callback.
    fn on_queue_ready(&mut self, queue_id: u32) {
        meshguard_proxy::paced::on_queue_ready(queue_id);
    }
}

/// Per-request state.
struct Stream {
    /// Envoy's id of this stream (a sliced judgement resumes it by id).
    id: u32,
    /// The request body, held by the filter until it is judged.
    hold: RequestHold,
    policy: Rc<Policy>,
    /// Index of the addressed tool server (None: not a tool route, or denied).
    server: Option<usize>,
    caller: Option<Caller>,
    /// The request holds a `tools/list`: its response is filtered.
    lists: bool,
    /// The request's JSON-RPC id, echoed when the response is replaced by a denial.
    request_id: Value,
    response: Option<ResponseBody>,
}

impl Context for Stream {
    fn on_done(&mut self) -> bool {
        meshguard_proxy::paced::cancel(FILTER, self.id);
        true
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        stats::increment(FILTER, "requests");
        for name in OWN_HEADERS {
            self.set_http_request_header(name, None);
        }
        let path = self.get_http_request_header(":path").unwrap_or_default();
        let server = match self.policy.route(&path) {
            Route::NotTool => {
                stats::increment(FILTER, "not_a_tool_route");
                return Action::Continue;
            }
            Route::Unregistered => {
                return self.deny(&Refusal::UnregisteredServer.into());
            }
            Route::Server(s) => s.id.clone(),
        };
        let caller = match Caller::from_headers(|n| self.get_http_request_header(n)) {
            Ok(c) => c,
            Err(d) => return self.deny(&d),
        };
        self.caller = Some(caller);
        self.server = self
            .policy
            .config()
            .servers
            .iter()
            .position(|s| s.id == server);
        if end_of_stream {
            // No body (GET stream, DELETE session): no tools/call to judge.
            return Action::Continue;
        }
        match request::check_headers(self, &self.policy.config().body) {
            Some(BodyVerdict::Refuse(d)) => self.deny(&d),
            Some(_) => self.deny(&Refusal::BodyUninspectable.into()),
            None => Action::Pause,
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.caller.is_none() {
            return Action::Continue;
        }
        let limits = self.policy.config().body.clone();
        let Some(body_size) = self.hold.take(self, &limits, body_size, end_of_stream) else {
            return Action::Pause;
        };
        match request::on_body(self, &limits, body_size, end_of_stream) {
            RequestBody::Buffering => Action::Pause,
            RequestBody::Refused(d) => self.deny(&d),
            RequestBody::Uninspected => self.deny(&Refusal::BodyUninspectable.into()),
            RequestBody::Complete { payload, .. } => {
                self.request_id = payload.reply_id();
                self.judge(&payload)
            }
        }
    }

    fn on_http_request_trailers(&mut self, _trailers: usize) -> Action {
        let size = self.hold.end(self, &self.policy.config().body);
        self.on_http_request_body(size, true)
    }

    fn on_http_response_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        if !self.lists {
            return Action::Continue;
        }
        let (body, action) = ResponseBody::on_headers(
            self,
            self.id,
            FILTER,
            &self.policy.config().body,
            self.request_id.clone(),
            end_of_stream,
        );
        self.response = Some(body);
        action
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let (Some(mut body), Some(mut inspector)) = (self.response.take(), self.inspector()) else {
            return Action::Continue;
        };
        let action = body.on_body(self, &mut inspector, body_size, end_of_stream);
        self.response = Some(body);
        action
    }

    fn on_http_response_trailers(&mut self, _trailers: usize) -> Action {
        let (Some(mut body), Some(mut inspector)) = (self.response.take(), self.inspector()) else {
            return Action::Continue;
        };
        let action = body.on_trailers(self, &mut inspector);
        self.response = Some(body);
        action
    }
}

impl Stream {
    fn server(&self) -> Option<&meshguard_core::tool_policy::ToolServer> {
        self.policy.config().servers.get(self.server?)
    }

    /// Registry, quarantine and rate limits for every `tools/call` of the body.
    fn judge(&mut self, payload: &Payload) -> Action {
        let (Some(server), Some(caller)) = (self.server().cloned(), self.caller.clone()) else {
            return self.deny(&Refusal::BodyUninspectable.into());
        };
        let plan = match self.policy.plan(&server, &caller, payload) {
            Ok(p) => p,
            Err(d) => return self.deny(&d),
        };
        if let Err(d) = self.check_quarantine(&server.id, &plan) {
            return self.deny(&d);
        }
        if let Err(d) = self.take_tokens(&caller, &plan) {
            return self.deny(&d);
        }
        if let Some(class) = plan.class() {
            self.set_http_request_header(CLASS_HEADER, Some(class.as_str()));
            if self.policy.config().global_rate_limit_headers {
                for (name, value) in descriptor_headers(class, &caller, &plan.reply_id()) {
                    self.set_http_request_header(name, Some(&value));
                }
            }
            stats::increment(FILTER, &format!("allowed.{}", class.as_str()));
            log::debug(
                FILTER,
                &format!(
                    "allowed control=MCP-03 server={} class={} calls={}",
                    server.id,
                    class.as_str(),
                    plan.calls.len()
                ),
            );
        }
        if plan.lists {
            stats::increment(FILTER, "tools_list");
            self.lists = true;
        }
        Action::Continue
    }

    fn check_quarantine(&self, server: &str, plan: &RequestPlan) -> Result<(), Denial> {
        if plan.calls.is_empty() {
            return Ok(());
        }
        let table = shared::read(&quarantine::key(server)).map_err(|_| {
            let id = plan.calls.first().map(|c| c.0.clone()).unwrap_or_default();
            Denial::from(Refusal::PolicyStateUnavailable).with_id(id)
        })?;
        for (id, name, _) in &plan.calls {
            if quarantine::contains(&table, name) {
                return Err(Denial::from(Refusal::Quarantined { server }).with_id(id.clone()));
            }
        }
        Ok(())
    }

    /// One token from every bucket each call counts against; the first refusal denies.
    fn take_tokens(&self, caller: &Caller, plan: &RequestPlan) -> Result<(), Denial> {
        for (id, _, class) in &plan.calls {
            for limit in self.policy.limits_for(*class) {
                let (key, bucket) = meshguard_core::tool_policy::bucket_location(limit, caller);
                let now = host::now_ms(self);
                let taken = shared::update(&key, |table| {
                    take_in_table(table, &bucket, limit, now).map(Some)
                });
                let denial: Denial = match taken {
                    Ok(()) => continue,
                    Err(UpdateError::Refused(TakeError::Limited { retry_after })) => {
                        stats::increment(
                            FILTER,
                            &format!("rate_limited.{}.{}", class.as_str(), limit.per.as_str()),
                        );
                        Refusal::RateLimited { limit, retry_after }.into()
                    }
                    Err(_) => Refusal::RateLimitUnavailable.into(),
                };
                return Err(denial.with_id(id.clone()));
            }
        }
        Ok(())
    }

    fn inspector(&self) -> Option<ListInspector> {
        Some(ListInspector {
            policy: self.policy.clone(),
            server: self.server?,
            caller: self.caller.clone()?,
        })
    }

    fn deny(&mut self, d: &Denial) -> Action {
        self.lists = false;
        denial::send(self, FILTER, d);
        Action::Pause
    }
}

/// Filters `tools/list` results for one caller.
struct ListInspector {
    policy: Rc<Policy>,
    server: usize,
    caller: Caller,
}

impl ListInspector {
    /// Filter one JSON body (or event data): the replacement, if any.
    fn filter(&self, body: &[u8]) -> Result<Option<Vec<u8>>, Denial> {
        let Some(server) = self.policy.config().servers.get(self.server) else {
            return Ok(None);
        };
        let key = quarantine::key(&server.id);
        let table = shared::read(&key).map_err(|_| Refusal::PolicyStateUnavailable)?;
        let (new, report) = self
            .policy
            .filter_list_body(server, &self.caller, body, &table)?;
        record(&server.id, &key, &report);
        Ok(new)
    }
}

/// Quarantine what changed (shared data), with an audit line and counters.
fn record(server: &str, key: &str, report: &ListReport) {
    for change in &report.changes {
        log::warn(FILTER, &change.audit_line(server));
        stats::increment(FILTER, &format!("tool_changed.{}", change.reason()));
        if let Some(tool) = change.quarantines() {
            let written = shared::update(key, |table| {
                Ok::<_, ()>(quarantine::add(table, tool, change.reason()))
            });
            if written.is_err() {
                log::warn(FILTER, "quarantine could not be recorded in shared data");
                stats::increment(FILTER, "quarantine_write_failed");
            } else {
                stats::increment(FILTER, "quarantined");
            }
        }
    }
    for h in &report.hints {
        stats::increment(FILTER, "hint_mismatch");
        log::at(
            LogLevel::Info,
            FILTER,
            &format!(
                "control=MCP-03 audit=hint_mismatch server={server} tool={:?} class={} hint={} (registry wins)",
                h.tool,
                h.class.as_str(),
                h.hint
            ),
        );
    }
    if report.hidden > 0 {
        stats::increment(FILTER, "tools_list.filtered");
    }
}

impl ResponseInspector for ListInspector {
    fn inspect_json(&mut self, body: &[u8]) -> BodyAction {
        match self.filter(body) {
            Ok(None) => BodyAction::Forward,
            Ok(Some(new)) => BodyAction::Replace(new),
            Err(d) => BodyAction::Deny(d),
        }
    }

    fn inspect_event(&mut self, event: &SseEvent) -> EventAction {
        let is_message = event.event.as_deref().is_none_or(|t| t == "message");
        let data = match event.data.as_deref() {
            Some(d) if is_message && !d.trim().is_empty() => d,
            _ => return EventAction::Forward,
        };
        match self.filter(data.as_bytes()) {
            Ok(None) => EventAction::Forward,
            Ok(Some(new)) => EventAction::Replace(event.with_data(&String::from_utf8_lossy(&new))),
            Err(d) => {
                stats::increment(FILTER, &format!("denied.{}", d.reason));
                EventAction::Replace(sse_error_event(&d))
            }
        }
    }
}
