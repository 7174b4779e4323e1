//! Which Chroma operation a request is, from its method and path (Chroma's HTTP API v2).
//!
//! Only the routes listed here are known; any other path, method, tenant or database is
//! refused, as is a path a router might read differently from us (percent-encoding, empty
//! or dot segments, a query string where none is expected).

use super::config::Config;
use super::deny;
use crate::denial::Denial;
use serde::Deserialize;

/// A Chroma operation the filter understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `POST .../collections/{id}/query`: nearest neighbours, confined.
    Query,
    /// `POST .../collections/{id}/get`: records by id or filter, confined.
    Get,
    /// `POST .../collections/{id}/add`: records stamped with the caller's tenant.
    Add,
    /// `POST .../collections/{id}/upsert`: stamped, ids confined.
    Upsert,
    /// `POST .../collections/{id}/update`: stamped, ids confined.
    Update,
    /// `POST .../collections/{id}/delete`: confined, never unbounded.
    Delete,
    /// `GET .../collections/{id}/count`: the whole collection's size (cannot be confined).
    Count,
    /// `GET .../collections`.
    ListCollections,
    /// `POST .../collections`.
    CreateCollection,
    /// `GET .../collections/{name}` (how clients learn a collection's id).
    GetCollection,
    /// `PUT .../collections/{id}`.
    ModifyCollection,
    /// `DELETE .../collections/{id}`: every tenant's records at once.
    DeleteCollection,
    /// `GET /api/v2/heartbeat`.
    Heartbeat,
    /// `GET /api/v2/version`.
    Version,
}

impl Operation {
    /// The record operations, confined to the caller's tenant (the default allow list).
    pub const DATA: [Operation; 6] = [
        Operation::Query,
        Operation::Get,
        Operation::Add,
        Operation::Upsert,
        Operation::Update,
        Operation::Delete,
    ];

    /// Stable name for stats and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Query => "query",
            Operation::Get => "get",
            Operation::Add => "add",
            Operation::Upsert => "upsert",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Count => "count",
            Operation::ListCollections => "list_collections",
            Operation::CreateCollection => "create_collection",
            Operation::GetCollection => "get_collection",
            Operation::ModifyCollection => "modify_collection",
            Operation::DeleteCollection => "delete_collection",
            Operation::Heartbeat => "heartbeat",
            Operation::Version => "version",
        }
    }

    /// Record operations have their JSON body checked and rewritten.
    pub fn is_data(self) -> bool {
        Operation::DATA.contains(&self)
    }
}

/// Characters allowed in a path segment (tenant, database, collection name or UUID).
pub fn segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The operation of `method path`, if it is known, allowed and in the configured database.
pub fn classify(config: &Config, method: &str, path: &str) -> Result<Operation, Denial> {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let segments = segments(path)?;
    let operation = match_route(config, method, &segments)?;
    if query.is_some() && operation != Operation::ListCollections {
        return Err(unknown());
    }
    if !config.operations.contains(&operation) {
        return Err(deny(
            403,
            "operation_not_allowed",
            format!("the `{}` operation is not allowed", operation.as_str()),
        ));
    }
    Ok(operation)
}

fn segments(path: &str) -> Result<Vec<&str>, Denial> {
    let rest = path.strip_prefix("/api/v2/").ok_or_else(unknown)?;
    let segments: Vec<&str> = rest.split('/').collect();
    let plain = |s: &&str| !s.is_empty() && !s.starts_with('.') && s.chars().all(segment_char);
    if !segments.iter().all(plain) {
        return Err(deny(
            400,
            "unusual_path",
            "path segments must be plain (no encoding, empty or dot segments)",
        ));
    }
    Ok(segments)
}

fn match_route(config: &Config, method: &str, s: &[&str]) -> Result<Operation, Denial> {
    let op = match s {
        ["heartbeat"] if method == "GET" => Operation::Heartbeat,
        ["version"] if method == "GET" => Operation::Version,
        ["tenants", tenant, "databases", database, "collections", rest @ ..] => {
            if *tenant != config.chroma.tenant || *database != config.chroma.database {
                return Err(deny(
                    403,
                    "database_not_allowed",
                    "only the configured Chroma tenant and database may be addressed",
                ));
            }
            collection_route(method, rest).ok_or_else(unknown)?
        }
        _ => return Err(unknown()),
    };
    Ok(op)
}

fn collection_route(method: &str, rest: &[&str]) -> Option<Operation> {
    let op = match (method, rest) {
        ("GET", []) => Operation::ListCollections,
        ("POST", []) => Operation::CreateCollection,
        ("GET", [_]) => Operation::GetCollection,
        ("PUT", [_]) => Operation::ModifyCollection,
        ("DELETE", [_]) => Operation::DeleteCollection,
        ("GET", [_, "count"]) => Operation::Count,
        ("POST", [_, action]) => match *action {
            "query" => Operation::Query,
            "get" => Operation::Get,
            "add" => Operation::Add,
            "upsert" => Operation::Upsert,
            "update" => Operation::Update,
            "delete" => Operation::Delete,
            _ => return None,
        },
        _ => return None,
    };
    Some(op)
}

fn unknown() -> Denial {
    deny(
        403,
        "route_not_allowed",
        "not a Chroma route this filter allows",
    )
}
