//! Where approvals live: a real store shared by every replica of the service, so that an
//! approval is used once across the whole mesh and a restart forgets nothing.
//!
//! - `sqlite:<path>` (the default, `sqlite:approvals.sqlite3`): one file, for one instance
//!   (or several processes on one host); `sqlite::memory:` for throwaway tests.
//! - `postgres://...` / `postgresql://...`: PostgreSQL, for several replicas.
//!
//! Every state change is one conditional statement, so two replicas racing on the same
//! approval cannot both win: a decision is `UPDATE ... WHERE status = 'pending'`, and the
//! gate's redemption is `UPDATE ... SET used = 1 WHERE used = 0 AND <binding> RETURNING`.

use meshguard_core::approval_gate::{
    ApprovalRequest, ApprovalState, ApprovalStatus, RedeemRequest,
};
use std::sync::Mutex;
use tokio_postgres::types::{ToSql, Type};

/// Most pending approvals kept; more are refused (the gate then denies: fail closed).
pub const MAX_PENDING: i64 = 1000;
/// Decided approvals are kept this long (seconds), then pruned. A pruned approval cannot be
/// redeemed (its row is gone), so pruning never makes anything usable.
pub const KEEP_DECIDED_SECONDS: i64 = 7 * 24 * 3600;

/// One approval request and its outcome.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub request: ApprovalRequest,
    pub created: u64,
    pub status: ApprovalState,
    pub approver: Option<String>,
    pub token: Option<String>,
    pub decided: Option<u64>,
    /// The approval was redeemed by a gateway (single use).
    pub used: bool,
}

impl Entry {
    /// What a poll returns.
    pub fn status(&self) -> ApprovalStatus {
        ApprovalStatus {
            approval_id: self.id.clone(),
            status: self.status,
            approver: self.approver.clone(),
            approval_token: self.token.clone(),
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    AlreadyDecided(ApprovalState),
    Full,
    /// The database failed (the caller answers 503; the gate fails closed).
    Backend(String),
}

/// Why a redemption was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemError {
    /// No approved approval with this token id.
    Unknown,
    /// Already redeemed once.
    Used,
    /// The call is not the one approved.
    Mismatch,
    /// The database failed.
    Backend(String),
}

/// Which database, from `APPROVAL_STORE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A SQLite file (or `:memory:`).
    Sqlite(String),
    /// A PostgreSQL connection string.
    Postgres(String),
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::Sqlite("approvals.sqlite3".into())
    }
}

impl StoreConfig {
    /// Parse `APPROVAL_STORE`; the error names the variable.
    pub fn parse(value: &str) -> Result<Self, crate::ConfigError> {
        if let Some(path) = value.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(crate::ConfigError::new(
                    "APPROVAL_STORE",
                    "sqlite: needs a file path",
                ));
            }
            return Ok(StoreConfig::Sqlite(path.to_string()));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(StoreConfig::Postgres(value.to_string()));
        }
        Err(crate::ConfigError::new(
            "APPROVAL_STORE",
            "must be sqlite:<path> or a postgres:// URL",
        ))
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS meshguard_approvals (
    id TEXT PRIMARY KEY,
    created BIGINT NOT NULL,
    request TEXT NOT NULL,
    requester TEXT NOT NULL,
    session TEXT NOT NULL,
    server TEXT NOT NULL,
    tool TEXT NOT NULL,
    args_sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    approver TEXT,
    token TEXT,
    jti TEXT UNIQUE,
    decided BIGINT,
    used BIGINT NOT NULL DEFAULT 0,
    used_at BIGINT
)";

const COLUMNS: &str = "id, created, request, status, approver, token, decided, used";

/// A bound parameter or a read cell.
#[derive(Debug, Clone)]
enum Val {
    Null,
    Int(i64),
    Text(String),
}

impl Val {
    fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
    fn text(&self) -> Option<String> {
        match self {
            Val::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
}

fn text(s: &str) -> Val {
    Val::Text(s.to_string())
}

enum Backend {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres {
        url: String,
        client: tokio::sync::RwLock<tokio_postgres::Client>,
    },
}

/// The approval store.
pub struct Store {
    backend: Backend,
}

async fn pg_connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("postgres connection ended: {e}");
        }
    });
    Ok(client)
}

impl Store {
    /// Open (and create the table in) the configured database.
    pub async fn open(config: &StoreConfig) -> Result<Store, String> {
        let store = match config {
            StoreConfig::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
                // Several processes may share the file: wait for a writer instead of failing.
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(|e| e.to_string())?;
                conn.execute_batch("PRAGMA journal_mode=WAL;")
                    .map_err(|e| e.to_string())?;
                Store {
                    backend: Backend::Sqlite(Mutex::new(conn)),
                }
            }
            StoreConfig::Postgres(url) => Store {
                backend: Backend::Postgres {
                    url: url.clone(),
                    client: tokio::sync::RwLock::new(pg_connect(url).await?),
                },
            },
        };
        // Replicas starting together may race on creating the table: try again once.
        if store.execute(SCHEMA, &[]).await.is_err() {
            store.execute(SCHEMA, &[]).await?;
        }
        Ok(store)
    }

    /// Run a statement; rows changed.
    async fn execute(&self, sql: &str, params: &[Val]) -> Result<u64, String> {
        Ok(self.query(sql, params, true).await?.len() as u64)
    }

    /// Run a query (or, with `count_only`, a statement counting changed rows as empty rows).
    async fn query(
        &self,
        sql: &str,
        params: &[Val],
        count_only: bool,
    ) -> Result<Vec<Vec<Val>>, String> {
        match &self.backend {
            Backend::Sqlite(conn) => {
                let conn = conn
                    .lock()
                    .map_err(|_| "sqlite lock poisoned".to_string())?;
                let sql = sql.replace('$', "?");
                let bound: Vec<rusqlite::types::Value> = params
                    .iter()
                    .map(|p| match p {
                        Val::Null => rusqlite::types::Value::Null,
                        Val::Int(i) => rusqlite::types::Value::Integer(*i),
                        Val::Text(t) => rusqlite::types::Value::Text(t.clone()),
                    })
                    .collect();
                let params = rusqlite::params_from_iter(bound.iter());
                if count_only {
                    let n = conn.execute(&sql, params).map_err(|e| e.to_string())?;
                    return Ok(vec![Vec::new(); n]);
                }
                let mut stmt = conn.prepare(&sql).map_err(|e| e.to_string())?;
                let width = stmt.column_count();
                let mut rows = stmt.query(params).map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(|e| e.to_string())? {
                    let mut cells = Vec::with_capacity(width);
                    for i in 0..width {
                        cells.push(match row.get_ref(i).map_err(|e| e.to_string())? {
                            rusqlite::types::ValueRef::Integer(n) => Val::Int(n),
                            rusqlite::types::ValueRef::Text(t) => {
                                Val::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            _ => Val::Null,
                        });
                    }
                    out.push(cells);
                }
                Ok(out)
            }
            Backend::Postgres { url, client } => {
                if client.read().await.is_closed() {
                    let mut c = client.write().await;
                    if c.is_closed() {
                        *c = pg_connect(url).await?;
                    }
                }
                let client = client.read().await;
                let ints: Vec<Option<i64>> = params.iter().map(Val::int).collect();
                let texts: Vec<Option<String>> = params.iter().map(Val::text).collect();
                let bound: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .enumerate()
                    .map(|(i, p)| match p {
                        Val::Int(_) => &ints[i] as &(dyn ToSql + Sync),
                        _ => &texts[i] as &(dyn ToSql + Sync),
                    })
                    .collect();
                if count_only {
                    let n = client
                        .execute(sql, &bound)
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(vec![Vec::new(); n as usize]);
                }
                let rows = client.query(sql, &bound).await.map_err(|e| e.to_string())?;
                Ok(rows
                    .iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| match *row.columns()[i].type_() {
                                Type::INT8 => row
                                    .try_get::<_, Option<i64>>(i)
                                    .ok()
                                    .flatten()
                                    .map_or(Val::Null, Val::Int),
                                _ => row
                                    .try_get::<_, Option<String>>(i)
                                    .ok()
                                    .flatten()
                                    .map_or(Val::Null, Val::Text),
                            })
                            .collect()
                    })
                    .collect())
            }
        }
    }

    fn entry(row: &[Val]) -> Option<Entry> {
        let status = match row.get(3)?.text()?.as_str() {
            "pending" => ApprovalState::Pending,
            "approved" => ApprovalState::Approved,
            "denied" => ApprovalState::Denied,
            _ => ApprovalState::Expired,
        };
        Some(Entry {
            id: row.first()?.text()?,
            created: row.get(1)?.int()? as u64,
            request: serde_json::from_str(&row.get(2)?.text()?).ok()?,
            status,
            approver: row.get(4)?.text(),
            token: row.get(5)?.text(),
            decided: row.get(6)?.int().map(|d| d as u64),
            used: row.get(7)?.int()? != 0,
        })
    }

    /// Add a pending request (refused when too many are pending).
    pub async fn insert(&self, entry: &Entry) -> Result<(), StoreError> {
        let backend = StoreError::Backend;
        let pending = self
            .query(
                "SELECT COUNT(*) FROM meshguard_approvals WHERE status = 'pending'",
                &[],
                false,
            )
            .await
            .map_err(backend)?;
        if pending.first().and_then(|r| r.first()?.int()).unwrap_or(0) >= MAX_PENDING {
            return Err(StoreError::Full);
        }
        let r = &entry.request;
        let request = serde_json::to_string(r).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.execute(
            "INSERT INTO meshguard_approvals \
             (id, created, request, requester, session, server, tool, args_sha256, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')",
            &[
                text(&entry.id),
                Val::Int(entry.created as i64),
                Val::Text(request),
                text(&r.user),
                text(&r.session),
                text(&r.server),
                text(&r.tool),
                text(&r.args_sha256),
            ],
        )
        .await
        .map_err(StoreError::Backend)?;
        Ok(())
    }

    /// Expire pending requests older than `ttl` seconds and prune long-decided ones.
    pub async fn expire(&self, now: u64, ttl: u64) -> Result<(), StoreError> {
        let now = now as i64;
        self.execute(
            "UPDATE meshguard_approvals SET status = 'expired', decided = $1 \
             WHERE status = 'pending' AND created < $2",
            &[Val::Int(now), Val::Int(now - ttl as i64)],
        )
        .await
        .map_err(StoreError::Backend)?;
        self.execute(
            "DELETE FROM meshguard_approvals WHERE status <> 'pending' AND decided < $1",
            &[Val::Int(now - KEEP_DECIDED_SECONDS)],
        )
        .await
        .map_err(StoreError::Backend)?;
        Ok(())
    }

    /// One approval.
    pub async fn get(&self, id: &str) -> Result<Option<Entry>, StoreError> {
        let rows = self
            .query(
                &format!("SELECT {COLUMNS} FROM meshguard_approvals WHERE id = $1"),
                &[text(id)],
                false,
            )
            .await
            .map_err(StoreError::Backend)?;
        Ok(rows.first().and_then(|r| Self::entry(r)))
    }

    /// Record a decision on a pending approval, atomically: of two replicas deciding at
    /// once, one wins and the other gets `AlreadyDecided`.
    pub async fn decide(
        &self,
        id: &str,
        status: ApprovalState,
        approver: &str,
        token: Option<(&str, &str)>,
        now: u64,
    ) -> Result<(), StoreError> {
        let status_text = match status {
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            _ => "expired",
        };
        let (token, jti) = match token {
            Some((t, j)) => (text(t), text(j)),
            None => (Val::Null, Val::Null),
        };
        let changed = self
            .execute(
                "UPDATE meshguard_approvals SET status = $1, approver = $2, token = $3, \
                 jti = $4, decided = $5 WHERE id = $6 AND status = 'pending'",
                &[
                    text(status_text),
                    text(approver),
                    token,
                    jti,
                    Val::Int(now as i64),
                    text(id),
                ],
            )
            .await
            .map_err(StoreError::Backend)?;
        if changed == 1 {
            return Ok(());
        }
        match self.get(id).await? {
            Some(e) => Err(StoreError::AlreadyDecided(e.status)),
            None => Err(StoreError::NotFound),
        }
    }

    /// Redeem an approval once: the one atomic consume. Succeeds for exactly one caller
    /// across every replica of the service and every gateway; returns (approval id,
    /// approver).
    pub async fn redeem(
        &self,
        r: &RedeemRequest,
        now: u64,
    ) -> Result<(String, String), RedeemError> {
        let rows = self
            .query(
                "UPDATE meshguard_approvals SET used = 1, used_at = $1 \
                 WHERE jti = $2 AND status = 'approved' AND used = 0 AND requester = $3 \
                 AND session = $4 AND server = $5 AND tool = $6 AND args_sha256 = $7 \
                 RETURNING id, approver",
                &[
                    Val::Int(now as i64),
                    text(&r.jti),
                    text(&r.user),
                    text(&r.session),
                    text(&r.server),
                    text(&r.tool),
                    text(&r.args_sha256),
                ],
                false,
            )
            .await
            .map_err(RedeemError::Backend)?;
        if let Some(row) = rows.first() {
            let id = row.first().and_then(Val::text).unwrap_or_default();
            let approver = row.get(1).and_then(Val::text).unwrap_or_default();
            return Ok((id, approver));
        }
        let found = self
            .query(
                "SELECT used FROM meshguard_approvals WHERE jti = $1 AND status = 'approved'",
                &[text(&r.jti)],
                false,
            )
            .await
            .map_err(RedeemError::Backend)?;
        match found.first().and_then(|row| row.first()?.int()) {
            Some(0) => Err(RedeemError::Mismatch),
            Some(_) => Err(RedeemError::Used),
            None => Err(RedeemError::Unknown),
        }
    }

    /// The newest approvals first (at most `limit`).
    pub async fn newest_first(&self, limit: i64) -> Result<Vec<Entry>, StoreError> {
        let rows = self
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM meshguard_approvals ORDER BY created DESC, id LIMIT $1"
                ),
                &[Val::Int(limit)],
                false,
            )
            .await
            .map_err(StoreError::Backend)?;
        Ok(rows.iter().filter_map(|r| Self::entry(r)).collect())
    }
}
