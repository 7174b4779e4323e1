//! The hash that binds an approval to the exact arguments of one tool call.
//!
//! `args_sha256` is the SHA-256 (lowercase hex) of the canonical JSON of `params.arguments`
//! ([`crate::canonical`]: why that form is stable). Absent or `null` arguments hash as `{}`.
//! The gateway computes it both when it asks for approval and when the approved retry
//! arrives, with this one function; the approval service only signs the hash it was given.
//! Duplicate keys: serde_json keeps the last one, and an approved call is forwarded
//! re-serialised from the parsed value, so the tool executes exactly the arguments that were
//! hashed (no parser differential between gateway and tool).

pub use crate::canonical::hex;
use crate::canonical::sha256_hex;
use serde_json::{Map, Value};

/// `args_sha256` of a call's `params.arguments` (`None` = no arguments = `{}`).
pub fn args_sha256(arguments: Option<&Map<String, Value>>) -> String {
    match arguments {
        Some(map) => sha256_hex(&Value::Object(map.clone())),
        None => sha256_hex(&Value::Object(Map::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hash(v: Value) -> String {
        args_sha256(v.as_object())
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
}
