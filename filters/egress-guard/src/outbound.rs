//! Outbound mode: the authority of a request leaving the mesh, and its body through the
//! scrubber's data-loss check.

use crate::{BodyState, Stream, FILTER};
use meshguard_core::body::BodyVerdict;
use meshguard_core::pii_scrubber::Verdict;
use meshguard_proxy::{request, stats};
use proxy_wasm::traits::HttpContext;
use proxy_wasm::types::Action;

impl Stream {
    /// Judge the authority (`:authority`, which Envoy fills from `Host`, an absolute-form
    /// target or a CONNECT target); then decide whether the body is scrubbed.
    pub(crate) fn outbound_headers(&mut self, end_of_stream: bool) -> Action {
        let authority = self
            .get_http_request_header(":authority")
            .or_else(|| self.get_http_request_header("host"))
            .unwrap_or_default();
        if let Err(blocked) = self.guard.check_authority(&authority) {
            return self.block(&blocked, "authority");
        }
        if end_of_stream || !self.guard.dlp_enabled() {
            return self.pass("where=authority");
        }
        let limits = self.guard.config().body.clone();
        let (verdict, shape) = request::dlp_headers(self, &limits);
        match verdict {
            BodyVerdict::Refuse(d) => self.refuse(&d),
            BodyVerdict::PassUninspected(reason) => {
                stats::increment(FILTER, &format!("uninspected.{reason}"));
                self.pass("where=authority uninspected")
            }
            BodyVerdict::Inspect => {
                self.body = BodyState::Buffering {
                    json: shape == Some(true),
                };
                Action::Pause
            }
        }
    }

    /// Buffer the body; once complete, refuse it if the data-loss check finds anything.
    pub(crate) fn outbound_body(&mut self, json: bool, size: usize, end: bool) -> Action {
        match self.guard.config().body.verdict_on_overflow(size) {
            Some(BodyVerdict::Refuse(d)) => return self.refuse(&d),
            Some(_) => {
                stats::increment(FILTER, "uninspected.body_too_large");
                return self.pass("where=body uninspected");
            }
            None => {}
        }
        if !end {
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, size).unwrap_or_default();
        let Some(decision) = self.guard.check_body(&body, json) else {
            return self.pass("where=body");
        };
        let summary = decision.summary();
        match decision.verdict {
            Verdict::Block(d) => {
                stats::increment(FILTER, "blocked.data_loss");
                meshguard_proxy::log::warn(
                    FILTER,
                    &format!(
                        "decision=deny control=MCP-04 reason={} where=body {}",
                        d.reason, summary
                    ),
                );
                self.refuse(&d)
            }
            // Request-side findings always block (request_action is fixed to block).
            Verdict::Clean | Verdict::Rewrite(_) => self.pass("where=body"),
        }
    }
}
