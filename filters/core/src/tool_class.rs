//! A tool's class by intent (read, write, delete, admin): the registry's word, never the
//! tool server's. tool-policy assigns it and sets [`CLASS_HEADER`]; approval-gate, later in
//! the same gateway chain, decides on it.

use serde::{Deserialize, Serialize};

/// Trusted request header carrying the class of a forwarded `tools/call` (set by
/// tool-policy after stripping any incoming copy, like every `x-meshguard-*` header).
pub const CLASS_HEADER: &str = "x-meshguard-tool-class";

/// What a tool does, by intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolClass {
    Read,
    Write,
    Delete,
    Admin,
}

impl ToolClass {
    /// The class a header value names (exact, lowercase).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "read" => Some(ToolClass::Read),
            "write" => Some(ToolClass::Write),
            "delete" => Some(ToolClass::Delete),
            "admin" => Some(ToolClass::Admin),
            _ => None,
        }
    }

    /// The header / descriptor / stats form (`delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            ToolClass::Read => "read",
            ToolClass::Write => "write",
            ToolClass::Delete => "delete",
            ToolClass::Admin => "admin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ToolClass;

    #[test]
    fn names_round_trip() {
        for c in [
            ToolClass::Read,
            ToolClass::Write,
            ToolClass::Delete,
            ToolClass::Admin,
        ] {
            assert_eq!(ToolClass::from_name(c.as_str()), Some(c));
        }
        assert_eq!(ToolClass::from_name("Delete"), None);
    }
}
