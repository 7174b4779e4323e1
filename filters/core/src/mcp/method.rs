//! The MCP methods meshguard polices, and the `params.name` / `params.arguments` they carry.

use super::jsonrpc::Request;
use serde_json::{Map, Value};

/// MCP methods with security meaning; everything else is [`Method::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Initialize,
    ToolsList,
    ToolsCall,
    ResourcesRead,
    PromptsGet,
    /// `sampling/createMessage`: a server asking the client's model to generate text.
    SamplingCreateMessage,
    Other,
}

impl Method {
    /// Classify a JSON-RPC method name (exact, case-sensitive, as MCP specifies).
    pub fn from_name(name: &str) -> Self {
        match name {
            "initialize" => Method::Initialize,
            "tools/list" => Method::ToolsList,
            "tools/call" => Method::ToolsCall,
            "resources/read" => Method::ResourcesRead,
            "prompts/get" => Method::PromptsGet,
            "sampling/createMessage" => Method::SamplingCreateMessage,
            _ => Method::Other,
        }
    }
}

/// A call that names its target: `tools/call` (a tool) or `prompts/get` (a prompt).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedCall<'a> {
    pub name: &'a str,
    /// `params.arguments`; absent is the same as empty.
    pub arguments: Option<&'a Map<String, Value>>,
}

/// Why a named call's params cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedCallError {
    MissingName,
    ArgumentsNotAnObject,
}

impl NamedCallError {
    /// Stable machine-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            NamedCallError::MissingName => "missing_params_name",
            NamedCallError::ArgumentsNotAnObject => "arguments_not_an_object",
        }
    }
}

impl Request {
    /// The MCP method of this request.
    pub fn mcp_method(&self) -> Method {
        Method::from_name(&self.method)
    }

    /// `params.name` and `params.arguments` of a `tools/call` or `prompts/get`;
    /// `Ok(None)` for any other method.
    pub fn named_call(&self) -> Result<Option<NamedCall<'_>>, NamedCallError> {
        if !matches!(self.mcp_method(), Method::ToolsCall | Method::PromptsGet) {
            return Ok(None);
        }
        let params = self.params_object().ok_or(NamedCallError::MissingName)?;
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or(NamedCallError::MissingName)?;
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(NamedCallError::ArgumentsNotAnObject),
        };
        Ok(Some(NamedCall { name, arguments }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::jsonrpc::{parse_payload, Message, Payload};

    fn req(body: &str) -> Request {
        match parse_payload(body.as_bytes()).unwrap() {
            Payload::Single(Message::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn classifies_methods() {
        assert_eq!(Method::from_name("tools/call"), Method::ToolsCall);
        assert_eq!(Method::from_name("tools/list"), Method::ToolsList);
        assert_eq!(Method::from_name("initialize"), Method::Initialize);
        assert_eq!(Method::from_name("resources/read"), Method::ResourcesRead);
        assert_eq!(Method::from_name("prompts/get"), Method::PromptsGet);
        assert_eq!(
            Method::from_name("sampling/createMessage"),
            Method::SamplingCreateMessage
        );
        assert_eq!(Method::from_name("Tools/Call"), Method::Other);
    }

    #[test]
    fn extracts_tool_name_and_arguments() {
        let r = req(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","arguments":{"repo":"org-sre/api"}}}"#,
        );
        let call = r.named_call().unwrap().unwrap();
        assert_eq!(call.name, "get_issue");
        assert_eq!(call.arguments.unwrap()["repo"], "org-sre/api");
    }

    #[test]
    fn prompts_get_is_a_named_call() {
        let r = req(r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}"#);
        assert_eq!(r.named_call().unwrap().unwrap().arguments, None);
    }

    #[test]
    fn other_methods_have_no_named_call() {
        let r = req(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        assert_eq!(r.named_call(), Ok(None));
    }

    #[test]
    fn refuses_calls_without_a_usable_name_or_arguments() {
        let r = req(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#);
        assert_eq!(r.named_call(), Err(NamedCallError::MissingName));
        let r = req(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#);
        assert_eq!(r.named_call(), Err(NamedCallError::MissingName));
        let r = req(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#,
        );
        assert_eq!(r.named_call(), Err(NamedCallError::ArgumentsNotAnObject));
    }
}
