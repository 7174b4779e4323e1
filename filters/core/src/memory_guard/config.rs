//! Plugin configuration of the memory-guard filter.
//!
//! ```json
//! {
//!   "metadata_keys": {"team": "team", "session": "session_id", "user": "user"},
//!   "confine_to_session": false,
//!   "id_prefix": "{team}/{session}/",
//!   "operations": ["get_collection", "query", "get", "add", "upsert", "update", "delete"],
//!   "chroma": {"tenant": "default_tenant", "database": "default_database"},
//!   "body": {"max_bytes": 1048576, "allow_uninspectable": false}
//! }
//! ```

use super::route::Operation;
use crate::body::BodyLimits;
use crate::config::{non_empty, ConfigError, Validate};
use serde::Deserialize;

/// Characters a team, session or user value may contain (so id prefixes cannot collide).
pub fn identity_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+' | '=' | '~')
}

/// Plugin configuration of the memory-guard filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Record metadata keys that carry the tenant (stamped on writes, confining reads).
    #[serde(default)]
    pub metadata_keys: MetadataKeys,
    /// Confine reads and deletes to the caller's session too (not only the team).
    #[serde(default)]
    pub confine_to_session: bool,
    /// Every record id a caller names must start with this, placeholders `{team}`,
    /// `{session}`, `{user}` filled from the caller: `update` and `upsert` address records
    /// by id only, so without it a caller could overwrite (and re-stamp) another tenant's
    /// record. Must contain `{team}` (and `{session}` when confined to the session) and end
    /// with a separator that identity values cannot contain.
    #[serde(default = "default_id_prefix")]
    pub id_prefix: String,
    /// The Chroma operations callers may use; anything else is refused.
    #[serde(default = "default_operations")]
    pub operations: Vec<Operation>,
    /// The one Chroma tenant and database callers may address.
    #[serde(default)]
    pub chroma: ChromaDatabase,
    /// Bound on the buffered request body (fail closed beyond it).
    #[serde(default)]
    pub body: BodyLimits,
}

/// Metadata keys carrying the tenant of a record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataKeys {
    /// Key holding the team (confines every read and delete).
    #[serde(default = "default_team_key")]
    pub team: String,
    /// Key holding the session (confines reads when `confine_to_session` is set).
    #[serde(default = "default_session_key")]
    pub session: String,
    /// Provenance only: stamped on writes, not used to confine reads.
    #[serde(default = "default_user_key")]
    pub user: String,
}

impl Default for MetadataKeys {
    fn default() -> Self {
        Self {
            team: default_team_key(),
            session: default_session_key(),
            user: default_user_key(),
        }
    }
}

/// The Chroma tenant and database in every collection path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChromaDatabase {
    /// Chroma's tenant (a Chroma namespace, unrelated to the caller's team).
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Chroma's database within that tenant.
    #[serde(default = "default_database")]
    pub database: String,
}

impl Default for ChromaDatabase {
    fn default() -> Self {
        Self {
            tenant: default_tenant(),
            database: default_database(),
        }
    }
}

fn default_team_key() -> String {
    "team".into()
}
fn default_session_key() -> String {
    "session_id".into()
}
fn default_user_key() -> String {
    "user".into()
}
fn default_tenant() -> String {
    "default_tenant".into()
}
fn default_database() -> String {
    "default_database".into()
}
fn default_id_prefix() -> String {
    "{team}/{session}/".into()
}
fn default_operations() -> Vec<Operation> {
    Operation::DATA.to_vec()
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.metadata_keys
            .validate()
            .map_err(|e| e.within("metadata_keys"))?;
        validate_prefix(&self.id_prefix, self.confine_to_session)?;
        if self.operations.is_empty() {
            return Err(ConfigError::invalid("operations", "must not be empty"));
        }
        for (field, value) in [
            ("chroma.tenant", &self.chroma.tenant),
            ("chroma.database", &self.chroma.database),
        ] {
            if value.is_empty() || !value.chars().all(super::route::segment_char) {
                return Err(ConfigError::invalid(field, "must be a plain path segment"));
            }
        }
        if self.body.allow_uninspectable {
            return Err(ConfigError::invalid(
                "body.allow_uninspectable",
                "must be false: an unread body would reach the database unconfined",
            ));
        }
        self.body.validate()
    }
}

impl Validate for MetadataKeys {
    fn validate(&self) -> Result<(), ConfigError> {
        let keys = [
            ("team", &self.team),
            ("session", &self.session),
            ("user", &self.user),
        ];
        for (i, (field, key)) in keys.iter().enumerate() {
            non_empty(field, key)?;
            if key.starts_with('$') || key.starts_with('#') {
                return Err(ConfigError::invalid(
                    *field,
                    "must not start with `$` or `#` (Chroma operators and reserved keys)",
                ));
            }
            if keys[..i].iter().any(|(_, k)| k.eq_ignore_ascii_case(key)) {
                return Err(ConfigError::invalid(
                    *field,
                    "must differ from the other keys",
                ));
            }
        }
        Ok(())
    }
}

fn validate_prefix(prefix: &str, confine_to_session: bool) -> Result<(), ConfigError> {
    let field = "id_prefix";
    if !prefix.contains("{team}") {
        return Err(ConfigError::invalid(field, "must contain {team}"));
    }
    if confine_to_session && !prefix.contains("{session}") {
        return Err(ConfigError::invalid(
            field,
            "must contain {session} when confine_to_session is true",
        ));
    }
    let literal = prefix
        .replace("{team}", "\0")
        .replace("{session}", "\0")
        .replace("{user}", "\0");
    if literal.contains('{') || literal.contains('}') {
        return Err(ConfigError::invalid(
            field,
            "unknown placeholder (use {team}, {session} or {user})",
        ));
    }
    // Each placeholder must be followed by a character identity values cannot contain,
    // so `sre` + `/` can never be read as a prefix of `sre2/` (or of another team's ids).
    let after_placeholders = literal.split('\0').skip(1);
    for part in after_placeholders {
        if part.chars().next().is_none_or(identity_char) {
            return Err(ConfigError::invalid(
                field,
                "every placeholder must be followed by a separator identity values cannot contain (e.g. `/` or `:`)",
            ));
        }
    }
    Ok(())
}
