//! `tools/list` responses: each tool compared with its pin (changes quarantine it), then the
//! list cut down to what this caller may call. New tools and renamed tools are hidden and
//! reported; MCP annotations (`readOnlyHint`, `destructiveHint`) that disagree with the
//! registry are reported, and the registry's class stands.

use super::config::{ToolClass, ToolServer};
use super::pin::tool_hashes;
use super::Caller;
use serde_json::Value;

/// What changed about one tool compared with the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// A registered tool whose pinned description and/or input schema changed.
    Changed {
        description: bool,
        input_schema: bool,
    },
    /// A tool the registry does not know.
    New,
    /// An unknown tool carrying the pinned description of registered tool `from`, which
    /// vanished from the list.
    Renamed { from: String },
}

/// One audit finding of a `tools/list` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub tool: String,
    pub kind: ChangeKind,
}

impl Change {
    /// The registered tool this change quarantines, if any.
    pub fn quarantines(&self) -> Option<&str> {
        match &self.kind {
            ChangeKind::Changed { .. } => Some(&self.tool),
            ChangeKind::Renamed { from } => Some(from),
            ChangeKind::New => None,
        }
    }

    /// Stable reason token (`description_changed`, `input_schema_changed`, ...).
    pub fn reason(&self) -> &'static str {
        match self.kind {
            ChangeKind::Changed {
                description: true,
                input_schema: true,
            } => "description_and_input_schema_changed",
            ChangeKind::Changed {
                description: true, ..
            } => "description_changed",
            ChangeKind::Changed { .. } => "input_schema_changed",
            ChangeKind::New => "new_tool",
            ChangeKind::Renamed { .. } => "renamed_tool",
        }
    }

    /// The audit line (names only, never descriptions).
    pub fn audit_line(&self, server: &str) -> String {
        let mut line = format!(
            "control=MCP-03 audit=tool_changed server={server} tool={:?} change={}",
            self.tool,
            self.reason()
        );
        if let ChangeKind::Renamed { from } = &self.kind {
            line.push_str(&format!(" renamed_from={from:?}"));
        }
        if self.quarantines().is_some() {
            line.push_str(" action=quarantined");
        } else {
            line.push_str(" action=hidden");
        }
        line
    }
}

/// A registered tool whose annotations disagree with its registered class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HintMismatch {
    pub tool: String,
    pub class: ToolClass,
    pub hint: &'static str,
}

/// What filtering one `tools/list` result did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListReport {
    pub shown: usize,
    pub hidden: usize,
    pub changes: Vec<Change>,
    pub hints: Vec<HintMismatch>,
}

/// Compare a `tools` array with the registry: the changes found.
pub fn detect_changes(server: &ToolServer, tools: &[Value]) -> Vec<Change> {
    let names: Vec<&str> = tools
        .iter()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .collect();
    let mut changes = Vec::new();
    for tool in tools {
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            continue;
        };
        let (description, schema) = tool_hashes(tool);
        match server.tools.iter().find(|e| e.name == name) {
            Some(entry) => {
                let Some(pin) = &entry.pin else { continue };
                let d = pin.description != description;
                let s = pin.input_schema != schema;
                if d || s {
                    changes.push(Change {
                        tool: name.to_string(),
                        kind: ChangeKind::Changed {
                            description: d,
                            input_schema: s,
                        },
                    });
                }
            }
            None => {
                let renamed = server.tools.iter().find(|e| {
                    !names.contains(&e.name.as_str())
                        && e.pin.as_ref().is_some_and(|p| p.description == description)
                });
                let kind = match renamed {
                    Some(e) => ChangeKind::Renamed {
                        from: e.name.clone(),
                    },
                    None => ChangeKind::New,
                };
                changes.push(Change {
                    tool: name.to_string(),
                    kind,
                });
            }
        }
    }
    changes
}

/// Whether a tool's annotations contradict its registered class.
fn hint_mismatch(tool: &Value, class: ToolClass) -> Option<&'static str> {
    let hint = |k: &str| tool.get("annotations")?.get(k)?.as_bool();
    let read_only = hint("readOnlyHint");
    let destructive = hint("destructiveHint");
    match class {
        ToolClass::Read if read_only == Some(false) || destructive == Some(true) => {
            Some("server_says_not_read_only")
        }
        ToolClass::Write | ToolClass::Delete | ToolClass::Admin if read_only == Some(true) => {
            Some("server_says_read_only")
        }
        ToolClass::Delete | ToolClass::Admin if destructive == Some(false) => {
            Some("server_says_not_destructive")
        }
        _ => None,
    }
}

/// Cut `tools` down to what `caller` may call: registered, granted, not quarantined
/// (`quarantined` sees names quarantined before and by this response).
pub fn filter_tools(
    server: &ToolServer,
    caller: &Caller,
    tools: Vec<Value>,
    quarantined: &dyn Fn(&str) -> bool,
    report: &mut ListReport,
) -> Vec<Value> {
    let mut kept = Vec::new();
    for tool in tools {
        let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
        let entry = server.tools.iter().find(|e| e.name == name);
        let visible = entry.is_some_and(|e| {
            e.allow
                .iter()
                .any(|g| g.allows(&caller.team, caller.role.as_deref()))
        }) && !quarantined(name);
        if !visible {
            report.hidden += 1;
            continue;
        }
        if let Some(e) = entry {
            if let Some(hint) = hint_mismatch(&tool, e.class) {
                report.hints.push(HintMismatch {
                    tool: name.to_string(),
                    class: e.class,
                    hint,
                });
            }
        }
        report.shown += 1;
        kept.push(tool);
    }
    kept
}
