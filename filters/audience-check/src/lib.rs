//! Audience check at each tool sidecar (MCP-02, MCP-09).
//!
//! Thin proxy-wasm adapter over [`meshguard_core::audience_check`]: verifies the tool token
//! (pinned algorithms, the gateway's JWKS, this tool as audience), its workload binding
//! against the mTLS peer, optional `jti` replay, then reads the JSON-RPC body to check the
//! tool name and team rules, and forwards the verified identity as `x-meshguard-*` headers.
//! Requires `allow_on_headers_stop_iteration: true` (headers are set after the body).
//! With `protocol: http` (a REST workload such as a vector database) the body is not read:
//! the identity headers are set as soon as the token and its binding are verified.

use meshguard_core::audience_check::{check_payload, Config, Protocol};
use meshguard_core::denial::Denial;
use meshguard_core::identity::{bearer, identity_headers, token_denial, HEADER_PREFIX};
use meshguard_core::jwt::Claims;
use meshguard_proxy::request::RequestHold;
use meshguard_proxy::request::{self, RequestBody};
use meshguard_proxy::verifier::{
    self, reject_replay, AwaitsKeys, SharedVerifier, TokenVerifier, Verified,
};
use meshguard_proxy::{config, denial, host, log, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

const FILTER: &str = "audience_check";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|id| -> Box<dyn RootContext> {
        Box::new(Root { id, ..Root::default() })
    });
}}

/// Per-plugin state: configuration and the verifier shared with every stream.
#[derive(Default)]
struct Root {
    id: u32,
    config: Option<Rc<Config>>,
    verifier: Option<SharedVerifier>,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        _token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        if let Some(v) = &self.verifier {
            verifier::on_fetch_response(v, self, self.id, body_size);
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let Some(config) = config::load::<Config>(self, FILTER) else {
            return false;
        };
        match TokenVerifier::new(&config.tokens, config.token_cache_capacity, FILTER) {
            Ok(v) => self.verifier = Some(Rc::new(RefCell::new(v))),
            Err(e) => {
                log::at(LogLevel::Critical, FILTER, &e.within("tokens").to_string());
                return false;
            }
        }
        if config.replay_protection {
            meshguard_proxy::verifier::prepare_replay_records();
        }
        self.config = Some(Rc::new(config));
        self.set_tick_period(Duration::from_millis(100));
        true
    }

    fn on_tick(&mut self) {
        if let Some(v) = self.verifier.clone() {
            verifier::on_tick(&v, self, self.id);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let config = self.config.clone()?;
        let verifier = self.verifier.clone()?;
        Some(verifier::parkable_stream(|me| Stream {
            hold: RequestHold::default(),
            config,
            verifier,
            phase: Phase::Start,
            token: String::new(),
            peer: None,
            body_complete: None,
            context_id,
            me,
            first_parked_ms: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Where a request is in its check.
enum Phase {
    Start,
    /// Waiting for the gateway's JWKS (unknown `kid`).
    AwaitKeys,
    /// Token verified; waiting for the body to learn the tool name.
    AwaitBody(Box<Claims>),
    Done,
}

/// Per-request state.
struct Stream {
    /// The request body, held by the filter until it is judged.
    hold: RequestHold,
    config: Rc<Config>,
    verifier: SharedVerifier,
    phase: Phase,
    token: String,
    peer: Option<String>,
    /// Body size once the body ended while keys were still being fetched.
    body_complete: Option<usize>,
    /// This request's context, and a handle the root wakes it through.
    context_id: u32,
    me: Weak<RefCell<dyn AwaitsKeys>>,
    /// When this request first waited for keys (its wait is bounded from then).
    first_parked_ms: Option<u64>,
}

impl Context for Stream {}

impl AwaitsKeys for Stream {
    fn keys_settled(&mut self) {
        if matches!(self.phase, Phase::AwaitKeys) && self.authenticate() == Action::Continue {
            self.resume_http_request();
        }
    }

    fn keys_timed_out(&mut self) {
        if matches!(self.phase, Phase::AwaitKeys) {
            self.deny(&verifier::keys_unavailable());
        }
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        stats::increment(FILTER, "requests");
        host::strip_request_headers(self, HEADER_PREFIX);
        let authorization = self.get_http_request_header("authorization");
        self.token = match bearer(authorization.as_deref()) {
            Ok(t) => t.to_string(),
            Err(d) => return self.deny(&d),
        };
        self.set_http_request_header("authorization", None);
        self.peer = host::peer_spiffe_id(self);
        if end_of_stream {
            self.body_complete = Some(0);
        }
        self.authenticate()
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if matches!(self.phase, Phase::Done) {
            return Action::Continue;
        }
        let Some(body_size) = self
            .hold
            .take(self, &self.config.body, body_size, end_of_stream)
        else {
            return Action::Pause;
        };
        match &self.phase {
            Phase::AwaitKeys | Phase::Start => {
                if end_of_stream {
                    self.body_complete = Some(body_size);
                }
                Action::Pause
            }
            Phase::AwaitBody(_) => self.on_body(body_size, end_of_stream),
            Phase::Done => Action::Continue,
        }
    }

    /// Trailers end the body: judge it now (the SDK's default would forward it unjudged).
    fn on_http_request_trailers(&mut self, _trailers: usize) -> Action {
        let size = self.hold.end(self, &self.config.body);
        self.on_http_request_body(size, true)
    }
}

impl Stream {
    /// Verify the token (possibly after a key fetch), then the binding and replay.
    fn authenticate(&mut self) -> Action {
        let token = std::mem::take(&mut self.token);
        let verified =
            self.verifier
                .borrow_mut()
                .check(self, &token, self.first_parked_ms.is_some());
        self.token = token;
        let claims = match verified {
            Verified::Valid(c) => *c,
            Verified::Fetching => {
                let now_ms = host::now_ms(self);
                self.verifier.borrow_mut().park(
                    self.context_id,
                    &mut self.first_parked_ms,
                    now_ms,
                    self.me.clone(),
                );
                self.phase = Phase::AwaitKeys;
                return Action::Pause;
            }
            Verified::Invalid(d) => return self.deny(&d),
        };
        if let Err(d) = self.check_binding_and_replay(&claims) {
            return self.deny(&d);
        }
        self.phase = Phase::AwaitBody(Box::new(claims));
        if self.config.protocol == Protocol::Http {
            // A REST workload: its body is judged by the filter behind (memory-guard).
            return self.finish();
        }
        match self.body_complete {
            Some(0) => self.finish(),
            Some(size) => self.on_body(size, true),
            None => Action::Pause,
        }
    }

    fn check_binding_and_replay(&self, claims: &Claims) -> Result<(), Denial> {
        if claims.binding().is_some() {
            claims
                .require_binding(self.peer.as_deref().unwrap_or(""))
                .map_err(|e| token_denial(&e))?;
        }
        if self.config.replay_protection {
            let issuer = self.verifier.borrow().issuer().to_string();
            reject_replay(self, &issuer, claims)?;
        }
        Ok(())
    }

    fn on_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match request::on_body(self, &self.config.body, body_size, end_of_stream) {
            RequestBody::Buffering => Action::Pause,
            RequestBody::Refused(d) => self.deny(&d),
            RequestBody::Uninspected => self.finish(),
            RequestBody::Complete { payload, .. } => {
                let claims = match &self.phase {
                    Phase::AwaitBody(c) => c,
                    _ => return Action::Continue,
                };
                if let Err(d) = check_payload(&self.config, claims, &payload) {
                    return self.deny(&d.with_id(payload.reply_id()));
                }
                self.finish()
            }
        }
    }

    /// Forward the verified identity to the tool.
    fn finish(&mut self) -> Action {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        if let Phase::AwaitBody(claims) = phase {
            for (name, value) in identity_headers(&claims) {
                self.set_http_request_header(name, Some(&value));
            }
            stats::increment(FILTER, "allowed");
            log::debug(
                FILTER,
                &format!(
                    "allowed sub={:?} team={:?} tool={:?}",
                    claims.sub, claims.team, claims.tool
                ),
            );
        }
        Action::Continue
    }

    fn deny(&mut self, d: &Denial) -> Action {
        self.phase = Phase::Done;
        denial::send(self, FILTER, d);
        Action::Pause
    }
}
