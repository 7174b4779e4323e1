//! Approval gate at the gateway (HITL, human in the loop).
//!
//! Thin proxy-wasm adapter over [`meshguard_core::approval_gate`]: holds the request headers,
//! buffers the body, and lets [`Gate::judge`] decide. A gated `tools/call` without an
//! approval is posted to the approval webhook (`dispatch_http_call`) and answered with a
//! JSON-RPC error naming the approval id and poll URL; a failed, late or odd webhook answer
//! denies. An approved retry is redeemed at the approval service before it is forwarded
//! (`dispatch_http_call` to the same cluster, `redeem.path`): the service consumes the
//! approval once, atomically, in the store its replicas share, so an approval is used once
//! across every gateway replica and no restart makes it usable again. Only a 200 naming the
//! verified approver forwards the call; a refusal denies 403 (`approval_replayed`, ...) and
//! an unreachable, slow or failing service denies 503 (`approval_unavailable`, fail closed).
//! The approved call is logged with the service's verified approver for the audit trail and
//! forwarded re-serialised without the token, with `x-meshguard-approver` set. Nothing about
//! single use is kept in this proxy: the service is the authority. Requires
//! `allow_on_headers_stop_iteration: true` (the body is replaced after the headers).

use meshguard_core::approval_gate::{
    pending, redeem_outcome, redeem_refused, redeem_unavailable, unavailable, ApprovalTicket,
    Approved, Ask, Decision, Gate, RedeemOutcome, RequestInfo, APPROVER_HEADER, CLASS_HEADER,
};
use meshguard_core::body::BodyVerdict;
use meshguard_core::denial::Denial;
use meshguard_proxy::request::RequestHold;
use meshguard_proxy::{config, denial, log, request, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use serde_json::Value;
use std::rc::Rc;
use std::time::Duration;

const FILTER: &str = "approval_gate";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Per-plugin state: the compiled gate, shared with every stream.
#[derive(Default)]
struct Root {
    gate: Option<Rc<Gate>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = config::load::<meshguard_core::approval_gate::Config>(self, FILTER);
        self.gate = config.and_then(|c| match Gate::new(c) {
            Ok(g) => Some(Rc::new(g)),
            Err(e) => {
                log::at(LogLevel::Critical, FILTER, &e.to_string());
                None
            }
        });
        self.gate.is_some()
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            hold: RequestHold::default(),
            gate: self.gate.clone()?,
            info: RequestInfo::default(),
            holding: false,
            asked: None,
            redeeming: None,
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
    gate: Rc<Gate>,
    info: RequestInfo,
    /// Headers are held and the body is being buffered.
    holding: bool,
    /// The JSON-RPC id of a call whose approval request is in flight.
    asked: Option<Value>,
    /// An approved call whose redemption is in flight.
    redeeming: Option<Box<Approved>>,
}

impl Context for Stream {
    fn on_http_call_response(
        &mut self,
        _token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let status = self
            .get_http_call_response_header(":status")
            .unwrap_or_default();
        let body = self
            .get_http_call_response_body(0, body_size)
            .unwrap_or_default();
        if let Some(approved) = self.redeeming.take() {
            return self.redeemed(&approved, &status, &body);
        }
        let id = self.asked.take().unwrap_or(Value::Null);
        let ticket = status
            .starts_with('2')
            .then(|| ApprovalTicket::parse(&body))
            .flatten();
        match ticket {
            Some(ticket) => {
                stats::increment(FILTER, "pending");
                log::at(
                    LogLevel::Info,
                    FILTER,
                    &format!(
                        "decision=pending control=HITL approval_id={}",
                        ticket.approval_id
                    ),
                );
                denial::send(self, FILTER, &pending(&ticket, id));
            }
            None => {
                let status = if status.is_empty() {
                    "none (timeout or reset)"
                } else {
                    &status
                };
                log::warn(FILTER, &format!("approval webhook failed: status {status}"));
                stats::increment(FILTER, "webhook_failed");
                denial::send(self, FILTER, &unavailable(id));
            }
        }
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        stats::increment(FILTER, "requests");
        // Only this filter may name an approver.
        self.set_http_request_header(APPROVER_HEADER, None);
        self.info = self.request_info();
        let token_header = self.gate.config().token_header.clone();
        self.set_http_request_header(&token_header, None);
        if end_of_stream {
            // No body: nothing to call, nothing to approve.
            return Action::Continue;
        }
        if let Some(BodyVerdict::Refuse(d)) = request::check_headers(self, &self.gate.config().body)
        {
            return self.deny(&d);
        }
        self.holding = true;
        Action::Pause
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.holding {
            return Action::Continue;
        }
        let Some(body_size) =
            self.hold
                .take(self, &self.gate.config().body, body_size, end_of_stream)
        else {
            return Action::Pause;
        };
        if let Some(verdict) = self.gate.config().body.verdict_on_overflow(body_size) {
            let d = match verdict {
                BodyVerdict::Refuse(d) => d,
                _ => meshguard_core::approval_gate::body_uninspectable(),
            };
            return self.deny(&d);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.holding = false;
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        if let Err(d) = meshguard_proxy::request::check_mirror(self, &body) {
            return self.deny(&d);
        }
        let now = meshguard_proxy::host::now(self);
        match self.gate.judge(&body, &self.info, now) {
            Decision::Pass => {
                stats::increment(FILTER, "passed");
                Action::Continue
            }
            Decision::Deny(d) => self.deny(&d),
            Decision::Approved(a) => self.forward_approved(&a, body_size),
            Decision::Ask(ask) => self.ask(&ask),
        }
    }

    /// Trailers end the body: judge it now (the SDK's default would forward it unjudged).
    fn on_http_request_trailers(&mut self, _trailers: usize) -> Action {
        let size = self.hold.end(self, &self.gate.config().body);
        self.on_http_request_body(size, true)
    }
}

impl Stream {
    /// The trusted identity and class headers earlier gateway filters set.
    fn request_info(&self) -> RequestInfo {
        let header = |name: &str| self.get_http_request_header(name);
        let path = header(":path").unwrap_or_default();
        let server = path.split('?').next().unwrap_or_default().to_string();
        RequestInfo {
            class: header(CLASS_HEADER),
            user: header("x-meshguard-sub"),
            team: header("x-meshguard-team"),
            session: header("x-meshguard-session"),
            agent: header("x-meshguard-agent"),
            tool: header("x-meshguard-tool"),
            server,
            header_token: header(&self.gate.config().token_header),
        }
    }

    /// Redeem the approval at the service; the answer arrives in `on_http_call_response`.
    /// The body is replaced now (the body callback is where Envoy lets it change); the call
    /// goes on only once the service confirms the approval was unused.
    fn forward_approved(&mut self, a: &Approved, body_size: usize) -> Action {
        let config = self.gate.config();
        let redeem = Gate::redeem_body(a);
        let headers = vec![
            (":method", "POST"),
            (":path", config.redeem.path.as_str()),
            (":authority", config.webhook.authority.as_str()),
            ("content-type", "application/json"),
        ];
        let timeout = Duration::from_millis(config.redeem.timeout_ms);
        let cluster = config.webhook.cluster.clone();
        match self.dispatch_http_call(&cluster, headers, Some(&redeem), vec![], timeout) {
            Ok(_) => {
                self.set_http_request_body(0, body_size, &a.body);
                if self.get_http_request_header("content-length").is_some() {
                    self.set_http_request_header("content-length", Some(&a.body.len().to_string()));
                }
                self.redeeming = Some(Box::new(a.clone()));
                Action::Pause
            }
            Err(e) => {
                log::warn(FILTER, &format!("approval redeem dispatch failed: {e:?}"));
                stats::increment(FILTER, "redeem_failed");
                self.deny(&redeem_unavailable(a.id.clone()))
            }
        }
    }

    /// The service's answer to a redemption: forward on a 200, else deny.
    fn redeemed(&mut self, a: &Approved, status: &str, body: &[u8]) {
        let answer = match redeem_outcome(status, body) {
            RedeemOutcome::Redeemed(answer) => answer,
            RedeemOutcome::Refused(reason) => {
                let _ = self.deny(&redeem_refused(reason, a.id.clone()));
                return;
            }
            RedeemOutcome::Unavailable => {
                let status = if status.is_empty() {
                    "none (timeout or reset)"
                } else {
                    status
                };
                log::warn(FILTER, &format!("approval redeem failed: status {status}"));
                stats::increment(FILTER, "redeem_failed");
                let _ = self.deny(&redeem_unavailable(a.id.clone()));
                return;
            }
        };
        let claims = &a.approval.claims;
        log::at(
            LogLevel::Info,
            FILTER,
            &format!(
                "decision=approved control=HITL tool={} class={} user={} session={} approver={} approval_id={} jti={} args_sha256={}..",
                a.redeem.tool,
                a.class.as_str(),
                a.redeem.user,
                a.redeem.session,
                answer.approver,
                answer.approval_id,
                claims.jti.as_deref().unwrap_or_default(),
                a.redeem.args_sha256.get(..16).unwrap_or_default(),
            ),
        );
        stats::increment(FILTER, "approved");
        self.set_http_request_header(APPROVER_HEADER, Some(&answer.approver));
        self.resume_http_request();
    }

    /// Post the approval request to the webhook; the answer arrives in `on_http_call_response`.
    fn ask(&mut self, ask: &Ask) -> Action {
        let webhook = &self.gate.config().webhook;
        let body = Gate::webhook_body(ask);
        let headers = vec![
            (":method", "POST"),
            (":path", webhook.path.as_str()),
            (":authority", webhook.authority.as_str()),
            ("content-type", "application/json"),
        ];
        let timeout = Duration::from_millis(webhook.timeout_ms);
        match self.dispatch_http_call(&webhook.cluster, headers, Some(&body), vec![], timeout) {
            Ok(_) => {
                stats::increment(FILTER, "asked");
                self.asked = Some(ask.id.clone());
                Action::Pause
            }
            Err(e) => {
                log::warn(FILTER, &format!("approval webhook dispatch failed: {e:?}"));
                stats::increment(FILTER, "webhook_failed");
                self.deny(&unavailable(ask.id.clone()))
            }
        }
    }

    fn deny(&mut self, d: &Denial) -> Action {
        self.holding = false;
        denial::send(self, FILTER, d);
        Action::Pause
    }
}
