//! Tool-output sanitizer on responses (MCP-13).
//!
//! Thin proxy-wasm adapter over [`meshguard_core::output_sanitizer`]: JSON responses are buffered within
//! the configured limits and SSE responses streamed event by event through the shared
//! [`ResponseBody`] glue; uninspectable bodies are refused. Rewriting lands with its issue.

use meshguard_core::mcp::SseEvent;
use meshguard_core::output_sanitizer::Config;
use meshguard_proxy::response::{BodyAction, ResponseBody, ResponseInspector};
use meshguard_proxy::sse_stream::EventAction;
use meshguard_proxy::{config, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

const FILTER: &str = "output_sanitizer";

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
        Some(Box::new(Stream { config, body: None }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Per-response state.
struct Stream {
    config: Rc<Config>,
    body: Option<ResponseBody>,
}

/// The decisions of this filter over a response body.
struct Inspector;

impl ResponseInspector for Inspector {
    fn may_rewrite(&self) -> bool {
        false
    }

    fn inspect_json(&mut self, _body: &[u8]) -> BodyAction {
        stats::increment(FILTER, "inspected.json");
        BodyAction::Forward
    }

    fn inspect_event(&mut self, _event: &SseEvent) -> EventAction {
        stats::increment(FILTER, "inspected.sse_event");
        EventAction::Forward
    }
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        stats::increment(FILTER, "responses");
        self.body = Some(ResponseBody::on_headers(
            self,
            FILTER,
            &self.config.body,
            &Inspector,
        ));
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match self.body.take() {
            Some(mut body) => {
                let action = body.on_body(self, &mut Inspector, body_size, end_of_stream);
                self.body = Some(body);
                action
            }
            None => Action::Continue,
        }
    }
}
