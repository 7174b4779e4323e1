//! Audience check at each tool sidecar (MCP-02, MCP-09).
//!
//! Thin proxy-wasm adapter over [`meshguard_core::audience_check`]: configuration is parsed strictly
//! at load; the identity logic lands with the identity issue.

use meshguard_core::audience_check::Config;
use meshguard_proxy::{config, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

const FILTER: &str = "audience_check";

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
        Some(Box::new(Stream { _config: config }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Per-request state.
struct Stream {
    _config: Rc<Config>,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        stats::increment(FILTER, "requests");
        Action::Continue
    }
}
