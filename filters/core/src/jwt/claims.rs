//! The claims meshguard reads from verified tokens and writes into minted ones.
//!
//! Layout of a meshguard token payload (every member but the registered ones is optional):
//!
//! ```json
//! {
//!   "iss": "https://gateway.mesh-gateway.svc", "sub": "alice", "aud": "mcp-github",
//!   "iat": 1700000000, "exp": 1700000060, "jti": "q0zX...",
//!   "team": "sre", "role": "operator", "sid": "AQE...", "tool": "create_issue",
//!   "agent": "sre-agent",
//!   "cnf": { "spiffe": "spiffe://cluster.local/ns/agents-sre/sa/sre-agent" },
//!   "act": { "sub": "meshguard-gateway", "act": { "sub": "sre-agent" } }
//! }
//! ```
//!
//! The workload binding is a confirmation claim (RFC 7800 `cnf`) with a `spiffe` member: the
//! token is usable only by the workload whose mTLS URI SAN equals it. `act` is the RFC 8693
//! delegation chain: the outermost actor is the current one (the gateway that minted the
//! token), nested ones are earlier actors (the agent it acted for).
//!
//! User OIDC tokens do not carry `team`/`role` under those names: a [`ClaimMapping`] says
//! which claim (a dotted path such as `realm_access.roles`) holds them and which values count.

use super::error::VerifyError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Deepest `act` chain accepted: user -> agent -> gateway needs two levels.
pub const MAX_ACT_DEPTH: usize = 8;

/// RFC 7800 confirmation: the workload the token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// SPIFFE id of the workload, compared with the mTLS peer URI SAN.
    pub spiffe: String,
}

/// One link of an RFC 8693 `act` chain: who acted, and on whose behalf before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The acting party (gateway id, agent id or SPIFFE id).
    pub sub: String,
    /// The earlier actor, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// A chain whose current actor is `sub`, preceded by `prior` (the chain the incoming token had).
    pub fn chain(sub: impl Into<String>, prior: Option<Actor>) -> Self {
        Self {
            sub: sub.into(),
            act: prior.map(Box::new),
        }
    }

    /// Number of links in the chain.
    pub fn depth(&self) -> usize {
        1 + self.act.as_ref().map_or(0, |a| a.depth())
    }

    /// The actors from current to oldest.
    pub fn subjects(&self) -> Vec<&str> {
        let mut out = vec![self.sub.as_str()];
        let mut next = self.act.as_deref();
        while let Some(a) = next {
            out.push(a.sub.as_str());
            next = a.act.as_deref();
        }
        out
    }
}

/// The claims of a verified token, as meshguard uses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// Issuer.
    pub iss: Option<String>,
    /// Subject: the user.
    pub sub: Option<String>,
    /// Audiences (`aud` as a string becomes one element).
    pub aud: Vec<String>,
    /// Expiry, unix seconds.
    pub exp: Option<u64>,
    /// Not-before, unix seconds.
    pub nbf: Option<u64>,
    /// Issued-at, unix seconds.
    pub iat: Option<u64>,
    /// Token id, for replay rejection.
    pub jti: Option<String>,
    /// The user's team (mapped for OIDC tokens).
    pub team: Option<String>,
    /// The user's role (mapped for OIDC tokens).
    pub role: Option<String>,
    /// Session id the gateway issued (MCP-18).
    pub sid: Option<String>,
    /// The exact MCP tool name a tool token is good for.
    pub tool: Option<String>,
    /// The agent id a token was minted for or through.
    pub agent: Option<String>,
    /// Workload binding.
    pub cnf: Option<Confirmation>,
    /// Delegation chain.
    pub act: Option<Actor>,
    /// OAuth scopes granted (`scope`, space-separated as RFC 8693/9068 write it, or `scp`
    /// as a list or string, as Okta and Entra write it).
    pub scope: Vec<String>,
}

impl Claims {
    /// The SPIFFE id the token is bound to, if any.
    pub fn binding(&self) -> Option<&str> {
        self.cnf.as_ref().map(|c| c.spiffe.as_str())
    }

    /// Refuse the token unless it is bound to exactly this peer identity. A token without a
    /// binding fails too: callers use this where binding is required.
    pub fn require_binding(&self, peer_spiffe: &str) -> Result<(), VerifyError> {
        match self.binding() {
            Some(b) if !peer_spiffe.is_empty() && b == peer_spiffe => Ok(()),
            Some(_) => Err(VerifyError::BindingMismatch),
            None => Err(VerifyError::MissingClaim("cnf")),
        }
    }

    /// Refuse the token unless it was minted for exactly this MCP tool name.
    pub fn require_tool(&self, tool: &str) -> Result<(), VerifyError> {
        match &self.tool {
            Some(t) if t == tool => Ok(()),
            Some(_) => Err(VerifyError::ToolMismatch),
            None => Err(VerifyError::MissingClaim("tool")),
        }
    }

    /// Parse a verified payload, mapping team/role per `mapping`. Wrong member types are
    /// `token_malformed`: a signed token with a numeric `sub` is still not one we understand.
    pub fn from_payload(payload: &[u8], mapping: &ClaimMapping) -> Result<Self, VerifyError> {
        // Strict: a claim given twice (`"team"` and `"team"` or `"Team"`) is refused, not
        // read last-wins as another verifier might read it first-wins.
        let Ok(Value::Object(map)) = crate::json::parse(payload) else {
            return Err(VerifyError::TokenMalformed);
        };
        let act = optional_actor(&map)?;
        Ok(Self {
            iss: string(&map, "iss")?,
            sub: string(&map, "sub")?,
            aud: audiences(map.get("aud"))?,
            exp: numeric_date(map.get("exp"))?,
            nbf: numeric_date(map.get("nbf"))?,
            iat: numeric_date(map.get("iat"))?,
            jti: string(&map, "jti")?,
            team: mapping.team.extract(&map, "team")?,
            role: mapping.role.extract(&map, "role")?,
            sid: string(&map, "sid")?,
            tool: string(&map, "tool")?,
            agent: string(&map, "agent")?,
            cnf: optional_cnf(&map)?,
            act,
            scope: scopes(&map)?,
        })
    }
}

/// The granted scopes: `scope` (a space-separated string) and `scp` (a list of strings or a
/// space-separated string); any other shape is malformed.
fn scopes(map: &Map<String, Value>) -> Result<Vec<String>, VerifyError> {
    let mut out = Vec::new();
    for name in ["scope", "scp"] {
        match map.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => out.extend(s.split_ascii_whitespace().map(str::to_string)),
            Some(Value::Array(items)) if name == "scp" => {
                for item in items {
                    let s = item.as_str().ok_or(VerifyError::TokenMalformed)?;
                    out.push(s.to_string());
                }
            }
            Some(_) => return Err(VerifyError::TokenMalformed),
        }
    }
    Ok(out)
}

fn string(map: &Map<String, Value>, name: &str) -> Result<Option<String>, VerifyError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(VerifyError::TokenMalformed),
    }
}

/// RFC 7519 NumericDate: non-negative seconds, possibly fractional (truncated).
fn numeric_date(value: Option<&Value>) -> Result<Option<u64>, VerifyError> {
    let Some(v) = value else { return Ok(None) };
    if let Some(n) = v.as_u64() {
        return Ok(Some(n));
    }
    match v.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(VerifyError::TokenMalformed),
    }
}

fn audiences(value: Option<&Value>) -> Result<Vec<String>, VerifyError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(VerifyError::TokenMalformed),
        Some(_) => Err(VerifyError::TokenMalformed),
    }
}

fn optional_cnf(map: &Map<String, Value>) -> Result<Option<Confirmation>, VerifyError> {
    let Some(cnf) = map.get("cnf") else {
        return Ok(None);
    };
    // Other confirmation methods (x5t#S256, jkt) may sit beside `spiffe`; we read only ours.
    match cnf.get("spiffe") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(Confirmation { spiffe: s.clone() })),
        Some(_) => Err(VerifyError::TokenMalformed),
    }
}

fn optional_actor(map: &Map<String, Value>) -> Result<Option<Actor>, VerifyError> {
    let Some(act) = map.get("act") else {
        return Ok(None);
    };
    let actor = parse_actor(act, 1)?;
    Ok(Some(actor))
}

fn parse_actor(value: &Value, depth: usize) -> Result<Actor, VerifyError> {
    if depth > MAX_ACT_DEPTH {
        return Err(VerifyError::TokenMalformed);
    }
    let obj = value.as_object().ok_or(VerifyError::TokenMalformed)?;
    let sub = string(obj, "sub")?.ok_or(VerifyError::TokenMalformed)?;
    let act = match obj.get("act") {
        None => None,
        Some(inner) => Some(Box::new(parse_actor(inner, depth + 1)?)),
    };
    Ok(Actor { sub, act })
}

/// Where one meshguard attribute (team or role) comes from in a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimSource {
    /// Dotted path of the claim (`groups`, `realm_access.roles`); `None` = the default name.
    pub claim: Option<String>,
    /// Values that count; others in an array claim are ignored. Empty = any value.
    pub allowed: Vec<String>,
}

/// How team and role are read from tokens (identity for meshguard's own tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimMapping {
    /// Source of `team`.
    pub team: ClaimSource,
    /// Source of `role`.
    pub role: ClaimSource,
}

impl ClaimSource {
    /// The attribute's value: a string claim as is; an array claim must hold exactly one
    /// allowed string (several are ambiguous: which team would the user act as?).
    fn extract(
        &self,
        map: &Map<String, Value>,
        name: &'static str,
    ) -> Result<Option<String>, VerifyError> {
        let path = self.claim.as_deref().unwrap_or(name);
        let Some(value) = lookup(map, path) else {
            return Ok(None);
        };
        let candidates: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            Value::Null => return Ok(None),
            _ => return Err(VerifyError::TokenMalformed),
        };
        let mut chosen = candidates
            .into_iter()
            .filter(|c| self.allowed.is_empty() || self.allowed.iter().any(|a| a == c));
        let first = chosen.next();
        if chosen.next().is_some() {
            return Err(VerifyError::AmbiguousClaim(name));
        }
        Ok(first.map(str::to_owned))
    }
}

/// Follow a dotted path through nested objects; an exact top-level name wins first (some
/// issuers use URLs with dots as claim names).
fn lookup<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut current = map.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn lookup_prefers_exact_names_then_paths() {
        let m = map(json!({ "a.b": 1, "a": { "b": 2, "c": { "d": 3 } } }));
        assert_eq!(lookup(&m, "a.b"), Some(&json!(1)));
        assert_eq!(lookup(&m, "a.c.d"), Some(&json!(3)));
        assert_eq!(lookup(&m, "a.x"), None);
        assert_eq!(lookup(&m, "a.c.d.e"), None);
    }

    #[test]
    fn actor_chain_helpers() {
        let chain = Actor::chain("gateway", Some(Actor::chain("agent", None)));
        assert_eq!(chain.depth(), 2);
        assert_eq!(chain.subjects(), ["gateway", "agent"]);
        let v = serde_json::to_value(&chain).unwrap_or_default();
        assert_eq!(v, json!({ "sub": "gateway", "act": { "sub": "agent" } }));
    }

    #[test]
    fn cnf_without_spiffe_is_no_binding() {
        let p = br#"{"cnf":{"x5t#S256":"abc"}}"#;
        let c = Claims::from_payload(p, &ClaimMapping::default());
        assert_eq!(c.map(|c| c.cnf), Ok(None));
    }

    #[test]
    fn scopes_are_read_from_scope_and_scp_in_every_shape() {
        let read = |p: &[u8]| Claims::from_payload(p, &ClaimMapping::default()).map(|c| c.scope);
        assert_eq!(
            read(br#"{"scope":"openid  mcp"}"#),
            Ok(vec!["openid".into(), "mcp".into()])
        );
        assert_eq!(
            read(br#"{"scp":["mcp","x"]}"#),
            Ok(vec!["mcp".into(), "x".into()])
        );
        assert_eq!(read(br#"{"scp":"mcp"}"#), Ok(vec!["mcp".into()]));
        assert_eq!(read(br#"{}"#), Ok(vec![]));
        for bad in [
            &br#"{"scope":["mcp"]}"#[..],
            br#"{"scp":[1]}"#,
            br#"{"scope":3}"#,
        ] {
            assert_eq!(read(bad), Err(VerifyError::TokenMalformed), "{bad:?}");
        }
    }

    #[test]
    fn mapped_string_outside_allowed_values_is_absent() {
        let src = ClaimSource {
            claim: Some("grp".into()),
            allowed: vec!["sre".into()],
        };
        assert_eq!(src.extract(&map(json!({ "grp": "hr" })), "team"), Ok(None));
        assert_eq!(
            src.extract(&map(json!({ "grp": 3 })), "team"),
            Err(VerifyError::TokenMalformed)
        );
    }
}
