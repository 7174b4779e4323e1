//! The one denial format every meshguard filter answers with.
//!
//! An MCP client must be able to tell a policy decision from a transport failure and act on
//! it, so a denial is always an HTTP status plus a JSON-RPC error object that echoes the
//! request id and carries a stable control id (which seed control fired) and a
//! machine-readable reason. Operators grep the same two fields in logs and stats.

use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// The seeds' control identifiers; the string form is what clients and dashboards see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    /// Prompt injection filtering.
    Mcp01,
    /// Token minting and audience binding.
    Mcp02,
    /// Tool registry verification.
    Mcp03,
    /// PII and secret masking.
    Mcp04,
    /// SSRF and egress allow-listing.
    Mcp08,
    /// Context signing and team isolation.
    Mcp09,
    /// Cross-tenant memory isolation.
    Mcp11,
    /// Tool output sanitization.
    Mcp13,
    /// Session control.
    Mcp18,
    /// Human in the loop: a write/delete/admin tool call waits for a person's approval.
    Hitl,
    /// Malformed or uninspectable traffic: refused before any control can judge it.
    Protocol,
}

impl Control {
    /// The identifier as written in the seeds (`MCP-02`).
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Mcp01 => "MCP-01",
            Control::Mcp02 => "MCP-02",
            Control::Mcp03 => "MCP-03",
            Control::Mcp04 => "MCP-04",
            Control::Mcp08 => "MCP-08",
            Control::Mcp09 => "MCP-09",
            Control::Mcp11 => "MCP-11",
            Control::Mcp13 => "MCP-13",
            Control::Mcp18 => "MCP-18",
            Control::Hitl => "HITL",
            Control::Protocol => "PROTOCOL",
        }
    }
}

/// A decision to refuse a request or response, ready to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub status: u16,
    pub control: Control,
    /// Stable snake_case reason (`audience_mismatch`), also used as a stats tag.
    pub reason: Cow<'static, str>,
    /// Human-readable explanation; must never echo secrets from the request.
    pub message: Cow<'static, str>,
    /// The JSON-RPC id to echo (null when unknown).
    pub id: Value,
    /// Extra machine-readable members of `error.data` (e.g. the rule ids that fired), so
    /// clients and dashboards see why without parsing the message. Never request content.
    pub data: Map<String, Value>,
}

impl Denial {
    /// A denial with a null id; chain [`Denial::with_id`] once the request id is known.
    pub fn new(
        status: u16,
        control: Control,
        reason: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            control,
            reason: reason.into(),
            message: message.into(),
            id: Value::Null,
            data: Map::new(),
        }
    }

    /// The same denial with one more member in `error.data` (`control` and `reason` are
    /// reserved and cannot be overridden).
    pub fn with_data(mut self, key: &str, value: Value) -> Self {
        if key != "control" && key != "reason" {
            self.data.insert(key.to_string(), value);
        }
        self
    }

    /// The same denial answering the given JSON-RPC id.
    pub fn with_id(mut self, id: Value) -> Self {
        self.id = id;
        self
    }

    /// JSON-RPC error code for this denial; -32000..-32099 are server-defined.
    pub fn jsonrpc_code(&self) -> i64 {
        match (self.status, self.reason.as_ref()) {
            (_, "invalid_json") => -32700,
            (_, "header_mismatch") => -32020,
            (400, _) => -32600,
            (401, _) => -32001,
            (403, _) => -32003,
            (413, _) => -32013,
            (415, _) => -32015,
            (429, _) => -32029,
            _ => -32603,
        }
    }

    /// The JSON-RPC error object as a value (for embedding in SSE events or batches).
    pub fn to_jsonrpc(&self) -> Value {
        let mut data = self.data.clone();
        data.insert("control".into(), json!(self.control.as_str()));
        data.insert("reason".into(), json!(self.reason));
        json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {
                "code": self.jsonrpc_code(),
                "message": self.message,
                "data": data,
            }
        })
    }

    /// The HTTP response body.
    pub fn body(&self) -> Vec<u8> {
        self.to_jsonrpc().to_string().into_bytes()
    }

    /// Response headers: content type, the control and reason for log pipelines, a
    /// `Retry-After` when `data.retry_after` says when to retry (seconds), and a
    /// `WWW-Authenticate` challenge on 401 as RFC 6750 asks.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("content-type", "application/json".to_string()),
            ("x-meshguard-control", self.control.as_str().to_string()),
            ("x-meshguard-reason", self.reason.to_string()),
        ];
        if let Some(seconds) = self.data.get("retry_after").and_then(Value::as_u64) {
            headers.push(("retry-after", seconds.to_string()));
        }
        if self.status == 401 {
            headers.push((
                "www-authenticate",
                format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    self.reason
                ),
            ));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_a_jsonrpc_error_with_control_and_reason() {
        let d = Denial::new(
            403,
            Control::Mcp02,
            "audience_mismatch",
            "token is for another tool",
        )
        .with_id(json!(42));
        let v: Value = serde_json::from_slice(&d.body()).unwrap();
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["id"], 42);
        assert_eq!(v["error"]["code"], -32003);
        assert_eq!(v["error"]["data"]["control"], "MCP-02");
        assert_eq!(v["error"]["data"]["reason"], "audience_mismatch");
    }

    #[test]
    fn extra_data_is_merged_but_cannot_override_control_or_reason() {
        let d = Denial::new(403, Control::Mcp01, "prompt_injection", "blocked")
            .with_data("rules", json!(["io.ignore_previous"]))
            .with_data("reason", json!("spoofed"));
        let v = d.to_jsonrpc();
        assert_eq!(v["error"]["data"]["rules"][0], "io.ignore_previous");
        assert_eq!(v["error"]["data"]["reason"], "prompt_injection");
        assert_eq!(v["error"]["data"]["control"], "MCP-01");
    }

    #[test]
    fn unauthenticated_carries_a_challenge() {
        let d = Denial::new(401, Control::Mcp02, "token_expired", "expired");
        let h = d.headers();
        assert!(h
            .iter()
            .any(|(k, v)| *k == "www-authenticate" && v.contains("token_expired")));
        assert_eq!(d.jsonrpc_code(), -32001);
    }

    #[test]
    fn parse_errors_use_the_jsonrpc_parse_code() {
        let d = Denial::new(400, Control::Protocol, "invalid_json", "bad");
        assert_eq!(d.jsonrpc_code(), -32700);
        assert_eq!(
            Denial::new(400, Control::Protocol, "empty_batch", "x").jsonrpc_code(),
            -32600
        );
    }
}
