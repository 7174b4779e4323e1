//! Fetching a remote JWKS through an Envoy cluster with `dispatch_http_call`: on a timer
//! (rotation) and on demand when a token names an unknown `kid`, never more often than the
//! configured minimum interval (so junk `kid`s cannot flood the issuer). A failed or
//! malformed fetch keeps the last good key set.

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
}

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
        }
    }

    /// Whether the periodic refresh is due.
    pub fn refresh_due(&self, now: u64) -> bool {
        match self.last_success {
            None => self.may_fetch(now),
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
    pub fn dispatch(&mut self, ctx: &dyn Context, now: u64) -> Option<u32> {
        self.last_attempt = Some(now);
        let headers = vec![
            (":method", "GET"),
            (":path", self.path.as_str()),
            (":authority", self.authority.as_str()),
            ("accept", "application/json"),
        ];
        let timeout = Duration::from_millis(self.remote.timeout_ms);
        ctx.dispatch_http_call(&self.remote.cluster, headers, None, vec![], timeout)
            .ok()
    }

    /// Interpret the response of a dispatched fetch.
    pub fn on_response(
        &mut self,
        ctx: &dyn Context,
        body_size: usize,
        now: u64,
    ) -> Result<KeySet, FetchError> {
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
