//! The [`Verifier`]: cheap structure checks first, then one pinned signature check, then the
//! claims policy.
//!
//! Order matters. Size, segment shape and the header are checked before any crypto so junk
//! costs microseconds, not the ~1 ms of an asymmetric verify in Wasm. The header `alg` is
//! never trusted to choose the algorithm: it must be pinned by configuration *and* equal to
//! the algorithm the selected key's type implies, so `none`, `HS256` keyed with a public key
//! and RS256-claimed-for-an-EC-key all fail before any signature is computed. Claims
//! (issuer, audience, time) are checked only after the signature, and are re-checked on
//! every cache hit because they depend on `now` and on who is asking.

use super::cache::TokenCache;
use super::claims::{ClaimMapping, Claims};
use super::error::VerifyError;
use super::jwks::{Algorithm, KeySet, PublicKey, VerificationKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::{
    ECDSAP256PublicKeyLike, EdDSAPublicKeyLike, NoCustomClaims, RSAPublicKeyLike, UnixTimeStamp,
    VerificationOptions,
};
use serde::{Deserialize, Deserializer};

/// Default tolerance for clocks that disagree between issuer and verifier.
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 30;
/// Default largest token accepted: meshguard tokens are well under 1 KiB, OIDC ones a few.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Largest encoded header accepted: a real header is under 200 bytes.
pub const MAX_HEADER_BYTES: usize = 1024;

/// Claims a policy can demand beyond the always-required `iss`, `sub`, `aud` and `exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredClaim {
    /// `iat`.
    Iat,
    /// `jti` (needed for replay rejection).
    Jti,
    /// `team` (after mapping).
    Team,
    /// `role` (after mapping).
    Role,
    /// `sid`.
    Sid,
    /// `tool`.
    Tool,
    /// `agent`.
    Agent,
    /// `cnf.spiffe`.
    Cnf,
    /// `act`.
    Act,
}

impl RequiredClaim {
    fn name(self) -> &'static str {
        match self {
            RequiredClaim::Iat => "iat",
            RequiredClaim::Jti => "jti",
            RequiredClaim::Team => "team",
            RequiredClaim::Role => "role",
            RequiredClaim::Sid => "sid",
            RequiredClaim::Tool => "tool",
            RequiredClaim::Agent => "agent",
            RequiredClaim::Cnf => "cnf",
            RequiredClaim::Act => "act",
        }
    }

    fn present(self, c: &Claims) -> bool {
        match self {
            RequiredClaim::Iat => c.iat.is_some(),
            RequiredClaim::Jti => c.jti.is_some(),
            RequiredClaim::Team => c.team.is_some(),
            RequiredClaim::Role => c.role.is_some(),
            RequiredClaim::Sid => c.sid.is_some(),
            RequiredClaim::Tool => c.tool.is_some(),
            RequiredClaim::Agent => c.agent.is_some(),
            RequiredClaim::Cnf => c.cnf.is_some(),
            RequiredClaim::Act => c.act.is_some(),
        }
    }
}

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Exact `iss`.
    pub issuer: String,
    /// The token's `aud` must contain at least one of these.
    pub audiences: Vec<String>,
    /// Pinned algorithms; a token whose `alg` is not listed is refused unread.
    pub algorithms: Vec<Algorithm>,
    /// Tolerance applied to `exp`, `nbf` and `iat`.
    pub clock_skew_seconds: u64,
    /// Largest token accepted, in bytes.
    pub max_token_bytes: usize,
    /// Where team and role come from.
    pub mapping: ClaimMapping,
    /// Extra claims that must be present.
    pub required: Vec<RequiredClaim>,
}

impl Policy {
    /// A policy with defaults for skew, size, mapping and no extra required claims.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        algorithms: &[Algorithm],
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            algorithms: algorithms.to_vec(),
            clock_skew_seconds: DEFAULT_CLOCK_SKEW_SECONDS,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            mapping: ClaimMapping::default(),
            required: Vec::new(),
        }
    }
}

/// A token whose signature verified: its claims and the fingerprint of the key that signed it.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The parsed claims (not yet checked against the policy).
    pub claims: Claims,
    /// Fingerprint of the verifying key, so a cached result dies with the key.
    pub key_fingerprint: [u8; 32],
}

/// Verifies tokens of one issuer against its key set and a [`Policy`].
#[derive(Debug, Clone)]
pub struct Verifier {
    policy: Policy,
    keys: KeySet,
}

/// The parts of the protected header we act on. Duplicate members are refused by serde.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

/// Any value, even `null`, counts as present: `"crit": null` is not a header we understand.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

impl Verifier {
    /// A verifier with this policy and key set (the key set may be empty until fetched).
    pub fn new(policy: Policy, keys: KeySet) -> Self {
        Self { policy, keys }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The trusted keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Replace the key set after a JWKS fetch; cached tokens signed by removed keys stop
    /// verifying at once because cache hits re-check the key fingerprint.
    pub fn set_keys(&mut self, keys: KeySet) {
        self.keys = keys;
    }

    /// Fully verify a token at time `now`: structure, signature, then claims.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, VerifyError> {
        let auth = self.authenticate(token)?;
        self.check_claims(&auth.claims, now)?;
        Ok(auth.claims)
    }

    /// Fully verify a token and also read its payload as `T`: the typed extra claims of a
    /// token kind the meshguard [`Claims`] layout does not cover (approval tokens). `T` is
    /// read from the same signed payload, only after the signature and claims checks pass.
    pub fn verify_with<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        now: u64,
    ) -> Result<(Claims, T), VerifyError> {
        let claims = self.verify(token, now)?;
        let (_, payload_b64) = split_token(token, self.policy.max_token_bytes)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| VerifyError::TokenMalformed)?;
        let extra = serde_json::from_slice(&payload).map_err(|_| VerifyError::TokenMalformed)?;
        Ok((claims, extra))
    }

    /// Verify using `cache`: a hit skips only the signature (and only while the signing key
    /// is still trusted); issuer, audience, time and required claims are always re-checked.
    pub fn verify_cached(
        &self,
        token: &str,
        now: u64,
        cache: &mut TokenCache,
    ) -> Result<Claims, VerifyError> {
        if token.len() > self.policy.max_token_bytes {
            return Err(VerifyError::TokenTooLarge);
        }
        if let Some(auth) = cache.get(token, now) {
            if self.keys.contains_fingerprint(&auth.key_fingerprint) {
                self.check_claims(&auth.claims, now)?;
                return Ok(auth.claims.clone());
            }
        }
        let auth = self.authenticate(token)?;
        self.check_claims(&auth.claims, now)?;
        cache.insert(token, auth.clone(), now, self.policy.clock_skew_seconds);
        Ok(auth.claims)
    }

    /// The request-independent part: structure, header, key selection and signature.
    pub fn authenticate(&self, token: &str) -> Result<Authenticated, VerifyError> {
        let (header_b64, payload_b64) = split_token(token, self.policy.max_token_bytes)?;
        let header = parse_header(header_b64)?;
        let key = self.select_key(&header)?;
        verify_signature(&key.key, token, self.policy.max_token_bytes)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| VerifyError::TokenMalformed)?;
        let claims = Claims::from_payload(&payload, &self.policy.mapping)?;
        Ok(Authenticated {
            claims,
            key_fingerprint: key.fingerprint,
        })
    }

    /// Choose the key: pinned `alg`, then `kid` (or the single key for that algorithm), then
    /// the key's own algorithm must equal the header's.
    fn select_key(&self, header: &Header) -> Result<&VerificationKey, VerifyError> {
        let alg = Algorithm::from_name(&header.alg).ok_or(VerifyError::AlgNotAllowed)?;
        if !self.policy.algorithms.contains(&alg) {
            return Err(VerifyError::AlgNotAllowed);
        }
        if self.keys.is_empty() {
            return Err(VerifyError::NoKeys);
        }
        let key = match &header.kid {
            Some(kid) => self.keys.by_kid(kid).ok_or(VerifyError::UnknownKid)?,
            None => self.only_key_for(alg)?,
        };
        if key.key.algorithm() != alg {
            return Err(VerifyError::AlgKeyMismatch);
        }
        Ok(key)
    }

    fn only_key_for(&self, alg: Algorithm) -> Result<&VerificationKey, VerifyError> {
        let mut matching = self.keys.keys().iter().filter(|k| k.key.algorithm() == alg);
        let first = matching.next().ok_or(VerifyError::UnknownKid)?;
        if matching.next().is_some() {
            return Err(VerifyError::MissingKid);
        }
        Ok(first)
    }

    /// Issuer, audience, time window and required claims, at time `now`.
    pub fn check_claims(&self, claims: &Claims, now: u64) -> Result<(), VerifyError> {
        self.check_time(claims, now)?;
        let iss = claims
            .iss
            .as_deref()
            .ok_or(VerifyError::MissingClaim("iss"))?;
        if iss != self.policy.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if claims.aud.is_empty() {
            return Err(VerifyError::MissingClaim("aud"));
        }
        if !claims.aud.iter().any(|a| self.policy.audiences.contains(a)) {
            return Err(VerifyError::WrongAudience);
        }
        if claims.sub.as_deref().is_none_or(str::is_empty) {
            return Err(VerifyError::MissingClaim("sub"));
        }
        for required in &self.policy.required {
            if !required.present(claims) {
                return Err(VerifyError::MissingClaim(required.name()));
            }
        }
        Ok(())
    }

    /// `exp` is required; valid while `now < exp + skew`. `nbf` and `iat` may not lie more
    /// than `skew` in the future.
    fn check_time(&self, claims: &Claims, now: u64) -> Result<(), VerifyError> {
        let skew = self.policy.clock_skew_seconds;
        let exp = claims.exp.ok_or(VerifyError::MissingClaim("exp"))?;
        if now >= exp.saturating_add(skew) {
            return Err(VerifyError::TokenExpired);
        }
        let future = |t: Option<u64>| t.is_some_and(|t| t > now.saturating_add(skew));
        if future(claims.nbf) || future(claims.iat) {
            return Err(VerifyError::TokenNotYetValid);
        }
        Ok(())
    }
}

/// Size, exactly three non-empty base64url segments, a canonical signature encoding;
/// returns the header and payload segments.
fn split_token(token: &str, max: usize) -> Result<(&str, &str), VerifyError> {
    if token.len() > max {
        return Err(VerifyError::TokenTooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::TokenMalformed);
    };
    if [h, p, s].iter().any(|seg| !is_b64url(seg)) {
        return Err(VerifyError::TokenMalformed);
    }
    if h.len() > MAX_HEADER_BYTES {
        return Err(VerifyError::TokenMalformed);
    }
    // Canonical encoding only, so one signature has exactly one spelling.
    if URL_SAFE_NO_PAD.decode(s).is_err() {
        return Err(VerifyError::TokenMalformed);
    }
    Ok((h, p))
}

fn is_b64url(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn parse_header(header_b64: &str) -> Result<Header, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| VerifyError::TokenMalformed)?;
    // serde would also read a struct from a JSON array; a JOSE header is an object.
    if bytes.first() != Some(&b'{') {
        return Err(VerifyError::TokenMalformed);
    }
    crate::json::reject_duplicates(&bytes).map_err(|_| VerifyError::TokenMalformed)?;
    let header: Header = serde_json::from_slice(&bytes).map_err(|_| VerifyError::TokenMalformed)?;
    if header.crit {
        return Err(VerifyError::UnsupportedHeader);
    }
    if let Some(typ) = &header.typ {
        let typ = typ.to_ascii_uppercase();
        if typ != "JWT" && !typ.ends_with("+JWT") {
            return Err(VerifyError::TokenMalformed);
        }
    }
    Ok(header)
}

/// The signature check proper, delegated to jwt-simple with the key's own algorithm. Its
/// time checks are neutralised (time 0, tolerance 0, future accepted) because ours, with
/// the caller's clock, run afterwards; jwt-simple thus never reads the system clock.
fn verify_signature(key: &PublicKey, token: &str, max: usize) -> Result<(), VerifyError> {
    let options = VerificationOptions {
        accept_future: true,
        time_tolerance: Some(UnixTimeStamp::from_secs(0)),
        artificial_time: Some(UnixTimeStamp::from_secs(0)),
        max_token_length: Some(max),
        ..Default::default()
    };
    let result = match key {
        PublicKey::Rs256(k) => k.verify_token::<NoCustomClaims>(token, Some(options)),
        PublicKey::Es256(k) => k.verify_token::<NoCustomClaims>(token, Some(options)),
        PublicKey::EdDsa(k) => k.verify_token::<NoCustomClaims>(token, Some(options)),
    };
    result.map(|_| ()).map_err(|e| {
        if e.downcast_ref::<serde_json::Error>().is_some() {
            VerifyError::TokenMalformed
        } else {
            VerifyError::BadSignature
        }
    })
}
