//! The quarantine table of one tool server, kept in Envoy shared data so a tool quarantined
//! by one worker's `tools/list` is refused by every worker's `tools/call`. Quarantine is
//! sticky: a server that restores the pinned description does not undo it (the operator
//! re-pins or restarts the gateway after review). Only registered tools are recorded, so
//! the table is bounded by the registry; unregistered tools are refused anyway.
//!
//! A table is text: one `<tool-id> <reason>` line per quarantined tool, the id a hash of
//! the name so keys and values never carry upstream text.

/// Shared-data key of a server's quarantine table.
pub fn key(server: &str) -> String {
    format!("meshguard.tool_policy.quarantine.{server}")
}

/// The in-table id of a tool name.
pub fn tool_id(name: &str) -> String {
    let digest = hmac_sha256::Hash::hash(name.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `name` is quarantined in `table`.
pub fn contains(table: &str, name: &str) -> bool {
    let id = tool_id(name);
    table
        .lines()
        .any(|l| l.split(' ').next() == Some(id.as_str()))
}

/// The table with `name` added for `reason` (a stable token such as `description_changed`);
/// `None` if it is already there.
pub fn add(table: &str, name: &str, reason: &str) -> Option<String> {
    if contains(table, name) {
        return None;
    }
    let mut out = table.trim_end().to_string();
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!("{} {reason}", tool_id(name)));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_contains() {
        let t = add("", "delete_branch", "description_changed").unwrap();
        assert!(contains(&t, "delete_branch"));
        assert!(!contains(&t, "get_issue"));
        assert!(add(&t, "delete_branch", "x").is_none());
        let t = add(&t, "get_issue", "input_schema_changed").unwrap();
        assert_eq!(t.lines().count(), 2);
        assert!(!t.contains("delete_branch"), "names are hashed");
        assert!(key("mcp-github").ends_with(".mcp-github"));
    }
}
