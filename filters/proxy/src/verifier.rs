//! Token verification as the identity filters need it: cached, with the issuer's keys
//! fetched (and re-fetched on an unknown `kid`) through Envoy, and `jti` replay records
//! kept in shared data across workers.
//!
//! A request whose token needs keys that are being fetched is parked ([`AwaitsKeys`]):
//! every such request, not only the one that started the fetch. The root context
//! dispatches the fetch (one at a time, [`on_tick`]), wakes every parked request when the
//! keys arrive ([`on_fetch_response`]), and refuses a request that waited longer than its
//! bound with 503 `keys_unavailable`, so nothing waits without limit.

use crate::jwks_fetch::JwksFetcher;
use crate::shared::{self, UpdateError};
use crate::{host, log};
use meshguard_core::config::ConfigError;
use meshguard_core::denial::Control;
use meshguard_core::denial::Denial;
use meshguard_core::identity::token_denial;
use meshguard_core::jwt::{
    replay_shared, Claims, JwksSource, TokenCache, Verifier, VerifierConfig, VerifyError,
};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

/// Outcome of checking a token.
pub enum Verified {
    Valid(Box<Claims>),
    /// Keys are being fetched: park the request ([`TokenVerifier::park`]).
    Fetching,
    Invalid(Denial),
}

/// A request parked until keys arrive; the root context calls it with the request's
/// context made effective, so its hostcalls act on that request.
pub trait AwaitsKeys {
    /// The fetch ended (keys or not): check the token again, then resume or deny.
    fn keys_settled(&mut self);
    /// The wait bound passed: deny (see [`keys_unavailable`]).
    fn keys_timed_out(&mut self);
}

/// A parked request.
struct Parked {
    context_id: u32,
    until_ms: u64,
    waiter: Weak<RefCell<dyn AwaitsKeys>>,
}

/// One issuer's verifier, its cache and (for a remote JWKS) its fetcher.
pub struct TokenVerifier {
    verifier: Verifier,
    cache: TokenCache,
    fetcher: Option<JwksFetcher>,
    parked: Vec<Parked>,
    max_wait_ms: u64,
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
        let (fetcher, max_wait_ms) = match &config.jwks {
            JwksSource::Remote(remote) => (Some(JwksFetcher::new(remote)), remote.max_wait_ms()),
            JwksSource::Inline(_) => (None, 0),
        };
        Ok(Self {
            verifier: config.build()?,
            cache: TokenCache::new(cache_capacity),
            fetcher,
            parked: Vec::new(),
            max_wait_ms,
            filter,
        })
    }

    /// A verifier with fixed keys (e.g. the gateway verifying its own agent tokens).
    pub fn fixed(verifier: Verifier, cache_capacity: usize, filter: &'static str) -> Self {
        Self {
            verifier,
            cache: TokenCache::new(cache_capacity),
            fetcher: None,
            parked: Vec::new(),
            max_wait_ms: 0,
            filter,
        }
    }

    /// Verify `token` (cache first). On an unknown `kid` or no keys, `Fetching` when a
    /// fetch is in flight or may start in time (the root dispatches it at its next tick):
    /// the caller parks the request. Otherwise (rate limited, keys present) the token is
    /// refused, and so is a token whose `kid` a fetch it `waited` for did not bring.
    pub fn check(&mut self, ctx: &dyn Context, token: &str, waited: bool) -> Verified {
        let now = host::now(ctx);
        match self.verifier.verify_cached(token, now, &mut self.cache) {
            Ok(claims) => Verified::Valid(Box::new(claims)),
            Err(e) if e.wants_jwks_refresh() => match self.fetcher.as_mut() {
                Some(f) if f.worth_waiting(now) && !(waited && f.has_keys()) => {
                    f.want();
                    Verified::Fetching
                }
                _ => Verified::Invalid(token_denial(&e)),
            },
            Err(e) => Verified::Invalid(token_denial(&e)),
        }
    }

    /// Park the request of `context_id` until the keys settle or its bound passes. The
    /// bound is set the first time a request parks (`first_parked_ms`) and kept when it
    /// parks again after a failed fetch.
    pub fn park(
        &mut self,
        context_id: u32,
        first_parked_ms: &mut Option<u64>,
        now_ms: u64,
        waiter: Weak<RefCell<dyn AwaitsKeys>>,
    ) {
        let until_ms = *first_parked_ms.get_or_insert(now_ms + self.max_wait_ms);
        crate::stats::increment(self.filter, "jwks.parked");
        self.parked.push(Parked {
            context_id,
            until_ms,
            waiter,
        });
    }

    /// Install the keys a fetch returned (keeping the old ones if it failed).
    fn install(&mut self, ctx: &dyn Context, body_size: usize) {
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

    /// Dispatch a wanted or due fetch (from the root context); take the parked requests
    /// whose bound passed.
    fn tick(&mut self, root: &dyn Context) -> Vec<Parked> {
        let (now, now_ms) = (host::now(root), host::now_ms(root));
        if let Some(f) = self.fetcher.as_mut() {
            if f.dispatch_due(now, now_ms) && f.dispatch(root, now, now_ms).is_none() {
                log::warn(self.filter, "JWKS fetch could not be dispatched");
                crate::stats::increment(self.filter, "jwks.refresh_failed");
            }
        }
        let (expired, waiting) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|p| p.until_ms <= now_ms);
        self.parked = waiting;
        expired
    }

    /// The configured issuer (for replay keys).
    pub fn issuer(&self) -> &str {
        &self.verifier.policy().issuer
    }
}

/// From the root context's tick: start a wanted or due fetch (at most one in flight) and
/// refuse parked requests that waited past their bound. Call it often (100 ms) so a
/// request that needs keys waits little for the fetch to start.
pub fn on_tick(verifier: &SharedVerifier, root: &dyn Context, root_id: u32) {
    let expired = verifier.borrow_mut().tick(root);
    wake(expired, root_id, |w| w.keys_timed_out());
}

/// From the root context's `on_http_call_response`: install the keys, then let every
/// parked request check its token again.
pub fn on_fetch_response(
    verifier: &SharedVerifier,
    root: &dyn Context,
    root_id: u32,
    body_size: usize,
) {
    let parked = {
        let mut v = verifier.borrow_mut();
        v.install(root, body_size);
        std::mem::take(&mut v.parked)
    };
    wake(parked, root_id, |w| w.keys_settled());
}

/// Call `f` on each parked request still alive, with its context made effective (a request
/// that ended meanwhile is skipped), then make the root effective again.
fn wake(parked: Vec<Parked>, root_id: u32, f: impl Fn(&mut dyn AwaitsKeys)) {
    if parked.is_empty() {
        return;
    }
    for p in parked {
        let Some(waiter) = p.waiter.upgrade() else {
            continue;
        };
        if proxy_wasm::hostcalls::set_effective_context(p.context_id).is_err() {
            continue;
        }
        let Ok(mut w) = waiter.try_borrow_mut() else {
            continue;
        };
        f(&mut *w);
    }
    let _ = proxy_wasm::hostcalls::set_effective_context(root_id);
}

/// The denial for a request that waited too long for its issuer's keys.
pub fn keys_unavailable() -> Denial {
    Denial::new(
        503,
        Control::Mcp02,
        "keys_unavailable",
        "the token issuer's keys could not be fetched in time",
    )
}

/// A stream the root context can wake: `make` builds its state from the handle it parks
/// with; the SDK gets a [`SharedStream`] over it.
pub fn parkable_stream<S: HttpContext + AwaitsKeys + 'static>(
    make: impl FnOnce(Weak<RefCell<dyn AwaitsKeys>>) -> S,
) -> Box<dyn HttpContext> {
    let stream = Rc::new_cyclic(|me: &Weak<RefCell<S>>| {
        let me: Weak<RefCell<dyn AwaitsKeys>> = me.clone();
        RefCell::new(make(me))
    });
    Box::new(SharedStream(stream))
}

/// The SDK's handle on a stream whose state the root context also reaches (to wake it
/// when keys arrive): the request callbacks go to the shared state.
pub struct SharedStream<S: HttpContext>(pub Rc<RefCell<S>>);

impl<S: HttpContext> Context for SharedStream<S> {}

impl<S: HttpContext> HttpContext for SharedStream<S> {
    fn on_http_request_headers(&mut self, headers: usize, end_of_stream: bool) -> Action {
        self.0
            .borrow_mut()
            .on_http_request_headers(headers, end_of_stream)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.0
            .borrow_mut()
            .on_http_request_body(body_size, end_of_stream)
    }

    fn on_http_request_trailers(&mut self, trailers: usize) -> Action {
        self.0.borrow_mut().on_http_request_trailers(trailers)
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
