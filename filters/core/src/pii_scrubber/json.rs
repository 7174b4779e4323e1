//! JSON bodies scrubbed in place: only string values change, everything else stays byte for
//! byte.
//!
//! Re-serialising a parsed document would reorder keys, reformat numbers (a 20-digit id
//! becomes a float) and change whitespace, so a client would see a different document even
//! where nothing was sensitive. Instead the document is validated once, then its text is
//! walked token by token and each masked string value is spliced back in, re-escaped.
//! Object keys are never changed (clients address data by them) but are passed to the
//! scrubber as context (`"password": "..."`). The JSON-RPC envelope of each message
//! (`jsonrpc`, `id`, `method`) is left alone: the client needs the id it sent back intact
//! to match the response, and a method name is protocol, not data.

use crate::pace::Pace;
use crate::scrub::{Report, Scrubber};
use std::borrow::Cow;

/// The body is not JSON; the caller scrubs it as text instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotJson;

/// Envelope members of a JSON-RPC message, never rewritten.
const ENVELOPE: [&str; 3] = ["jsonrpc", "id", "method"];

/// One open container while walking the document.
struct Frame {
    object: bool,
    /// In an object: the next string is a key.
    expect_key: bool,
    /// The key whose value is being read (for an array: the key holding the array).
    key: Option<String>,
    /// This object is a JSON-RPC message (top level, or an element of a top-level batch).
    envelope: bool,
}

/// Scrub every string value of the JSON text `body`. Returns the body (borrowed when
/// nothing changed) and what was found; `NotJson` when `body` is not one valid JSON value.
pub fn scrub_json_text<'a>(
    scrubber: &Scrubber,
    body: &'a [u8],
) -> Result<(Cow<'a, [u8]>, Report), NotJson> {
    crate::pace::finish(scrub_json_text_paced(scrubber, body, &Pace::unbounded()))
}

/// [`scrub_json_text`] in slices (see [`crate::pace`]).
pub async fn scrub_json_text_paced<'a>(
    scrubber: &Scrubber,
    body: &'a [u8],
    pace: &Pace,
) -> Result<(Cow<'a, [u8]>, Report), NotJson> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|_| NotJson)?;
    pace.checkpoint(body.len()).await;
    let text = std::str::from_utf8(body).map_err(|_| NotJson)?;
    let bytes = text.as_bytes();
    let mut report = Report::default();
    let mut out: Vec<u8> = Vec::new();
    let mut copied = 0;
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                let envelope = match stack.as_slice() {
                    [] => true,
                    [only] => !only.object,
                    _ => false,
                };
                stack.push(Frame {
                    object: true,
                    expect_key: true,
                    key: None,
                    envelope,
                });
            }
            b'[' => {
                let key = stack.last().and_then(|f| f.key.clone());
                stack.push(Frame {
                    object: false,
                    expect_key: false,
                    key,
                    envelope: false,
                });
            }
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(f) = stack.last_mut() {
                    f.expect_key = false;
                }
            }
            b',' => {
                if let Some(f) = stack.last_mut() {
                    f.expect_key = f.object;
                }
            }
            b'"' => {
                let end = string_end(bytes, i);
                let raw = &text[i + 1..end];
                let decoded: Cow<str> = if raw.contains('\\') {
                    match serde_json::from_str::<String>(&text[i..=end]) {
                        Ok(s) => Cow::Owned(s),
                        Err(_) => return Err(NotJson),
                    }
                } else {
                    Cow::Borrowed(raw)
                };
                pace.checkpoint(raw.len()).await;
                match stack.last_mut() {
                    Some(f) if f.object && f.expect_key => f.key = Some(decoded.into_owned()),
                    frame => {
                        let key = frame.as_ref().and_then(|f| f.key.as_deref());
                        let envelope = frame.as_ref().is_some_and(|f| {
                            f.envelope && key.is_some_and(|k| ENVELOPE.contains(&k))
                        });
                        if !envelope {
                            let masked = scrubber
                                .scrub_json_str_paced(key, &decoded, &mut report, pace)
                                .await;
                            if let Some(masked) = masked {
                                out.extend_from_slice(&bytes[copied..i]);
                                let quoted = serde_json::to_string(&masked).map_err(|_| NotJson)?;
                                out.extend_from_slice(quoted.as_bytes());
                                copied = end + 1;
                            }
                        }
                    }
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    if copied == 0 {
        return Ok((Cow::Borrowed(body), report));
    }
    out.extend_from_slice(&bytes[copied..]);
    Ok((Cow::Owned(out), report))
}

/// Index of the closing quote of the string opening at `start` (the document is valid, so
/// it exists; the end of the text otherwise).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return j,
            _ => j += 1,
        }
    }
    bytes.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::default_scrubber;

    fn run(body: &str) -> (String, Report) {
        let (out, report) = scrub_json_text(default_scrubber(), body.as_bytes()).unwrap();
        (String::from_utf8(out.into_owned()).unwrap(), report)
    }

    #[test]
    fn clean_documents_are_borrowed_untouched() {
        let body = r#"{"jsonrpc":"2.0","id":12345678901234567890123,"result":{"order":"ORD-1","n":1.50e3}}"#;
        let (out, report) = scrub_json_text(default_scrubber(), body.as_bytes()).unwrap();
        assert!(matches!(out, Cow::Borrowed(_)));
        assert_eq!(report.total(), 0);
    }

    #[test]
    fn only_the_sensitive_string_changes_byte_for_byte() {
        let body = "{ \"jsonrpc\": \"2.0\", \"id\": 9,\n  \"result\": {\"z\": 1.0e2, \"text\": \"mail a.b@example.com now\", \"a\": [ \"x\" ] } }";
        let (out, report) = run(body);
        assert_eq!(out, body.replace("a.b@example.com", "[REDACTED:EMAIL]"));
        assert_eq!(report.total(), 1);
    }

    #[test]
    fn escaped_strings_are_decoded_scrubbed_and_reescaped() {
        let body = r#"{"text":"line1\nkey: \"AKIAIOSFODNN7EXAMPLE\" \u00e9"}"#;
        let (out, _) = run(body);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["text"], "line1\nkey: \"[REDACTED:AWS_ACCESS_KEY_ID]\" é");
    }

    #[test]
    fn envelope_is_never_rewritten_but_nested_ids_are() {
        let body = r#"[{"jsonrpc":"2.0","id":"a@example.com","method":"x@example.com","params":{"id":"b@example.com"}}]"#;
        let (out, report) = run(body);
        assert!(out.contains(r#""id":"a@example.com""#), "{out}");
        assert!(out.contains(r#""method":"x@example.com""#), "{out}");
        assert!(
            out.contains(r#""params":{"id":"[REDACTED:EMAIL]"}"#),
            "{out}"
        );
        assert_eq!(report.total(), 1);
    }

    #[test]
    fn keys_give_context_to_values_and_arrays_inherit_it() {
        let body = r#"{"db":{"password":"Tr0ub4dor&3xq","keys":["x"],"phones":["4155550199"]},"k@example.com":1}"#;
        let (out, _) = run(body);
        assert!(out.contains("[REDACTED:GENERIC_SECRET]"), "{out}");
        assert!(out.contains("[REDACTED:PHONE]"), "{out}");
        assert!(
            out.contains("\"k@example.com\":1"),
            "keys are never rewritten: {out}"
        );
    }

    #[test]
    fn not_json_is_reported() {
        for body in ["{", "{\"a\":1} x", "", "\"unterminated"] {
            assert!(scrub_json_text(default_scrubber(), body.as_bytes()).is_err());
        }
    }
}
