//! Decision logging through Envoy's log (component `wasm`), so operators turn it on with
//! `--component-log-level wasm:debug` or the admin `/logging` endpoint.

use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;

/// Log at `level`, prefixed with the filter name so lines from several filters can be told apart.
pub fn at(level: LogLevel, filter: &str, message: &str) {
    let _ = hostcalls::log(level, &format!("meshguard {filter}: {message}"));
}

/// Refusals and configuration errors.
pub fn warn(filter: &str, message: &str) {
    at(LogLevel::Warn, filter, message);
}

/// Per-request decisions; off unless the operator raises the wasm log level.
pub fn debug(filter: &str, message: &str) {
    at(LogLevel::Debug, filter, message);
}
