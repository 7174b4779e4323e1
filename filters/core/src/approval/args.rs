//! The hash that binds an approval to the exact arguments of one tool call.
//!
//! `args_sha256` is SHA-256 (lowercase hex) over the canonical JSON of `params.arguments`:
//! object members sorted by key (byte order of the UTF-8 key), no whitespace, strings
//! escaped as serde_json escapes them, numbers as serde_json prints the parsed number (an
//! integer as its decimal digits, a float in shortest round-trip form). Absent or `null`
//! arguments hash as `{}`.
//!
//! Why it is stable: the input is the *parsed* value, so whitespace, member order and
//! escape spelling (`"\u0061"` vs `"a"`) of the client's bytes cannot change it, while any
//! change of a value, a key, a type (`1` vs `"1"` vs `1.0`) or nesting does. Ordering is
//! explicit here, not inherited from the map type, so it holds whatever serde_json features
//! another crate turns on. The gateway computes the hash both when it asks for approval and
//! when the approved retry arrives, with this one function; the approval service only signs
//! the hash it was given. Duplicate keys: serde_json keeps the last one, and an approved call
//! is forwarded re-serialised from the parsed value, so the tool executes exactly the
//! arguments that were hashed (no parser differential between gateway and tool).

use serde_json::{Map, Value};

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

/// `args_sha256` of a call's `params.arguments` (`None` = no arguments = `{}`).
pub fn args_sha256(arguments: Option<&Map<String, Value>>) -> String {
    let canonical = match arguments {
        Some(map) => canonical_json(&Value::Object(map.clone())),
        None => "{}".to_string(),
    };
    hex(&hmac_sha256::Hash::hash(canonical.as_bytes()))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hash(v: Value) -> String {
        args_sha256(v.as_object())
    }

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        let v: Value = serde_json::from_str(r#"{ "b" : [1, {"y":2,"x":"\u0061"}], "a": null }"#)
            .unwrap_or_default();
        assert_eq!(canonical_json(&v), r#"{"a":null,"b":[1,{"x":"a","y":2}]}"#);
    }

    #[test]
    fn reordered_and_respaced_arguments_hash_the_same() {
        let a: Value =
            serde_json::from_str(r#"{"repo":"org/api","force":true,"opts":{"b":1,"a":2}}"#)
                .unwrap_or_default();
        let b: Value = serde_json::from_str(
            "{ \"opts\" : { \"a\" : 2, \"b\" : 1 },\n \"force\": true, \"repo\": \"org\\/api\" }",
        )
        .unwrap_or_default();
        assert_eq!(hash(a), hash(b));
    }

    #[test]
    fn any_changed_value_key_or_type_changes_the_hash() {
        let base = hash(json!({"repo": "org/api", "n": 1}));
        for other in [
            json!({"repo": "org/api2", "n": 1}),
            json!({"repo": "org/api", "n": 2}),
            json!({"repo": "org/api", "n": "1"}),
            json!({"repo": "org/api", "n": 1.5}),
            json!({"Repo": "org/api", "n": 1}),
            json!({"repo": "org/api", "n": 1, "extra": null}),
            json!({"repo": ["org/api"], "n": 1}),
        ] {
            assert_ne!(base, hash(other.clone()), "{other}");
        }
    }

    #[test]
    fn absent_arguments_hash_as_empty_object() {
        assert_eq!(args_sha256(None), hash(json!({})));
        assert_eq!(args_sha256(None).len(), 64);
        assert_eq!(
            args_sha256(None),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn string_content_cannot_forge_structure() {
        // A key containing quote and colon is escaped, so it cannot mimic two members.
        assert_ne!(hash(json!({"a\":\"b": "c"})), hash(json!({"a": "b\":\"c"})));
    }
}
