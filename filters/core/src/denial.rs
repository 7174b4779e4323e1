//! The one denial format every meshguard filter answers with.
//!
//! An MCP client must be able to tell a policy decision from a transport failure and act on
//! it, so a denial is always an HTTP status plus a JSON-RPC error object that echoes the
//! request id and carries a stable control id (which seed control fired) and a
//! machine-readable reason. Operators grep the same two fields in logs and stats.

use crate::config::ConfigError;
use serde::Deserialize;
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

    /// A policy control: its denials are decisions about what the request asks for, not
    /// about who sent it (authentication, audience, session) or whether it could be read.
    pub fn is_policy(self) -> bool {
        matches!(
            self,
            Control::Mcp01
                | Control::Mcp03
                | Control::Mcp04
                | Control::Mcp08
                | Control::Mcp09
                | Control::Mcp11
                | Control::Mcp13
                | Control::Hitl
        )
    }
}

/// How a filter answers policy denials over HTTP (the reserved top-level `denials` member of
/// every filter's plugin configuration, see [`split_config`]).
///
/// MCP clients read a JSON-RPC error only from a 2xx answer: the TypeScript SDK turns any
/// other status into an opaque transport error without `data`, and the Inspector labels it
/// `auth_required`. So by default a policy denial (MCP-01/03/04/08/09/11/13, HITL, rate
/// limits) is HTTP 200 carrying the JSON-RPC error; authentication and authorization
/// challenges (401/403 with `WWW-Authenticate`, MCP-02, MCP-18) and protocol refusals keep
/// their status, as the MCP authorization spec requires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyStatus {
    /// HTTP 200 with the JSON-RPC error (readable by every MCP SDK).
    #[default]
    Jsonrpc,
    /// The denial's own HTTP status (403, 429), for non-MCP HTTP clients.
    Http,
}

/// The `denials` member of a plugin configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenialConfig {
    /// How policy denials are answered (`jsonrpc`: HTTP 200, `http`: 403/429).
    #[serde(default)]
    pub policy_status: PolicyStatus,
}

/// Split the reserved `denials` member off a plugin configuration: the rest is the filter's
/// own configuration (parsed strictly by its type), `denials` is parsed strictly here, so an
/// error names `denials.<field>`. Bytes that are not a JSON object are returned unchanged for
/// the filter's parser to refuse with its own message.
pub fn split_config(bytes: &[u8]) -> Result<(Vec<u8>, DenialConfig), ConfigError> {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(bytes) else {
        return Ok((bytes.to_vec(), DenialConfig::default()));
    };
    let Some(denials) = map.remove("denials") else {
        return Ok((bytes.to_vec(), DenialConfig::default()));
    };
    let config: DenialConfig = serde_path_to_error::deserialize(denials).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "denials".to_string()
        } else {
            format!("denials.{path}")
        };
        ConfigError::invalid(field, e.inner().to_string())
    })?;
    Ok((Value::Object(map).to_string().into_bytes(), config))
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
    /// Extra auth-params of the 401 `WWW-Authenticate` challenge (`resource_metadata`,
    /// `scope`: RFC 9728 section 5.1), in order; values are quoted when sent. Boxed: most
    /// denials have none, and `Result<_, Denial>` stays small.
    pub challenge: Option<Box<ChallengeParams>>,
}

/// Auth-params added to a `WWW-Authenticate` challenge, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChallengeParams(pub Vec<(&'static str, String)>);

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
            challenge: None,
        }
    }

    /// The same denial with one more auth-param in its `WWW-Authenticate` challenge.
    pub fn with_challenge(mut self, param: &'static str, value: impl Into<String>) -> Self {
        self.challenge
            .get_or_insert_with(Box::default)
            .0
            .push((param, value.into()));
        self
    }

    /// The challenge's extra auth-params (empty when none).
    pub fn challenge_params(&self) -> &[(&'static str, String)] {
        self.challenge.as_deref().map_or(&[], |c| c.0.as_slice())
    }

    /// A policy denial (see [`Control::is_policy`]; rate limits, 429, are one whatever
    /// their control): refused for what was asked, by a rule the client can act on.
    pub fn is_policy(&self) -> bool {
        self.status == 429 || (self.status == 403 && self.control.is_policy())
    }

    /// The HTTP status to answer with under `mode`: 200 for a policy denial in
    /// [`PolicyStatus::Jsonrpc`] mode that answers a known request id, the denial's own
    /// status otherwise. An SDK matches a 200's JSON-RPC error to its request by id; one with
    /// a null id (decided on the headers, before the body was read) would leave the request
    /// waiting, so it keeps its 403/429 and fails at once.
    pub fn http_status(&self, mode: PolicyStatus) -> u16 {
        match mode {
            PolicyStatus::Jsonrpc if self.is_policy() && !self.id.is_null() => 200,
            _ => self.status,
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
    /// `WWW-Authenticate` challenge on 401 as RFC 6750 asks: with no error code when the
    /// request carried no credentials (RFC 6750 section 3.1), then the extra auth-params;
    /// and on 403 `insufficient_scope` (RFC 6750 section 3.1, MCP's scope step-up).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("content-type", "application/json".to_string()),
            ("x-meshguard-control", self.control.as_str().to_string()),
            ("x-meshguard-reason", self.reason.to_string()),
        ];
        if let Some(seconds) = self.data.get("retry_after").and_then(Value::as_u64) {
            headers.push(("retry-after", seconds.to_string()));
        }
        let insufficient_scope = self.status == 403 && self.reason == "insufficient_scope";
        if self.status == 401 || insufficient_scope {
            let mut params = Vec::new();
            if insufficient_scope {
                params.push("error=\"insufficient_scope\"".to_string());
            } else if self.reason != "missing_token" {
                params.push("error=\"invalid_token\"".to_string());
                params.push(format!("error_description=\"{}\"", quoted(&self.reason)));
            }
            for (name, value) in self.challenge_params() {
                params.push(format!("{name}=\"{}\"", quoted(value)));
            }
            let challenge = if params.is_empty() {
                "Bearer".to_string()
            } else {
                format!("Bearer {}", params.join(", "))
            };
            headers.push(("www-authenticate", challenge));
        }
        headers
    }
}

/// A value safe inside an RFC 7235 quoted-string: quotes and backslashes escaped, control
/// characters dropped (values come from configuration, never from the request).
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
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
    fn no_credentials_get_a_challenge_without_error_code() {
        let d = Denial::new(
            401,
            Control::Mcp02,
            "missing_token",
            "a bearer token is required",
        )
        .with_challenge(
            "resource_metadata",
            "https://gw/.well-known/oauth-protected-resource",
        )
        .with_challenge("scope", "openid mcp");
        let h = d.headers();
        let (_, challenge) = h.iter().find(|(k, _)| *k == "www-authenticate").unwrap();
        assert_eq!(
            challenge,
            "Bearer resource_metadata=\"https://gw/.well-known/oauth-protected-resource\", scope=\"openid mcp\""
        );
        let bare = Denial::new(401, Control::Mcp02, "missing_token", "x").headers();
        assert!(bare.contains(&("www-authenticate", "Bearer".to_string())));
        let bad = Denial::new(401, Control::Mcp02, "bad_signature", "x")
            .with_challenge("resource_metadata", "u\"v");
        let h = bad.headers();
        let (_, challenge) = h.iter().find(|(k, _)| *k == "www-authenticate").unwrap();
        assert_eq!(
            challenge,
            "Bearer error=\"invalid_token\", error_description=\"bad_signature\", resource_metadata=\"u\\\"v\""
        );
    }

    #[test]
    fn policy_denials_are_http_200_by_default_challenges_keep_their_status() {
        let policy = [
            (403, Control::Mcp01),
            (403, Control::Mcp03),
            (403, Control::Mcp04),
            (403, Control::Mcp08),
            (403, Control::Mcp09),
            (403, Control::Mcp11),
            (403, Control::Mcp13),
            (403, Control::Hitl),
            (429, Control::Mcp03),
        ];
        for (status, control) in policy {
            let d = Denial::new(status, control, "r", "m");
            // No request id to answer: the real status (an SDK could not match a 200).
            assert_eq!(
                d.http_status(PolicyStatus::default()),
                status,
                "{control:?}"
            );
            let d = d.with_id(json!(7));
            assert_eq!(d.http_status(PolicyStatus::default()), 200, "{control:?}");
            assert_eq!(d.http_status(PolicyStatus::Http), status, "{control:?}");
            // The JSON-RPC code still says what happened.
            assert_eq!(d.to_jsonrpc()["error"]["code"], d.jsonrpc_code());
        }
        let kept = [
            (401, Control::Mcp02),
            (403, Control::Mcp02),
            (403, Control::Mcp18),
            (400, Control::Protocol),
            (403, Control::Protocol),
            (413, Control::Mcp01),
            (503, Control::Hitl),
            (500, Control::Mcp04),
        ];
        for (status, control) in kept {
            let d = Denial::new(status, control, "r", "m").with_id(json!(7));
            assert_eq!(d.http_status(PolicyStatus::Jsonrpc), status, "{control:?}");
        }
    }

    #[test]
    fn denials_member_is_split_off_and_parsed_strictly() {
        let (rest, c) = split_config(br#"{"a":1,"denials":{"policy_status":"http"}}"#).unwrap();
        assert_eq!(c.policy_status, PolicyStatus::Http);
        assert_eq!(
            serde_json::from_slice::<Value>(&rest).unwrap(),
            json!({"a": 1})
        );
        let (rest, c) = split_config(br#"{"a":1}"#).unwrap();
        assert_eq!(c.policy_status, PolicyStatus::Jsonrpc);
        assert_eq!(rest, br#"{"a":1}"#);
        let e = split_config(br#"{"denials":{"policy_status":"403"}}"#).unwrap_err();
        assert_eq!(e.field, "denials.policy_status");
        let e = split_config(br#"{"denials":{"status":"http"}}"#).unwrap_err();
        assert_eq!(e.field, "denials.status");
        assert!(e.reason.contains("unknown field `status`"), "{e}");
        // Not an object: left for the filter's parser to refuse.
        assert_eq!(split_config(b"[1]").unwrap().0, b"[1]");
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
