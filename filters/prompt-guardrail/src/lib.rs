//! Prompt guardrail on requests at the gateway (MCP-01).
//!
//! Thin proxy-wasm adapter over [`meshguard_core::prompt_guardrail`]: buffers the request
//! body within the configured limits (refusing what cannot be inspected), hands it to
//! [`Guardrail::inspect`], and enforces the decision: a JSON-RPC error for a block, the
//! `x-meshguard-guardrail` request header plus an audit line for an annotation. Request
//! headers are held until the body is judged, so a blocked request never reaches the
//! upstream at all (adding the header after the body wants `allow_on_headers_stop_iteration`).

use meshguard_core::body::BodyVerdict;
use meshguard_core::mcp::Method;
use meshguard_core::prompt_guardrail::{
    annotation_header, Config, Decision, Guardrail, ANNOTATION_HEADER,
};
use meshguard_proxy::paced::{self, Direction};
use meshguard_proxy::request;
use meshguard_proxy::request::RequestHold;
use meshguard_proxy::{config, denial, log, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

const FILTER: &str = "prompt_guardrail";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Per-plugin state: the compiled guardrail, shared with every stream.
#[derive(Default)]
struct Root {
    guardrail: Option<Rc<Guardrail>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = config::load::<Config>(self, FILTER);
        self.guardrail = config.and_then(|c| match Guardrail::new(c) {
            Ok(g) => Some(Rc::new(g)),
            Err(e) => {
                log::warn(FILTER, &e.to_string());
                None
            }
        });
        self.guardrail.is_some()
    }

    fn create_http_context(&self, id: u32) -> Option<Box<dyn HttpContext>> {
        let guardrail = self.guardrail.clone()?;
        Some(Box::new(Stream {
            id,
            hold: RequestHold::default(),
            guardrail,
            skip_body: false,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    /// Give a large body's judgement its next slice.
    fn on_tick(&mut self) {
        paced::on_tick();
    }

    /// Write a decided body put back from outside its stream's callback.
    fn on_queue_ready(&mut self, queue_id: u32) {
        paced::on_queue_ready(queue_id);
    }
}

/// Per-request state.
struct Stream {
    id: u32,
    /// The request body, held by the filter until it is judged.
    hold: RequestHold,
    guardrail: Rc<Guardrail>,
    skip_body: bool,
}

impl Context for Stream {
    fn on_done(&mut self) -> bool {
        paced::cancel(FILTER, self.id);
        true
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        stats::increment(FILTER, "requests");
        // Only this filter may say what the guardrail decided.
        self.set_http_request_header(ANNOTATION_HEADER, None);
        let config = self.guardrail.config();
        match request::check_headers(self, &config.body) {
            Some(BodyVerdict::Refuse(d)) if !end_of_stream => {
                denial::send(self, FILTER, &d);
                Action::Pause
            }
            Some(_) => {
                self.skip_body = true;
                Action::Continue
            }
            // Hold the headers too: the upstream must not even see the start of a request
            // that may be blocked, and an annotation header is added after the body.
            None if !end_of_stream => Action::Pause,
            None => Action::Continue,
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.skip_body {
            return Action::Continue;
        }
        let limits = &self.guardrail.config().body;
        let Some(body_size) = self.hold.take(self, limits, body_size, end_of_stream) else {
            return Action::Pause;
        };
        match limits.verdict_on_overflow(body_size) {
            Some(BodyVerdict::Refuse(d)) => {
                denial::send(self, FILTER, &d);
                return Action::Pause;
            }
            Some(_) => {
                stats::increment(FILTER, "uninspected");
                self.skip_body = true;
                return Action::Continue;
            }
            None => {}
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        if let Err(d) = meshguard_proxy::request::check_mirror(self, &body) {
            return enforce(self, Decision::Refuse(d));
        }
        let held = paced::Held {
            context_id: self.id,
            direction: Direction::Request,
            bytes: body.len(),
        };
        let guardrail = self.guardrail.clone();
        let judgement = async move {
            let pace = paced::pace();
            guardrail.inspect_paced(&body, &pace).await
        };
        // Enforcing a guardrail outcome never writes the body (it forwards or denies).
        paced::judge(
            FILTER,
            held,
            judgement,
            |_| 0,
            |ctx, outcome| {
                for method in &outcome.methods {
                    stats::increment(FILTER, method_stat(*method));
                }
                enforce(ctx, outcome.decision)
            },
        )
    }

    /// Trailers end the body: judge it now (the SDK's default would forward it unjudged).
    fn on_http_request_trailers(&mut self, _trailers: usize) -> Action {
        let size = self.hold.end(self, &self.guardrail.config().body);
        self.on_http_request_body(size, true)
    }
}

/// Carry out a decision on the request (the stream's own context, or the effective one when
/// a sliced judgement completes in a tick).
fn enforce(ctx: &dyn HttpContext, decision: Decision) -> Action {
    {
        match decision {
            Decision::Pass => {
                stats::increment(FILTER, "passed");
                Action::Continue
            }
            Decision::Annotate(reports) => {
                stats::increment(FILTER, "annotated");
                for r in &reports {
                    log::at(LogLevel::Info, FILTER, &r.audit_line("annotate"));
                }
                ctx.set_http_request_header(ANNOTATION_HEADER, Some(&annotation_header(&reports)));
                Action::Continue
            }
            Decision::Block(reports) => {
                let mut counted = Vec::new();
                for r in &reports {
                    log::warn(FILTER, &r.audit_line("block"));
                    for f in &r.families {
                        if !counted.contains(f) {
                            counted.push(*f);
                            stats::increment(FILTER, &format!("blocked.{}", f.as_str()));
                        }
                    }
                }
                stats::increment(FILTER, "blocked");
                match reports.first() {
                    Some(first) => denial::send(ctx, FILTER, &first.denial()),
                    None => return Action::Continue,
                }
                Action::Pause
            }
            Decision::Refuse(d) => {
                denial::send(ctx, FILTER, &d);
                Action::Pause
            }
        }
    }
}

/// Counter name per MCP method, so operators see the traffic mix the guardrail sees.
fn method_stat(method: Method) -> &'static str {
    match method {
        Method::Initialize => "method.initialize",
        Method::ToolsList => "method.tools_list",
        Method::ToolsCall => "method.tools_call",
        Method::ResourcesRead => "method.resources_read",
        Method::PromptsGet => "method.prompts_get",
        Method::SamplingCreateMessage => "method.sampling_create_message",
        Method::Other => "method.other",
    }
}
