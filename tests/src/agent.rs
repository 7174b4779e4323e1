//! The agent workload of the local mesh: an MCP server the user reaches through the gateway,
//! which is itself an MCP client of the tools (official `rmcp` SDK on both sides).
//!
//! No model: the user's `tools/call run_tool {server, tool, arguments}` is the plan, and the
//! agent carries it out the way a real agent runtime would, with the agent token the gateway
//! handed it, through its own sidecar's outbound listener. What reaches the user is exactly
//! what came back through the mesh: the tool result, or the denial of the control that
//! stopped the call (as the agent's own JSON-RPC error, control and reason intact).
//!
//! Every other path echoes the request (`/echo`), so tests can see what the gateway forwarded.

use crate::upstream::{echo_handler, serve, stateless_service, McpUpstream, ResponseMode};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{
    NotificationContext, Peer, RequestContext, RoleClient, RoleServer, ServiceError,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ErrorData, ServerHandler, ServiceExt};
use serde_json::{json, Map, Value};
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// Where the agent sends its tool calls: its sidecar's outbound listener, known only once
/// the sidecar (which needs the agent's address first) has started.
pub type Outbound = Arc<OnceLock<String>>;

/// The user who asked for a call and the progress token they gave it.
type ProgressTo = (Peer<RoleServer>, ProgressToken);

/// The `params._meta.progressToken` the agent gives its own tool call when the user asked
/// for progress.
const AGENT_PROGRESS_TOKEN: &str = "agent-progress";

/// The agent's MCP client of one tool call: relays the tool's progress notifications (which
/// came back through the tool's sidecar and the gateway) to the user under the user's token.
struct ProgressRelay {
    to: Option<ProgressTo>,
}

impl ClientHandler for ProgressRelay {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        if let Some((user, token)) = &self.to {
            let mut note = params;
            note.progress_token = token.clone();
            let _ = user.notify_progress(note).await;
        }
    }
}

/// The scripted agent's MCP server.
#[derive(Clone)]
pub struct ScriptedAgent {
    outbound: Outbound,
}

impl ScriptedAgent {
    /// Start the agent on a loopback port: `/mcp` is the agent, anything else echoes.
    pub async fn start(outbound: Outbound) -> McpUpstream {
        let ct = CancellationToken::new();
        let agent = ScriptedAgent { outbound };
        let service = stateless_service(move || agent.clone(), ResponseMode::Json, &ct);
        let router = axum::Router::new()
            .nest_service("/mcp", service)
            .fallback(echo_handler);
        serve(router, ct).await
    }

    fn run_tool() -> Tool {
        let schema = json!({
            "type": "object",
            "properties": {
                "server": {"type": "string", "description": "tool server, e.g. mcp-github"},
                "tool": {"type": "string"},
                "arguments": {"type": "object"},
                "approval": {"type": "string", "description": "a person's approval token for this call"}
            },
            "required": ["server", "tool"]
        });
        Tool::new(
            "run_tool",
            "Calls `tool` on `server` on the user's behalf and returns its result.",
            Arc::new(schema.as_object().cloned().unwrap_or_default()),
        )
    }

    /// One step of the plan: connect to the tool server through the mesh and call the tool.
    async fn call(
        &self,
        bearer: &str,
        server: &str,
        tool: &str,
        arguments: Map<String, Value>,
        approval: Option<String>,
        progress: Option<ProgressTo>,
    ) -> Result<CallToolResult, ErrorData> {
        let base = self
            .outbound
            .get()
            .ok_or_else(|| ErrorData::internal_error("the agent has no sidecar yet", None))?;
        let config =
            StreamableHttpClientTransportConfig::with_uri(format!("{base}/tools/{server}/mcp"))
                .auth_header(bearer.to_string());
        let transport = StreamableHttpClientTransport::from_config(config);
        let wants_progress = progress.is_some();
        let client = ProgressRelay { to: progress }
            .serve(transport)
            .await
            .map_err(|e| ErrorData::internal_error(format!("connecting to {server}: {e}"), None))?;
        let mut params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        let mut meta = Map::new();
        if let Some(token) = approval {
            // Where the approval gate looks for a person's approval (HITL).
            meta.insert(APPROVAL_META.into(), Value::String(token));
        }
        if wants_progress {
            // The tool then answers as an SSE stream, progress first (see ProgressRelay).
            meta.insert("progressToken".into(), json!(AGENT_PROGRESS_TOKEN));
        }
        if !meta.is_empty() {
            params.meta = Some(meta.into());
        }
        let outcome = client.call_tool(params).await.map(|mut result| {
            // The tool answered over 2025-11-25 (no `resultType`); an absent type means
            // "complete" (SEP-2322), so relay it as such: rmcp clears it again for a user on
            // an older revision, and a 2026-07-28 user gets the field its schema requires.
            if result.result_type.is_none() {
                result.result_type = Some(rmcp::model::ResultType::COMPLETE);
            }
            result
        });
        let _ = client.cancel().await;
        outcome.map_err(|e| match e {
            // A control's denial, passed on as it came: the user sees who stopped the call.
            ServiceError::McpError(denial) => denial,
            other => relayed_denial(&other.to_string()).unwrap_or_else(|| {
                ErrorData::internal_error(format!("calling {tool}: {other}"), None)
            }),
        })
    }
}

/// The JSON-RPC error inside a transport error. rmcp 3.9 surfaces a 401/403/429 answer as
/// `unexpected server response: HTTP 403 Forbidden: {body}` rather than as the JSON-RPC
/// error the body carries, so the agent digs the denial out of the message.
fn relayed_denial(message: &str) -> Option<ErrorData> {
    let body = &message[message.find('{')?..];
    let reply: Value = serde_json::from_str(body).ok()?;
    serde_json::from_value(reply.get("error")?.clone()).ok()
}

impl ServerHandler for ScriptedAgent {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![Self::run_tool()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != "run_tool" {
            return Err(ErrorData::invalid_params("the agent offers run_tool", None));
        }
        // The agent token the gateway minted for this user and session, and nothing else.
        let bearer = ctx
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.headers.get("authorization"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
            .ok_or_else(|| ErrorData::invalid_request("no agent token", None))?;
        let args = request.arguments.unwrap_or_default();
        let field = |name: &str| args.get(name).and_then(Value::as_str).map(str::to_string);
        let (Some(server), Some(tool)) = (field("server"), field("tool")) else {
            return Err(ErrorData::invalid_params(
                "server and tool are required",
                None,
            ));
        };
        let arguments = match args.get("arguments") {
            Some(Value::Object(a)) => a.clone(),
            None => Map::new(),
            Some(_) => {
                return Err(ErrorData::invalid_params(
                    "arguments must be an object",
                    None,
                ))
            }
        };
        let approval = field("approval");
        // The user asked for progress: relay the tool's (the agent's answer turns into SSE).
        let progress = ctx
            .meta
            .get_progress_token()
            .map(|token| (ctx.peer.clone(), token));
        Ok(self
            .call(&bearer, &server, &tool, arguments, approval, progress)
            .await?
            .into())
    }
}

/// The `params._meta` key of the approval token the approval gate accepts.
pub const APPROVAL_META: &str = "meshguard/approval";

/// [`run_tool_call`] retried with a person's approval token, which the agent passes on in
/// the tool call's `params._meta["meshguard/approval"]`.
pub fn run_approved_tool_call(
    id: u64,
    server: &str,
    tool: &str,
    arguments: Value,
    approval: &str,
) -> Value {
    let mut call = run_tool_call(id, server, tool, arguments);
    call["params"]["arguments"]["approval"] = json!(approval);
    call
}

/// The `tools/call` a user sends the agent to have it call `tool` on `server`.
pub fn run_tool_call(id: u64, server: &str, tool: &str, arguments: Value) -> Value {
    crate::client::tool_call(
        id,
        "run_tool",
        json!({"server": server, "tool": tool, "arguments": arguments}),
    )
}

#[cfg(test)]
mod tests {
    use super::relayed_denial;

    #[test]
    fn a_denial_inside_a_transport_error_is_relayed_intact() {
        let message = r#"Transport error: unexpected server response: HTTP 403 Forbidden: {"error":{"code":-32003,"data":{"control":"MCP-09","reason":"team_scope_violation"},"message":"outside the team"},"id":1,"jsonrpc":"2.0"}"#;
        let denial = relayed_denial(message).expect("denial");
        assert_eq!(denial.code.0, -32003);
        assert_eq!(
            denial.data.as_ref().map(|d| d["reason"].clone()),
            Some("team_scope_violation".into())
        );
        assert!(relayed_denial("connection refused").is_none());
        assert!(relayed_denial("HTTP 503: {not json").is_none());
    }
}
