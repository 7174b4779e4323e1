//! Request-body buffering shared by the filters that judge a request by its JSON-RPC body.
//!
//! The body is held (bounded by [`BodyLimits`]) until it is complete, then parsed once;
//! compressed or oversize bodies are refused before they are buffered.

use meshguard_core::body::{BodyLimits, BodyVerdict};
use meshguard_core::denial::{Control, Denial};
use meshguard_core::mcp::{parse_payload, Payload};
use meshguard_core::pii_scrubber::{binary_body_verdict, request_media};
use proxy_wasm::traits::HttpContext;

/// Outcome of one `on_http_request_body` call.
pub enum RequestBody {
    /// More body to come: keep buffering (return `Action::Pause`).
    Buffering,
    /// The body is complete and is JSON-RPC.
    Complete { payload: Payload, bytes: Vec<u8> },
    /// The body is not acceptable; send this denial.
    Refused(Denial),
    /// Uninspectable but the operator allowed it through.
    Uninspected,
}

/// Judge the request headers: `Some(denial)` if the body must be refused before it arrives.
pub fn check_headers(ctx: &dyn HttpContext, limits: &BodyLimits) -> Option<BodyVerdict> {
    let encoding = ctx.get_http_request_header("content-encoding");
    let length = ctx.get_http_request_header("content-length");
    match limits.verdict(encoding.as_deref(), length.as_deref()) {
        BodyVerdict::Inspect => None,
        other => Some(other),
    }
}

/// Judge the request headers for a data-loss check on the body (pii-scrubber's request
/// side, egress-guard's outbound side): the verdict, and the body's shape (`Some(true)`
/// JSON, `Some(false)` text, `None` binary, which only passes when the operator allows
/// uninspectable bodies).
pub fn dlp_headers(ctx: &dyn HttpContext, limits: &BodyLimits) -> (BodyVerdict, Option<bool>) {
    let shape = request_media(ctx.get_http_request_header("content-type").as_deref());
    let verdict = match (check_headers(ctx, limits), shape) {
        (Some(v), _) => v,
        (None, None) => binary_body_verdict(limits.allow_uninspectable),
        (None, Some(_)) => BodyVerdict::Inspect,
    };
    (verdict, shape)
}

/// Buffer the request body and parse it as JSON-RPC once complete.
pub fn on_body(
    ctx: &dyn HttpContext,
    limits: &BodyLimits,
    body_size: usize,
    end_of_stream: bool,
) -> RequestBody {
    match limits.verdict_on_overflow(body_size) {
        Some(BodyVerdict::Refuse(denial)) => return RequestBody::Refused(denial),
        Some(_) => return RequestBody::Uninspected,
        None => {}
    }
    if !end_of_stream {
        return RequestBody::Buffering;
    }
    let bytes = ctx.get_http_request_body(0, body_size).unwrap_or_default();
    match parse_payload(&bytes) {
        Ok(payload) => RequestBody::Complete { payload, bytes },
        Err(e) => RequestBody::Refused(Denial::new(
            400,
            Control::Protocol,
            e.reason(),
            e.to_string(),
        )),
    }
}
