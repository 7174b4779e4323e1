//! The [`Minter`]: signs short-lived, audience-bound meshguard tokens at the gateway.
//!
//! Signing keys come from the host environment (Envoy `vm_config` environment variables),
//! never from the plugin configuration, as PKCS#8 PEM. ES256 is preferred (fast to sign and
//! verify in Wasm); EdDSA is accepted too. Several keys may be loaded, each with a `kid`: one
//! signs, all are published in the JWKS, so tools keep verifying tokens signed by the
//! previous key during a rotation. Time, `jti` and the key choice are inputs, so minting is
//! deterministic apart from the signature's own randomness.

use super::claims::{Actor, Confirmation};
use super::jwks::{Algorithm, JwksError, KeySet, PublicKey, VerificationKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::{
    Audiences, ECDSAP256KeyPairLike, ES256KeyPair, Ed25519KeyPair, EdDSAKeyPairLike, JWTClaims,
    UnixTimeStamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Longest lifetime a minted token may have: meshguard tokens live seconds to minutes.
pub const MAX_TTL_SECONDS: u64 = 3600;

/// Why a key could not be loaded or a token not minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MintError {
    /// The PEM is not a PKCS#8 private key of the expected (or any supported) type.
    BadKey,
    /// A key id is empty or appears twice.
    BadKid,
    /// The active key id is not among the loaded keys, or no key was loaded.
    NoActiveKey,
    /// The signing-keys environment value is not the documented JSON.
    BadKeySpec,
    /// TTL zero or above [`MAX_TTL_SECONDS`].
    BadTtl,
    /// Subject or audience empty.
    MissingInput(&'static str),
    /// The signature library failed (should not happen with a loaded key).
    SigningFailed,
    /// An extra claim reuses a registered or meshguard claim name.
    ReservedClaim(String),
}

impl MintError {
    /// Stable snake_case reason for logs and denials.
    pub fn reason(&self) -> &'static str {
        match self {
            MintError::BadKey => "signing_key_invalid",
            MintError::BadKid => "signing_kid_invalid",
            MintError::NoActiveKey => "signing_key_missing",
            MintError::BadKeySpec => "signing_keys_malformed",
            MintError::BadTtl => "ttl_invalid",
            MintError::MissingInput(_) => "mint_input_missing",
            MintError::SigningFailed => "signing_failed",
            MintError::ReservedClaim(_) => "reserved_claim",
        }
    }
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MintError::MissingInput(what) => write!(f, "{}: {what}", self.reason()),
            MintError::ReservedClaim(name) => write!(f, "{}: {name}", self.reason()),
            _ => f.write_str(self.reason()),
        }
    }
}

impl std::error::Error for MintError {}

enum Secret {
    Es256(ES256KeyPair),
    EdDsa(Ed25519KeyPair),
}

/// A private signing key with its `kid`. Its `Debug` never shows the secret.
pub struct SigningKey {
    kid: String,
    secret: Secret,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Load a PKCS#8 PEM private key of the given algorithm (RS256 signing is not offered:
    /// slow in Wasm and not needed for tokens only meshguard verifies).
    pub fn from_pem(kid: &str, alg: Algorithm, pem: &str) -> Result<Self, MintError> {
        if kid.is_empty() {
            return Err(MintError::BadKid);
        }
        let secret = match alg {
            Algorithm::ES256 => Secret::Es256(
                ES256KeyPair::from_pem(pem)
                    .map_err(|_| MintError::BadKey)?
                    .with_key_id(kid),
            ),
            Algorithm::EdDSA => Secret::EdDsa(
                Ed25519KeyPair::from_pem(pem)
                    .map_err(|_| MintError::BadKey)?
                    .with_key_id(kid),
            ),
            Algorithm::RS256 => return Err(MintError::BadKey),
        };
        Ok(Self {
            kid: kid.to_owned(),
            secret,
        })
    }

    /// Load a PKCS#8 PEM private key, detecting ES256 or EdDSA from its content.
    pub fn from_pem_any(kid: &str, pem: &str) -> Result<Self, MintError> {
        Self::from_pem(kid, Algorithm::ES256, pem)
            .or_else(|_| Self::from_pem(kid, Algorithm::EdDSA, pem))
    }

    /// The key id written into token headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.secret {
            Secret::Es256(_) => Algorithm::ES256,
            Secret::EdDsa(_) => Algorithm::EdDSA,
        }
    }

    /// The matching public key, for the published JWKS.
    pub fn verification_key(&self) -> VerificationKey {
        let key = match &self.secret {
            Secret::Es256(k) => PublicKey::Es256(k.public_key()),
            Secret::EdDsa(k) => PublicKey::EdDsa(k.public_key()),
        };
        VerificationKey::new(Some(self.kid.clone()), key)
    }

    fn sign(&self, claims: JWTClaims<MeshguardClaims>) -> Result<String, MintError> {
        let signed = match &self.secret {
            Secret::Es256(k) => k.sign(claims),
            Secret::EdDsa(k) => k.sign(claims),
        };
        signed.map_err(|_| MintError::SigningFailed)
    }
}

/// One entry of the signing-keys environment value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySpec {
    kid: String,
    #[serde(default)]
    alg: Option<Algorithm>,
    pem: String,
}

/// The signing-keys environment value: `{"active": "k2", "keys": [{"kid", "alg"?, "pem"}]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRingSpec {
    active: String,
    keys: Vec<KeySpec>,
}

/// What a token is minted for. Everything here is copied from verified input (the incoming
/// token, the route, the JSON-RPC body), never from client-supplied identity headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MintRequest {
    /// `sub`: the user.
    pub subject: String,
    /// `aud`: the one agent or tool server the token is good for.
    pub audience: String,
    /// `team`.
    pub team: Option<String>,
    /// `role`.
    pub role: Option<String>,
    /// `sid`: the verified session.
    pub sid: Option<String>,
    /// `tool`: the exact MCP tool name (tool tokens only).
    pub tool: Option<String>,
    /// `agent`: the agent id.
    pub agent: Option<String>,
    /// `cnf.spiffe`: the workload allowed to present the token.
    pub binding: Option<String>,
    /// `act`: the delegation chain, current actor outermost.
    pub act: Option<Actor>,
    /// Lifetime in seconds (1..=[`MAX_TTL_SECONDS`]).
    pub ttl_seconds: u64,
}

/// A freshly minted token and what callers need to cache or log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    /// The compact JWS.
    pub token: String,
    /// Its `exp`.
    pub exp: u64,
    /// Its `jti`.
    pub jti: String,
    /// The `kid` that signed it.
    pub kid: String,
}

/// The non-registered claims of a meshguard token.
#[derive(Serialize)]
struct MeshguardClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<Actor>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// Claim names [`Minter::mint_with`] extras may not use: registered and meshguard claims.
const RESERVED_CLAIMS: [&str; 15] = [
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "nonce", "team", "role", "sid", "tool",
    "agent", "cnf", "act",
];

/// Signs meshguard tokens for one issuer with a ring of keys, one of them active.
#[derive(Debug)]
pub struct Minter {
    issuer: String,
    keys: Vec<SigningKey>,
    active: usize,
}

impl Minter {
    /// A minter for `issuer` signing with the key `active_kid`; all `keys` are published.
    pub fn new(issuer: &str, keys: Vec<SigningKey>, active_kid: &str) -> Result<Self, MintError> {
        if issuer.is_empty() {
            return Err(MintError::MissingInput("issuer"));
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.kid == k.kid) {
                return Err(MintError::BadKid);
            }
        }
        let active = keys
            .iter()
            .position(|k| k.kid == active_kid)
            .ok_or(MintError::NoActiveKey)?;
        Ok(Self {
            issuer: issuer.to_owned(),
            keys,
            active,
        })
    }

    /// A minter from the signing-keys environment value:
    /// `{"active":"k2","keys":[{"kid":"k1","pem":"-----BEGIN PRIVATE KEY-----\n..."},...]}`
    /// (`alg` per key is optional: `ES256` or `EdDSA`, detected when absent).
    pub fn from_env_json(issuer: &str, value: &str) -> Result<Self, MintError> {
        let spec: KeyRingSpec = serde_json::from_str(value).map_err(|_| MintError::BadKeySpec)?;
        let keys = spec
            .keys
            .iter()
            .map(|k| match k.alg {
                Some(alg) => SigningKey::from_pem(&k.kid, alg, &k.pem),
                None => SigningKey::from_pem_any(&k.kid, &k.pem),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(issuer, keys, &spec.active)
    }

    /// The `iss` this minter writes.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `kid` currently signing (the [`MintCache`](super::MintCache) key includes it).
    pub fn active_kid(&self) -> &str {
        self.keys.get(self.active).map_or("", |k| k.kid.as_str())
    }

    /// All public keys, for tools verifying inline and for the served JWKS.
    pub fn public_keys(&self) -> Result<KeySet, JwksError> {
        KeySet::from_keys(self.keys.iter().map(SigningKey::verification_key).collect())
    }

    /// The public JWKS document to serve on the configured path.
    pub fn public_jwks(&self) -> String {
        self.public_keys()
            .map(|k| k.to_jwks_json())
            .unwrap_or_default()
    }

    /// Mint a token for `req` at time `now` with token id `jti` (see [`jti_from_random`]).
    pub fn mint(&self, req: &MintRequest, now: u64, jti: &str) -> Result<Minted, MintError> {
        self.mint_with(req, &Map::new(), now, jti)
    }

    /// Mint with extra claims beside meshguard's own (an approval's `args_sha256` and
    /// `approver`); an extra claim may not reuse a registered or meshguard claim name, so it
    /// can never override what the request says.
    pub fn mint_with(
        &self,
        req: &MintRequest,
        extra: &Map<String, Value>,
        now: u64,
        jti: &str,
    ) -> Result<Minted, MintError> {
        check_request(req)?;
        if let Some(name) = extra.keys().find(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
            return Err(MintError::ReservedClaim(name.clone()));
        }
        let key = self.keys.get(self.active).ok_or(MintError::NoActiveKey)?;
        let exp = now.saturating_add(req.ttl_seconds);
        let claims = JWTClaims {
            issued_at: Some(UnixTimeStamp::from_secs(now)),
            expires_at: Some(UnixTimeStamp::from_secs(exp)),
            invalid_before: None,
            issuer: Some(self.issuer.clone()),
            subject: Some(req.subject.clone()),
            audiences: Some(Audiences::AsString(req.audience.clone())),
            jwt_id: Some(jti.to_owned()),
            nonce: None,
            custom: custom_claims(req, extra),
        };
        let token = key.sign(claims)?;
        Ok(Minted {
            token,
            exp,
            jti: jti.to_owned(),
            kid: key.kid.clone(),
        })
    }
}

fn check_request(req: &MintRequest) -> Result<(), MintError> {
    if req.subject.is_empty() {
        return Err(MintError::MissingInput("subject"));
    }
    if req.audience.is_empty() {
        return Err(MintError::MissingInput("audience"));
    }
    if req.ttl_seconds == 0 || req.ttl_seconds > MAX_TTL_SECONDS {
        return Err(MintError::BadTtl);
    }
    Ok(())
}

fn custom_claims(req: &MintRequest, extra: &Map<String, Value>) -> MeshguardClaims {
    MeshguardClaims {
        extra: extra.clone(),
        team: req.team.clone(),
        role: req.role.clone(),
        sid: req.sid.clone(),
        tool: req.tool.clone(),
        agent: req.agent.clone(),
        cnf: req.binding.clone().map(|spiffe| Confirmation { spiffe }),
        act: req.act.clone(),
    }
}

/// A `jti` from caller-supplied random bytes (WASI random in the filter, fixed in tests):
/// base64url, 22 characters for 16 bytes.
pub fn jti_from_random(random: &[u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}
