//! What filters ask the host for besides traffic: the time, randomness, environment,
//! the mTLS peer identity, and header hygiene.

use proxy_wasm::traits::{Context, HttpContext};
use std::time::UNIX_EPOCH;

/// Envoy's clock, unix seconds (the core takes time as a parameter so it tests natively).
pub fn now(ctx: &dyn Context) -> u64 {
    ctx.get_current_time()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Envoy's clock, unix milliseconds (token buckets refill by the millisecond).
pub fn now_ms(ctx: &dyn Context) -> u64 {
    ctx.get_current_time()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// 16 random bytes from WASI `random_get`; `None` if the host cannot provide them, in which
/// case callers fail closed rather than mint predictable ids.
pub fn random16() -> Option<[u8; 16]> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).ok()?;
    Some(bytes)
}

/// A VM environment variable (Envoy `vm_config.environment_variables`, which Istio's
/// WasmPlugin `vmConfig.env` fills from the proxy's environment).
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The SPIFFE id (first URI SAN) of the downstream mTLS peer, if the connection has one.
pub fn peer_spiffe_id(ctx: &dyn Context) -> Option<String> {
    let bytes = ctx.get_property(vec!["connection", "uri_san_peer_certificate"])?;
    let id = String::from_utf8(bytes).ok()?;
    id.starts_with("spiffe://").then_some(id)
}

/// Remove every request header starting with `prefix`, so a client cannot pose as an
/// identity the filter would otherwise have set.
pub fn strip_request_headers(ctx: &dyn HttpContext, prefix: &str) -> usize {
    let names: Vec<String> = ctx
        .get_http_request_headers()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.to_ascii_lowercase().starts_with(prefix))
        .collect();
    for name in &names {
        ctx.set_http_request_header(name, None);
    }
    names.len()
}

/// Every value of request header `name`, joined with ", " the way fetch, undici and httpx
/// join a repeated header. A filter that read only the first of two `content-type` or
/// `content-encoding` lines would judge a body that its reader reads differently.
pub fn request_header(ctx: &dyn HttpContext, name: &str) -> Option<String> {
    joined(ctx.get_http_request_headers(), name)
}

/// Every value of response header `name`, joined as [`request_header`] joins them.
pub fn response_header(ctx: &dyn HttpContext, name: &str) -> Option<String> {
    joined(ctx.get_http_response_headers(), name)
}

fn joined(headers: Vec<(String, String)>, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .into_iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}
