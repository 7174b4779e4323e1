//! Why a token was refused, as stable reasons the filters put in denials and stats.

use std::fmt;

/// Why a token was refused. `reason()` is the stable snake_case string clients, logs and
/// dashboards see; messages never echo token contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Longer than the configured maximum; refused before any parsing.
    TokenTooLarge,
    /// Not three base64url segments, or a header or payload that is not the JSON we expect.
    TokenMalformed,
    /// The header carries `crit`: we understand no extensions, so we must refuse (RFC 7515 §4.1.11).
    UnsupportedHeader,
    /// The header `alg` is not one of the pinned algorithms (`none` and `HS*` never are).
    AlgNotAllowed,
    /// The header `alg` does not match the type of the key its `kid` selects.
    AlgKeyMismatch,
    /// No key with this `kid` (or, without a `kid`, no key for the algorithm): the adapter
    /// should refresh the JWKS (rate-limited) and try once more.
    UnknownKid,
    /// No `kid` and several keys could have signed the token.
    MissingKid,
    /// The signature does not verify with the selected key.
    BadSignature,
    /// `exp` is in the past, beyond the clock skew.
    TokenExpired,
    /// `nbf` (or `iat`) is in the future, beyond the clock skew.
    TokenNotYetValid,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain any of the configured audiences.
    WrongAudience,
    /// A claim the policy requires is absent (the claim name is for logs).
    MissingClaim(&'static str),
    /// A mapped claim (team, role) has several acceptable values: we refuse to guess.
    AmbiguousClaim(&'static str),
    /// The token's `tool` is not the MCP tool the request calls.
    ToolMismatch,
    /// The token's SPIFFE binding is not the calling workload's mTLS identity.
    BindingMismatch,
    /// The token's `jti` was already used within its lifetime.
    TokenReplayed,
    /// The replay cache is full of live entries; failing closed rather than forgetting one.
    ReplayCacheFull,
    /// No verification keys are loaded yet (remote JWKS not fetched).
    NoKeys,
}

impl VerifyError {
    /// Stable snake_case reason for denials, `WWW-Authenticate` and stats tags.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::TokenTooLarge => "token_too_large",
            VerifyError::TokenMalformed => "token_malformed",
            VerifyError::UnsupportedHeader => "unsupported_header",
            VerifyError::AlgNotAllowed => "alg_not_allowed",
            VerifyError::AlgKeyMismatch => "alg_key_mismatch",
            VerifyError::UnknownKid => "unknown_kid",
            VerifyError::MissingKid => "missing_kid",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::TokenExpired => "token_expired",
            VerifyError::TokenNotYetValid => "token_not_yet_valid",
            VerifyError::WrongIssuer => "wrong_issuer",
            VerifyError::WrongAudience => "wrong_audience",
            VerifyError::MissingClaim(_) => "missing_claim",
            VerifyError::AmbiguousClaim(_) => "ambiguous_claim",
            VerifyError::ToolMismatch => "tool_mismatch",
            VerifyError::BindingMismatch => "binding_mismatch",
            VerifyError::TokenReplayed => "token_replayed",
            VerifyError::ReplayCacheFull => "replay_cache_full",
            VerifyError::NoKeys => "no_keys",
        }
    }

    /// HTTP status a filter should answer with: 401 for credentials that do not prove who
    /// the caller is, 403 for a valid credential used where it does not belong, 503 when
    /// meshguard itself cannot decide yet.
    pub fn status(&self) -> u16 {
        match self {
            VerifyError::ToolMismatch | VerifyError::BindingMismatch => 403,
            VerifyError::ReplayCacheFull | VerifyError::NoKeys => 503,
            _ => 401,
        }
    }

    /// Whether refreshing the JWKS could make this token verify (rotation at the issuer).
    pub fn wants_jwks_refresh(&self) -> bool {
        matches!(self, VerifyError::UnknownKid | VerifyError::NoKeys)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingClaim(c) | VerifyError::AmbiguousClaim(c) => {
                write!(f, "{}: {c}", self.reason())
            }
            _ => f.write_str(self.reason()),
        }
    }
}

impl std::error::Error for VerifyError {}
