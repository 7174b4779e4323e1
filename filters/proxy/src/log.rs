//! Decision logging through Envoy's log (component `wasm`), so operators turn it on with
//! `--component-log-level wasm:debug` or the admin `/logging` endpoint.
//!
//! Every line goes through the core's log-line scrubber first (MCP-04): a log pipeline
//! must never receive the email, card or token a decision was about. Lines below the
//! host's level are neither formatted further nor scrubbed.

use meshguard_core::scrub::scrub_log_line;
use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;

/// Log at `level`, prefixed with the filter name so lines from several filters can be told
/// apart, scrubbed of PII and secrets.
pub fn at(level: LogLevel, filter: &str, message: &str) {
    if hostcalls::get_log_level().is_ok_and(|host| (level as i32) < (host as i32)) {
        return;
    }
    let line = format!("meshguard {filter}: {message}");
    let _ = hostcalls::log(level, &scrub_log_line(&line));
}

/// Refusals and configuration errors.
pub fn warn(filter: &str, message: &str) {
    at(LogLevel::Warn, filter, message);
}

/// Per-request decisions; off unless the operator raises the wasm log level.
pub fn debug(filter: &str, message: &str) {
    at(LogLevel::Debug, filter, message);
}
