//! The one strict JSON reader every body-reading filter uses.
//!
//! `{"name": "echo", "name": "delete_branch"}` means whatever the last parser to read it
//! decides: serde_json, Python and JavaScript keep the last value, other parsers keep the
//! first, and Go's `encoding/json` matches keys case-insensitively (`"Name"` fills the field
//! tagged `name`). meshguard forwards the bytes it judged, so a body that different readers
//! read differently is refused rather than guessed at:
//! - two keys of one object that are equal ignoring ASCII case (exact duplicates included),
//!   at any depth;
//! - in a JSON-RPC message object and its `params`, a key that differs only in case from a
//!   member the filters route on ([`RESERVED_KEYS`]).
//!
//! serde_json's recursion limit (128) bounds nesting; lone surrogates and invalid UTF-8 are
//! refused by serde_json itself.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use std::collections::HashSet;
use std::fmt;

/// Members of a JSON-RPC message (and of its `params`) whose case variants are refused.
pub const RESERVED_KEYS: [&str; 7] = [
    "jsonrpc",
    "method",
    "params",
    "id",
    "name",
    "arguments",
    "uri",
];

/// Why a body was refused by the strict reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictError {
    /// Not JSON (syntax, trailing data, nesting, invalid UTF-8).
    Syntax(String),
    /// Two keys of one object equal ignoring ASCII case.
    DuplicateKey,
    /// A case variant of a reserved JSON-RPC member (`"Method"`, `"NAME"`).
    CaseVariantKey,
}

impl StrictError {
    /// Stable machine-readable reason for denials and stats.
    pub fn reason(&self) -> &'static str {
        match self {
            StrictError::Syntax(_) => "invalid_json",
            StrictError::DuplicateKey => "duplicate_key",
            StrictError::CaseVariantKey => "case_variant_key",
        }
    }
}

impl std::fmt::Display for StrictError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StrictError::Syntax(e) => write!(f, "body is not valid JSON: {e}"),
            StrictError::DuplicateKey => f.write_str("a JSON object repeats a key"),
            StrictError::CaseVariantKey => {
                f.write_str("a JSON-RPC member is spelled in another letter case")
            }
        }
    }
}

impl std::error::Error for StrictError {}

/// The denial for a body the strict reader refused: 400, control PROTOCOL, JSON-RPC -32700
/// for syntax and -32600 for ambiguous keys.
pub fn denial(e: &StrictError) -> crate::denial::Denial {
    crate::denial::Denial::new(
        400,
        crate::denial::Control::Protocol,
        e.reason(),
        e.to_string(),
    )
}

/// The denial for a response body the strict reader refused: 502 (the upstream answered
/// something the filter cannot judge), control PROTOCOL.
pub fn response_denial(e: &StrictError) -> crate::denial::Denial {
    crate::denial::Denial::new(
        502,
        crate::denial::Control::Protocol,
        e.reason(),
        format!("tool response cannot be inspected: {e}"),
    )
}

/// Marker serde error text for a duplicate key (mapped back to [`StrictError::DuplicateKey`]).
const DUPLICATE: &str = "meshguard: duplicate key";

/// Parse `bytes` as one JSON value; keys repeated in one object (ignoring ASCII case) at any
/// depth are an error. Use [`parse_message`] for JSON-RPC bodies.
pub fn parse(bytes: &[u8]) -> Result<Value, StrictError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict::deserialize(&mut de).and_then(|Strict(v)| de.end().map(|()| v));
    parsed.map_err(|e| {
        if e.to_string().starts_with(DUPLICATE) {
            StrictError::DuplicateKey
        } else {
            StrictError::Syntax(e.to_string())
        }
    })
}

/// Parse a JSON-RPC body (one message or a batch) strictly: [`parse`], and no case variant of
/// a [`RESERVED_KEYS`] member in a message object or its `params` object.
pub fn parse_message(bytes: &[u8]) -> Result<Value, StrictError> {
    let value = parse(bytes)?;
    let messages: &[Value] = match &value {
        Value::Array(items) => items,
        single => std::slice::from_ref(single),
    };
    for message in messages {
        let Value::Object(obj) = message else {
            continue;
        };
        reject_case_variants(obj)?;
        if let Some(Value::Object(params)) = obj.get("params") {
            reject_case_variants(params)?;
        }
    }
    Ok(value)
}

/// Refuse duplicate (or case-duplicate) keys anywhere in `bytes` without building a value:
/// for small documents parsed elsewhere by typed deserialisers (JWT headers and payloads).
pub fn reject_duplicates(bytes: &[u8]) -> Result<(), StrictError> {
    parse(bytes).map(|_| ())
}

fn reject_case_variants(obj: &Map<String, Value>) -> Result<(), StrictError> {
    let variant = obj.keys().any(|k| {
        RESERVED_KEYS
            .iter()
            .any(|r| k.as_str() != *r && k.eq_ignore_ascii_case(r))
    });
    if variant {
        Err(StrictError::CaseVariantKey)
    } else {
        Ok(())
    }
}

/// A JSON value read without accepting duplicate keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        // Lower-cased keys seen so far (hashed: an object of many keys stays linear).
        let mut folded: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !folded.insert(key.to_ascii_lowercase()) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert!(parse(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse(br#"{"w":{"$and":[{"team":"x","team":"y"}]}}"#).is_err());
        assert_eq!(
            parse(br#"{"a":[1,2.5,"x",null,true,{"b":-1}]}"#).unwrap(),
            serde_json::json!({"a":[1,2.5,"x",null,true,{"b":-1}]})
        );
    }

    #[test]
    fn case_duplicates_are_refused_at_any_depth() {
        assert_eq!(
            parse(br#"{"a":{"repo":"x","Repo":"y"}}"#),
            Err(StrictError::DuplicateKey)
        );
        assert_eq!(
            parse(br#"{"n\u0061me":1,"name":2}"#),
            Err(StrictError::DuplicateKey)
        );
        assert!(parse(br#"{"a":{"repo":"x","repos":"y"}}"#).is_ok());
    }

    #[test]
    fn reserved_members_in_another_case_are_refused() {
        let call = |body: &str| parse_message(body.as_bytes());
        assert_eq!(
            call(r#"{"jsonrpc":"2.0","id":1,"Method":"tools/call"}"#),
            Err(StrictError::CaseVariantKey)
        );
        assert_eq!(
            call(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"x"}}"#),
            Err(StrictError::CaseVariantKey)
        );
        assert_eq!(
            call(
                r#"[{"jsonrpc":"2.0","id":1,"method":"m"},{"JSONRPC":"2.0","id":2,"method":"m"}]"#
            ),
            Err(StrictError::CaseVariantKey)
        );
        // Tool arguments may use any key (only case duplicates are refused there).
        assert!(call(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"Name":"y","ID":3}}}"#
        )
        .is_ok());
    }

    #[test]
    fn trailing_data_and_deep_nesting_are_refused() {
        assert!(parse(br#"{"a":1} x"#).is_err());
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
