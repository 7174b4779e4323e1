//! The request headers MCP 2026-07-28 mirrors from the body (SEP-2243): `Mcp-Method` on
//! every request, `Mcp-Name` (`params.name`, or `params.uri` for `resources/read`) on the
//! methods that address one tool, prompt or resource, and `MCP-Protocol-Version` equal to
//! the body's `_meta` version. Intermediaries route and authorise on these headers, which is
//! only safe if every body-reading hop guarantees they equal the body: a mismatch (or a
//! missing header where the declared revision requires it) is refused with 400 and JSON-RPC
//! error -32020 (HeaderMismatch). Values may use the `=?base64?...?=` sentinel for text
//! that cannot travel as a plain header value; it is decoded before comparing.

use super::jsonrpc::{Message, Payload};
use super::method::Method;
use crate::denial::{Control, Denial};
use base64::Engine;
use serde_json::Value;

/// The first revision that mirrors the body in headers.
pub const MIRRORING_REVISION: &str = "2026-07-28";

/// The `_meta` member carrying the protocol version in 2026-07-28 requests.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// The mirrored header values of one request (raw, as received).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorHeaders {
    pub method: Option<String>,
    pub name: Option<String>,
    pub protocol_version: Option<String>,
}

/// The denial for a header that does not match the body.
pub fn mismatch(what: &'static str) -> Denial {
    Denial::new(
        400,
        Control::Protocol,
        "header_mismatch",
        format!("the {what} header does not match the request body"),
    )
}

/// Decode the `=?base64?...?=` sentinel; other values are taken as they are.
pub fn header_text(value: &str) -> Option<String> {
    let trimmed = value.trim();
    match trimmed
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            String::from_utf8(bytes).ok()
        }
        None => Some(trimmed.to_string()),
    }
}

/// Check the mirrored headers against the body they travel with.
pub fn check(headers: &MirrorHeaders, payload: &Payload) -> Result<(), Denial> {
    let requires = headers
        .protocol_version
        .as_deref()
        .is_some_and(|v| v.trim() >= MIRRORING_REVISION);
    if headers.method.is_none() && headers.name.is_none() && !requires {
        return Ok(());
    }
    let request = match payload {
        Payload::Single(Message::Request(r)) => r,
        // The mirroring revision has no batches: one request, one set of headers.
        _ => return Err(mismatch("Mcp-Method")),
    };
    match headers.method.as_deref().map(header_text) {
        Some(Some(m)) if m == request.method => {}
        None if !requires => {}
        _ => return Err(mismatch("Mcp-Method")),
    }
    let params = request.params.as_ref().and_then(Value::as_object);
    let body_name = match request.mcp_method() {
        Method::ToolsCall | Method::PromptsGet => params.and_then(|p| p.get("name")),
        Method::ResourcesRead => params.and_then(|p| p.get("uri")),
        _ => None,
    }
    .and_then(Value::as_str);
    match (headers.name.as_deref().map(header_text), body_name) {
        (Some(Some(h)), Some(b)) if h == b => {}
        (None, None) => {}
        (None, Some(_)) if !requires => {}
        _ => return Err(mismatch("Mcp-Name")),
    }
    let body_version = params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_PROTOCOL_VERSION))
        .and_then(Value::as_str);
    match (headers.protocol_version.as_deref(), body_version) {
        (Some(h), Some(b)) if h.trim() != b => Err(mismatch("MCP-Protocol-Version")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::parse_payload;

    fn call(body: &str) -> Payload {
        parse_payload(body.as_bytes()).unwrap()
    }

    fn headers(method: Option<&str>, name: Option<&str>, version: Option<&str>) -> MirrorHeaders {
        MirrorHeaders {
            method: method.map(str::to_string),
            name: name.map(str::to_string),
            protocol_version: version.map(str::to_string),
        }
    }

    const ECHO: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;

    #[test]
    fn matching_headers_and_older_clients_pass() {
        let p = call(ECHO);
        assert!(check(&headers(None, None, None), &p).is_ok());
        assert!(check(&headers(None, None, Some("2025-11-25")), &p).is_ok());
        assert!(check(
            &headers(Some("tools/call"), Some("echo"), Some("2026-07-28")),
            &p
        )
        .is_ok());
        let b64 = format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode("echo")
        );
        assert!(check(
            &headers(Some("tools/call"), Some(&b64), Some("2026-07-28")),
            &p
        )
        .is_ok());
    }

    #[test]
    fn every_mismatch_is_refused_with_32020() {
        let p = call(ECHO);
        for h in [
            headers(Some("tools/list"), Some("echo"), None),
            headers(Some("tools/call"), Some("delete_branch"), None),
            headers(Some("tools/call"), Some("echo"), Some("2025-11-25")),
            headers(None, None, Some("2026-07-28")),
            headers(Some("tools/call"), None, Some("2026-07-28")),
            headers(
                Some("tools/call"),
                Some("=?base64?ZGVsZXRlX2JyYW5jaA==?="),
                None,
            ),
            headers(Some("tools/call"), Some("=?base64?not base64?="), None),
        ] {
            let d = check(&h, &p).unwrap_err();
            assert_eq!(d.jsonrpc_code(), -32020, "{h:?}");
            assert_eq!(d.status, 400);
        }
        let read = call(
            r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a"}}"#,
        );
        assert!(check(
            &headers(Some("resources/read"), Some("file:///a"), None),
            &read
        )
        .is_ok());
        assert!(check(
            &headers(Some("resources/read"), Some("file:///b"), None),
            &read
        )
        .is_err());
        let batch = call(&format!("[{ECHO}]"));
        assert!(check(&headers(Some("tools/call"), Some("echo"), None), &batch).is_err());
    }
}
