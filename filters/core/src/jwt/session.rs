//! Gateway-issued session ids bound to their subject (MCP-18), with no shared state.
//!
//! A session id is `base64url(version || key_id || issued_at || random || tag)` where
//! `tag = HMAC-SHA256(key, domain || version || key_id || issued_at || random || subject)`.
//! Any gateway replica holding the key can check that a session id was issued by meshguard
//! *to this subject* without a session store; another user's id, or a tampered one, fails
//! the tag comparison (constant time). `key_id` lets keys rotate: the first key issues, every
//! listed key verifies. Keys come from the host environment, never the plugin configuration.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use std::fmt;

const VERSION: u8 = 1;
const DOMAIN: &[u8] = b"meshguard/sid/v1\0";
const RANDOM_LEN: usize = 16;
const TAG_LEN: usize = 32;
const RAW_LEN: usize = 2 + 8 + RANDOM_LEN + TAG_LEN;
/// Shortest HMAC key accepted: the full SHA-256 strength.
pub const MIN_KEY_BYTES: usize = 32;
/// Length of an encoded session id, in characters.
pub const SESSION_ID_LEN: usize = (RAW_LEN * 4).div_ceil(3);

/// Why a session id was refused (or a codec not built).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// Not a session id this version of meshguard issues.
    Malformed,
    /// Issued under a key no longer configured (rotated out).
    UnknownKey,
    /// Issued to another subject, or tampered with.
    Mismatch,
    /// Older than the configured maximum age.
    Expired,
    /// Issued in the future beyond the clock skew (forged clock or misconfigured replica).
    FromFuture,
    /// Key configuration unusable (short key, duplicate id, empty list, bad encoding).
    BadKeys,
}

impl SessionError {
    /// Stable snake_case reason for denials (control MCP-18) and stats.
    pub fn reason(&self) -> &'static str {
        match self {
            SessionError::Malformed => "session_malformed",
            SessionError::UnknownKey => "session_unknown_key",
            SessionError::Mismatch => "session_not_owned",
            SessionError::Expired => "session_expired",
            SessionError::FromFuture => "session_from_future",
            SessionError::BadKeys => "session_keys_invalid",
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for SessionError {}

/// Issues and checks session ids. `Debug` does not show keys.
#[derive(Clone)]
pub struct SessionCodec {
    keys: Vec<(u8, Vec<u8>)>,
    max_age_seconds: u64,
    clock_skew_seconds: u64,
}

impl fmt::Debug for SessionCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<u8> = self.keys.iter().map(|(id, _)| *id).collect();
        f.debug_struct("SessionCodec")
            .field("key_ids", &ids)
            .field("max_age_seconds", &self.max_age_seconds)
            .finish_non_exhaustive()
    }
}

impl SessionCodec {
    /// A codec whose first key issues; all verify. Keys must be at least [`MIN_KEY_BYTES`]
    /// with distinct ids. `max_age_seconds` bounds how long a session id is honoured.
    pub fn new(
        keys: Vec<(u8, Vec<u8>)>,
        max_age_seconds: u64,
        clock_skew_seconds: u64,
    ) -> Result<Self, SessionError> {
        if keys.is_empty() || keys.iter().any(|(_, k)| k.len() < MIN_KEY_BYTES) {
            return Err(SessionError::BadKeys);
        }
        for (i, (id, _)) in keys.iter().enumerate() {
            if keys[..i].iter().any(|(other, _)| other == id) {
                return Err(SessionError::BadKeys);
            }
        }
        Ok(Self {
            keys,
            max_age_seconds,
            clock_skew_seconds,
        })
    }

    /// A codec from the environment value `"<id>:<base64 key>,<id>:<base64 key>"` (ids
    /// 0-255, first one issues; standard or URL-safe base64, padding optional).
    pub fn from_env(
        value: &str,
        max_age_seconds: u64,
        clock_skew_seconds: u64,
    ) -> Result<Self, SessionError> {
        let keys = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_key_entry)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys, max_age_seconds, clock_skew_seconds)
    }

    /// A new session id for `subject`, issued at `now` with caller-supplied randomness.
    pub fn issue(&self, subject: &str, random: &[u8; RANDOM_LEN], now: u64) -> String {
        let Some((id, key)) = self.keys.first() else {
            return String::new();
        };
        let mut raw = Vec::with_capacity(RAW_LEN);
        raw.extend_from_slice(&[VERSION, *id]);
        raw.extend_from_slice(&now.to_be_bytes());
        raw.extend_from_slice(random);
        let tag = tag(key, &raw, subject);
        raw.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Accept `sid` only if meshguard issued it to `subject`, within its maximum age at `now`.
    /// Returns the issue time.
    pub fn verify(&self, sid: &str, subject: &str, now: u64) -> Result<u64, SessionError> {
        if sid.len() != SESSION_ID_LEN {
            return Err(SessionError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(sid)
            .map_err(|_| SessionError::Malformed)?;
        if raw.len() != RAW_LEN || raw[0] != VERSION {
            return Err(SessionError::Malformed);
        }
        let key = self.key(raw[1])?;
        let (signed, given) = raw.split_at(RAW_LEN - TAG_LEN);
        if !constant_time_eq(&tag(key, signed, subject), given) {
            return Err(SessionError::Mismatch);
        }
        let issued = u64::from_be_bytes(read8(&raw[2..10]));
        self.check_age(issued, now)?;
        Ok(issued)
    }

    fn key(&self, id: u8) -> Result<&[u8], SessionError> {
        self.keys
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, key)| key.as_slice())
            .ok_or(SessionError::UnknownKey)
    }

    fn check_age(&self, issued: u64, now: u64) -> Result<(), SessionError> {
        if issued > now.saturating_add(self.clock_skew_seconds) {
            return Err(SessionError::FromFuture);
        }
        if now.saturating_sub(issued) > self.max_age_seconds {
            return Err(SessionError::Expired);
        }
        Ok(())
    }
}

fn parse_key_entry(entry: &str) -> Result<(u8, Vec<u8>), SessionError> {
    let (id, key) = entry.split_once(':').ok_or(SessionError::BadKeys)?;
    let id: u8 = id.trim().parse().map_err(|_| SessionError::BadKeys)?;
    let key = key.trim();
    let bytes = [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD, &STANDARD_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(key).ok())
        .ok_or(SessionError::BadKeys)?;
    Ok((id, bytes))
}

fn tag(key: &[u8], signed: &[u8], subject: &str) -> [u8; TAG_LEN] {
    let mut mac = hmac_sha256::HMAC::new(key);
    mac.update(DOMAIN);
    mac.update(signed);
    mac.update(subject.as_bytes());
    mac.finalize()
}

fn read8(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(bytes.get(..8).unwrap_or(&[0u8; 8]));
    out
}

/// Compare without an early exit, so timing does not reveal how much of a tag matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn encoded_length_matches_constant() {
        let c = SessionCodec::new(vec![(0, vec![1; 32])], 60, 0);
        let sid = c.map(|c| c.issue("s", &[0; 16], 0)).unwrap_or_default();
        assert_eq!(sid.len(), SESSION_ID_LEN);
    }
}
