//! Who is approving: the person's OIDC token, verified here against the IdP's JWKS.
//!
//! The approver is never a name the client states (no `x-forwarded-user`, no form field):
//! it is a claim (`sub` by default) of an ID or access token the service verifies itself
//! (signature by a key from the issuer's JWKS picked by `kid`, the algorithm fixed by that
//! key, `iss`, `aud`, `exp`/`nbf`). The token must carry the approver role or group
//! (configurable claim and value), and with separation of duties (on by default) the
//! approver may not be the user whose call is being approved.
//!
//! The token comes in `Authorization: Bearer <token>` (the API, or a login proxy in front of
//! the page) or in the page form's `id_token` field.

use axum::http::{header, HeaderMap};
use jwt_simple::prelude::{
    ECDSAP256PublicKeyLike, ES256PublicKey, Ed25519PublicKey, EdDSAPublicKeyLike, JWTClaims,
    RS256PublicKey, RSAPublicKeyLike, Token, VerificationOptions,
};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// How approvers are authenticated and authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproverPolicy {
    /// `iss` of approver tokens (`APPROVAL_OIDC_ISSUER`, required).
    pub issuer: String,
    /// JWKS URL (`APPROVAL_OIDC_JWKS_URI`); empty: from the issuer's OIDC discovery.
    pub jwks_uri: String,
    /// Required `aud` of approver tokens (`APPROVAL_OIDC_AUDIENCE`).
    pub audience: String,
    /// Claim naming the approver (`APPROVAL_APPROVER_CLAIM`, default `sub`).
    pub approver_claim: String,
    /// Claim holding roles or groups, dotted for nested (`APPROVAL_ROLE_CLAIM`, default
    /// `roles`; e.g. `realm_access.roles` for Keycloak, `groups`).
    pub role_claim: String,
    /// Role or group an approver must have (`APPROVAL_REQUIRED_ROLE`, default `approver`).
    pub required_role: String,
    /// Refuse an approver who is the requester (`APPROVAL_SEPARATION_OF_DUTIES`, default on).
    pub separation_of_duties: bool,
}

impl Default for ApproverPolicy {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            jwks_uri: String::new(),
            audience: "meshguard-approval".into(),
            approver_claim: "sub".into(),
            role_claim: "roles".into(),
            required_role: "approver".into(),
            separation_of_duties: true,
        }
    }
}

impl ApproverPolicy {
    /// Check the policy; the error names the environment variable at fault.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        let http = |v: &str| v.starts_with("http://") || v.starts_with("https://");
        let fields = [
            ("APPROVAL_OIDC_ISSUER", &self.issuer, true),
            ("APPROVAL_OIDC_AUDIENCE", &self.audience, false),
            ("APPROVAL_APPROVER_CLAIM", &self.approver_claim, false),
            ("APPROVAL_ROLE_CLAIM", &self.role_claim, false),
            ("APPROVAL_REQUIRED_ROLE", &self.required_role, false),
        ];
        for (name, value, url) in fields {
            if value.trim().is_empty() {
                return Err(crate::ConfigError::new(name, "required"));
            }
            if url && !http(value) {
                return Err(crate::ConfigError::new(name, "must be an http(s) URL"));
            }
        }
        if !self.jwks_uri.is_empty() && !http(&self.jwks_uri) {
            return Err(crate::ConfigError::new(
                "APPROVAL_OIDC_JWKS_URI",
                "must be an http(s) URL",
            ));
        }
        Ok(())
    }
}

/// A verified approver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    /// The approver's identity (the configured claim).
    pub name: String,
}

/// Why an approver is refused. Each maps to an HTTP status and a stable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No token presented.
    Missing,
    /// The token does not verify (signature, key, issuer, audience, time, shape).
    Invalid,
    /// The IdP's keys could not be fetched: nothing can be verified.
    KeysUnavailable,
    /// Verified, but without the approver role.
    NotApprover,
    /// Verified, but the identity claim is missing or not a plain name.
    NoIdentity,
    /// The approver is the requester (separation of duties).
    SelfApproval,
}

impl AuthError {
    /// HTTP status for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Missing | AuthError::Invalid | AuthError::NoIdentity => 401,
            AuthError::KeysUnavailable => 503,
            AuthError::NotApprover | AuthError::SelfApproval => 403,
        }
    }

    /// Stable reason for this refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "approver_token_required",
            AuthError::Invalid => "approver_token_invalid",
            AuthError::KeysUnavailable => "approver_keys_unavailable",
            AuthError::NotApprover => "not_an_approver",
            AuthError::NoIdentity => "approver_identity_missing",
            AuthError::SelfApproval => "self_approval",
        }
    }
}

/// Fewest seconds between two JWKS fetches triggered by an unknown `kid`.
const REFETCH_AFTER: Duration = Duration::from_secs(10);
/// Keys older than this are refetched before use.
const KEYS_MAX_AGE: Duration = Duration::from_secs(600);

struct Keys {
    /// Each published key as (kid, alg, JWK JSON).
    keys: Vec<(String, String, String)>,
    fetched: Option<Instant>,
}

/// The verifier: the policy plus a cache of the IdP's signing keys.
pub struct Authenticator {
    policy: ApproverPolicy,
    http: reqwest::Client,
    keys: RwLock<Keys>,
}

impl Authenticator {
    /// A verifier for `policy`; keys are fetched on first use.
    pub fn new(policy: ApproverPolicy, http: reqwest::Client) -> Self {
        Self {
            policy,
            http,
            keys: RwLock::new(Keys {
                keys: Vec::new(),
                fetched: None,
            }),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &ApproverPolicy {
        &self.policy
    }

    /// The bearer token of a request, else the form's `id_token` field.
    pub fn token_of(headers: &HeaderMap, form: Option<&[u8]>) -> Option<String> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_string());
        let field = || {
            form_urlencoded::parse(form?)
                .find(|(k, _)| k == "id_token")
                .map(|(_, v)| v.trim().to_string())
        };
        bearer.or_else(field).filter(|t| !t.is_empty())
    }

    /// Verify `token` and check the approver role; `requester` is the user whose call is
    /// approved (None: a denial, where separation of duties does not apply).
    pub async fn approver(
        &self,
        token: Option<&str>,
        requester: Option<&str>,
    ) -> Result<Approver, AuthError> {
        let token = token.ok_or(AuthError::Missing)?;
        let claims = self.verify(token).await?;
        let name = self
            .claim(&claims, &self.policy.approver_claim)
            .and_then(|v| v.as_str().map(str::to_string))
            .filter(|n| plain_name(n))
            .ok_or(AuthError::NoIdentity)?;
        let roles = self.claim(&claims, &self.policy.role_claim);
        let has_role = match roles {
            Some(Value::String(s)) => s.split_whitespace().any(|r| r == self.policy.required_role),
            Some(Value::Array(items)) => items
                .iter()
                .any(|r| r.as_str() == Some(self.policy.required_role.as_str())),
            _ => false,
        };
        if !has_role {
            return Err(AuthError::NotApprover);
        }
        if self.policy.separation_of_duties && requester == Some(name.as_str()) {
            return Err(AuthError::SelfApproval);
        }
        Ok(Approver { name })
    }

    /// A claim by name (`sub` included), dotted names walk nested objects.
    fn claim(&self, claims: &JWTClaims<Map<String, Value>>, name: &str) -> Option<Value> {
        if name == "sub" {
            return claims.subject.clone().map(Value::String);
        }
        let mut parts = name.split('.');
        let mut value = claims.custom.get(parts.next()?)?;
        for part in parts {
            value = value.get(part)?;
        }
        Some(value.clone())
    }

    async fn verify(&self, token: &str) -> Result<JWTClaims<Map<String, Value>>, AuthError> {
        let meta = Token::decode_metadata(token).map_err(|_| AuthError::Invalid)?;
        let kid = meta.key_id().ok_or(AuthError::Invalid)?.to_string();
        let (alg, jwk) = self.key(&kid).await?;
        if meta.algorithm() != alg {
            return Err(AuthError::Invalid);
        }
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from([self.policy.issuer.clone()])),
            allowed_audiences: Some(HashSet::from([self.policy.audience.clone()])),
            time_tolerance: Some(jwt_simple::prelude::Duration::from_secs(30)),
            ..Default::default()
        };
        let verified = match alg.as_str() {
            "RS256" => RS256PublicKey::from_jwk(&jwk)
                .and_then(|k| k.verify_token::<Map<String, Value>>(token, Some(options))),
            "ES256" => ES256PublicKey::from_jwk(&jwk)
                .and_then(|k| k.verify_token::<Map<String, Value>>(token, Some(options))),
            "EdDSA" => Ed25519PublicKey::from_jwk(&jwk)
                .and_then(|k| k.verify_token::<Map<String, Value>>(token, Some(options))),
            _ => return Err(AuthError::Invalid),
        };
        let claims = verified.map_err(|_| AuthError::Invalid)?;
        // An expiry is required: a token without one would approve forever.
        if claims.expires_at.is_none() {
            return Err(AuthError::Invalid);
        }
        Ok(claims)
    }

    /// The key `kid` (its alg and JWK), fetching the JWKS when stale or when `kid` is new.
    async fn key(&self, kid: &str) -> Result<(String, String), AuthError> {
        {
            let keys = self.keys.read().await;
            let fresh = keys.fetched.is_some_and(|t| t.elapsed() < KEYS_MAX_AGE);
            if let Some((_, alg, jwk)) = keys.keys.iter().find(|(k, _, _)| k == kid) {
                if fresh {
                    return Ok((alg.clone(), jwk.clone()));
                }
            } else if keys.fetched.is_some_and(|t| t.elapsed() < REFETCH_AFTER) {
                return Err(AuthError::Invalid);
            }
        }
        let mut keys = self.keys.write().await;
        let recent = keys.fetched.is_some_and(|t| t.elapsed() < REFETCH_AFTER);
        if !recent {
            match self.fetch().await {
                Ok(fetched) => {
                    keys.keys = fetched;
                    keys.fetched = Some(Instant::now());
                }
                Err(e) => {
                    eprintln!("approver JWKS fetch failed: {e}");
                    return Err(AuthError::KeysUnavailable);
                }
            }
        }
        keys.keys
            .iter()
            .find(|(k, _, _)| k == kid)
            .map(|(_, alg, jwk)| (alg.clone(), jwk.clone()))
            .ok_or(AuthError::Invalid)
    }

    async fn fetch(&self) -> Result<Vec<(String, String, String)>, String> {
        let uri = if self.policy.jwks_uri.is_empty() {
            let discovery = format!(
                "{}/.well-known/openid-configuration",
                self.policy.issuer.trim_end_matches('/')
            );
            let doc: Value = self.get_json(&discovery).await?;
            doc["jwks_uri"]
                .as_str()
                .ok_or("discovery has no jwks_uri")?
                .to_string()
        } else {
            self.policy.jwks_uri.clone()
        };
        let jwks = self.get_json(&uri).await?;
        let keys = jwks["keys"].as_array().ok_or("JWKS has no keys")?;
        Ok(keys
            .iter()
            .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
            .filter_map(|k| {
                let kid = k["kid"].as_str()?.to_string();
                let alg = match (k["alg"].as_str(), k["kty"].as_str(), k["crv"].as_str()) {
                    (Some(alg), _, _) => alg.to_string(),
                    (None, Some("RSA"), _) => "RS256".into(),
                    (None, Some("EC"), Some("P-256")) => "ES256".into(),
                    (None, Some("OKP"), Some("Ed25519")) => "EdDSA".into(),
                    _ => return None,
                };
                Some((kid, alg, k.to_string()))
            })
            .collect())
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let r = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("{url} answered {}", r.status()));
        }
        r.json().await.map_err(|e| e.to_string())
    }
}

/// Names that log and display safely (IdP subjects: UUIDs, emails, `provider|id`).
pub fn plain_name(name: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || "._@-|:+".contains(c);
    !name.is_empty() && name.len() <= 128 && name.chars().all(ok)
}
