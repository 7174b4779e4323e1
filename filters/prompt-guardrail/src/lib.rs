//! Prompt guardrail on requests at the gateway (MCP-01).
//!
//! Thin proxy-wasm adapter over [`meshguard_core::prompt_guardrail`]: buffers the JSON-RPC
//! request body within the configured limits, refuses what cannot be inspected, and counts
//! requests per MCP method. Detection lands with the guardrail issue.

use meshguard_core::body::BodyVerdict;
use meshguard_core::mcp::{Message, Method};
use meshguard_core::prompt_guardrail::Config;
use meshguard_proxy::request::{self, RequestBody};
use meshguard_proxy::{config, denial, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

const FILTER: &str = "prompt_guardrail";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Per-plugin state: the validated configuration, shared with every stream.
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
        let config = self.config.clone()?;
        Some(Box::new(Stream {
            config,
            skip_body: false,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Per-request state.
struct Stream {
    config: Rc<Config>,
    skip_body: bool,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        stats::increment(FILTER, "requests");
        match request::check_headers(self, &self.config.body) {
            Some(BodyVerdict::Refuse(d)) if !end_of_stream => {
                denial::send(self, FILTER, &d);
                Action::Pause
            }
            Some(_) => {
                self.skip_body = true;
                Action::Continue
            }
            None => Action::Continue,
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.skip_body {
            return Action::Continue;
        }
        match request::on_body(self, &self.config.body, body_size, end_of_stream) {
            RequestBody::Buffering => Action::Pause,
            RequestBody::Uninspected => {
                stats::increment(FILTER, "uninspected");
                self.skip_body = true;
                Action::Continue
            }
            RequestBody::Refused(d) => {
                denial::send(self, FILTER, &d);
                Action::Pause
            }
            RequestBody::Complete { payload, .. } => {
                for message in payload.messages() {
                    if let Message::Request(r) = message {
                        stats::increment(FILTER, method_stat(r.mcp_method()));
                    }
                }
                Action::Continue
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
