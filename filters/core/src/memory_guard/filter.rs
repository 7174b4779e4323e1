//! Chroma `where` filters: refuse one that reaches for another tenant, then confine it.
//!
//! Confinement alone would be enough for safety (`{"$and": [tenant, original]}` can only
//! narrow), but a filter naming another team is an attack worth refusing and logging, and a
//! refusal is easier to audit than a silently empty answer. So any clause on a tenant key
//! must be exact equality to the caller's own value (`{"team": "sre"}` or
//! `{"team": {"$eq": "sre"}}`); `$ne`, `$in`, `$nin`, `$contains`, another value, a
//! case variant of the key, or an operator we do not know are refused, at any depth of
//! `$and` / `$or`.

use super::deny;
use super::Tenant;
use crate::denial::Denial;
use serde_json::{json, Map, Value};

/// Logical operators whose operand is a list of filters.
const LOGICAL: [&str; 2] = ["$and", "$or"];

/// Check a caller's `where` against the tenant; `Ok` means it names no other tenant.
pub fn check(filter: &Value, tenant: &Tenant) -> Result<(), Denial> {
    let Value::Object(clauses) = filter else {
        return Err(malformed("`where` must be an object"));
    };
    if clauses.is_empty() {
        return Err(malformed("an empty `where` matches nothing in Chroma"));
    }
    for (key, operand) in clauses {
        check_clause(key, operand, tenant)?;
    }
    Ok(())
}

fn check_clause(key: &str, operand: &Value, tenant: &Tenant) -> Result<(), Denial> {
    if LOGICAL.contains(&key) {
        let Value::Array(items) = operand else {
            return Err(malformed("`$and` / `$or` take a list of filters"));
        };
        return items.iter().try_for_each(|item| check(item, tenant));
    }
    if key.starts_with('$') {
        return Err(deny(
            400,
            "unknown_operator",
            "the filter uses an operator this guard does not know",
        ));
    }
    match tenant.reserved(key) {
        None => Ok(()),
        Some((exact, own)) if exact => check_tenant_operand(operand, own),
        Some(_) => Err(super::key_variant()),
    }
}

/// A clause on a tenant key may only be exact equality to the caller's own value.
fn check_tenant_operand(operand: &Value, own: &str) -> Result<(), Denial> {
    let value = match operand {
        Value::Object(op) if op.len() == 1 => match op.get("$eq") {
            Some(v) => v,
            None => return Err(tenant_operator()),
        },
        Value::Object(_) | Value::Array(_) => return Err(tenant_operator()),
        scalar => scalar,
    };
    match value {
        Value::String(s) if s == own => Ok(()),
        _ => Err(deny(
            403,
            "cross_tenant_filter",
            "the filter names another team or session",
        )),
    }
}

fn tenant_operator() -> Denial {
    deny(
        403,
        "tenant_operator",
        "a tenant key may only be compared for equality with the caller's own value",
    )
}

fn malformed(message: &'static str) -> Denial {
    deny(400, "invalid_filter", message)
}

/// The tenant clauses ANDed with the caller's filter (if any).
pub fn confine(original: Option<Value>, clauses: Vec<(String, String)>) -> Value {
    let mut all: Vec<Value> = clauses
        .into_iter()
        .map(|(key, value)| {
            let mut m = Map::new();
            m.insert(key, json!({ "$eq": value }));
            Value::Object(m)
        })
        .collect();
    all.extend(original);
    if all.len() == 1 {
        return all.remove(0);
    }
    json!({ "$and": all })
}
