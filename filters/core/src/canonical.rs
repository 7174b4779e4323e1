//! Canonical JSON and its SHA-256: the one way meshguard hashes a JSON value, so a pin on a
//! tool's description (tool-policy) and an approval bound to a call's arguments
//! (approval-gate) agree on what "the same value" means.
//!
//! Canonical form: object members sorted by key (byte order of the UTF-8 key), no
//! whitespace, strings escaped as serde_json escapes them, numbers as serde_json prints the
//! parsed number (an integer as its decimal digits, a float in shortest round-trip form).
//!
//! Why it is stable: the input is the *parsed* value, so whitespace, member order and
//! escape spelling (`"\u0061"` vs `"a"`) of the sender's bytes cannot change it, while any
//! change of a value, a key, a type (`1` vs `"1"` vs `1.0`) or nesting does. Ordering is
//! explicit here, not inherited from the map type, so it holds whatever serde_json features
//! another crate turns on.

use serde_json::Value;

/// Canonical JSON text of a value (see the module documentation).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(*key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Lowercase hex SHA-256 of the canonical JSON of `value`.
pub fn sha256_hex(value: &Value) -> String {
    hex(&hmac_sha256::Hash::hash(canonical_json(value).as_bytes()))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        let v: Value = serde_json::from_str(r#"{ "b" : [1, {"y":2,"x":"\u0061"}], "a": null }"#)
            .unwrap_or_default();
        assert_eq!(canonical_json(&v), r#"{"a":null,"b":[1,{"x":"a","y":2}]}"#);
    }

    #[test]
    fn string_content_cannot_forge_structure() {
        // A key containing quote and colon is escaped, so it cannot mimic two members.
        assert_ne!(
            sha256_hex(&json!({"a\":\"b": "c"})),
            sha256_hex(&json!({"a": "b\":\"c"}))
        );
    }
}
