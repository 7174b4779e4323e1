//! Sending a core [`Denial`] as Envoy's local reply, counted and logged.
//!
//! This is the one place that decides the HTTP status of a denial: policy denials answer
//! HTTP 200 with the JSON-RPC error by default (readable by every MCP SDK), challenges keep
//! 401/403 ([`Denial::http_status`]). The mode is the filter's `denials.policy_status`,
//! set once per plugin configuration by [`crate::config::load`].
//!
//! Only an MCP client gets the 200: one whose `Accept` lists `text/event-stream`, as the
//! Streamable HTTP transport requires of every POST. Any other HTTP client (a tool's own
//! outbound request refused by egress-guard, curl) gets the denial's real status, so a
//! refusal can never pass for a successful fetch.

use meshguard_core::denial::{Denial, PolicyStatus};
use proxy_wasm::traits::HttpContext;
use std::cell::Cell;

thread_local! {
    /// This filter's mode (one filter per Wasm VM; Envoy runs each VM on one thread).
    static POLICY_STATUS: Cell<PolicyStatus> = const { Cell::new(PolicyStatus::Jsonrpc) };
}

/// Set how this filter answers policy denials (from its plugin configuration).
pub fn set_policy_status(mode: PolicyStatus) {
    POLICY_STATUS.with(|m| m.set(mode));
}

/// How this filter answers policy denials.
pub fn policy_status() -> PolicyStatus {
    POLICY_STATUS.with(Cell::get)
}

/// Does the request come from an MCP Streamable HTTP client (`Accept` lists
/// `text/event-stream`)?
fn is_mcp_client(ctx: &dyn HttpContext) -> bool {
    ctx.get_http_request_header("accept")
        .is_some_and(|a| a.to_ascii_lowercase().contains("text/event-stream"))
}

/// Answer the request with the denial instead of forwarding it (or its response).
pub fn send(ctx: &dyn HttpContext, filter: &str, denial: &Denial) {
    crate::stats::increment(filter, &format!("denied.{}", denial.reason));
    let status = if is_mcp_client(ctx) {
        denial.http_status(policy_status())
    } else {
        denial.status
    };
    crate::log::warn(
        filter,
        &format!(
            "denied control={} reason={} status={status}",
            denial.control.as_str(),
            denial.reason,
        ),
    );
    let headers = denial.headers();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ctx.send_http_response(u32::from(status), headers, Some(&denial.body()));
}
