//! Sending a core [`Denial`] as Envoy's local reply, counted and logged.

use meshguard_core::denial::Denial;
use proxy_wasm::traits::HttpContext;

/// Answer the request with the denial instead of forwarding it (or its response).
pub fn send(ctx: &dyn HttpContext, filter: &str, denial: &Denial) {
    crate::stats::increment(filter, &format!("denied.{}", denial.reason));
    crate::log::warn(
        filter,
        &format!(
            "denied control={} reason={} status={}",
            denial.control.as_str(),
            denial.reason,
            denial.status
        ),
    );
    let headers = denial.headers();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ctx.send_http_response(u32::from(denial.status), headers, Some(&denial.body()));
}
