//! JSON-RPC 2.0 parsing, strict enough to police and lenient nowhere an attacker could hide.
//!
//! A body is a single message or a batch. Every message must say `"jsonrpc": "2.0"`; ids must
//! be strings, numbers or null; a request's `params` must be structured (object or array).
//! A message that fits none of the shapes is refused rather than guessed at.

use serde_json::{Map, Value};
use std::fmt;

/// A JSON-RPC request or notification (a notification has no `id`).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `None` for a notification; `Some(Value::Null)` is a request whose id is null.
    pub id: Option<Value>,
    pub method: String,
    pub params: Option<Value>,
}

/// A JSON-RPC response: a `result` or an `error`, never both.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: Value,
    pub outcome: Result<Value, Value>,
}

/// One JSON-RPC message of either direction.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// A whole HTTP body: one message or a batch of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Single(Message),
    Batch(Vec<Message>),
}

/// Why a body is not acceptable JSON-RPC; `reason()` is stable and machine-readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON at all (JSON-RPC -32700).
    InvalidJson(String),
    /// JSON that readers read differently: duplicate or case-variant keys (-32600).
    Ambiguous(crate::json::StrictError),
    /// JSON, but not a JSON-RPC 2.0 message (JSON-RPC -32600).
    InvalidMessage(&'static str),
}

impl ParseError {
    /// Stable machine-readable reason for denials and stats.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::InvalidJson(_) => "invalid_json",
            ParseError::Ambiguous(e) => e.reason(),
            ParseError::InvalidMessage(r) => r,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::InvalidJson(e) => write!(f, "body is not valid JSON: {e}"),
            ParseError::Ambiguous(e) => write!(f, "body is ambiguous JSON: {e}"),
            ParseError::InvalidMessage(r) => write!(f, "body is not a JSON-RPC 2.0 message: {r}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parse an HTTP body as a JSON-RPC payload with the strict reader ([`crate::json`]):
/// duplicate and case-variant keys are refused, so every hop reads what the tool will read.
pub fn parse_payload(body: &[u8]) -> Result<Payload, ParseError> {
    let value = crate::json::parse_message(body).map_err(|e| match e {
        crate::json::StrictError::Syntax(s) => ParseError::InvalidJson(s),
        ambiguous => ParseError::Ambiguous(ambiguous),
    })?;
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ParseError::InvalidMessage("empty_batch"));
            }
            let messages = items
                .into_iter()
                .map(message_from_value)
                .collect::<Result<_, _>>()?;
            Ok(Payload::Batch(messages))
        }
        other => message_from_value(other).map(Payload::Single),
    }
}

/// Interpret one JSON value as a JSON-RPC message.
pub fn message_from_value(value: Value) -> Result<Message, ParseError> {
    let Value::Object(mut obj) = value else {
        return Err(ParseError::InvalidMessage("not_an_object"));
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(ParseError::InvalidMessage("not_jsonrpc_2_0"));
    }
    let id = obj.remove("id");
    if let Some(id) = &id {
        if !(id.is_string() || id.is_number() || id.is_null()) {
            return Err(ParseError::InvalidMessage("invalid_id"));
        }
    }
    if let Some(method) = obj.remove("method") {
        return request_from_parts(id, method, obj);
    }
    response_from_parts(id, obj)
}

fn request_from_parts(
    id: Option<Value>,
    method: Value,
    mut obj: Map<String, Value>,
) -> Result<Message, ParseError> {
    let Value::String(method) = method else {
        return Err(ParseError::InvalidMessage("method_not_a_string"));
    };
    if obj.contains_key("result") || obj.contains_key("error") {
        return Err(ParseError::InvalidMessage("request_with_result"));
    }
    let params = obj.remove("params");
    if let Some(p) = &params {
        if !(p.is_object() || p.is_array()) {
            return Err(ParseError::InvalidMessage("params_not_structured"));
        }
    }
    Ok(Message::Request(Request { id, method, params }))
}

fn response_from_parts(
    id: Option<Value>,
    mut obj: Map<String, Value>,
) -> Result<Message, ParseError> {
    let id = id.ok_or(ParseError::InvalidMessage("missing_method_or_id"))?;
    let outcome = match (obj.remove("result"), obj.remove("error")) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) if error.is_object() => Err(error),
        (None, Some(_)) => return Err(ParseError::InvalidMessage("error_not_an_object")),
        (Some(_), Some(_)) => return Err(ParseError::InvalidMessage("result_and_error")),
        (None, None) => return Err(ParseError::InvalidMessage("missing_result_or_error")),
    };
    Ok(Message::Response(Response { id, outcome }))
}

impl Payload {
    /// Every message in the payload, batch or not.
    pub fn messages(&self) -> &[Message] {
        match self {
            Payload::Single(m) => std::slice::from_ref(m),
            Payload::Batch(ms) => ms,
        }
    }

    /// The id to answer a denial with: the first request's id, or null.
    pub fn reply_id(&self) -> Value {
        self.messages()
            .iter()
            .find_map(|m| match m {
                Message::Request(Request { id: Some(id), .. }) => Some(id.clone()),
                _ => None,
            })
            .unwrap_or(Value::Null)
    }
}

impl Request {
    /// A notification expects no response.
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }

    /// `params` as an object, when it is one.
    pub fn params_object(&self) -> Option<&Map<String, Value>> {
        self.params.as_ref().and_then(Value::as_object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(body: &str) -> Request {
        match parse_payload(body.as_bytes()).unwrap() {
            Payload::Single(Message::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn parses_request_with_string_id() {
        let r = req(r#"{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"name":"x"}}"#);
        assert_eq!(r.id, Some(json!("a-1")));
        assert_eq!(r.method, "tools/call");
        assert!(!r.is_notification());
    }

    #[test]
    fn parses_notification() {
        let r = req(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert!(r.is_notification());
        assert_eq!(r.params, None);
    }

    #[test]
    fn null_id_is_a_request_not_a_notification() {
        let r = req(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#);
        assert_eq!(r.id, Some(Value::Null));
    }

    #[test]
    fn parses_result_and_error_responses() {
        let p = parse_payload(br#"{"jsonrpc":"2.0","id":7,"result":{"ok":true}}"#).unwrap();
        assert!(matches!(
            p,
            Payload::Single(Message::Response(Response { outcome: Ok(_), .. }))
        ));
        let p =
            parse_payload(br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"no"}}"#)
                .unwrap();
        assert!(matches!(
            p,
            Payload::Single(Message::Response(Response {
                outcome: Err(_),
                ..
            }))
        ));
    }

    #[test]
    fn parses_batch_and_reply_id() {
        let p = parse_payload(
            br#"[{"jsonrpc":"2.0","method":"n"},{"jsonrpc":"2.0","id":3,"method":"tools/list"}]"#,
        )
        .unwrap();
        assert_eq!(p.messages().len(), 2);
        assert_eq!(p.reply_id(), json!(3));
    }

    #[test]
    fn refuses_malformed_messages() {
        let cases: &[(&str, &str)] = &[
            ("{", "invalid_json"),
            ("[]", "empty_batch"),
            ("42", "not_an_object"),
            (r#"{"id":1,"method":"x"}"#, "not_jsonrpc_2_0"),
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
                "not_jsonrpc_2_0",
            ),
            (r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#, "invalid_id"),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
                "method_not_a_string",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","params":"s"}"#,
                "params_not_structured",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","result":1}"#,
                "request_with_result",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#,
                "result_and_error",
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, "missing_result_or_error"),
            (r#"{"jsonrpc":"2.0","result":1}"#, "missing_method_or_id"),
            (
                r#"{"jsonrpc":"2.0","id":1,"error":"bad"}"#,
                "error_not_an_object",
            ),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"x"}, 5]"#,
                "not_an_object",
            ),
        ];
        for (body, reason) in cases {
            let e = parse_payload(body.as_bytes()).unwrap_err();
            assert_eq!(e.reason(), *reason, "body {body}");
        }
    }
}
