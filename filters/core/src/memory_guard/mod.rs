//! Memory guard in front of a vector database (MCP-11, cross-tenant memory isolation).
//!
//! Agents reach a Chroma server's HTTP API (v2) through this filter, which confines every
//! request to the caller's team (and session) taken from the verified token:
//! - reads (`query`, `get`) and `delete` get `{"$and": [{team: T}, {session: S}?, where]}`;
//!   a `where` that names another team or session, or uses anything but exact equality on
//!   a tenant key, is refused; a delete naming neither ids nor a filter is refused;
//! - writes (`add`, `upsert`, `update`) get team, session and user stamped on every
//!   record's metadata; a record naming another one is refused;
//! - every record id must start with the caller's prefix (`{team}/{session}/`), because
//!   `update` and `upsert` address records by id alone;
//! - any other route (collection deletion, reset, tenants, databases, search, fork, ...)
//!   is refused unless listed in `operations`; unknown fields and duplicate keys are refused.
//!
//! The caller's identity comes from the `x-meshguard-team`, `x-meshguard-session` and
//! `x-meshguard-sub` headers, which audience-check sets after verifying the token and
//! binding it to the mTLS peer (and strips when they come from outside); this filter must
//! run after it.

pub mod config;
pub mod filter;
pub mod records;
pub mod route;

pub use config::Config;
pub use route::Operation;

use crate::denial::{Control, Denial};
use std::borrow::Cow;

/// The caller as audience-check verified it (header values, absent when not set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// `x-meshguard-team`: the token's team.
    pub team: Option<String>,
    /// `x-meshguard-session`: the token's `sid`.
    pub session: Option<String>,
    /// `x-meshguard-sub`: the token's subject (the user), stamped as provenance.
    pub user: Option<String>,
}

/// The trusted identity headers this filter reads (set by audience-check).
pub const TEAM_HEADER: &str = "x-meshguard-team";
/// See [`TEAM_HEADER`].
pub const SESSION_HEADER: &str = "x-meshguard-session";
/// See [`TEAM_HEADER`].
pub const USER_HEADER: &str = "x-meshguard-sub";

/// A caller's tenant under one configuration: the values to stamp and confine with.
#[derive(Debug, Clone)]
pub struct Tenant<'a> {
    config: &'a Config,
    team: String,
    session: String,
    user: String,
    /// The prefix every record id of this caller starts with.
    pub id_prefix: String,
}

impl<'a> Tenant<'a> {
    /// The caller's tenant; refused if an identity value is missing or unusable.
    pub fn new(config: &'a Config, caller: &Caller) -> Result<Self, Denial> {
        let team = identity_value(caller.team.as_deref())?;
        let session = identity_value(caller.session.as_deref())?;
        let user = identity_value(caller.user.as_deref())?;
        let id_prefix = config
            .id_prefix
            .replace("{team}", &team)
            .replace("{session}", &session)
            .replace("{user}", &user);
        Ok(Self {
            config,
            team,
            session,
            user,
            id_prefix,
        })
    }

    /// Keys a `where` must treat as the tenant's: `Some((exact, own value))` when `key` is
    /// the team or session key (`exact`) or a case variant of it (not `exact`).
    fn reserved(&self, key: &str) -> Option<(bool, &str)> {
        let keys = &self.config.metadata_keys;
        reserved_in(
            key,
            [(&keys.team, &self.team), (&keys.session, &self.session)],
        )
    }

    /// As [`Tenant::reserved`], for the keys stamped on writes (team, session, user).
    fn stamped(&self, key: &str) -> Option<(bool, &str)> {
        let keys = &self.config.metadata_keys;
        reserved_in(key, [(&keys.user, &self.user)]).or_else(|| self.reserved(key))
    }

    /// The clauses every read and delete is ANDed with.
    fn read_clauses(&self) -> Vec<(String, String)> {
        let keys = &self.config.metadata_keys;
        let mut clauses = vec![(keys.team.clone(), self.team.clone())];
        if self.config.confine_to_session {
            clauses.push((keys.session.clone(), self.session.clone()));
        }
        clauses
    }

    /// The metadata stamped on every written record.
    fn stamp_values(&self) -> [(String, String); 3] {
        let keys = &self.config.metadata_keys;
        [
            (keys.team.clone(), self.team.clone()),
            (keys.session.clone(), self.session.clone()),
            (keys.user.clone(), self.user.clone()),
        ]
    }
}

fn reserved_in<'k, const N: usize>(
    key: &str,
    pairs: [(&String, &'k String); N],
) -> Option<(bool, &'k str)> {
    pairs
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key.trim()))
        .map(|(k, v)| (k.as_str() == key, v.as_str()))
}

fn identity_value(value: Option<&str>) -> Result<String, Denial> {
    let value = value.filter(|v| !v.is_empty()).ok_or_else(|| {
        deny(
            401,
            "missing_identity",
            "no verified team, session and subject (audience-check must run first)",
        )
    })?;
    if value.len() > 256 || !value.chars().all(config::identity_char) {
        return Err(deny(
            403,
            "invalid_identity",
            "the verified identity holds characters a tenant value may not contain",
        ));
    }
    Ok(value.to_string())
}

/// The operation of a request, if allowed (see [`route::classify`]).
pub fn classify(config: &Config, method: &str, path: &str) -> Result<Operation, Denial> {
    route::classify(config, method, path)
}

/// Check a record operation's body for `caller` and return the body to forward (always
/// re-serialised from what was checked, never the original bytes).
pub fn rewrite_body(
    config: &Config,
    caller: &Caller,
    op: Operation,
    body: &[u8],
) -> Result<Vec<u8>, Denial> {
    let tenant = Tenant::new(config, caller)?;
    let value = crate::json::parse(body).map_err(|e| crate::json::denial(&e))?;
    let value = records::rewrite(op, &tenant, value)?;
    Ok(value.to_string().into_bytes())
}

/// A memory-guard refusal (control MCP-11).
pub(crate) fn deny(
    status: u16,
    reason: &'static str,
    message: impl Into<Cow<'static, str>>,
) -> Denial {
    Denial::new(status, Control::Mcp11, reason, message)
}

pub(crate) fn key_variant() -> Denial {
    deny(
        403,
        "tenant_key_variant",
        "a key differing from a tenant key only in case or spacing is refused",
    )
}

#[cfg(test)]
mod tests;
