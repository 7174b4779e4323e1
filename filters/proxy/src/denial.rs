//! Sending a core [`Denial`] as Envoy's local reply, counted and logged.
//!
//! This is the one place that decides the HTTP status of a denial: policy denials answer
//! HTTP 200 with the JSON-RPC error by default (readable by every MCP SDK), challenges keep
//! 401/403 ([`Denial::http_status`]). The mode is the filter's `denials.policy_status`,
//! set once per plugin configuration by [`crate::config::load`].
//!
//! The 200 goes only with a denial that answers a JSON-RPC request id (the body was read as
//! JSON-RPC): an SDK matches the error to its request by that id. Anything else (a denial
//! decided on the headers, a tool's own outbound fetch refused by egress-guard, a body that
//! is not JSON-RPC) keeps its real status, so a refusal never passes for a success.

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

/// The HTTP status `denial` is answered with on this request (see the module doc); also for
/// filters that rewrite a held response's `:status` themselves.
pub fn status_for(denial: &Denial) -> u16 {
    denial.http_status(policy_status())
}

/// Answer the request with the denial instead of forwarding it (or its response).
pub fn send(ctx: &dyn HttpContext, filter: &str, denial: &Denial) {
    crate::stats::increment(filter, &format!("denied.{}", denial.reason));
    let status = status_for(denial);
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
