//! The gateway as an OAuth 2.1 protected resource, as the MCP authorization spec asks.
//!
//! - RFC 9728 metadata, served without a token at `/.well-known/oauth-protected-resource`
//!   (the gateway) and `/.well-known/oauth-protected-resource/<path>` for every MCP endpoint
//!   it fronts, so an off-the-shelf client (Python and TypeScript SDKs, the Inspector) finds
//!   the authorization server by itself;
//! - the 401 challenge names that metadata (`resource_metadata`) and the scopes (`scope`);
//! - RFC 8707: the user token must have been issued for this resource (`aud`);
//! - the transport spec's `Origin` check against DNS rebinding.

use super::config::Config;
use super::exchange::Target;
use super::refusal::Refusal;
use crate::config::{non_empty, ConfigError, Validate};
use crate::denial::Denial;
use serde::Deserialize;
use serde_json::{json, Value};

/// The RFC 9728 well-known path prefix.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The `protected_resource` section of the token-exchange configuration.
///
/// ```json
/// { "resource": "https://mcp.example.com",
///   "authorization_servers": ["https://idp.example.com"],
///   "scopes_supported": ["openid", "mcp"], "check_audience": true }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectedResource {
    /// The gateway's public base URL (its RFC 8707 resource identifier): `https://host[:port]`
    /// with an optional path, no query, fragment or trailing `/`. Plain `http` only for
    /// loopback hosts.
    pub resource: String,
    /// Issuer URLs of the authorization servers clients get tokens from (RFC 8414 metadata
    /// at `<issuer>/.well-known/oauth-authorization-server`).
    pub authorization_servers: Vec<String>,
    /// Scopes a client should request; sent as `scope` in 401 challenges.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// Scopes a user token must carry (`scope` or `scp`) to use the gateway's MCP
    /// endpoints; each must be listed in `scopes_supported`. A token without one gets 403
    /// `insufficient_scope` with the scopes to ask for (MCP authorization's step-up).
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// Human-readable name in the metadata.
    #[serde(default)]
    pub resource_name: Option<String>,
    /// RFC 8707: a user token's `aud` must name this resource or the endpoint's URL (a
    /// URL under it); a token minted for another resource is refused (401).
    #[serde(default = "default_true")]
    pub check_audience: bool,
}

fn default_true() -> bool {
    true
}

impl Validate for ProtectedResource {
    fn validate(&self) -> Result<(), ConfigError> {
        url("resource", &self.resource)?;
        if self.resource.ends_with('/') {
            return Err(ConfigError::invalid("resource", "must not end with /"));
        }
        if self.authorization_servers.is_empty() {
            return Err(ConfigError::invalid(
                "authorization_servers",
                "must list at least one issuer",
            ));
        }
        for (i, a) in self.authorization_servers.iter().enumerate() {
            url(&format!("authorization_servers[{i}]"), a)?;
        }
        for (i, s) in self.scopes_supported.iter().enumerate() {
            let field = format!("scopes_supported[{i}]");
            non_empty(&field, s)?;
            if s.chars()
                .any(|c| c == ' ' || c == '"' || c == '\\' || c.is_control())
            {
                return Err(ConfigError::invalid(field, "must be one scope token"));
            }
        }
        for (i, s) in self.required_scopes.iter().enumerate() {
            if !self.scopes_supported.contains(s) {
                return Err(ConfigError::invalid(
                    format!("required_scopes[{i}]"),
                    "must be listed in scopes_supported (clients learn what to ask for there)",
                ));
            }
        }
        Ok(())
    }
}

/// An absolute `https` URL (or `http` on a loopback host) without query or fragment.
fn url(field: &str, value: &str) -> Result<(), ConfigError> {
    let rest = if let Some(rest) = value.strip_prefix("https://") {
        rest
    } else if let Some(rest) = value.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or("");
        let loopback = host == "localhost" || host == "127.0.0.1" || rest.starts_with("[::1]");
        if !loopback {
            return Err(ConfigError::invalid(
                field,
                "must be an https URL (http only for loopback hosts)",
            ));
        }
        rest
    } else {
        return Err(ConfigError::invalid(field, "must be an https URL"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(ConfigError::invalid(field, "must name a host"));
    }
    if value.contains(['?', '#']) || value.chars().any(|c| c.is_whitespace() || c == '"') {
        return Err(ConfigError::invalid(
            field,
            "must have no query, fragment, spaces or quotes",
        ));
    }
    Ok(())
}

/// `scheme://host[:port]` of a URL (its origin, as browsers send it in `Origin`).
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// The request path without its query string.
fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or("")
}

impl Config {
    /// The metadata document for a request to `path`, if `path` is one of the well-known
    /// metadata paths: the gateway itself, or the path of an endpoint it routes (RFC 9728
    /// section 3.1; `resource` is the URL the well-known path was formed from, section 3.3).
    /// `None` when no protected resource is configured or the path is not a metadata path.
    pub fn resource_metadata(&self, path: &str) -> Option<Result<Value, Denial>> {
        let pr = self.protected_resource.as_ref()?;
        let path = path_only(path);
        let suffix = path.strip_prefix(WELL_KNOWN)?;
        if !(suffix.is_empty() || suffix.starts_with('/')) {
            return None;
        }
        let endpoint = |p: &str| matches!(self.target(p), Some(t) if !matches!(t, Target::Jwks));
        if !suffix.is_empty() && !endpoint(suffix) && !endpoint(&format!("{suffix}/")) {
            return Some(Err(Refusal::NoEndpoint.into()));
        }
        let mut doc = json!({
            "resource": format!("{}{suffix}", pr.resource),
            "authorization_servers": pr.authorization_servers,
            "bearer_methods_supported": ["header"],
        });
        if !pr.scopes_supported.is_empty() {
            doc["scopes_supported"] = json!(pr.scopes_supported);
        }
        if let Some(name) = &pr.resource_name {
            doc["resource_name"] = json!(name);
        }
        Some(Ok(doc))
    }

    /// A 401 denial with the RFC 9728 challenge parameters for a request to `path`: the
    /// metadata of the endpoint's route (the agent or tool route's prefix), or of the gateway
    /// for other paths; `scope` when scopes are configured.
    pub fn challenge(&self, denial: Denial, path: &str) -> Denial {
        let Some(pr) = &self.protected_resource else {
            return denial;
        };
        if denial.status != 401 {
            return denial;
        }
        let mut denial = denial.with_challenge(
            "resource_metadata",
            format!("{}{WELL_KNOWN}{}", pr.resource, self.route_of(path)),
        );
        if !pr.scopes_supported.is_empty() {
            denial = denial.with_challenge("scope", pr.scopes_supported.join(" "));
        }
        denial
    }

    /// RFC 8707: may a user token with audiences `aud` be used on `path`? Yes when no
    /// protected resource (or no audience check) is configured, or `aud` names the gateway's
    /// resource or a URL the request's URL is under (path-segment prefix). On the session
    /// path (not an MCP endpoint) any resource of this gateway will do.
    pub fn audience_allows(&self, aud: &[String], path: &str) -> bool {
        let Some(pr) = self
            .protected_resource
            .as_ref()
            .filter(|p| p.check_audience)
        else {
            return true;
        };
        let path = path_only(path);
        let request_url = format!("{}{path}", pr.resource);
        let session = path == self.session_path;
        aud.iter().any(|a| {
            let a = a.trim_end_matches('/');
            if a == pr.resource {
                return true;
            }
            let under = |url: &str| {
                url.strip_prefix(a)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            };
            if session {
                a.strip_prefix(pr.resource.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
            } else {
                under(&request_url)
            }
        })
    }

    /// The 403 `insufficient_scope` for a user token on `path` that lacks a required scope
    /// (`None` when it has them all or none are required). The challenge names every required
    /// scope and the endpoint's metadata, so a client can ask for a token with them.
    pub fn scope_denial(&self, granted: &[String], path: &str) -> Option<Denial> {
        let pr = self.protected_resource.as_ref()?;
        if pr.required_scopes.iter().all(|s| granted.contains(s)) {
            return None;
        }
        Some(
            Refusal::InsufficientScope {
                scopes: pr.required_scopes.join(" "),
                resource_metadata: format!("{}{WELL_KNOWN}{}", pr.resource, self.route_of(path)),
            }
            .into(),
        )
    }

    /// The path prefix of the agent or tool route `path` is on ("" for other paths).
    fn route_of(&self, path: &str) -> &str {
        match self.target(path) {
            Some(Target::Agent(a)) => a.path_prefix.trim_end_matches('/'),
            Some(Target::Tool(t)) => t.path_prefix.trim_end_matches('/'),
            _ => "",
        }
    }

    /// The 401 for a user token not issued for this resource.
    pub fn audience_denial(&self) -> Denial {
        Refusal::ResourceMismatch.into()
    }

    /// The transport spec's `Origin` check: a request without `Origin` (not from a browser)
    /// passes; one from a browser passes only from a listed origin or the resource's own.
    pub fn origin_allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin.map(str::trim) else {
            return true;
        };
        let own = self
            .protected_resource
            .as_ref()
            .map(|p| origin_of(&p.resource));
        own.is_some_and(|o| o.eq_ignore_ascii_case(origin))
            || self
                .allowed_origins
                .iter()
                .any(|a| a.eq_ignore_ascii_case(origin))
    }

    /// The 403 for a browser origin that is not allowed.
    pub fn origin_denial(&self) -> Denial {
        Refusal::OriginNotAllowed.into()
    }
}

/// Check the `allowed_origins` entries: `scheme://host[:port]`, nothing more.
pub fn validate_origins(origins: &[String]) -> Result<(), ConfigError> {
    for (i, o) in origins.iter().enumerate() {
        let field = format!("allowed_origins[{i}]");
        let Some((scheme, host)) = o.split_once("://") else {
            return Err(ConfigError::invalid(field, "must be scheme://host[:port]"));
        };
        if scheme.is_empty() || host.is_empty() || host.contains(['/', '?', '#', ' ', '"']) {
            return Err(ConfigError::invalid(field, "must be scheme://host[:port]"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::denial::Control;

    fn config(extra: Value) -> Result<Config, ConfigError> {
        let mut c = json!({
            "user_tokens": {"issuer": "https://idp", "audiences": ["meshguard"], "algorithms": ["ES256"],
                            "jwks": {"remote": {"uri": "http://idp/jwks.json", "cluster": "idp"}}},
            "minter": {"issuer": "meshguard-gateway", "signing_keys_env": "K", "session_keys_env": "S"},
            "agents": [{"id": "sre-agent", "path_prefix": "/agents/sre-agent/",
                        "spiffe": "spiffe://cluster.local/ns/agents-sre/sa/sre-agent", "teams": ["sre"]}],
            "tools": [{"id": "mcp-github", "path_prefix": "/tools/mcp-github/", "allow": []}]
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        parse::<Config>(c.to_string().as_bytes())
    }

    fn gateway() -> Config {
        config(json!({
            "protected_resource": {"resource": "https://mcp.example.com",
                                   "authorization_servers": ["https://idp.example.com"],
                                   "scopes_supported": ["openid", "mcp"]},
            "allowed_origins": ["https://app.example.com"]
        }))
        .unwrap()
    }

    #[test]
    fn metadata_for_the_gateway_and_each_endpoint() {
        let c = gateway();
        let root = c.resource_metadata(WELL_KNOWN).unwrap().unwrap();
        assert_eq!(root["resource"], "https://mcp.example.com");
        assert_eq!(root["authorization_servers"][0], "https://idp.example.com");
        assert_eq!(root["bearer_methods_supported"], json!(["header"]));
        assert_eq!(root["scopes_supported"], json!(["openid", "mcp"]));
        let ep = c
            .resource_metadata("/.well-known/oauth-protected-resource/agents/sre-agent/mcp?x=1")
            .unwrap()
            .unwrap();
        assert_eq!(
            ep["resource"],
            "https://mcp.example.com/agents/sre-agent/mcp"
        );
        // Not a routed endpoint, or not the well-known path at all.
        let d = c
            .resource_metadata("/.well-known/oauth-protected-resource/admin")
            .unwrap()
            .unwrap_err();
        assert_eq!(d.status, 404);
        assert!(c
            .resource_metadata("/.well-known/oauth-protected-resourcex")
            .is_none());
        assert!(c.resource_metadata("/agents/sre-agent/mcp").is_none());
        // Nothing is served when no protected resource is configured.
        let plain = config(json!({})).unwrap();
        assert!(plain.resource_metadata(WELL_KNOWN).is_none());
    }

    #[test]
    fn a_token_without_a_required_scope_gets_a_step_up_challenge() {
        let c = config(json!({
            "protected_resource": {"resource": "https://mcp.example.com",
                                   "authorization_servers": ["https://idp.example.com"],
                                   "scopes_supported": ["openid", "mcp", "mcp:tools"],
                                   "required_scopes": ["mcp", "mcp:tools"]}
        }))
        .unwrap();
        let path = "/agents/sre-agent/mcp";
        let all = vec!["openid".to_string(), "mcp".into(), "mcp:tools".into()];
        assert!(c.scope_denial(&all, path).is_none());
        for granted in [
            vec![],
            vec!["mcp".to_string()],
            vec!["MCP".into(), "mcp:tools".into()],
        ] {
            let d = c.scope_denial(&granted, path).expect("refused");
            assert_eq!((d.status, d.reason.as_ref()), (403, "insufficient_scope"));
            let headers = d.headers();
            let (_, challenge) = headers
                .iter()
                .find(|(k, _)| *k == "www-authenticate")
                .expect("challenge");
            assert_eq!(
                challenge,
                "Bearer error=\"insufficient_scope\", scope=\"mcp mcp:tools\", \
                 resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/agents/sre-agent\""
            );
        }
        // Nothing required: any token passes.
        assert!(gateway().scope_denial(&[], path).is_none());
    }

    #[test]
    fn challenges_name_the_endpoint_metadata_and_scopes() {
        let c = gateway();
        let d = Denial::new(401, Control::Mcp02, "missing_token", "x");
        let d = c.challenge(d, "/agents/sre-agent/mcp");
        assert_eq!(
            d.challenge_params(),
            vec![
                (
                    "resource_metadata",
                    "https://mcp.example.com/.well-known/oauth-protected-resource/agents/sre-agent"
                        .to_string()
                ),
                ("scope", "openid mcp".to_string())
            ]
        );
        // The metadata it points at exists and names a resource the endpoint is under.
        let md = c
            .resource_metadata("/.well-known/oauth-protected-resource/agents/sre-agent")
            .unwrap()
            .unwrap();
        assert_eq!(md["resource"], "https://mcp.example.com/agents/sre-agent");
        let other = c.challenge(
            Denial::new(401, Control::Mcp02, "x", "x"),
            "/meshguard/session",
        );
        assert!(other.challenge_params()[0]
            .1
            .ends_with("/.well-known/oauth-protected-resource"));
        let forbidden = c.challenge(
            Denial::new(403, Control::Mcp02, "x", "x"),
            "/agents/sre-agent/mcp",
        );
        assert!(forbidden.challenge_params().is_empty());
    }

    #[test]
    fn audience_must_name_this_resource_or_an_endpoint_above_the_request() {
        let c = gateway();
        let aud = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = "/agents/sre-agent/mcp";
        assert!(c.audience_allows(&aud(&["https://mcp.example.com"]), p));
        assert!(c.audience_allows(&aud(&["https://mcp.example.com/"]), p));
        assert!(c.audience_allows(&aud(&["x", "https://mcp.example.com/agents/sre-agent"]), p));
        assert!(c.audience_allows(&aud(&["https://mcp.example.com/agents/sre-agent/mcp"]), p));
        for bad in [
            "meshguard",
            "https://mcp.example.com.evil",
            "https://mcp.example.com/agents/sre",
            "https://mcp.example.com/agents/security-agent",
            "https://evil.example.com",
        ] {
            assert!(!c.audience_allows(&aud(&[bad]), p), "{bad}");
        }
        assert!(!c.audience_allows(&[], p));
        // The session path accepts any resource of this gateway, not another's.
        let s = "/meshguard/session";
        assert!(c.audience_allows(&aud(&["https://mcp.example.com/agents/sre-agent"]), s));
        assert!(!c.audience_allows(&aud(&["https://mcp.example.com.evil/x"]), s));
        assert!(!c.audience_allows(&aud(&["meshguard"]), s));
        // Off when not configured.
        let off = config(json!({"protected_resource": {"resource": "https://m",
            "authorization_servers": ["https://i"], "check_audience": false}}))
        .unwrap();
        assert!(off.audience_allows(&aud(&["meshguard"]), p));
    }

    #[test]
    fn origins() {
        let c = gateway();
        assert!(c.origin_allows(None));
        assert!(c.origin_allows(Some("https://app.example.com")));
        assert!(c.origin_allows(Some("https://mcp.example.com")));
        for bad in [
            "http://evil.example",
            "null",
            "",
            "https://app.example.com.evil",
        ] {
            assert!(!c.origin_allows(Some(bad)), "{bad}");
        }
        // Without any configuration only non-browser requests pass.
        let plain = config(json!({})).unwrap();
        assert!(plain.origin_allows(None));
        assert!(!plain.origin_allows(Some("http://localhost:6274")));
    }

    #[test]
    fn config_errors_name_the_field() {
        let cases = [
            (
                json!({"protected_resource": {"resource": "http://mcp.example.com", "authorization_servers": ["https://i"]}}),
                "protected_resource.resource",
            ),
            (
                json!({"protected_resource": {"resource": "https://m/", "authorization_servers": ["https://i"]}}),
                "protected_resource.resource",
            ),
            (
                json!({"protected_resource": {"resource": "https://m?a", "authorization_servers": ["https://i"]}}),
                "protected_resource.resource",
            ),
            (
                json!({"protected_resource": {"resource": "https://m", "authorization_servers": []}}),
                "protected_resource.authorization_servers",
            ),
            (
                json!({"protected_resource": {"resource": "https://m", "authorization_servers": ["ftp://i"]}}),
                "protected_resource.authorization_servers[0]",
            ),
            (
                json!({"protected_resource": {"resource": "https://m", "authorization_servers": ["https://i"], "scopes_supported": ["a b"]}}),
                "protected_resource.scopes_supported[0]",
            ),
            (
                json!({"protected_resource": {"resource": "https://m", "authorization_servers": ["https://i"], "scope": "x"}}),
                "protected_resource.scope",
            ),
            (
                json!({"protected_resource": {"resource": "https://m", "authorization_servers": ["https://i"], "scopes_supported": ["a"], "required_scopes": ["b"]}}),
                "protected_resource.required_scopes[0]",
            ),
            (
                json!({"allowed_origins": ["https://a.example/"]}),
                "allowed_origins[0]",
            ),
            (
                json!({"allowed_origins": ["a.example"]}),
                "allowed_origins[0]",
            ),
        ];
        for (extra, field) in cases {
            let e = config(extra.clone()).unwrap_err();
            assert_eq!(e.field, field, "{extra}: {e}");
        }
        assert!(config(
            json!({"protected_resource": {"resource": "http://127.0.0.1:8080",
            "authorization_servers": ["http://localhost:9000"]}})
        )
        .is_ok());
    }
}
