//! A tiny JSON path dialect for chat-style bodies: `messages[].content`, `input`,
//! `params.items[0].text`, `choices[].message.*`.
//!
//! Operators name where the prompt text sits in bodies meshguard does not know (chat
//! completions, agent APIs). The dialect is deliberately small: dotted member names, `[]`
//! for every array item, `[N]` for one item, `*` for every member of an object. Resolution
//! walks the document once per path, with no recursion beyond the path's own length.

use serde_json::Value;

/// Longest accepted path, in bytes.
pub const MAX_PATH_LEN: usize = 256;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object member by name.
    Member(String),
    /// Every member of an object.
    AnyMember,
    /// Every item of an array.
    Each,
    /// One item of an array.
    Index(usize),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl JsonPath {
    /// Parse `messages[].content`-style text; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > MAX_PATH_LEN {
            return Err(format!("must be 1 to {MAX_PATH_LEN} bytes"));
        }
        let mut steps = Vec::new();
        for segment in text.split('.') {
            let (name, mut rest) = match segment.find('[') {
                Some(i) => (&segment[..i], &segment[i..]),
                None => (segment, ""),
            };
            match name {
                "" if rest.is_empty() => return Err("empty segment".into()),
                "" => {}
                "*" => steps.push(Step::AnyMember),
                n if n.contains([']', '*']) => return Err(format!("bad member name `{n}`")),
                n => steps.push(Step::Member(n.to_string())),
            }
            while !rest.is_empty() {
                let close = rest.find(']').ok_or_else(|| "unclosed `[`".to_string())?;
                let inner = &rest[1..close];
                steps.push(match inner {
                    "" | "*" => Step::Each,
                    n => Step::Index(n.parse().map_err(|_| format!("bad index `{n}`"))?),
                });
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(format!("unexpected `{rest}` after `]`"));
                }
            }
        }
        Ok(Self { steps })
    }

    /// Every value the path reaches in `root`, in document order.
    pub fn resolve<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        resolve_steps(&self.steps, root)
    }

    /// For a JSON-RPC message whose members other than `params` were consumed by parsing:
    /// resolve a `params...` path against `params` (other paths reach nothing).
    pub fn resolve_in_params<'a>(&self, params: Option<&'a Value>) -> Vec<&'a Value> {
        match (self.steps.first(), params) {
            (Some(Step::Member(m)), Some(p)) if m == "params" => resolve_steps(&self.steps[1..], p),
            _ => Vec::new(),
        }
    }
}

fn resolve_steps<'a>(steps: &[Step], root: &'a Value) -> Vec<&'a Value> {
    let mut current = vec![root];
    for step in steps {
        let mut next = Vec::new();
        for v in current {
            match (step, v) {
                (Step::Member(m), Value::Object(o)) => next.extend(o.get(m)),
                (Step::AnyMember, Value::Object(o)) => next.extend(o.values()),
                (Step::Each, Value::Array(a)) => next.extend(a.iter()),
                (Step::Index(i), Value::Array(a)) => next.extend(a.get(*i)),
                _ => {}
            }
        }
        current = next;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_dialect() {
        let p = JsonPath::parse("messages[].content").unwrap();
        assert_eq!(
            p.steps,
            vec![
                Step::Member("messages".into()),
                Step::Each,
                Step::Member("content".into())
            ]
        );
        let p = JsonPath::parse("a[2][].b.*").unwrap();
        assert_eq!(p.steps[1], Step::Index(2));
        assert_eq!(p.steps[2], Step::Each);
        assert_eq!(p.steps[4], Step::AnyMember);
    }

    #[test]
    fn refuses_malformed_paths() {
        for bad in ["", "a..b", "a[", "a[x]", "a]b", "a[]b", &"x".repeat(300)] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolves_values() {
        let doc = json!({"messages": [{"role": "user", "content": "hi"},
                                      {"role": "assistant", "content": [{"type": "text", "text": "yo"}]}]});
        let p = JsonPath::parse("messages[].content").unwrap();
        let got = p.resolve(&doc);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], "hi");
        assert!(JsonPath::parse("messages[5].content")
            .unwrap()
            .resolve(&doc)
            .is_empty());
        let params = json!({"input": "x"});
        let p = JsonPath::parse("params.input").unwrap();
        assert_eq!(p.resolve_in_params(Some(&params)), vec![&json!("x")]);
        assert!(JsonPath::parse("input")
            .unwrap()
            .resolve_in_params(Some(&params))
            .is_empty());
    }
}
