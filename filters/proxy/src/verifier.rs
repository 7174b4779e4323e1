//! Token verification as the identity filters need it: cached, with the issuer's keys
//! fetched (and re-fetched on an unknown `kid`) through Envoy, and `jti` replay records
//! kept in shared data across workers.

use crate::jwks_fetch::JwksFetcher;
use crate::shared::{self, UpdateError};
use crate::{host, log};
use meshguard_core::config::ConfigError;
use meshguard_core::denial::Denial;
use meshguard_core::identity::token_denial;
use meshguard_core::jwt::{
    replay_shared, Claims, JwksSource, TokenCache, Verifier, VerifierConfig, VerifyError,
};
use proxy_wasm::traits::Context;
use std::cell::RefCell;
use std::rc::Rc;

/// Outcome of checking a token.
pub enum Verified {
    Valid(Box<Claims>),
    /// Keys are being fetched; retry when the call with this token answers.
    Fetching(u32),
    Invalid(Denial),
}

/// One issuer's verifier, its cache and (for a remote JWKS) its fetcher.
pub struct TokenVerifier {
    verifier: Verifier,
    cache: TokenCache,
    fetcher: Option<JwksFetcher>,
    filter: &'static str,
}

/// Shared between the root context (periodic refresh) and every stream of a worker.
pub type SharedVerifier = Rc<RefCell<TokenVerifier>>;

impl TokenVerifier {
    /// Build from configuration; a remote JWKS starts empty and is fetched on first need.
    pub fn new(
        config: &VerifierConfig,
        cache_capacity: usize,
        filter: &'static str,
    ) -> Result<Self, ConfigError> {
        let fetcher = match &config.jwks {
            JwksSource::Remote(remote) => Some(JwksFetcher::new(remote)),
            JwksSource::Inline(_) => None,
        };
        Ok(Self {
            verifier: config.build()?,
            cache: TokenCache::new(cache_capacity),
            fetcher,
            filter,
        })
    }

    /// A verifier with fixed keys (e.g. the gateway verifying its own agent tokens).
    pub fn fixed(verifier: Verifier, cache_capacity: usize, filter: &'static str) -> Self {
        Self {
            verifier,
            cache: TokenCache::new(cache_capacity),
            fetcher: None,
            filter,
        }
    }

    /// Verify `token` (cache first); on an unknown `kid` or no keys, start a fetch from `ctx`.
    pub fn check(&mut self, ctx: &dyn Context, token: &str) -> Verified {
        let now = host::now(ctx);
        match self.verifier.verify_cached(token, now, &mut self.cache) {
            Ok(claims) => Verified::Valid(Box::new(claims)),
            Err(e) if e.wants_jwks_refresh() => match self.start_fetch(ctx, now) {
                Some(call) => Verified::Fetching(call),
                None => Verified::Invalid(token_denial(&e)),
            },
            Err(e) => Verified::Invalid(token_denial(&e)),
        }
    }

    fn start_fetch(&mut self, ctx: &dyn Context, now: u64) -> Option<u32> {
        let fetcher = self.fetcher.as_mut().filter(|f| f.may_fetch(now))?;
        fetcher.dispatch(ctx, now)
    }

    /// Periodic refresh from the root context, when due.
    pub fn refresh_if_due(&mut self, ctx: &dyn Context) -> Option<u32> {
        let now = host::now(ctx);
        let fetcher = self.fetcher.as_mut().filter(|f| f.refresh_due(now))?;
        fetcher.dispatch(ctx, now)
    }

    /// Install the keys a fetch returned (keeping the old ones if it failed).
    pub fn on_fetch_response(&mut self, ctx: &dyn Context, body_size: usize) {
        let now = host::now(ctx);
        let Some(fetcher) = self.fetcher.as_mut() else {
            return;
        };
        match fetcher.on_response(ctx, body_size, now) {
            Ok(keys) => {
                log::debug(self.filter, &format!("JWKS refreshed: {} keys", keys.len()));
                crate::stats::increment(self.filter, "jwks.refreshed");
                self.verifier.set_keys(keys);
            }
            Err(e) => {
                log::warn(
                    self.filter,
                    &format!("JWKS refresh failed, keeping old keys: {}", e.0),
                );
                crate::stats::increment(self.filter, "jwks.refresh_failed");
            }
        }
    }

    /// The configured issuer (for replay keys).
    pub fn issuer(&self) -> &str {
        &self.verifier.policy().issuer
    }
}

/// Create every `jti` replay bucket before traffic (call from `on_configure`), so no two
/// workers can both create one and lose a record (Envoy has no conditional create).
pub fn prepare_replay_records() {
    for bucket in 0..replay_shared::BUCKETS {
        shared::ensure(&replay_shared::key(bucket));
    }
}

/// Remember a token's `jti` in shared data until it expires; refuse it if already seen.
pub fn reject_replay(ctx: &dyn Context, issuer: &str, claims: &Claims) -> Result<(), Denial> {
    let jti = claims
        .jti
        .as_deref()
        .ok_or_else(|| token_denial(&VerifyError::MissingClaim("jti")))?;
    let until = claims.exp.unwrap_or(0).saturating_add(60);
    record_jti(ctx, issuer, jti, until).map_err(|e| token_denial(&e))
}

/// Record `jti` of `issuer` in shared data (seen by every worker) until `until`, with a CAS
/// write so two workers cannot both accept it: `TokenReplayed` if it was already recorded,
/// `ReplayCacheFull` if it cannot be recorded (fail closed). Any single-use token kind
/// (agent tokens, approval tokens) uses this one record.
pub fn record_jti(
    ctx: &dyn Context,
    issuer: &str,
    jti: &str,
    until: u64,
) -> Result<(), VerifyError> {
    let (key, id) = replay_shared::locate(issuer, jti);
    let now = host::now(ctx);
    shared::update(&key, |bucket| {
        replay_shared::record(bucket, &id, until, now).map(Some)
    })
    .map_err(|e| match e {
        UpdateError::Refused(e) => e,
        UpdateError::Unavailable => VerifyError::ReplayCacheFull,
    })
}
