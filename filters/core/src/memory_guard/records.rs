//! Chroma record-operation bodies: known fields only, ids inside the tenant's prefix, reads
//! and deletes confined by a tenant `where`, writes stamped with the tenant's metadata.

use super::filter;
use super::route::Operation;
use super::{deny, Tenant};
use crate::denial::Denial;
use serde_json::{Map, Value};

/// Fields each operation's body may carry (Chroma ignores unknown ones; we refuse them).
fn allowed_fields(op: Operation) -> &'static [&'static str] {
    match op {
        Operation::Get => &[
            "ids",
            "where",
            "where_document",
            "limit",
            "offset",
            "include",
        ],
        Operation::Query => &[
            "ids",
            "where",
            "where_document",
            "query_embeddings",
            "n_results",
            "include",
        ],
        Operation::Delete => &["ids", "where", "where_document", "limit"],
        _ => &["ids", "embeddings", "documents", "metadatas", "uris"],
    }
}

/// What `include` may ask for (Chroma's `Include` enum).
const INCLUDE: [&str; 5] = ["distances", "documents", "embeddings", "metadatas", "uris"];

/// Check and rewrite the body of a record operation for `tenant`.
pub fn rewrite(op: Operation, tenant: &Tenant, body: Value) -> Result<Value, Denial> {
    let Value::Object(mut body) = body else {
        return Err(deny(400, "invalid_body", "the body must be a JSON object"));
    };
    // `null` is how clients say "absent" (the Python client sends every field).
    body.retain(|_, v| !v.is_null());
    if let Some(field) = body
        .keys()
        .find(|k| !allowed_fields(op).contains(&k.as_str()))
    {
        return Err(deny(
            400,
            "unknown_field",
            format!("`{field}` is not a field of a `{}` request", op.as_str()),
        ));
    }
    check_ids(op, tenant, body.get("ids"))?;
    match op {
        Operation::Add | Operation::Upsert | Operation::Update => stamp(op, tenant, &mut body)?,
        _ => confine(op, tenant, &mut body)?,
    }
    Ok(Value::Object(body))
}

/// Every id must start with the tenant's prefix; writes must name ids.
fn check_ids(op: Operation, tenant: &Tenant, ids: Option<&Value>) -> Result<(), Denial> {
    let write = matches!(op, Operation::Add | Operation::Upsert | Operation::Update);
    let ids = match ids {
        None if !write => return Ok(()),
        Some(Value::Array(ids)) if !(write && ids.is_empty()) => ids,
        _ => return Err(deny(400, "invalid_ids", "`ids` must be a list of strings")),
    };
    for id in ids {
        let Value::String(id) = id else {
            return Err(deny(400, "invalid_ids", "`ids` must be a list of strings"));
        };
        if !id.starts_with(&tenant.id_prefix) || id.len() == tenant.id_prefix.len() {
            return Err(deny(
                403,
                "id_outside_tenant",
                "record ids must start with the caller's tenant prefix",
            ));
        }
    }
    Ok(())
}

/// Reads and deletes: check the caller's `where`, then AND the tenant clauses onto it.
fn confine(op: Operation, tenant: &Tenant, body: &mut Map<String, Value>) -> Result<(), Denial> {
    if op == Operation::Delete
        && !["ids", "where", "where_document"]
            .iter()
            .any(|k| body.contains_key(*k))
    {
        return Err(deny(
            403,
            "unbounded_delete",
            "a delete must name ids or a filter",
        ));
    }
    if let Some(doc) = body.get("where_document") {
        if !doc.is_object() {
            return Err(deny(
                400,
                "invalid_filter",
                "`where_document` must be an object",
            ));
        }
    }
    check_include(body.get("include"))?;
    let original = body.remove("where");
    if let Some(w) = &original {
        filter::check(w, tenant)?;
    }
    body.insert(
        "where".into(),
        filter::confine(original, tenant.read_clauses()),
    );
    Ok(())
}

fn check_include(include: Option<&Value>) -> Result<(), Denial> {
    let Some(include) = include else {
        return Ok(());
    };
    let known = |v: &Value| v.as_str().is_some_and(|s| INCLUDE.contains(&s));
    match include {
        Value::Array(items) if items.iter().all(known) => Ok(()),
        _ => Err(deny(
            400,
            "invalid_include",
            "`include` may only list distances, documents, embeddings, metadatas, uris",
        )),
    }
}

/// Writes: every record's metadata carries the caller's team, session and user; a record
/// that already names a different one is refused.
fn stamp(op: Operation, tenant: &Tenant, body: &mut Map<String, Value>) -> Result<(), Denial> {
    let count = body
        .get("ids")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let metadatas = match body.remove("metadatas") {
        // An update that leaves metadata alone keeps the record's stamp (its id is ours).
        None if op == Operation::Update => return Ok(()),
        None => vec![Value::Null; count],
        Some(Value::Array(items)) if items.len() == count => items,
        Some(_) => {
            return Err(deny(
                400,
                "invalid_metadatas",
                "`metadatas` must be a list with one entry per id",
            ))
        }
    };
    let stamped = metadatas
        .into_iter()
        .map(|m| stamp_one(tenant, m))
        .collect::<Result<Vec<_>, _>>()?;
    body.insert("metadatas".into(), Value::Array(stamped));
    Ok(())
}

fn stamp_one(tenant: &Tenant, metadata: Value) -> Result<Value, Denial> {
    let mut metadata = match metadata {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        _ => {
            return Err(deny(
                400,
                "invalid_metadatas",
                "each metadata must be an object or null",
            ))
        }
    };
    for (key, value) in &metadata {
        match tenant.stamped(key) {
            None => {}
            Some((false, _)) => return Err(super::key_variant()),
            Some((true, own)) if value.as_str() == Some(own) => {}
            Some(_) => {
                return Err(deny(
                    403,
                    "conflicting_tenant_metadata",
                    "the record names another team, session or user",
                ))
            }
        }
    }
    for (key, value) in tenant.stamp_values() {
        metadata.insert(key, Value::String(value));
    }
    Ok(Value::Object(metadata))
}
