//! The request headers MCP 2026-07-28 mirrors from the body (SEP-2243): `Mcp-Method` on
//! every request, `Mcp-Name` (`params.name`, or `params.uri` for `resources/read`) on the
//! methods that address one tool, prompt or resource, and `MCP-Protocol-Version` equal to
//! the body's `_meta` version. Intermediaries route and authorise on these headers, which is
//! only safe if every body-reading hop guarantees they equal the body: a mismatch (or a
//! missing header where the declared revision requires it) is refused with 400 and JSON-RPC
//! error -32020 (HeaderMismatch). Values may use the `=?base64?...?=` sentinel for text
//! that cannot travel as a plain header value; it is decoded before comparing.
//!
//! `Mcp-Param-{Name}` headers (a tool declares `"x-mcp-header": "Name"` on a property of
//! its `inputSchema`; the client mirrors that argument of a `tools/call`) are checked too,
//! see [`check_params`].

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
    /// Every `Mcp-Param-{Name}` header: `Name` (as sent) and the raw value, in order.
    pub params: Vec<(String, String)>,
    /// `Mcp-Method`, `Mcp-Name` or `MCP-Protocol-Version` arrived more than once (an
    /// intermediary may read either copy): refused.
    pub repeated: Option<&'static str>,
}

/// The prefix of the headers that mirror tool arguments (`Mcp-Param-{Name}`), lowercase.
pub const PARAM_HEADER_PREFIX: &str = "mcp-param-";

impl MirrorHeaders {
    /// Collect the mirrored headers from a request's header list (names in any case).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> MirrorHeaders {
        let mut out = MirrorHeaders::default();
        for (name, value) in pairs {
            let lower = name.to_ascii_lowercase();
            let (slot, label) = match lower.as_str() {
                "mcp-method" => (&mut out.method, "Mcp-Method"),
                "mcp-name" => (&mut out.name, "Mcp-Name"),
                "mcp-protocol-version" => (&mut out.protocol_version, "MCP-Protocol-Version"),
                _ => {
                    if lower.starts_with(PARAM_HEADER_PREFIX) {
                        let suffix = name.get(PARAM_HEADER_PREFIX.len()..).unwrap_or_default();
                        out.params.push((suffix.to_string(), value.to_string()));
                    }
                    continue;
                }
            };
            if slot.replace(value.to_string()).is_some() {
                out.repeated = Some(label);
            }
        }
        out
    }
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

impl MirrorHeaders {
    /// Whether [`check`] has anything to compare: a mirror header, a repeated one, or a
    /// declared revision that requires them. When not, a filter need not parse the body.
    pub fn needs_body(&self) -> bool {
        self.method.is_some()
            || self.name.is_some()
            || !self.params.is_empty()
            || self.repeated.is_some()
            || self.requires_mirroring()
    }

    fn requires_mirroring(&self) -> bool {
        self.protocol_version
            .as_deref()
            .is_some_and(|v| v.trim() >= MIRRORING_REVISION)
    }
}

/// Check the mirrored headers against the body they travel with.
pub fn check(headers: &MirrorHeaders, payload: &Payload) -> Result<(), Denial> {
    let requires = headers.requires_mirroring();
    if let Some(label) = headers.repeated {
        return Err(mismatch(label));
    }
    if !headers.needs_body() {
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
        (Some(h), Some(b)) if h.trim() != b => return Err(mismatch("MCP-Protocol-Version")),
        _ => {}
    }
    let arguments = match request.mcp_method() {
        Method::ToolsCall => params.and_then(|p| p.get("arguments")),
        _ => None,
    };
    check_params(&headers.params, arguments)
}

/// Check every `Mcp-Param-{Name}` header the client sent against the `tools/call` body.
///
/// The 2026-07-28 revision lets a tool mark an `inputSchema` property with
/// `"x-mcp-header": "Name"`; the client then mirrors that argument into `Mcp-Param-Name`
/// (string as is, integer and number in JSON's decimal form, boolean `true`/`false`; the
/// `=?base64?...?=` sentinel for what cannot travel as a plain value; no header for a null
/// or absent argument), and a server that reads the body must refuse a mismatch (-32020).
///
/// Which argument a header mirrors is written in the tool's schema, which a filter does not
/// see on a call (the schema travels in an earlier `tools/list` answer, possibly through
/// another replica). So a filter checks whatever `Mcp-Param-*` headers are present against
/// the argument *of the header's name* (top-level `params.arguments`, name compared
/// ignoring ASCII case, as header names are), and refuses, fail closed:
/// - a value that differs from the argument's rendering;
/// - a header whose argument is absent, null, an object or an array, a header on any
///   method but `tools/call`, and a name sent twice.
///
/// This is the guarantee routing needs: whoever authorises or routes on `Mcp-Param-Region`
/// sees the value the tool reads as `region`. The cost is that a tool whose `x-mcp-header`
/// name differs from its property name (`"tenant_id"` mirrored as `Mcp-Param-Tenant`), or
/// that mirrors a nested property, cannot be called through meshguard with that header:
/// the filter cannot prove such a header honest without the schema, and an unprovable
/// routing header is exactly what the check exists to stop. Headers a client omits are not
/// required here (the tool server, which knows its schema, requires them).
pub fn check_params(params: &[(String, String)], arguments: Option<&Value>) -> Result<(), Denial> {
    for (i, (name, raw)) in params.iter().enumerate() {
        if params[..i]
            .iter()
            .any(|(other, _)| other.eq_ignore_ascii_case(name))
        {
            return Err(mismatch("Mcp-Param-*"));
        }
        let argument = arguments
            .and_then(Value::as_object)
            .and_then(|args| {
                let mut named = args.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
                match (named.next(), named.next()) {
                    (Some((_, v)), None) => Some(v),
                    // Two arguments answer to one header name: which one is mirrored is
                    // the schema's secret; refuse rather than guess.
                    _ => None,
                }
            })
            .and_then(param_text);
        match (header_text(raw), argument) {
            (Some(h), Some(b)) if h == b => {}
            _ => return Err(mismatch("Mcp-Param-*")),
        }
    }
    Ok(())
}

/// An argument as a `Mcp-Param-*` header carries it: primitives only.
fn param_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
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
            params: Vec::new(),
            repeated: None,
        }
    }

    fn b64(text: &str) -> String {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    }

    const DEPLOY: &str = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"deploy","arguments":{"region":"us-west1","priority":42,"ratio":0.5,"dry_run":false,"note":" padded ","city":"Zürich","labels":{"a":"b"},"gone":null}}}"#;

    fn with_params(pairs: &[(&str, &str)]) -> MirrorHeaders {
        let mut all = vec![("Mcp-Method", "tools/call"), ("Mcp-Name", "deploy")];
        all.extend_from_slice(pairs);
        MirrorHeaders::from_pairs(all)
    }

    #[test]
    fn param_headers_equal_to_their_arguments_pass() {
        let p = call(DEPLOY);
        let padded = b64(" padded ");
        let city = b64("Zürich");
        for pairs in [
            vec![],
            vec![("Mcp-Param-Region", "us-west1")],
            // Header names are case-insensitive; so is the match to the argument.
            vec![("mcp-param-REGION", "us-west1")],
            vec![("Mcp-Param-Priority", "42"), ("Mcp-Param-Dry_Run", "false")],
            vec![("Mcp-Param-Ratio", "0.5")],
            vec![("Mcp-Param-Note", padded.as_str())],
            vec![("Mcp-Param-City", city.as_str())],
            vec![("Mcp-Param-Region", &b64("us-west1"))],
        ] {
            let h = with_params(&pairs);
            assert_eq!(h.params.len(), pairs.len());
            assert!(check(&h, &p).is_ok(), "{pairs:?}");
        }
    }

    #[test]
    fn param_headers_that_do_not_prove_their_argument_are_refused_with_32020() {
        let p = call(DEPLOY);
        for pairs in [
            // Another value, also hidden behind the sentinel or differing only in case.
            vec![("Mcp-Param-Region", "eu-west1")],
            vec![("Mcp-Param-Region", "US-WEST1")],
            vec![("Mcp-Param-Region", &b64("eu-west1"))],
            vec![("Mcp-Param-Region", "=?base64?not base64?=")],
            // Renderings the client would not produce.
            vec![("Mcp-Param-Priority", "42.0")],
            vec![("Mcp-Param-Dry_Run", "False")],
            vec![("Mcp-Param-Note", "padded")],
            // No such argument, a null one, a non-primitive one.
            vec![("Mcp-Param-Account", "work")],
            vec![("Mcp-Param-Gone", "null")],
            vec![("Mcp-Param-Labels", r#"{"a":"b"}"#)],
            // The same header twice (an intermediary may read either).
            vec![
                ("Mcp-Param-Region", "us-west1"),
                ("mcp-param-region", "eu-west1"),
            ],
            vec![
                ("Mcp-Param-Region", "us-west1"),
                ("Mcp-Param-Region", "us-west1"),
            ],
        ] {
            let d = check(&with_params(&pairs), &p).unwrap_err();
            assert_eq!(d.jsonrpc_code(), -32020, "{pairs:?}");
            assert_eq!(d.status, 400);
        }
        // On any other method there is no argument a header could mirror.
        let list = call(r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#);
        let h = MirrorHeaders::from_pairs([("Mcp-Param-Region", "us-west1")]);
        assert_eq!(check(&h, &list).unwrap_err().jsonrpc_code(), -32020);
        // Even without Mcp-Method or a declared revision: a lone Mcp-Param is checked.
        let h = MirrorHeaders::from_pairs([("Mcp-Param-Region", "eu-west1")]);
        assert!(check(&h, &p).is_err());
    }

    #[test]
    fn mirror_headers_are_collected_in_any_case() {
        let h = MirrorHeaders::from_pairs([
            ("MCP-METHOD", "tools/call"),
            ("mcp-name", "x"),
            ("Mcp-Protocol-Version", "2026-07-28"),
            ("content-type", "application/json"),
            ("Mcp-Param-Region", "us"),
            ("x-mcp-param-fake", "no"),
        ]);
        assert_eq!(h.method.as_deref(), Some("tools/call"));
        assert_eq!(h.name.as_deref(), Some("x"));
        assert_eq!(h.protocol_version.as_deref(), Some("2026-07-28"));
        assert_eq!(h.params, vec![("Region".to_string(), "us".to_string())]);
        assert_eq!(h.repeated, None);
        assert!(h.needs_body());
        assert!(!MirrorHeaders::from_pairs([("MCP-Protocol-Version", "2025-11-25")]).needs_body());
        assert!(MirrorHeaders::from_pairs([("MCP-Protocol-Version", "2026-07-28")]).needs_body());
        assert!(MirrorHeaders::from_pairs([("mcp-param-x", "1")]).needs_body());
        // A repeated singleton is refused even when both copies agree with the body.
        let p = call(ECHO);
        for name in ["Mcp-Method", "mcp-name", "MCP-Protocol-Version"] {
            let value = match name {
                "Mcp-Method" => "tools/call",
                "mcp-name" => "echo",
                _ => "2026-07-28",
            };
            let mut pairs = vec![
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "echo"),
                ("MCP-Protocol-Version", "2026-07-28"),
            ];
            assert!(check(&MirrorHeaders::from_pairs(pairs.clone()), &p).is_ok());
            pairs.push((name, value));
            let d = check(&MirrorHeaders::from_pairs(pairs), &p).unwrap_err();
            assert_eq!(d.jsonrpc_code(), -32020, "{name}");
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
