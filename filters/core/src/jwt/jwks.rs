//! JWKS (RFC 7517) in and out: verification keys indexed by `kid`.
//!
//! A key's type decides its algorithm (RSA -> RS256, EC P-256 -> ES256, OKP Ed25519 ->
//! EdDSA); a token header can never make a key be used with another algorithm. Keys we
//! cannot use (encryption keys, other curves, weak RSA) are skipped with a reason instead of
//! failing the whole document, so an issuer publishing extra keys does not take us down; a
//! document that is oversized, has too many keys, repeats a `kid` or yields no usable key is
//! refused, and the adapter keeps the last good key set.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::{
    ECDSAP256PublicKeyLike, ES256PublicKey, Ed25519PublicKey, RS256PublicKey,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::fmt;

/// Largest JWKS document accepted: real issuers publish a few keys in a few KiB.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Most keys accepted in one document: bounds memory and the no-`kid` key search.
pub const MAX_KEYS: usize = 32;

/// The signature algorithms meshguard verifies. `none` and `HS*` are deliberately not
/// representable, so no configuration or token can select them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (most OIDC issuers).
    RS256,
    /// ECDSA P-256 with SHA-256 (meshguard's default for minted tokens: fast to sign).
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// The JOSE name, as written in token headers and JWKs.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm a header names, if it is one we implement (exact, case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Algorithm::RS256),
            "ES256" => Some(Algorithm::ES256),
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        }
    }
}

/// A public key of one of the supported types; its type fixes its algorithm.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// An RSA key (2048 to 4096 bits), used only with RS256.
    Rs256(Box<RS256PublicKey>),
    /// A P-256 key, used only with ES256.
    Es256(ES256PublicKey),
    /// An Ed25519 key, used only with EdDSA.
    EdDsa(Ed25519PublicKey),
}

impl PublicKey {
    /// The only algorithm this key may verify.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Rs256(_) => Algorithm::RS256,
            PublicKey::Es256(_) => Algorithm::ES256,
            PublicKey::EdDsa(_) => Algorithm::EdDSA,
        }
    }

    /// Raw public material, length-prefixed per part, for fingerprints.
    fn material(&self) -> Vec<Vec<u8>> {
        match self {
            PublicKey::Rs256(k) => {
                let c = k.to_components();
                vec![c.n, c.e]
            }
            PublicKey::Es256(k) => vec![k.public_key().to_bytes_uncompressed()],
            PublicKey::EdDsa(k) => vec![k.to_bytes()],
        }
    }

    /// SHA-256 over the algorithm and the public material: identifies the key itself, not
    /// its (attacker-choosable) `kid`, so caches can tell whether a key is still trusted.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = hmac_sha256::Hash::new();
        h.update(self.algorithm().as_str());
        for part in self.material() {
            h.update((part.len() as u32).to_be_bytes());
            h.update(&part);
        }
        h.finalize()
    }

    /// The public JWK members (`kty`, `crv`, coordinates), without `kid`/`alg`/`use`.
    fn jwk_members(&self) -> Map<String, Value> {
        let b64 = |b: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(b));
        let mut m = Map::new();
        match self {
            PublicKey::Rs256(k) => {
                let c = k.to_components();
                m.insert("kty".into(), "RSA".into());
                m.insert("n".into(), b64(&c.n));
                m.insert("e".into(), b64(&c.e));
            }
            PublicKey::Es256(k) => {
                let raw = k.public_key().to_bytes_uncompressed();
                m.insert("kty".into(), "EC".into());
                m.insert("crv".into(), "P-256".into());
                m.insert("x".into(), b64(raw.get(1..33).unwrap_or_default()));
                m.insert("y".into(), b64(raw.get(33..65).unwrap_or_default()));
            }
            PublicKey::EdDsa(k) => {
                m.insert("kty".into(), "OKP".into());
                m.insert("crv".into(), "Ed25519".into());
                m.insert("x".into(), b64(&k.to_bytes()));
            }
        }
        m
    }
}

/// One trusted verification key with its optional `kid` and fingerprint.
#[derive(Debug, Clone)]
pub struct VerificationKey {
    /// The `kid` tokens name to select this key; keys without one serve kid-less tokens.
    pub kid: Option<String>,
    /// The key; its type fixes the algorithm.
    pub key: PublicKey,
    /// [`PublicKey::fingerprint`], computed once.
    pub fingerprint: [u8; 32],
}

impl VerificationKey {
    /// Wrap a key with its `kid`, computing the fingerprint once.
    pub fn new(kid: Option<String>, key: PublicKey) -> Self {
        let fingerprint = key.fingerprint();
        Self {
            kid,
            key,
            fingerprint,
        }
    }

    /// The public JWK for this key (`use: sig`, `alg` set), as served to tools.
    pub fn to_jwk(&self) -> Value {
        let mut m = self.key.jwk_members();
        if let Some(kid) = &self.kid {
            m.insert("kid".into(), kid.clone().into());
        }
        m.insert("alg".into(), self.key.algorithm().as_str().into());
        m.insert("use".into(), "sig".into());
        Value::Object(m)
    }
}

/// A key we did not load and why, for the adapter's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the document's `keys` array.
    pub index: usize,
    /// Its `kid`, when it had a string one.
    pub kid: Option<String>,
    /// Stable snake_case reason (`encryption_key`, `unsupported_kty`, ...).
    pub reason: &'static str,
}

/// Why a whole JWKS document was refused (the previous key set stays in force).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// Larger than [`MAX_JWKS_BYTES`].
    TooLarge,
    /// Not JSON, or not an object with a `keys` array.
    Malformed,
    /// More than [`MAX_KEYS`] entries.
    TooManyKeys,
    /// Two usable keys share a `kid`: a token naming it would be ambiguous.
    DuplicateKid(String),
    /// Every entry was skipped.
    NoUsableKeys,
}

impl JwksError {
    /// Stable snake_case reason for logs and stats.
    pub fn reason(&self) -> &'static str {
        match self {
            JwksError::TooLarge => "jwks_too_large",
            JwksError::Malformed => "jwks_malformed",
            JwksError::TooManyKeys => "jwks_too_many_keys",
            JwksError::DuplicateKid(_) => "jwks_duplicate_kid",
            JwksError::NoUsableKeys => "jwks_no_usable_keys",
        }
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::DuplicateKid(kid) => write!(f, "{}: {kid:?}", self.reason()),
            _ => f.write_str(self.reason()),
        }
    }
}

impl std::error::Error for JwksError {}

/// The trusted keys of one issuer, indexed by `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

/// A parsed JWKS: the usable keys plus what was skipped and why.
#[derive(Debug, Clone)]
pub struct ParsedJwks {
    /// The keys to trust.
    pub keys: KeySet,
    /// Entries ignored, with reasons, for logging.
    pub skipped: Vec<SkippedKey>,
}

impl KeySet {
    /// A key set from keys already built (e.g. a minter's public keys); duplicate `kid`s are refused.
    pub fn from_keys(keys: Vec<VerificationKey>) -> Result<Self, JwksError> {
        let set = Self { keys };
        set.check_unique_kids()?;
        Ok(set)
    }

    /// Parse a JWKS document (bytes as fetched or inlined).
    pub fn parse(doc: &[u8]) -> Result<ParsedJwks, JwksError> {
        if doc.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        let value: Value = serde_json::from_slice(doc).map_err(|_| JwksError::Malformed)?;
        Self::from_value(&value)
    }

    /// Parse a JWKS already held as JSON (inline in the plugin configuration).
    pub fn from_value(value: &Value) -> Result<ParsedJwks, JwksError> {
        let entries = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError::Malformed)?;
        if entries.len() > MAX_KEYS {
            return Err(JwksError::TooManyKeys);
        }
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match parse_jwk(entry) {
                Ok(key) => keys.push(key),
                Err(reason) => skipped.push(SkippedKey {
                    index,
                    kid: entry.get("kid").and_then(Value::as_str).map(str::to_owned),
                    reason,
                }),
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        let keys = Self::from_keys(keys)?;
        Ok(ParsedJwks { keys, skipped })
    }

    fn check_unique_kids(&self) -> Result<(), JwksError> {
        for (i, a) in self.keys.iter().enumerate() {
            let Some(kid) = &a.kid else { continue };
            if self.keys[..i].iter().any(|b| b.kid.as_ref() == Some(kid)) {
                return Err(JwksError::DuplicateKid(kid.clone()));
            }
        }
        Ok(())
    }

    /// All keys, in document order.
    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is loaded (remote JWKS not fetched yet).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key with this `kid`.
    pub fn by_kid(&self, kid: &str) -> Option<&VerificationKey> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// Whether a key with this fingerprint is still trusted (cache entries check this, so
    /// removing a key from the JWKS revokes tokens it signed even if they are cached).
    pub fn contains_fingerprint(&self, fingerprint: &[u8; 32]) -> bool {
        self.keys.iter().any(|k| &k.fingerprint == fingerprint)
    }

    /// The public JWKS document (`{"keys":[...]}`), as the gateway serves it.
    pub fn to_jwks_json(&self) -> String {
        let keys: Vec<Value> = self.keys.iter().map(VerificationKey::to_jwk).collect();
        json!({ "keys": keys }).to_string()
    }
}

/// One JWK to a key, or the reason it is skipped. Private members (`d`, ...) are ignored:
/// only the public part is read, and nothing private is ever kept or re-served.
fn parse_jwk(entry: &Value) -> Result<VerificationKey, &'static str> {
    let obj = entry.as_object().ok_or("not_an_object")?;
    let text = |name: &str| -> Result<Option<&str>, &'static str> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err("bad_member_type"),
        }
    };
    if text("use")?.is_some_and(|u| u != "sig") {
        return Err("encryption_key");
    }
    check_key_ops(obj.get("key_ops"))?;
    let kid = text("kid")?.map(str::to_owned);
    let key = match text("kty")?.ok_or("missing_kty")? {
        "RSA" => rsa_key(obj)?,
        "EC" => ec_key(obj, text("crv")?)?,
        "OKP" => okp_key(obj, text("crv")?)?,
        _ => return Err("unsupported_kty"),
    };
    if let Some(alg) = text("alg")? {
        if alg != key.algorithm().as_str() {
            return Err("unsupported_alg");
        }
    }
    Ok(VerificationKey::new(kid, key))
}

/// `key_ops`, when present, must allow `verify` (RFC 7517 §4.3).
fn check_key_ops(ops: Option<&Value>) -> Result<(), &'static str> {
    match ops {
        None => Ok(()),
        Some(Value::Array(ops)) if ops.iter().any(|o| o == "verify") => Ok(()),
        Some(_) => Err("key_ops_without_verify"),
    }
}

fn member_bytes(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, &'static str> {
    let s = obj
        .get(name)
        .and_then(Value::as_str)
        .ok_or("missing_key_material")?;
    URL_SAFE_NO_PAD.decode(s).map_err(|_| "bad_key_material")
}

fn rsa_key(obj: &Map<String, Value>) -> Result<PublicKey, &'static str> {
    let n = member_bytes(obj, "n")?;
    let e = member_bytes(obj, "e")?;
    RS256PublicKey::from_components(&n, &e)
        .map(|k| PublicKey::Rs256(Box::new(k)))
        .map_err(|_| "bad_rsa_key")
}

fn ec_key(obj: &Map<String, Value>, crv: Option<&str>) -> Result<PublicKey, &'static str> {
    if crv != Some("P-256") {
        return Err("unsupported_crv");
    }
    let x = member_bytes(obj, "x")?;
    let y = member_bytes(obj, "y")?;
    if x.len() != 32 || y.len() != 32 {
        return Err("bad_key_material");
    }
    let mut raw = Vec::with_capacity(65);
    raw.push(4);
    raw.extend_from_slice(&x);
    raw.extend_from_slice(&y);
    ES256PublicKey::from_bytes(&raw)
        .map(PublicKey::Es256)
        .map_err(|_| "bad_ec_point")
}

fn okp_key(obj: &Map<String, Value>, crv: Option<&str>) -> Result<PublicKey, &'static str> {
    if crv != Some("Ed25519") {
        return Err("unsupported_crv");
    }
    let x = member_bytes(obj, "x")?;
    if x.len() != 32 {
        return Err("bad_key_material");
    }
    Ed25519PublicKey::from_bytes(&x)
        .map(PublicKey::EdDsa)
        .map_err(|_| "bad_key_material")
}
