//! Bounded caches: verified tokens, minted tokens, and seen `jti`s.
//!
//! A fresh ES256 verify costs ~1 ms in Wasm while a hash-map hit costs microseconds, and an
//! agent reuses one token for many calls, so these caches are what make the filters fast.
//! They never widen what is accepted: a verified-token hit skips only the signature, and the
//! caller re-checks issuer, audience, time and key trust on every hit. Keys are SHA-256
//! digests, so memory per entry is bounded whatever the token size, and capacity is fixed:
//! when full, expired entries are purged, then the entry closest to expiry is evicted.

use super::error::VerifyError;
use super::mint::{MintRequest, Minted};
use super::verify::Authenticated;
use std::collections::HashMap;

type Digest = [u8; 32];

/// A fixed-capacity map whose entries expire at a given unix second.
#[derive(Debug, Clone)]
struct ExpiringMap<V> {
    entries: HashMap<Digest, (u64, V)>,
    capacity: usize,
}

impl<V> ExpiringMap<V> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The live entry for `key` at `now`; an expired one is dropped.
    fn get(&mut self, key: &Digest, now: u64) -> Option<&V> {
        let expired = self.entries.get(key).is_some_and(|(exp, _)| now >= *exp);
        if expired {
            self.entries.remove(key);
        }
        self.entries.get(key).map(|(_, v)| v)
    }

    fn purge(&mut self, now: u64) {
        self.entries.retain(|_, (exp, _)| now < *exp);
    }

    /// Whether a new key can be added without evicting a live entry.
    fn has_room(&mut self, key: &Digest, now: u64) -> bool {
        if self.entries.contains_key(key) || self.entries.len() < self.capacity {
            return true;
        }
        self.purge(now);
        self.entries.len() < self.capacity
    }

    /// Insert, evicting the entry closest to expiry if the map is full of live entries.
    fn insert(&mut self, key: Digest, expires_at: u64, value: V, now: u64) {
        if !self.has_room(&key, now) {
            let victim = self
                .entries
                .iter()
                .min_by_key(|(_, (exp, _))| *exp)
                .map(|(k, _)| *k);
            if let Some(victim) = victim {
                self.entries.remove(&victim);
            }
        }
        self.entries.insert(key, (expires_at, value));
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

fn digest(parts: &[&[u8]]) -> Digest {
    let mut h = hmac_sha256::Hash::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize()
}

/// Tokens whose signature verified, keyed by the SHA-256 of the token string.
#[derive(Debug, Clone)]
pub struct TokenCache {
    map: ExpiringMap<Authenticated>,
}

impl TokenCache {
    /// A cache holding at most `capacity` tokens.
    pub fn new(capacity: usize) -> Self {
        Self {
            map: ExpiringMap::new(capacity),
        }
    }

    /// The authenticated claims for `token`, if cached and not past its cache expiry. The
    /// caller must still check the policy and that the signing key is still trusted
    /// ([`crate::jwt::Verifier::verify_cached`] does both).
    pub fn get(&mut self, token: &str, now: u64) -> Option<&Authenticated> {
        self.map.get(&digest(&[token.as_bytes()]), now)
    }

    /// Remember a verified token until `exp - skew` (tokens without `exp` are not cached;
    /// tokens that close to expiry are not worth caching and get a full check each time).
    pub fn insert(&mut self, token: &str, auth: Authenticated, now: u64, skew: u64) {
        let Some(exp) = auth.claims.exp else { return };
        let until = exp.saturating_sub(skew);
        if until > now {
            self.map
                .insert(digest(&[token.as_bytes()]), until, auth, now);
        }
    }

    /// Entries currently held (expired ones may linger until the next purge).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }
}

/// Tokens this gateway minted, reused for identical requests until shortly before expiry.
///
/// Reuse means one `jti` serves several calls: a tool that enables `jti` replay rejection
/// must be fed by a gateway that does not consult this cache (`mint_cache_capacity: 0`).
#[derive(Debug, Clone)]
pub struct MintCache {
    map: ExpiringMap<Minted>,
    refresh_margin: u64,
}

impl MintCache {
    /// A cache of at most `capacity` tokens, each reused until `refresh_margin` seconds
    /// before its `exp`, so a downstream verifier never receives an almost-expired token.
    pub fn new(capacity: usize, refresh_margin: u64) -> Self {
        Self {
            map: ExpiringMap::new(capacity),
            refresh_margin,
        }
    }

    /// The cache key: every input of the token (subject, audience, tool, session, binding,
    /// team, role, agent, act chain, ttl) plus the signing key id, so a rotation mints anew.
    fn key(req: &MintRequest, kid: &str) -> Digest {
        let canonical = serde_json::to_vec(req).unwrap_or_default();
        digest(&[&canonical, kid.as_bytes()])
    }

    /// A previously minted token for exactly this request and signing key, still fresh at `now`.
    pub fn get(&mut self, req: &MintRequest, kid: &str, now: u64) -> Option<Minted> {
        self.map.get(&Self::key(req, kid), now).cloned()
    }

    /// Remember a minted token for reuse.
    pub fn insert(&mut self, req: &MintRequest, minted: &Minted, now: u64) {
        let until = minted.exp.saturating_sub(self.refresh_margin);
        if until > now {
            let key = Self::key(req, &minted.kid);
            self.map.insert(key, until, minted.clone(), now);
        }
    }

    /// Entries currently held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }
}

/// `jti`s already accepted, remembered until their token could no longer be accepted
/// (`exp + skew`). Keyed by issuer and `jti`, so two issuers cannot collide.
#[derive(Debug, Clone)]
pub struct ReplayCache {
    map: ExpiringMap<()>,
}

impl ReplayCache {
    /// A cache remembering at most `capacity` live `jti`s.
    pub fn new(capacity: usize) -> Self {
        Self {
            map: ExpiringMap::new(capacity),
        }
    }

    /// Accept the first use of (`iss`, `jti`) and refuse any later one within its lifetime.
    /// When full of live entries it fails closed (`replay_cache_full`) rather than forget a
    /// `jti` an attacker could then replay.
    pub fn check_and_insert(
        &mut self,
        iss: &str,
        jti: &str,
        exp: u64,
        skew: u64,
        now: u64,
    ) -> Result<(), VerifyError> {
        let key = digest(&[iss.as_bytes(), jti.as_bytes()]);
        if self.map.get(&key, now).is_some() {
            return Err(VerifyError::TokenReplayed);
        }
        if !self.map.has_room(&key, now) {
            return Err(VerifyError::ReplayCacheFull);
        }
        self.map.insert(key, exp.saturating_add(skew), (), now);
        Ok(())
    }

    /// Entries currently held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_map_evicts_the_entry_closest_to_expiry() {
        let mut m = ExpiringMap::new(2);
        m.insert([1; 32], 100, 'a', 0);
        m.insert([2; 32], 50, 'b', 0);
        m.insert([3; 32], 200, 'c', 0);
        assert_eq!(m.len(), 2);
        assert!(m.get(&[2; 32], 0).is_none());
        assert_eq!(m.get(&[1; 32], 0), Some(&'a'));
        assert_eq!(m.get(&[3; 32], 0), Some(&'c'));
    }

    #[test]
    fn expired_entries_are_purged_before_evicting_live_ones() {
        let mut m = ExpiringMap::new(2);
        m.insert([1; 32], 10, 'a', 0);
        m.insert([2; 32], 500, 'b', 0);
        m.insert([3; 32], 100, 'c', 20);
        assert_eq!(m.get(&[2; 32], 20), Some(&'b'));
        assert_eq!(m.get(&[3; 32], 20), Some(&'c'));
        // Expiry is exclusive: at `expires_at` the entry is gone.
        assert!(m.get(&[3; 32], 100).is_none());
    }

    #[test]
    fn replacing_a_key_in_a_full_map_evicts_nothing() {
        let mut m = ExpiringMap::new(2);
        m.insert([1; 32], 100, 'a', 0);
        m.insert([2; 32], 50, 'b', 0);
        m.insert([2; 32], 60, 'B', 0);
        assert_eq!(m.get(&[1; 32], 0), Some(&'a'));
        assert_eq!(m.get(&[2; 32], 0), Some(&'B'));
    }

    #[test]
    fn digests_are_length_prefixed() {
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
    }
}
