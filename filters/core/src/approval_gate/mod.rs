//! Human in the loop (HITL): a `tools/call` of a gated class (default write, delete, admin)
//! is forwarded only with a person's approval, bound to that exact call.
//!
//! Runs at the gateway after token-exchange (trusted `x-meshguard-sub/team/session/agent`
//! headers) and tool-policy (trusted `x-meshguard-tool-class`). [`Gate::judge`] decides per
//! request body:
//! - not a `tools/call`, or a class that needs no approval: pass untouched;
//! - a gated call without an approval token: ask ([`Decision::Ask`]): the filter posts an
//!   [`ApprovalRequest`] (argument hash and scrubbed preview) to the approval webhook and
//!   answers a JSON-RPC error, reason `approval_pending`, with the approval id and poll URL;
//!   a webhook timeout, error or non-2xx answer denies (`approval_unavailable`);
//! - a gated call with an approval token (in `params._meta["meshguard/approval"]` or the
//!   configured header): verified, checked against user, session, tool, server and argument
//!   hash ([`token::check`]), then redeemed once at the approval service ([`RedeemRequest`]:
//!   one atomic consume shared by every gateway replica; a service that cannot be reached
//!   denies, [`redeem_unavailable`]) and forwarded re-serialised without the token
//!   ([`Decision::Approved`]); anything else is refused.
//!
//! Missing identity or class headers on a `tools/call` fail closed.

pub mod args;
pub mod config;
pub mod token;
pub mod webhook;

#[cfg(test)]
mod tests;

pub use crate::canonical::canonical_json;
pub use args::args_sha256;
pub use config::{Config, RedeemConfig, WebhookConfig};
pub use token::{Approval, ApprovalClaims, ApprovalError, Binding};
pub use webhook::{
    redeem_outcome, ApprovalRequest, ApprovalState, ApprovalStatus, ApprovalTicket, RedeemAnswer,
    RedeemOutcome, RedeemRequest,
};

use crate::config::ConfigError;
use crate::denial::{Control, Denial};
use crate::jwt::Verifier;
use crate::mcp::{parse_payload, Message, Method, Payload, Request};
use crate::scrub::scrub_log_line;
use serde_json::{json, Map, Value};

pub use crate::tool_class::{ToolClass, CLASS_HEADER};
/// Header the gate sets on an approved call, naming the approver for the tool's audit.
pub const APPROVER_HEADER: &str = "x-meshguard-approver";
/// Member of `params._meta` that carries the approval token on the retry.
pub const META_KEY: &str = "meshguard/approval";

/// What the request headers said (all trusted headers set by earlier gateway filters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub class: Option<String>,
    pub user: Option<String>,
    pub team: Option<String>,
    pub session: Option<String>,
    pub agent: Option<String>,
    /// `x-meshguard-tool`, when token-exchange set one: must equal the called tool.
    pub tool: Option<String>,
    /// The request path without query (the tool server route).
    pub server: String,
    /// The approval token from the configured header, if any.
    pub header_token: Option<String>,
}

/// The gate's decision on one request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Forward unchanged.
    Pass,
    /// A valid approval: redeem it once at the service, then forward `body` instead of the
    /// original.
    Approved(Box<Approved>),
    /// No approval yet: post `request` to the webhook, then answer pending.
    Ask(Box<Ask>),
    /// Refuse.
    Deny(Denial),
}

/// An approved call, ready to forward.
#[derive(Debug, Clone, PartialEq)]
pub struct Approved {
    pub approval: Approval,
    /// The request re-serialised without the approval token.
    pub body: Vec<u8>,
    /// What the gate redeems at the approval service before forwarding: the token's `jti`
    /// and this call's user, session, server, tool and argument hash.
    pub redeem: RedeemRequest,
    /// The JSON-RPC id, for a replay denial.
    pub id: Value,
    pub class: ToolClass,
}

/// A call waiting for approval.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub request: ApprovalRequest,
    pub id: Value,
}

/// The compiled gate: configuration plus the approval-token verifier.
#[derive(Debug, Clone)]
pub struct Gate {
    config: Config,
    verifier: Verifier,
}

impl Gate {
    /// Compile a validated configuration.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let verifier = config.tokens.build().map_err(|e| e.within("tokens"))?;
        Ok(Self { config, verifier })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Decide on a complete request body at time `now`.
    pub fn judge(&self, body: &[u8], info: &RequestInfo, now: u64) -> Decision {
        let payload = match parse_payload(body) {
            Ok(p) => p,
            Err(e) => {
                return Decision::Deny(Denial::new(
                    400,
                    Control::Protocol,
                    e.reason(),
                    e.to_string(),
                ))
            }
        };
        let calls = payload
            .messages()
            .iter()
            .filter(|m| matches!(m, Message::Request(r) if r.mcp_method() == Method::ToolsCall))
            .count();
        if calls == 0 {
            return Decision::Pass;
        }
        let id = payload.reply_id();
        match self.gated_class(info) {
            Ok(None) => return Decision::Pass,
            Ok(Some(class)) => match &payload {
                Payload::Single(Message::Request(r)) => self.judge_call(r, class, info, now),
                _ => Decision::Deny(hitl(
                    400,
                    "approval_batch",
                    "a call that needs approval must be sent alone, not in a batch",
                )),
            },
            Err(d) => Decision::Deny(d),
        }
        .with_id(id)
    }

    /// `Some(class)` when the class header names a gated class; refuses missing or unknown.
    fn gated_class(&self, info: &RequestInfo) -> Result<Option<ToolClass>, Denial> {
        let name = info.class.as_deref().ok_or_else(|| {
            hitl(
                403,
                "missing_tool_class",
                "the tool call was not classified by the tool policy",
            )
        })?;
        let class = ToolClass::from_name(name.trim()).ok_or_else(|| {
            hitl(
                403,
                "unknown_tool_class",
                "the tool class is not recognised",
            )
        })?;
        Ok(self.config.classes.contains(&class).then_some(class))
    }

    fn judge_call(
        &self,
        request: &Request,
        class: ToolClass,
        info: &RequestInfo,
        now: u64,
    ) -> Decision {
        let (Some(user), Some(session)) = (nonblank(&info.user), nonblank(&info.session)) else {
            return Decision::Deny(hitl(
                401,
                "missing_identity",
                "a verified user and session are required to approve a call",
            ));
        };
        let call = match request.named_call() {
            Ok(Some(call)) => call,
            Ok(None) | Err(_) => {
                return Decision::Deny(Denial::new(
                    400,
                    Control::Protocol,
                    "missing_params_name",
                    "tools/call without a usable name and arguments",
                ))
            }
        };
        if nonblank(&info.tool).is_some_and(|t| t != call.name) {
            return Decision::Deny(hitl(403, "tool_mismatch", "the call names another tool"));
        }
        let hash = args_sha256(call.arguments);
        let token = match self.carried_token(request, info) {
            Ok(t) => t,
            Err(d) => return Decision::Deny(d),
        };
        let binding = Binding {
            user,
            session,
            tool: call.name,
            server: &info.server,
            args_sha256: &hash,
        };
        match token {
            Some(token) => self.judge_token(&token, &binding, request, class, now),
            None => Decision::Ask(Box::new(Ask {
                request: ApprovalRequest {
                    user: user.to_string(),
                    team: nonblank(&info.team).map(str::to_string),
                    session: session.to_string(),
                    agent: nonblank(&info.agent).map(str::to_string),
                    tool: call.name.to_string(),
                    server: info.server.clone(),
                    class,
                    args_sha256: hash.clone(),
                    arguments_preview: self.preview(call.arguments),
                },
                id: Value::Null,
            })),
        }
    }

    fn judge_token(
        &self,
        token: &str,
        binding: &Binding<'_>,
        request: &Request,
        class: ToolClass,
        now: u64,
    ) -> Decision {
        let verified = self
            .verifier
            .verify_with::<ApprovalClaims>(token, now)
            .map_err(ApprovalError::Invalid)
            .map(|(claims, extra)| Approval { claims, extra })
            .and_then(|approval| {
                token::check(&approval, binding, now, self.config.max_token_age_seconds)
                    .map(|()| approval)
            });
        match verified {
            Ok(approval) => Decision::Approved(Box::new(Approved {
                redeem: RedeemRequest {
                    jti: approval.claims.jti.clone().unwrap_or_default(),
                    user: binding.user.to_string(),
                    session: binding.session.to_string(),
                    server: binding.server.to_string(),
                    tool: binding.tool.to_string(),
                    args_sha256: binding.args_sha256.to_string(),
                },
                approval,
                body: without_token(request),
                id: Value::Null,
                class,
            })),
            Err(e) => Decision::Deny(e.denial()),
        }
    }

    /// The token from `params._meta` or the header; both present and different is refused.
    fn carried_token(
        &self,
        request: &Request,
        info: &RequestInfo,
    ) -> Result<Option<String>, Denial> {
        let meta = request
            .params
            .as_ref()
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(META_KEY));
        let meta = match meta {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(hitl(
                    400,
                    "approval_malformed",
                    "the approval token must be a string",
                ))
            }
        };
        let header = nonblank(&info.header_token).map(str::to_string);
        match (meta, header) {
            (Some(m), Some(h)) if m != h => Err(hitl(
                400,
                "approval_ambiguous",
                "two different approval tokens were sent",
            )),
            (m, h) => Ok(m.or(h)),
        }
    }

    /// The arguments with every key and string masked by the core log-line scrubber (emails,
    /// JWTs, secret-like runs, long numbers), truncated for the approver's message. The
    /// regex-free scrubber keeps this filter under the Wasm size budget; the approver needs
    /// the shape of the call, never its secrets.
    fn preview(&self, arguments: Option<&Map<String, Value>>) -> String {
        let value = scrub_strings(&Value::Object(arguments.cloned().unwrap_or_default()));
        truncate(canonical_json(&value), self.config.preview_bytes)
    }

    /// The redemption call body for an approved call.
    pub fn redeem_body(approved: &Approved) -> Vec<u8> {
        serde_json::to_vec(&approved.redeem).unwrap_or_default()
    }

    /// The webhook call body for an ask.
    pub fn webhook_body(ask: &Ask) -> Vec<u8> {
        serde_json::to_vec(&ask.request).unwrap_or_default()
    }
}

impl Decision {
    /// The same decision answering JSON-RPC id `id`.
    fn with_id(self, id: Value) -> Self {
        match self {
            Decision::Deny(d) => Decision::Deny(d.with_id(id)),
            Decision::Ask(mut a) => {
                a.id = id;
                Decision::Ask(a)
            }
            Decision::Approved(mut a) => {
                a.id = id;
                Decision::Approved(a)
            }
            Decision::Pass => Decision::Pass,
        }
    }
}

/// The answer to an ask the webhook accepted: pending, with the id and where to poll.
pub fn pending(ticket: &ApprovalTicket, id: Value) -> Denial {
    hitl(
        403,
        "approval_pending",
        "this call needs a person's approval; poll for it and retry with the approval token",
    )
    .with_data("approval_id", json!(ticket.approval_id))
    .with_data("poll", json!(ticket.poll))
    .with_data("meta_key", json!(META_KEY))
    .with_id(id)
}

/// The answer when the webhook failed, timed out or answered nonsense: deny.
pub fn unavailable(id: Value) -> Denial {
    hitl(
        503,
        "approval_unavailable",
        "the approval service could not be reached; the call is denied",
    )
    .with_id(id)
}

/// The answer when the approval could not be redeemed at the service (unreachable, timed
/// out, failed): deny, fail closed; the approval stays unused.
pub fn redeem_unavailable(id: Value) -> Denial {
    hitl(
        503,
        "approval_unavailable",
        "the approval service could not confirm this approval is unused; the call is denied",
    )
    .with_data("detail", json!("redeem_failed"))
    .with_id(id)
}

/// The answer when the service refused the redemption (`reason`: already used, unknown, or
/// for another call).
pub fn redeem_refused(reason: &'static str, id: Value) -> Denial {
    Denial::new(
        403,
        Control::Hitl,
        reason,
        "the approval service refused this approval (used already, or not for this call); ask for a new one",
    )
    .with_id(id)
}

/// A body too large (or encoded) to judge: the gate cannot tell what it would approve, so
/// it refuses whatever the body limits would let other filters do.
pub fn body_uninspectable() -> Denial {
    Denial::new(
        413,
        Control::Protocol,
        "body_too_large",
        "body too large to judge",
    )
}

fn hitl(status: u16, reason: &'static str, message: &'static str) -> Denial {
    Denial::new(status, Control::Hitl, reason, message)
}

fn nonblank(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// The request as JSON, re-serialised from the parsed value, with the approval token removed
/// from `params._meta` (and `_meta` removed when nothing else is in it).
fn without_token(request: &Request) -> Vec<u8> {
    let mut params = request.params.clone();
    if let Some(Value::Object(p)) = params.as_mut() {
        let empty = match p.get_mut("_meta") {
            Some(Value::Object(meta)) => {
                meta.remove(META_KEY);
                meta.is_empty()
            }
            _ => false,
        };
        if empty {
            p.remove("_meta");
        }
    }
    let mut out = Map::new();
    out.insert("jsonrpc".into(), json!("2.0"));
    if let Some(id) = &request.id {
        out.insert("id".into(), id.clone());
    }
    out.insert("method".into(), json!(request.method));
    if let Some(p) = params {
        out.insert("params".into(), p);
    }
    Value::Object(out).to_string().into_bytes()
}

/// A copy of `value` with every string and key passed through [`scrub_log_line`].
fn scrub_strings(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(scrub_log_line(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(scrub_strings).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (scrub_log_line(k).into_owned(), scrub_strings(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}
