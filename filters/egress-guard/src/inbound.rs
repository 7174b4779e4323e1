//! Inbound mode: `tools/call` and `prompts/get` arguments, the `resources/read` URI and
//! `params._meta` judged before the tool sees the call.

use crate::{BodyState, Stream, FILTER};
use meshguard_core::body::BodyVerdict;
use meshguard_core::egress_guard::Decision;
use meshguard_proxy::{request, stats};
use proxy_wasm::traits::HttpContext;
use proxy_wasm::types::Action;

impl Stream {
    /// Refuse an uninspectable body up front; otherwise hold the headers and buffer.
    pub(crate) fn inbound_headers(&mut self, end_of_stream: bool) -> Action {
        if end_of_stream {
            return self.pass("no body");
        }
        match request::check_headers(self, &self.guard.config().body) {
            Some(BodyVerdict::Refuse(d)) => self.refuse(&d),
            Some(_) => {
                stats::increment(FILTER, "uninspected");
                self.pass("uninspected")
            }
            None => {
                self.body = BodyState::Buffering { json: true };
                Action::Pause
            }
        }
    }

    /// Buffer the body; once complete, judge every candidate destination in it (every host
    /// the common HTTP clients would dial, see `meshguard_core::egress_guard::read`).
    pub(crate) fn inbound_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let limits = &self.guard.config().body;
        match limits.verdict_on_overflow(body_size) {
            Some(BodyVerdict::Refuse(d)) => return self.refuse(&d),
            Some(_) => {
                stats::increment(FILTER, "uninspected");
                return self.pass("uninspected");
            }
            None => {}
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        if let Err(d) = meshguard_proxy::request::check_mirror(self, &body) {
            return self.refuse(&d);
        }
        match self.guard.inspect(&body) {
            Decision::Pass(n) => self.pass(&format!("where=arguments candidates={n}")),
            Decision::Block(b) => self.block(&b, "arguments"),
            Decision::Refuse(d) => self.refuse(&d),
        }
    }
}
