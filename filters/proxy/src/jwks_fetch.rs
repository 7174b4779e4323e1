//! Fetching a remote JWKS through an Envoy cluster with `dispatch_http_call`: on a timer
//! (rotation) and on demand when a token names an unknown `kid`, never more often than the
//! configured minimum interval (so junk `kid`s cannot flood the issuer), and never two
//! fetches at once. Fetches are dispatched by the root context (its tick), so a fetch
//! outlives the request that wanted it. A failed or malformed fetch keeps the last good
//! key set.

use meshguard_core::jwt::{KeySet, RemoteJwks};
use proxy_wasm::traits::Context;
use std::time::Duration;

/// Retry interval while no key set was ever fetched.
const NO_KEYS_RETRY_SECONDS: u64 = 1;

/// Fetch state for one remote JWKS, kept by the root context and shared with streams.
#[derive(Debug)]
pub struct JwksFetcher {
    remote: RemoteJwks,
    authority: String,
    path: String,
    last_attempt: Option<u64>,
    last_success: Option<u64>,
    /// A fetch is in flight until this instant (ms): its timeout plus a grace period.
    in_flight_until_ms: Option<u64>,
    /// A request needs keys: fetch at the next tick the rate limit allows.
    wanted: bool,
}

/// Grace after a fetch's timeout before it is considered lost (Envoy answers a timed-out
/// call itself; this only covers a response that never comes).
const LOST_FETCH_GRACE_MS: u64 = 1000;

/// Why a JWKS response was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError(pub String);

impl JwksFetcher {
    /// A fetcher for `remote`; the URI's host becomes `:authority`, its path `:path`.
    pub fn new(remote: &RemoteJwks) -> Self {
        let without_scheme = remote
            .uri
            .split_once("://")
            .map_or(remote.uri.as_str(), |(_, r)| r);
        let (authority, path) = match without_scheme.find('/') {
            Some(i) => (&without_scheme[..i], &without_scheme[i..]),
            None => (without_scheme, "/"),
        };
        Self {
            remote: remote.clone(),
            authority: authority.to_string(),
            path: path.to_string(),
            last_attempt: None,
            last_success: None,
            in_flight_until_ms: None,
            wanted: false,
        }
    }

    /// A request needs (new) keys (a fetch in flight already serves it).
    pub fn want(&mut self) {
        if !self.fetching() {
            self.wanted = true;
        }
    }

    /// A fetch is in flight.
    pub fn fetching(&self) -> bool {
        self.in_flight_until_ms.is_some()
    }

    /// Some key set was fetched once.
    pub fn has_keys(&self) -> bool {
        self.last_success.is_some()
    }

    /// Whether a request that needs keys should wait for a fetch: one is in flight, or
    /// there are no keys at all yet, or the rate limit allows one before the request's wait
    /// bound (`max_wait_ms`) would refuse it anyway. A token naming an unknown `kid` just
    /// after a fetch (a rotation) thus waits for the next allowed fetch, while junk `kid`s
    /// during a long minimum interval are refused at once.
    pub fn worth_waiting(&self, now: u64) -> bool {
        let horizon = now + self.remote.max_wait_ms().div_ceil(1000);
        self.fetching() || !self.has_keys() || self.may_fetch(horizon)
    }

    /// Whether the root should dispatch a fetch now (`now` seconds, `now_ms` milliseconds):
    /// none in flight (a lost one is forgotten), and one is wanted or the refresh is due.
    pub fn dispatch_due(&mut self, now: u64, now_ms: u64) -> bool {
        if self.in_flight_until_ms.is_some_and(|until| now_ms > until) {
            // Lost: nobody learned anything from it, so whoever waited still wants keys.
            self.in_flight_until_ms = None;
            self.wanted = true;
        }
        !self.fetching() && ((self.wanted && self.may_fetch(now)) || self.refresh_due(now))
    }

    /// Whether the periodic refresh is due. Keys are first fetched on demand (a request
    /// parks until they arrive), so a VM that serves no requests (Envoy's main thread)
    /// never fetches, and each worker fetches once however many requests wait.
    pub fn refresh_due(&self, now: u64) -> bool {
        match self.last_success {
            None => false,
            Some(t) => now >= t + self.remote.refresh_interval_seconds && self.may_fetch(now),
        }
    }

    /// Whether an on-demand fetch is allowed now (rate limit). Until a first fetch has
    /// succeeded (e.g. the issuer was not up yet when Envoy started) every request would
    /// fail anyway, so retries are allowed each second instead of each minimum interval.
    pub fn may_fetch(&self, now: u64) -> bool {
        let interval = match self.last_success {
            None => NO_KEYS_RETRY_SECONDS.min(self.remote.min_refresh_interval_seconds),
            Some(_) => self.remote.min_refresh_interval_seconds,
        };
        self.last_attempt.is_none_or(|t| now >= t + interval)
    }

    /// Dispatch the GET from `ctx` (whose `on_http_call_response` receives it); returns
    /// the call token.
    pub fn dispatch(&mut self, ctx: &dyn Context, now: u64, now_ms: u64) -> Option<u32> {
        self.last_attempt = Some(now);
        self.wanted = false;
        self.in_flight_until_ms = Some(now_ms + self.remote.timeout_ms + LOST_FETCH_GRACE_MS);
        let headers = vec![
            (":method", "GET"),
            (":path", self.path.as_str()),
            (":authority", self.authority.as_str()),
            ("accept", "application/json"),
        ];
        let timeout = Duration::from_millis(self.remote.timeout_ms);
        let call = ctx
            .dispatch_http_call(&self.remote.cluster, headers, None, vec![], timeout)
            .ok();
        if call.is_none() {
            self.in_flight_until_ms = None;
        }
        call
    }

    /// Interpret the response of a dispatched fetch.
    pub fn on_response(
        &mut self,
        ctx: &dyn Context,
        body_size: usize,
        now: u64,
    ) -> Result<KeySet, FetchError> {
        // This fetch answers every want so far; a request still short of keys after it
        // wants again when it re-checks.
        self.in_flight_until_ms = None;
        self.wanted = false;
        let status = ctx
            .get_http_call_response_header(":status")
            .unwrap_or_default();
        if status != "200" {
            return Err(FetchError(format!("JWKS fetch answered status {status:?}")));
        }
        let body = ctx
            .get_http_call_response_body(0, body_size)
            .unwrap_or_default();
        let parsed = KeySet::parse(&body).map_err(|e| FetchError(format!("JWKS refused: {e}")))?;
        self.last_success = Some(now);
        Ok(parsed.keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher() -> JwksFetcher {
        JwksFetcher::new(&RemoteJwks {
            uri: "http://idp.test/jwks".into(),
            cluster: "idp".into(),
            refresh_interval_seconds: 300,
            min_refresh_interval_seconds: 30,
            timeout_ms: 2000,
            max_wait_ms: None,
        })
    }

    /// What `dispatch` records, without a host to dispatch through.
    fn dispatched(f: &mut JwksFetcher, now: u64, now_ms: u64) {
        f.last_attempt = Some(now);
        f.wanted = false;
        f.in_flight_until_ms = Some(now_ms + f.remote.timeout_ms + LOST_FETCH_GRACE_MS);
    }

    #[test]
    fn one_fetch_in_flight_however_many_want_keys() {
        let mut f = fetcher();
        f.want();
        assert!(f.dispatch_due(100, 100_000));
        dispatched(&mut f, 100, 100_000);
        for _ in 0..50 {
            f.want();
            assert!(
                !f.dispatch_due(100, 100_050),
                "a second fetch while one is in flight"
            );
            assert!(f.worth_waiting(100));
        }
    }

    #[test]
    fn a_lost_fetch_is_forgotten_after_its_timeout() {
        let mut f = fetcher();
        f.want();
        dispatched(&mut f, 100, 100_000);
        f.want();
        assert!(!f.dispatch_due(102, 102_000));
        // Timeout (2 s) plus grace passed: no keys yet, so a retry is allowed each second.
        assert!(f.dispatch_due(104, 104_000));
    }

    #[test]
    fn with_keys_an_unknown_kid_waits_only_when_a_fetch_may_start_in_time() {
        let mut f = fetcher();
        f.last_success = Some(100);
        f.last_attempt = Some(100);
        // Minimum interval 30 s, wait bound 2 s (the timeout).
        assert!(
            !f.worth_waiting(110),
            "rate limited for 20 s more: refuse at once"
        );
        assert!(
            f.worth_waiting(128),
            "a fetch may start within the wait bound"
        );
        assert!(f.worth_waiting(131));
    }
}
