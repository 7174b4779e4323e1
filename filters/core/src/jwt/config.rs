//! Configuration the identity filters embed: how to verify a token, and how to mint one.
//!
//! Verifier (embedded by token-exchange for user OIDC tokens and agent tokens, and by
//! audience-check for tool tokens):
//!
//! ```json
//! {
//!   "issuer": "https://idp.example.com",
//!   "audiences": ["meshguard-gateway"],
//!   "algorithms": ["RS256", "ES256"],
//!   "jwks": { "remote": { "uri": "https://idp.example.com/jwks.json", "cluster": "idp",
//!                         "refresh_interval_seconds": 300 } },
//!   "clock_skew_seconds": 30,
//!   "max_token_bytes": 8192,
//!   "claims": { "team": { "claim": "groups", "allowed": ["sre", "security"] },
//!               "role": { "claim": "realm_access.roles", "allowed": ["viewer", "operator"] } },
//!   "required_claims": ["team", "role"]
//! }
//! ```
//!
//! `jwks` may instead be `{ "inline": { "keys": [ ... ] } }` (a JWKS object, or the same as
//! a JSON string). Minter (token-exchange only; keys come from the environment variable it
//! names, see [`crate::jwt::Minter::from_env_json`]):
//!
//! ```json
//! { "issuer": "https://gateway.mesh-gateway.svc", "ttl_seconds": 120,
//!   "signing_keys_env": "MESHGUARD_SIGNING_KEYS", "jwks_path": "/.well-known/jwks.json" }
//! ```

use super::claims::{ClaimMapping, ClaimSource};
use super::jwks::{Algorithm, KeySet};
use super::mint::MAX_TTL_SECONDS;
use super::verify::{
    Policy, RequiredClaim, Verifier, DEFAULT_CLOCK_SKEW_SECONDS, DEFAULT_MAX_TOKEN_BYTES,
};
use crate::config::{in_range, non_empty, ConfigError, Validate};
use serde::Deserialize;
use serde_json::Value;

/// How to verify tokens of one issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierConfig {
    /// Exact `iss` accepted.
    pub issuer: String,
    /// `aud` must contain one of these (the filter's own id).
    pub audiences: Vec<String>,
    /// Pinned algorithms (`RS256`, `ES256`, `EdDSA`); required so pinning is explicit.
    pub algorithms: Vec<Algorithm>,
    /// Where the keys come from.
    pub jwks: JwksSource,
    /// Tolerance for `exp`/`nbf`/`iat`, seconds (at most 300).
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: u64,
    /// Largest token accepted, bytes (256 to 65536).
    #[serde(default = "default_max_token")]
    pub max_token_bytes: usize,
    /// Where team and role are read from (defaults: claims `team` and `role`).
    #[serde(default)]
    pub claims: ClaimMappingConfig,
    /// Claims that must be present besides `iss`, `sub`, `aud`, `exp`.
    #[serde(default)]
    pub required_claims: Vec<RequiredClaim>,
}

fn default_skew() -> u64 {
    DEFAULT_CLOCK_SKEW_SECONDS
}

fn default_max_token() -> usize {
    DEFAULT_MAX_TOKEN_BYTES
}

/// Keys inline in the configuration, or fetched from the issuer through an Envoy cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum JwksSource {
    /// A JWKS document (object, or a string holding one).
    Inline(Value),
    /// A JWKS URI fetched with `dispatch_http_call`.
    Remote(RemoteJwks),
}

/// A JWKS fetched over HTTP through an Envoy cluster, refreshed on a timer and on an unknown `kid`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteJwks {
    /// `https://` (or `http://` inside the mesh) URL of the JWKS.
    pub uri: String,
    /// Envoy cluster the request is dispatched to.
    pub cluster: String,
    /// Periodic refresh, seconds (10 to 86400).
    #[serde(default = "default_refresh")]
    pub refresh_interval_seconds: u64,
    /// Least time between two unknown-`kid` refreshes, so junk `kid`s cannot flood the issuer.
    #[serde(default = "default_min_refresh")]
    pub min_refresh_interval_seconds: u64,
    /// Fetch timeout, milliseconds (100 to 60000).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Longest a request waits for keys being fetched before it is refused with 503,
    /// milliseconds (100 to 60000; defaults to `timeout_ms`).
    #[serde(default)]
    pub max_wait_ms: Option<u64>,
}

impl RemoteJwks {
    /// The bound on a parked request's wait, milliseconds.
    pub fn max_wait_ms(&self) -> u64 {
        self.max_wait_ms.unwrap_or(self.timeout_ms)
    }
}

fn default_refresh() -> u64 {
    300
}

fn default_min_refresh() -> u64 {
    30
}

fn default_timeout() -> u64 {
    5000
}

/// Claim mapping for user OIDC tokens.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMappingConfig {
    /// Source of the team.
    #[serde(default)]
    pub team: Option<ClaimSourceConfig>,
    /// Source of the role.
    #[serde(default)]
    pub role: Option<ClaimSourceConfig>,
}

/// One mapped attribute: which claim, and which of its values count.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSourceConfig {
    /// Claim name or dotted path (`groups`, `realm_access.roles`).
    pub claim: String,
    /// Values that count; empty = any.
    #[serde(default)]
    pub allowed: Vec<String>,
}

impl ClaimMappingConfig {
    /// The runtime mapping.
    pub fn to_mapping(&self) -> ClaimMapping {
        let source = |c: &Option<ClaimSourceConfig>| {
            c.as_ref()
                .map_or_else(ClaimSource::default, |c| ClaimSource {
                    claim: Some(c.claim.clone()),
                    allowed: c.allowed.clone(),
                })
        };
        ClaimMapping {
            team: source(&self.team),
            role: source(&self.role),
        }
    }
}

impl VerifierConfig {
    /// The inline key set, if keys are inline (already checked by `validate`).
    pub fn inline_keys(&self) -> Result<Option<KeySet>, ConfigError> {
        let JwksSource::Inline(value) = &self.jwks else {
            return Ok(None);
        };
        let parsed = match value {
            Value::String(s) => KeySet::parse(s.as_bytes()),
            other => KeySet::from_value(other),
        };
        parsed
            .map(|p| Some(p.keys))
            .map_err(|e| ConfigError::invalid("jwks.inline", e.to_string()))
    }

    /// The verifier this configuration describes; with a remote JWKS its key set starts
    /// empty (tokens fail with `no_keys`) until the adapter's first fetch succeeds.
    pub fn build(&self) -> Result<Verifier, ConfigError> {
        let keys = self.inline_keys()?.unwrap_or_default();
        let policy = Policy {
            issuer: self.issuer.clone(),
            audiences: self.audiences.clone(),
            algorithms: self.algorithms.clone(),
            clock_skew_seconds: self.clock_skew_seconds,
            max_token_bytes: self.max_token_bytes,
            mapping: self.claims.to_mapping(),
            required: self.required_claims.clone(),
        };
        Ok(Verifier::new(policy, keys))
    }
}

impl Validate for VerifierConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        non_empty("issuer", &self.issuer)?;
        if self.audiences.is_empty() {
            return Err(ConfigError::invalid(
                "audiences",
                "must list at least one audience",
            ));
        }
        for (i, a) in self.audiences.iter().enumerate() {
            non_empty(&format!("audiences[{i}]"), a)?;
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::invalid(
                "algorithms",
                "must pin at least one algorithm",
            ));
        }
        in_range("clock_skew_seconds", self.clock_skew_seconds, 0, 300)?;
        in_range("max_token_bytes", self.max_token_bytes as u64, 256, 65536)?;
        self.claims.validate()?;
        match &self.jwks {
            JwksSource::Inline(_) => self.inline_keys().map(|_| ()),
            JwksSource::Remote(r) => r.validate(),
        }
    }
}

impl Validate for RemoteJwks {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.uri.starts_with("https://") || self.uri.starts_with("http://")) {
            return Err(ConfigError::invalid(
                "jwks.remote.uri",
                "must be an http(s) URL",
            ));
        }
        non_empty("jwks.remote.cluster", &self.cluster)?;
        in_range(
            "jwks.remote.refresh_interval_seconds",
            self.refresh_interval_seconds,
            10,
            86400,
        )?;
        in_range(
            "jwks.remote.min_refresh_interval_seconds",
            self.min_refresh_interval_seconds,
            1,
            self.refresh_interval_seconds,
        )?;
        in_range("jwks.remote.timeout_ms", self.timeout_ms, 100, 60000)?;
        in_range("jwks.remote.max_wait_ms", self.max_wait_ms(), 100, 60000)
    }
}

impl Validate for ClaimMappingConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (name, source) in [("claims.team", &self.team), ("claims.role", &self.role)] {
            if let Some(s) = source {
                non_empty(&format!("{name}.claim"), &s.claim)?;
            }
        }
        Ok(())
    }
}

/// How the gateway mints tokens. Keys are not here: they come from the environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinterConfig {
    /// `iss` of minted tokens; tools pin it.
    pub issuer: String,
    /// Lifetime of minted tokens, seconds (1 to 3600).
    #[serde(default = "default_ttl")]
    pub ttl_seconds: u64,
    /// Environment variable holding the signing keys JSON.
    #[serde(default = "default_signing_env")]
    pub signing_keys_env: String,
    /// Environment variable holding the session HMAC keys.
    #[serde(default = "default_session_env")]
    pub session_keys_env: String,
    /// How long a session id is honoured, seconds.
    #[serde(default = "default_session_age")]
    pub session_max_age_seconds: u64,
    /// Path on which the gateway serves its public JWKS.
    #[serde(default = "default_jwks_path")]
    pub jwks_path: String,
    /// Minted tokens cached for reuse (0 disables reuse, e.g. when tools reject `jti` replays).
    #[serde(default = "default_mint_cache")]
    pub mint_cache_capacity: usize,
}

fn default_ttl() -> u64 {
    120
}

fn default_signing_env() -> String {
    "MESHGUARD_SIGNING_KEYS".into()
}

fn default_session_env() -> String {
    "MESHGUARD_SESSION_KEYS".into()
}

fn default_session_age() -> u64 {
    8 * 3600
}

fn default_jwks_path() -> String {
    "/.well-known/jwks.json".into()
}

fn default_mint_cache() -> usize {
    1024
}

impl MinterConfig {
    /// Reuse a cached minted token until this many seconds before its expiry: a quarter of
    /// the TTL, so the receiver always gets most of the token's life.
    pub fn refresh_margin_seconds(&self) -> u64 {
        (self.ttl_seconds / 4).max(1)
    }
}

impl Validate for MinterConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        non_empty("issuer", &self.issuer)?;
        in_range("ttl_seconds", self.ttl_seconds, 1, MAX_TTL_SECONDS)?;
        non_empty("signing_keys_env", &self.signing_keys_env)?;
        non_empty("session_keys_env", &self.session_keys_env)?;
        in_range(
            "session_max_age_seconds",
            self.session_max_age_seconds,
            60,
            30 * 86400,
        )?;
        if !self.jwks_path.starts_with('/') {
            return Err(ConfigError::invalid("jwks_path", "must start with /"));
        }
        in_range(
            "mint_cache_capacity",
            self.mint_cache_capacity as u64,
            0,
            100_000,
        )
    }
}
