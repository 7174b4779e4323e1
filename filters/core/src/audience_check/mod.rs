//! Audience check at each tool sidecar (MCP-02, MCP-09).
//!
//! The tool's last lock: the token must have been minted by the gateway for this tool
//! server (`aud`), for the exact MCP tool being called (`tool` == `params.name`), presented
//! by the workload it is bound to, and the call's arguments must stay inside the caller's
//! team (team rules). Nothing else reaches the tool.

pub mod config;
pub mod team_rules;

pub use config::{Config, Protocol};
pub use team_rules::TeamRule;

use crate::denial::{Control, Denial};
use crate::jwt::Claims;
use crate::mcp::{Message, Payload};

/// Check every request in a verified caller's JSON-RPC payload: each `tools/call` must name
/// the token's tool and satisfy the team rules.
pub fn check_payload(config: &Config, claims: &Claims, payload: &Payload) -> Result<(), Denial> {
    for message in payload.messages() {
        let Message::Request(request) = message else {
            continue;
        };
        let call = request.named_call().map_err(|e| {
            Denial::new(
                400,
                Control::Protocol,
                e.reason(),
                "tools/call without a usable name",
            )
        })?;
        let Some(call) = call else { continue };
        if request.mcp_method() != crate::mcp::Method::ToolsCall {
            continue;
        }
        claims
            .require_tool(call.name)
            .map_err(|e| crate::identity::token_denial(&e))?;
        team_rules::check(&config.team_rules, claims, call.name, call.arguments)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::mcp::parse_payload;
    use serde_json::json;

    fn config() -> Config {
        let c = json!({
            "tokens": {"issuer": "meshguard-gateway", "audiences": ["mcp-github"], "algorithms": ["ES256"],
                       "jwks": {"remote": {"uri": "http://idp/jwks.json", "cluster": "idp"}}},
            "team_rules": [{"tool": "*", "argument": "repo", "pattern": "org-{team}/*"}]
        });
        parse::<Config>(c.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn claims(tool: Option<&str>) -> Claims {
        Claims {
            sub: Some("alice".into()),
            team: Some("sre".into()),
            tool: tool.map(Into::into),
            ..Claims::default()
        }
    }

    fn payload(v: serde_json::Value) -> Payload {
        parse_payload(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn tool_name_must_match_token() {
        let c = config();
        let call = |name: &str| {
            payload(
                json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":name,"arguments":{"repo":"org-sre/api"}}}),
            )
        };
        assert!(check_payload(&c, &claims(Some("get_issue")), &call("get_issue")).is_ok());
        let d = check_payload(&c, &claims(Some("get_issue")), &call("delete_repo")).unwrap_err();
        assert_eq!((d.status, d.reason.as_ref()), (403, "tool_mismatch"));
        let d = check_payload(&c, &claims(None), &call("get_issue")).unwrap_err();
        assert_eq!(d.reason, "missing_claim");
    }

    #[test]
    fn http_protocol_refuses_team_rules() {
        let c = json!({
            "tokens": {"issuer": "meshguard-gateway", "audiences": ["memory"], "algorithms": ["ES256"],
                       "jwks": {"remote": {"uri": "http://idp/jwks.json", "cluster": "idp"}}},
            "protocol": "http",
            "team_rules": [{"tool": "*", "argument": "repo", "pattern": "org-{team}/*"}]
        });
        let e = parse::<Config>(c.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.field, "team_rules");
        let mut c = c;
        c["team_rules"] = json!([]);
        let ok = parse::<Config>(c.to_string().as_bytes()).unwrap();
        assert_eq!(ok.protocol, Protocol::Http);
        assert_eq!(config().protocol, Protocol::Mcp);
    }

    #[test]
    fn non_call_methods_pass_and_batches_are_checked_whole() {
        let c = config();
        let list = payload(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}));
        assert!(check_payload(&c, &claims(None), &list).is_ok());
        let batch = payload(json!([
            {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","arguments":{"repo":"org-sre/a"}}},
            {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_issue","arguments":{"repo":"org-security/a"}}}
        ]));
        let d = check_payload(&c, &claims(Some("get_issue")), &batch).unwrap_err();
        assert_eq!(d.reason, "team_scope_violation");
    }
}
