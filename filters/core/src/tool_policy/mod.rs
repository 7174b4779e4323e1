//! Tool policy at the gateway (MCP-03): the tool registry, pins against rug-pulls and
//! intent-based rate limits.
//!
//! - Registry: each tool server and tool has a class (read, write, delete, admin) and the
//!   teams/roles that may use it. A `tools/call` of an unregistered, ungranted or
//!   quarantined tool is refused; `tools/list` results are cut to what the caller may call.
//! - Pins ([`pin`]): hashes of each tool's description and input schema; a `tools/list`
//!   showing a change quarantines the tool ([`list`], [`quarantine`]).
//! - Rate limits ([`bucket`]): token buckets per class and principal (user, team, agent),
//!   kept by the filter in Envoy shared data with compare-and-swap; the class and
//!   principals are also set as request headers for Envoy's (global) rate limit filters.
//!
//! The caller is who token-exchange verified (trusted `x-meshguard-*` headers); a request
//! without them is refused. Forwarded `tools/call` requests carry
//! `x-meshguard-tool-class` for filters after this one (human approval).

pub mod bucket;
pub mod config;
pub mod list;
pub mod pin;
pub mod quarantine;
pub mod refusal;

pub use config::{Config, PrincipalKind, RateLimit, ToolClass, ToolServer};
pub use refusal::Refusal;

use crate::denial::Denial;
use crate::mcp::{Message, Method, Payload};
use list::{detect_changes, filter_tools, ListReport};
use serde_json::Value;

/// Request header carrying the class of the forwarded `tools/call` (set only by this filter).
pub use crate::tool_class::CLASS_HEADER;
/// Request headers for Envoy rate limit descriptors (`request_headers` actions).
pub const RL_CLASS_HEADER: &str = "x-meshguard-rl-class";
pub const RL_USER_HEADER: &str = "x-meshguard-rl-user";
pub const RL_TEAM_HEADER: &str = "x-meshguard-rl-team";
pub const RL_AGENT_HEADER: &str = "x-meshguard-rl-agent";
/// Request header carrying the JSON-RPC id a rate limit refusal answers, as JSON (`7`,
/// `"abc"`, `null` for a batch or an id that is not short printable ASCII): Envoy's
/// `local_reply_config` writes it verbatim into the JSON-RPC error when the native
/// `ratelimit` filter refuses the call (`tests/src/ratelimit.rs`).
pub const RL_ID_HEADER: &str = "x-meshguard-rl-id";
/// Headers only this filter may set; incoming copies are removed.
pub const OWN_HEADERS: [&str; 6] = [
    CLASS_HEADER,
    RL_CLASS_HEADER,
    RL_USER_HEADER,
    RL_TEAM_HEADER,
    RL_AGENT_HEADER,
    RL_ID_HEADER,
];
/// Shared-data slots the rate-limit buckets are spread over.
pub const RATE_SLOTS: u32 = 64;

/// The verified caller, from token-exchange's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub sub: String,
    pub team: String,
    pub role: Option<String>,
    pub agent: Option<String>,
}

impl Caller {
    /// Read the caller from trusted identity headers; refuse when the subject or team is
    /// missing (token-exchange did not run: fail closed).
    pub fn from_headers(header: impl Fn(&str) -> Option<String>) -> Result<Caller, Denial> {
        let get = |n: &str| header(n).filter(|v| !v.trim().is_empty());
        match (get("x-meshguard-sub"), get("x-meshguard-team")) {
            (Some(sub), Some(team)) => Ok(Caller {
                sub,
                team,
                role: get("x-meshguard-role"),
                agent: get("x-meshguard-agent"),
            }),
            _ => Err(Refusal::MissingIdentity.into()),
        }
    }

    /// The principal a rate limit counts against.
    pub fn principal(&self, kind: PrincipalKind) -> &str {
        match kind {
            PrincipalKind::User => &self.sub,
            PrincipalKind::Team => &self.team,
            PrincipalKind::Agent => self.agent.as_deref().unwrap_or("-"),
        }
    }
}

/// What a request path addresses.
#[derive(Debug, Clone, Copy)]
pub enum Route<'a> {
    /// Not a tool route (agents, JWKS): not this filter's business.
    NotTool,
    Server(&'a ToolServer),
    /// Under the tool prefix but no registered server: refused.
    Unregistered,
}

/// What a request's JSON-RPC body asks of the registry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestPlan {
    /// The registered `tools/call`s: (request id, tool name, class).
    pub calls: Vec<(Value, String, ToolClass)>,
    /// Whether the body holds a `tools/list` (its response is filtered).
    pub lists: bool,
    /// Whether the body is a JSON-RPC batch (its answer is an array).
    pub batch: bool,
}

impl RequestPlan {
    /// The most privileged class called (what `x-meshguard-tool-class` says).
    pub fn class(&self) -> Option<ToolClass> {
        self.calls.iter().map(|(_, _, c)| *c).max()
    }

    /// The id one JSON-RPC error answering the whole request carries: the call's id for a
    /// single `tools/call`, `null` for a batch (no single id answers it).
    pub fn reply_id(&self) -> Value {
        match self.calls.as_slice() {
            [(id, _, _)] if !self.batch => id.clone(),
            _ => Value::Null,
        }
    }
}

/// The compiled configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    config: Config,
}

impl Policy {
    /// Wrap a validated configuration.
    pub fn new(config: Config) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The server a request path addresses.
    pub fn route(&self, path: &str) -> Route<'_> {
        let path = path.split('?').next().unwrap_or("");
        if let Some(s) = self
            .config
            .servers
            .iter()
            .find(|s| path.starts_with(&s.path_prefix))
        {
            return Route::Server(s);
        }
        if path.starts_with(&self.config.tool_path_prefix) {
            Route::Unregistered
        } else {
            Route::NotTool
        }
    }

    /// Check every `tools/call` of a body against the registry and grants.
    pub fn plan(
        &self,
        server: &ToolServer,
        caller: &Caller,
        payload: &Payload,
    ) -> Result<RequestPlan, Denial> {
        let mut plan = RequestPlan {
            batch: matches!(payload, Payload::Batch(_)),
            ..RequestPlan::default()
        };
        for message in payload.messages() {
            let Message::Request(r) = message else {
                continue;
            };
            let id = r.id.clone().unwrap_or(Value::Null);
            match r.mcp_method() {
                Method::ToolsList => plan.lists = true,
                Method::ToolsCall => {
                    let name = match r.named_call() {
                        Ok(Some(call)) => call.name.to_string(),
                        _ => return Err(Denial::from(Refusal::MissingParamsName).with_id(id)),
                    };
                    let class = self
                        .authorize(server, caller, &name)
                        .map_err(|d| d.with_id(id.clone()))?;
                    plan.calls.push((id, name, class));
                }
                _ => {}
            }
        }
        Ok(plan)
    }

    /// The class of `tool` if `caller` may call it on `server`.
    pub fn authorize(
        &self,
        server: &ToolServer,
        caller: &Caller,
        tool: &str,
    ) -> Result<ToolClass, Denial> {
        let entry = server
            .tools
            .iter()
            .find(|e| e.name == tool)
            .ok_or(Refusal::UnregisteredTool { server: &server.id })?;
        let granted = entry
            .allow
            .iter()
            .any(|g| g.allows(&caller.team, caller.role.as_deref()));
        if !granted {
            return Err(Refusal::ToolNotGranted {
                server: &server.id,
                class: entry.class,
            }
            .into());
        }
        Ok(entry.class)
    }

    /// The rate limits a call of `class` counts against, in configuration order.
    pub fn limits_for(&self, class: ToolClass) -> impl Iterator<Item = &RateLimit> {
        self.config
            .rate_limits
            .iter()
            .filter(move |l| l.class == class)
    }

    /// Filter a complete `tools/list` response body (one message or a batch): the new
    /// body if anything was hidden, and what was found. `quarantine_table` is the server's
    /// table as read before this response; tools it names are hidden too.
    pub fn filter_list_body(
        &self,
        server: &ToolServer,
        caller: &Caller,
        body: &[u8],
        quarantine_table: &str,
    ) -> Result<(Option<Vec<u8>>, ListReport), Denial> {
        let mut value: Value = crate::json::parse_message(body).map_err(|e| match e {
            crate::json::StrictError::Syntax(_) => Refusal::ListNotJson.into(),
            ambiguous => crate::json::response_denial(&ambiguous),
        })?;
        let mut report = ListReport::default();
        let changed = match &mut value {
            Value::Array(items) => items.iter_mut().fold(false, |any, m| {
                filter_message(server, caller, m, quarantine_table, &mut report) | any
            }),
            m => filter_message(server, caller, m, quarantine_table, &mut report),
        };
        if !changed {
            return Ok((None, report));
        }
        let bytes = serde_json::to_vec(&value).map_err(|_| Refusal::ListNotJson)?;
        Ok((Some(bytes), report))
    }
}

/// Filter one message's `result.tools`, if it has one; `true` if it changed.
fn filter_message(
    server: &ToolServer,
    caller: &Caller,
    message: &mut Value,
    table: &str,
    report: &mut ListReport,
) -> bool {
    let Some(tools) = message
        .get_mut("result")
        .and_then(|r| r.get_mut("tools"))
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    let all = std::mem::take(tools);
    let changes = detect_changes(server, &all);
    let newly: Vec<String> = changes
        .iter()
        .filter_map(|c| c.quarantines().map(str::to_string))
        .collect();
    let quarantined =
        |name: &str| newly.iter().any(|n| n == name) || quarantine::contains(table, name);
    let before = all.len();
    *tools = filter_tools(server, caller, all, &quarantined, report);
    report.changes.extend(changes);
    tools.len() != before
}

/// Shared-data key and in-slot id of `caller`'s bucket for `limit`: hashes, so keys never
/// carry raw identities, and stable across configuration reorderings.
pub fn bucket_location(limit: &RateLimit, caller: &Caller) -> (String, String) {
    let text = format!(
        "{}\0{}\0{}\0{}\0{}",
        limit.class.as_str(),
        limit.per.as_str(),
        limit.requests,
        limit.window_seconds,
        caller.principal(limit.per)
    );
    let digest = hmac_sha256::Hash::hash(text.as_bytes());
    let slot = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % RATE_SLOTS;
    let id: String = digest[4..20].iter().map(|b| format!("{b:02x}")).collect();
    (rate_slot_key(slot), id)
}

/// Shared-data key of rate slot `slot`.
pub fn rate_slot_key(slot: u32) -> String {
    format!("meshguard.tool_policy.rl.{slot}")
}

/// Descriptor headers for Envoy's rate limit filters.
pub fn descriptor_headers(
    class: ToolClass,
    caller: &Caller,
    reply_id: &Value,
) -> Vec<(&'static str, String)> {
    let mut h = vec![
        (RL_ID_HEADER, id_header_value(reply_id)),
        (RL_CLASS_HEADER, class.as_str().to_string()),
        (RL_USER_HEADER, caller.sub.clone()),
        (RL_TEAM_HEADER, caller.team.clone()),
    ];
    if let Some(agent) = &caller.agent {
        h.push((RL_AGENT_HEADER, agent.clone()));
    }
    h
}

/// A JSON-RPC id as a header value Envoy can splice into a JSON body: its JSON text when
/// that is at most 128 printable ASCII characters (serde_json escapes quotes and control
/// characters), else `null`.
pub fn id_header_value(id: &Value) -> String {
    match id {
        Value::Number(_) | Value::String(_) => {
            let text = id.to_string();
            if text.len() <= 128 && text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                text
            } else {
                "null".into()
            }
        }
        _ => "null".into(),
    }
}

#[cfg(test)]
mod tests;
