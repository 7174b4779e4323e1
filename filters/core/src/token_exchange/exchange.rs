//! The exchange decisions, free of proxy-wasm: which target a request is for, and what to
//! mint for a verified caller, or why not.

use super::config::{AgentRoute, Config, ToolRoute};
use super::policy;
use super::refusal::Refusal;
use crate::denial::Denial;
use crate::jwt::{Actor, Claims, MintRequest};

/// What a request path addresses.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The gateway's public JWKS.
    Jwks,
    /// A new session id for the authenticated user.
    NewSession,
    Agent(&'a AgentRoute),
    Tool(&'a ToolRoute),
}

impl Config {
    /// The target of a request path; `None` means no route (denied: fail closed).
    pub fn target(&self, path: &str) -> Option<Target<'_>> {
        let path = path.split('?').next().unwrap_or("");
        if path == self.minter.jwks_path {
            return Some(Target::Jwks);
        }
        if path == self.session_path {
            return Some(Target::NewSession);
        }
        if let Some(a) = self
            .agents
            .iter()
            .find(|a| path.starts_with(&a.path_prefix))
        {
            return Some(Target::Agent(a));
        }
        self.tools
            .iter()
            .find(|t| path.starts_with(&t.path_prefix))
            .map(Target::Tool)
    }
}

/// Flow 1: what to mint for a verified user driving `agent` in session `sid` (already
/// verified to belong to the user).
pub fn agent_mint_request(
    config: &Config,
    user: &Claims,
    agent: &AgentRoute,
    sid: &str,
) -> Result<MintRequest, Denial> {
    let subject = subject(user)?;
    let team_ok = user
        .team
        .as_deref()
        .is_some_and(|t| agent.teams.iter().any(|x| x == t));
    if !team_ok {
        return Err(Refusal::TeamNotAllowed { agent: &agent.id }.into());
    }
    Ok(MintRequest {
        subject,
        audience: agent.id.clone(),
        team: user.team.clone(),
        role: user.role.clone(),
        sid: Some(sid.to_string()),
        tool: None,
        agent: Some(agent.id.clone()),
        binding: Some(agent.spiffe.clone()),
        act: Some(Actor::chain(config.minter.issuer.clone(), None)),
        ttl_seconds: config.agent_token_ttl_seconds,
    })
}

/// Flow 2: what to mint for a verified agent token (already checked against the mTLS
/// peer) calling `tool_name` (None for methods naming no tool) on `tool`.
pub fn tool_mint_request(
    config: &Config,
    agent_token: &Claims,
    tool: &ToolRoute,
    tool_name: Option<&str>,
) -> Result<MintRequest, Denial> {
    let subject = subject(agent_token)?;
    let team = agent_token.team.as_deref();
    let role = agent_token.role.as_deref();
    if !policy::allowed(&tool.allow, team, role, tool_name) {
        return Err(Refusal::ToolNotAllowed { server: &tool.id }.into());
    }
    let agent = agent_token
        .agent
        .clone()
        .or_else(|| agent_token.aud.first().cloned());
    let prior = agent.clone().map(|a| Actor::chain(a, None));
    Ok(MintRequest {
        subject,
        audience: tool.id.clone(),
        team: agent_token.team.clone(),
        role: agent_token.role.clone(),
        sid: agent_token.sid.clone(),
        tool: tool_name.map(str::to_string),
        agent,
        binding: config.gateway_spiffe.clone(),
        act: Some(Actor::chain(config.minter.issuer.clone(), prior)),
        ttl_seconds: config.minter.ttl_seconds,
    })
}

fn subject(claims: &Claims) -> Result<String, Denial> {
    claims
        .sub
        .clone()
        .ok_or_else(|| Refusal::MissingSubject.into())
}

/// The one tool a request's `tools/call` messages name; a batch naming several tools is
/// refused because one tool token names exactly one tool.
pub fn single_tool<'a>(names: &[&'a str]) -> Result<Option<&'a str>, Denial> {
    match names {
        [] => Ok(None),
        [first, rest @ ..] if rest.iter().all(|n| n == first) => Ok(Some(first)),
        _ => Err(Refusal::BatchMixedTools.into()),
    }
}

/// MCP-18: the session id a request names must be the one its token carries.
pub fn session_matches(token_sid: Option<&str>, header: Option<&str>) -> Result<(), Denial> {
    match (token_sid, header) {
        (_, None) => Ok(()),
        (Some(t), Some(h)) if t == h => Ok(()),
        _ => Err(Refusal::SessionMismatch.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::denial::Control;
    use serde_json::json;

    fn config() -> Config {
        let c = json!({
            "user_tokens": {"issuer": "https://idp", "audiences": ["meshguard"], "algorithms": ["ES256"],
                            "jwks": {"remote": {"uri": "http://idp/jwks.json", "cluster": "idp"}}},
            "minter": {"issuer": "meshguard-gateway", "ttl_seconds": 60,
                       "signing_keys_env": "K", "session_keys_env": "S"},
            "gateway_spiffe": "spiffe://cluster.local/ns/mesh-gateway/sa/gateway",
            "agents": [{"id": "sre-agent", "path_prefix": "/agents/sre-agent/",
                        "spiffe": "spiffe://cluster.local/ns/agents-sre/sa/sre-agent", "teams": ["sre"]}],
            "tools": [{"id": "mcp-github", "path_prefix": "/tools/mcp-github/",
                       "allow": [{"teams": ["sre"], "roles": ["operator"], "tools": ["get_issue"]}]}]
        });
        match parse::<Config>(c.to_string().as_bytes()) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn claims(team: &str, role: &str) -> Claims {
        Claims {
            sub: Some("alice".into()),
            team: Some(team.into()),
            role: Some(role.into()),
            sid: Some("s1".into()),
            agent: Some("sre-agent".into()),
            ..Claims::default()
        }
    }

    #[test]
    fn routes_by_path() {
        let c = config();
        assert!(
            matches!(c.target("/agents/sre-agent/mcp"), Some(Target::Agent(a)) if a.id == "sre-agent")
        );
        assert!(
            matches!(c.target("/tools/mcp-github/mcp?x=1"), Some(Target::Tool(t)) if t.id == "mcp-github")
        );
        assert!(matches!(
            c.target("/.well-known/jwks.json"),
            Some(Target::Jwks)
        ));
        assert!(matches!(
            c.target("/meshguard/session"),
            Some(Target::NewSession)
        ));
        assert!(c.target("/tools/mcp-payroll/mcp").is_none());
    }

    #[test]
    fn agent_token_is_bound_to_the_agent_workload() {
        let c = config();
        let Some(Target::Agent(agent)) = c.target("/agents/sre-agent/") else {
            panic!()
        };
        let req = agent_mint_request(&c, &claims("sre", "operator"), agent, "s1").unwrap();
        assert_eq!(req.audience, "sre-agent");
        assert_eq!(
            req.binding.as_deref(),
            Some("spiffe://cluster.local/ns/agents-sre/sa/sre-agent")
        );
        assert_eq!(req.sid.as_deref(), Some("s1"));
        assert_eq!(req.act.unwrap().sub, "meshguard-gateway");
        let d = agent_mint_request(&c, &claims("security", "operator"), agent, "s1").unwrap_err();
        assert_eq!((d.status, d.reason.as_ref()), (403, "team_not_allowed"));
    }

    #[test]
    fn tool_token_names_tool_and_act_chain() {
        let c = config();
        let Some(Target::Tool(tool)) = c.target("/tools/mcp-github/") else {
            panic!()
        };
        let req =
            tool_mint_request(&c, &claims("sre", "operator"), tool, Some("get_issue")).unwrap();
        assert_eq!(req.audience, "mcp-github");
        assert_eq!(req.tool.as_deref(), Some("get_issue"));
        let act = req.act.unwrap();
        assert_eq!(act.subjects(), vec!["meshguard-gateway", "sre-agent"]);
        assert_eq!(
            req.binding.as_deref(),
            Some("spiffe://cluster.local/ns/mesh-gateway/sa/gateway")
        );
        for (team, role, name) in [
            ("security", "operator", "get_issue"),
            ("sre", "viewer", "get_issue"),
            ("sre", "operator", "delete_repo"),
        ] {
            let d = tool_mint_request(&c, &claims(team, role), tool, Some(name)).unwrap_err();
            assert_eq!(d.reason, "tool_not_allowed", "{team} {role} {name}");
        }
    }

    #[test]
    fn batches_name_one_tool() {
        assert_eq!(single_tool(&[]).unwrap(), None);
        assert_eq!(single_tool(&["a", "a"]).unwrap(), Some("a"));
        assert_eq!(
            single_tool(&["a", "b"]).unwrap_err().reason,
            "batch_mixed_tools"
        );
    }

    #[test]
    fn session_header_must_match_token() {
        assert!(session_matches(Some("s1"), None).is_ok());
        assert!(session_matches(Some("s1"), Some("s1")).is_ok());
        assert_eq!(
            session_matches(Some("s1"), Some("s2")).unwrap_err().reason,
            "session_mismatch"
        );
        assert_eq!(
            session_matches(None, Some("s2")).unwrap_err().control,
            Control::Mcp18
        );
    }

    #[test]
    fn config_errors_name_nested_fields() {
        let bad = json!({
            "user_tokens": {"issuer": "", "audiences": ["m"], "algorithms": ["ES256"], "jwks": {"remote": {"uri": "http://idp/jwks.json", "cluster": "idp"}}},
            "minter": {"issuer": "g", "signing_keys_env": "K", "session_keys_env": "S"},
            "tools": [{"id": "t", "path_prefix": "/t/", "allow": []}]
        });
        let e = parse::<Config>(bad.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.field, "user_tokens.issuer");
    }
}
