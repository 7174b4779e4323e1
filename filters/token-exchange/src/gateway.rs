//! The gateway's per-worker state: verifiers for user and agent tokens, the minter and its
//! cache, the session codec, all built once at configuration time from the config and the
//! keys in the VM environment.

use meshguard_core::denial::{Control, Denial};
use meshguard_core::jwt::{
    jti_from_random, Algorithm, MintCache, MintRequest, Minter, Policy, SessionCodec, Verifier,
};
use meshguard_core::token_exchange::{Config, Refusal};
use meshguard_proxy::host;
use meshguard_proxy::verifier::{SharedVerifier, TokenVerifier};
use std::cell::RefCell;
use std::rc::Rc;

const FILTER: &str = "token_exchange";

/// Everything the streams of one worker share.
pub struct Gateway {
    pub users: SharedVerifier,
    pub agents: SharedVerifier,
    pub public_jwks: String,
    minter: Minter,
    sessions: SessionCodec,
    mint_cache: MintCache,
    session_max_age: u64,
}

impl Gateway {
    /// Build from configuration and environment; the error names what is missing.
    pub fn new(config: &Config) -> Result<Self, String> {
        let m = &config.minter;
        let signing = host::env(&m.signing_keys_env).ok_or_else(|| {
            format!("environment variable {} (signing keys, field `minter.signing_keys_env`) is not set", m.signing_keys_env)
        })?;
        let minter = Minter::from_env_json(&m.issuer, &signing)
            .map_err(|e| format!("environment variable {}: {e}", m.signing_keys_env))?;
        let session_keys = host::env(&m.session_keys_env).ok_or_else(|| {
            format!("environment variable {} (session keys, field `minter.session_keys_env`) is not set", m.session_keys_env)
        })?;
        let sessions = SessionCodec::from_env(&session_keys, m.session_max_age_seconds, 30)
            .map_err(|e| format!("environment variable {}: {e}", m.session_keys_env))?;
        let users = TokenVerifier::new(&config.user_tokens, config.token_cache_capacity, FILTER)
            .map_err(|e| e.within("user_tokens").to_string())?;
        let agents = agent_verifier(config, &minter)?;
        Ok(Self {
            users: Rc::new(RefCell::new(users)),
            agents: Rc::new(RefCell::new(TokenVerifier::fixed(
                agents,
                config.token_cache_capacity,
                FILTER,
            ))),
            public_jwks: minter.public_jwks(),
            mint_cache: MintCache::new(m.mint_cache_capacity, m.refresh_margin_seconds()),
            session_max_age: m.session_max_age_seconds,
            minter,
            sessions,
        })
    }

    /// A minted token for `req`, from the cache while it has life left.
    pub fn mint(&mut self, req: &MintRequest, now: u64) -> Result<String, Denial> {
        if let Some(m) = self.mint_cache.get(req, self.minter.active_kid(), now) {
            return Ok(m.token);
        }
        let random = host::random16().ok_or(Refusal::NoRandomness(Control::Mcp02))?;
        let minted = self
            .minter
            .mint(req, now, &jti_from_random(&random))
            .map_err(|e| Refusal::MintFailed(e.reason()))?;
        self.mint_cache.insert(req, &minted, now);
        Ok(minted.token)
    }

    /// A new session id for `sub` and its lifetime.
    pub fn issue_session(&self, sub: &str, now: u64) -> Result<(String, u64), Denial> {
        let random = host::random16().ok_or(Refusal::NoRandomness(Control::Mcp18))?;
        Ok((self.sessions.issue(sub, &random, now), self.session_max_age))
    }

    /// MCP-18: `sid` was issued by this gateway to `sub` and is still young enough.
    pub fn verify_session(&self, sid: &str, sub: &str, now: u64) -> Result<(), Denial> {
        self.sessions
            .verify(sid, sub, now)
            .map(|_| ())
            .map_err(|e| Refusal::SessionNotTheUsers(e.reason()).into())
    }
}

/// Agent tokens come back to the gateway in flow 2: its own issuer, any agent audience,
/// its own keys (including ones kept for rotation), the binding and session claims required.
fn agent_verifier(config: &Config, minter: &Minter) -> Result<Verifier, String> {
    let keys = minter
        .public_keys()
        .map_err(|e| format!("signing keys: {e}"))?;
    let audiences: Vec<String> = config.agents.iter().map(|a| a.id.clone()).collect();
    let mut algorithms: Vec<Algorithm> = keys.keys().iter().map(|k| k.key.algorithm()).collect();
    algorithms.dedup();
    let mut policy = Policy::new(&config.minter.issuer, "", &algorithms);
    policy.audiences = audiences;
    policy.required = vec![
        meshguard_core::jwt::RequiredClaim::Cnf,
        meshguard_core::jwt::RequiredClaim::Sid,
    ];
    Ok(Verifier::new(policy, keys))
}
