//! Token exchange at the gateway (MCP-02, MCP-09, MCP-18).
//!
//! Thin proxy-wasm adapter over [`meshguard_core::token_exchange`]:
//! - `GET <jwks_path>` serves the gateway's public keys (tools fetch them);
//! - `POST <session_path>` with a user token returns a session id bound to that user;
//! - agent routes: user OIDC token + own session id -> agent token bound to the agent's
//!   SPIFFE id;
//! - tool routes: agent token presented from its bound workload (mTLS peer) -> tool token
//!   for the exact MCP tool in the JSON-RPC body, if the team/role policy allows.
//!
//! The incoming credential is replaced, client-supplied `x-meshguard-*` headers are
//! stripped. Signing and session keys come from the VM environment, never the config.
//! Requires `allow_on_headers_stop_iteration: true` (headers are set after the body).

mod gateway;

use gateway::Gateway;
use meshguard_core::body::BodyVerdict;
use meshguard_core::denial::Denial;
use meshguard_core::identity::{bearer, identity_headers, HEADER_PREFIX};
use meshguard_core::jwt::Claims;
use meshguard_core::mcp::{Message, Method, Payload};
use meshguard_core::token_exchange::{
    agent_mint_request, session_matches, single_tool, tool_mint_request, Config, Refusal, Target,
};
use meshguard_proxy::request::RequestHold;
use meshguard_proxy::request::{self, RequestBody};
use meshguard_proxy::verifier::{self, AwaitsKeys, Verified};
use meshguard_proxy::{config, denial, host, log, stats};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

const FILTER: &str = "token_exchange";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|id| -> Box<dyn RootContext> {
        Box::new(Root { id, ..Root::default() })
    });
}}

/// Per-plugin state: configuration and the gateway state shared with every stream.
#[derive(Default)]
struct Root {
    id: u32,
    config: Option<Rc<Config>>,
    gateway: Option<Rc<RefCell<Gateway>>>,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        _token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        if let Some(g) = &self.gateway {
            let users = g.borrow().users.clone();
            verifier::on_fetch_response(&users, self, self.id, body_size);
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let Some(config) = config::load::<Config>(self, FILTER) else {
            return false;
        };
        match Gateway::new(&config) {
            Ok(g) => self.gateway = Some(Rc::new(RefCell::new(g))),
            Err(e) => {
                log::at(LogLevel::Critical, FILTER, &e);
                return false;
            }
        }
        self.config = Some(Rc::new(config));
        self.set_tick_period(Duration::from_millis(100));
        true
    }

    fn on_tick(&mut self) {
        if let Some(g) = self.gateway.clone() {
            let users = g.borrow().users.clone();
            verifier::on_tick(&users, self, self.id);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let config = self.config.clone()?;
        let gateway = self.gateway.clone()?;
        Some(verifier::parkable_stream(|me| Stream {
            hold: RequestHold::default(),
            config,
            gateway,
            phase: Phase::Start,
            request: Request::default(),
            context_id,
            me,
            first_parked_ms: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// What the stream remembers of the request headers.
#[derive(Default)]
struct Request {
    path: String,
    token: String,
    session: Option<String>,
    peer: Option<String>,
    /// Body size once the body has ended (0: no body).
    body_complete: Option<usize>,
}

/// Where a request is in the exchange.
enum Phase {
    Start,
    /// Waiting for the user issuer's JWKS (unknown `kid`).
    AwaitKeys,
    /// Agent token verified for a tool route; waiting for the body's tool name.
    AwaitBody(Box<Claims>),
    /// A user's request to an agent, forwarded once its body matches its MCP 2026-07-28
    /// mirror headers.
    AwaitMirror,
    Done,
}

/// Per-request state.
struct Stream {
    /// The request body, held by the filter until it is judged.
    hold: RequestHold,
    config: Rc<Config>,
    gateway: Rc<RefCell<Gateway>>,
    phase: Phase,
    request: Request,
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
        self.request.path = self.get_http_request_header(":path").unwrap_or_default();
        if let Some(Target::Jwks) = self.config.target(&self.request.path) {
            return self.serve_jwks();
        }
        if let Some(metadata) = self.config.resource_metadata(&self.request.path) {
            return self.serve_resource_metadata(metadata);
        }
        let origin = self.get_http_request_header("origin");
        if !self.config.origin_allows(origin.as_deref()) {
            let d = self.config.origin_denial();
            return self.deny(&d);
        }
        let authorization = self.get_http_request_header("authorization");
        self.request.token = match bearer(authorization.as_deref()) {
            Ok(t) => t.to_string(),
            Err(d) => return self.deny(&d),
        };
        self.request.session = self.get_http_request_header(&self.config.session_header);
        self.request.peer = host::peer_spiffe_id(self);
        if end_of_stream {
            self.request.body_complete = Some(0);
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
            Phase::Start | Phase::AwaitKeys => {
                if end_of_stream {
                    self.request.body_complete = Some(body_size);
                }
                Action::Pause
            }
            Phase::AwaitBody(_) => self.on_body(body_size, end_of_stream),
            Phase::AwaitMirror => self.check_mirror_body(body_size),
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
    /// Verify the presented token with the verifier for the route's flow.
    fn authenticate(&mut self) -> Action {
        let config = self.config.clone();
        let Some(target) = config.target(&self.request.path) else {
            return self.deny(&Refusal::NoRoute.into());
        };
        let verifier = match target {
            Target::Tool(_) => self.gateway.borrow().agents.clone(),
            _ => self.gateway.borrow().users.clone(),
        };
        let token = std::mem::take(&mut self.request.token);
        let verified = verifier
            .borrow_mut()
            .check(self, &token, self.first_parked_ms.is_some());
        self.request.token = token;
        match verified {
            Verified::Valid(claims) => self.after_authentication(target, *claims),
            Verified::Fetching => {
                let now_ms = host::now_ms(self);
                verifier.borrow_mut().park(
                    self.context_id,
                    &mut self.first_parked_ms,
                    now_ms,
                    self.me.clone(),
                );
                self.phase = Phase::AwaitKeys;
                Action::Pause
            }
            Verified::Invalid(d) => self.deny(&d),
        }
    }

    fn after_authentication(&mut self, target: Target<'_>, claims: Claims) -> Action {
        let user_token = matches!(target, Target::NewSession | Target::Agent(_));
        if user_token && !self.config.audience_allows(&claims.aud, &self.request.path) {
            let d = self.config.audience_denial();
            return self.deny(&d);
        }
        if user_token {
            if let Some(d) = self.config.scope_denial(&claims.scope, &self.request.path) {
                return self.deny(&d);
            }
        }
        match target {
            Target::Jwks => self.serve_jwks(),
            Target::NewSession => self.issue_session(&claims),
            Target::Agent(agent) => {
                let result = self
                    .verified_session(&claims)
                    .and_then(|sid| agent_mint_request(&self.config, &claims, agent, &sid));
                match result.and_then(|req| self.gateway.borrow_mut().mint(&req, host::now(self))) {
                    Ok(token) => {
                        self.forward(&claims, &token, "agent_token");
                        self.await_mirror_check()
                    }
                    Err(d) => self.deny(&d),
                }
            }
            Target::Tool(_) => {
                let peer = self.request.peer.clone().unwrap_or_default();
                let checked = claims
                    .require_binding(&peer)
                    .map_err(|e| meshguard_core::identity::token_denial(&e))
                    .and_then(|()| {
                        session_matches(claims.sid.as_deref(), self.request.session.as_deref())
                    });
                if let Err(d) = checked {
                    return self.deny(&d);
                }
                self.phase = Phase::AwaitBody(Box::new(claims));
                match self.request.body_complete {
                    Some(0) => self.mint_tool_token(None),
                    Some(size) => self.on_body(size, true),
                    None => Action::Pause,
                }
            }
        }
    }

    /// MCP-18: the request's session id must be one this gateway issued to this user.
    fn verified_session(&self, user: &Claims) -> Result<String, Denial> {
        let sid = self
            .request
            .session
            .clone()
            .ok_or(Refusal::MissingSession)?;
        let sub = user.sub.as_deref().unwrap_or_default();
        self.gateway
            .borrow()
            .verify_session(&sid, sub, host::now(self))?;
        Ok(sid)
    }

    fn on_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match request::on_body(self, &self.config.body, body_size, end_of_stream) {
            RequestBody::Buffering => Action::Pause,
            RequestBody::Refused(d) => self.deny(&d),
            RequestBody::Uninspected => self.deny(&Refusal::BodyUninspectable.into()),
            RequestBody::Complete { payload, .. } => match called_tool(&payload) {
                Ok(tool) => self.mint_tool_token(tool.as_deref()),
                Err(d) => self.deny(&d.with_id(payload.reply_id())),
            },
        }
    }

    fn mint_tool_token(&mut self, tool_name: Option<&str>) -> Action {
        let Phase::AwaitBody(claims) = std::mem::replace(&mut self.phase, Phase::Done) else {
            return Action::Continue;
        };
        let config = self.config.clone();
        let Some(Target::Tool(route)) = config.target(&self.request.path) else {
            return Action::Continue;
        };
        let minted = tool_mint_request(&config, &claims, route, tool_name)
            .and_then(|req| self.gateway.borrow_mut().mint(&req, host::now(self)));
        match minted {
            Ok(token) => self.forward(&claims, &token, "tool_token"),
            Err(d) => self.deny(&d),
        }
    }

    /// Replace the credential with the minted token and pass the verified identity on.
    fn forward(&mut self, claims: &Claims, token: &str, kind: &str) -> Action {
        self.phase = Phase::Done;
        self.set_http_request_header("authorization", Some(&format!("Bearer {token}")));
        for (name, value) in identity_headers(claims) {
            self.set_http_request_header(name, Some(&value));
        }
        stats::increment(FILTER, &format!("minted.{kind}"));
        log::debug(
            FILTER,
            &format!(
                "minted {kind} sub={:?} team={:?} path={}",
                claims.sub, claims.team, self.request.path
            ),
        );
        Action::Continue
    }

    /// A user's POST to an agent that carries MCP 2026-07-28 mirror headers (or declares
    /// that revision) is held until its body is complete and checked against them, so
    /// whatever routes or authorises on those headers behind the gateway sees the body's
    /// truth. Requests without them (older clients) stream on untouched.
    fn await_mirror_check(&mut self) -> Action {
        let post = self.get_http_request_header(":method").as_deref() == Some("POST");
        if !post || !request::mirror_headers(self).needs_body() {
            return Action::Continue;
        }
        self.phase = Phase::AwaitMirror;
        match self.request.body_complete {
            Some(size) => self.check_mirror_body(size),
            None => Action::Pause,
        }
    }

    /// The complete (or oversize) body of a request in [`Phase::AwaitMirror`].
    fn check_mirror_body(&mut self, body_size: usize) -> Action {
        self.phase = Phase::Done;
        let d = match self.config.body.verdict_on_overflow(body_size) {
            Some(BodyVerdict::Refuse(d)) => d,
            // Headers that claim to mirror a body nobody can read: refused, fail closed.
            Some(_) => Refusal::MirrorUncheckable.into(),
            None => {
                let body = self.get_http_request_body(0, body_size).unwrap_or_default();
                match request::check_mirror(self, &body) {
                    Ok(()) => return Action::Continue,
                    Err(d) => d,
                }
            }
        };
        self.deny(&d)
    }

    fn issue_session(&mut self, user: &Claims) -> Action {
        let sub = user.sub.clone().unwrap_or_default();
        let issued = self.gateway.borrow().issue_session(&sub, host::now(self));
        match issued {
            Ok((sid, max_age)) => {
                self.phase = Phase::Done;
                stats::increment(FILTER, "session.issued");
                let body =
                    serde_json::json!({"session_id": sid, "expires_in": max_age}).to_string();
                self.send_http_response(
                    200,
                    vec![
                        ("content-type", "application/json"),
                        ("cache-control", "no-store"),
                    ],
                    Some(body.as_bytes()),
                );
                Action::Pause
            }
            Err(d) => self.deny(&d),
        }
    }

    fn serve_jwks(&mut self) -> Action {
        self.phase = Phase::Done;
        let jwks = self.gateway.borrow().public_jwks.clone();
        self.send_http_response(
            200,
            vec![
                ("content-type", "application/json"),
                ("cache-control", "max-age=60"),
            ],
            Some(jwks.as_bytes()),
        );
        Action::Pause
    }

    /// RFC 9728 metadata: public, cacheable, readable from browsers (CORS).
    fn serve_resource_metadata(&mut self, metadata: Result<serde_json::Value, Denial>) -> Action {
        self.phase = Phase::Done;
        match metadata {
            Ok(doc) => {
                stats::increment(FILTER, "resource_metadata");
                self.send_http_response(
                    200,
                    vec![
                        ("content-type", "application/json"),
                        ("cache-control", "max-age=300"),
                        ("access-control-allow-origin", "*"),
                    ],
                    Some(doc.to_string().as_bytes()),
                );
                Action::Pause
            }
            Err(d) => self.deny(&d),
        }
    }

    fn deny(&mut self, d: &Denial) -> Action {
        self.phase = Phase::Done;
        let d = self.config.challenge(d.clone(), &self.request.path);
        denial::send(self, FILTER, &d);
        Action::Pause
    }
}

/// The tool the payload's `tools/call` messages name (one per request).
fn called_tool(payload: &Payload) -> Result<Option<String>, Denial> {
    let mut names = Vec::new();
    for message in payload.messages() {
        let Message::Request(r) = message else {
            continue;
        };
        if r.mcp_method() != Method::ToolsCall {
            continue;
        }
        let call = r
            .named_call()
            .map_err(|e| Refusal::UnnamedCall(e.reason()))?;
        if let Some(call) = call {
            names.push(call.name);
        }
    }
    single_tool(&names).map(|t| t.map(str::to_string))
}
