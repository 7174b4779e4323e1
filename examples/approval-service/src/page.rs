//! The page a person approves on: pending requests with Approve and Deny buttons, then the
//! recent decisions. Everything shown comes from the agent's request, so all of it is
//! HTML-escaped. Who approves is not typed in: it is the verified identity of the person's
//! OIDC token (sent by the login in front of the page, or pasted into `id_token`).

use crate::store::Entry;
use meshguard_core::approval_gate::ApprovalState;

/// Escape text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn render(entries: &[Entry]) -> String {
    let pending: Vec<String> = entries
        .iter()
        .filter(|e| e.status == ApprovalState::Pending)
        .map(pending_card)
        .collect();
    let decided: Vec<String> = entries
        .iter()
        .filter(|e| e.status != ApprovalState::Pending)
        .take(50)
        .map(decided_row)
        .collect();
    let pending = if pending.is_empty() {
        "<p>Nothing is waiting for approval.</p>".to_string()
    } else {
        pending.join("\n")
    };
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>meshguard approvals</title>\
         <meta http-equiv=\"refresh\" content=\"10\">\
         <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}\
         .card{{border:1px solid #ccc;border-radius:6px;padding:1em;margin:1em 0}}\
         pre{{background:#f6f6f6;padding:.5em;white-space:pre-wrap}}\
         button{{margin-right:.5em}}</style></head><body>\n\
         <h1>meshguard: approvals</h1>\n<h2>Pending</h2>\n{pending}\n\
         <h2>Decided</h2>\n<table>{}</table>\n</body></html>\n",
        decided.join("\n")
    )
}

fn pending_card(e: &Entry) -> String {
    let r = &e.request;
    let id = escape(&e.id);
    format!(
        "<div class=\"card\" id=\"{id}\"><p><b>{}</b>{}{} wants to call <code>{}</code> \
         (class <b>{}</b>) on <code>{}</code></p>\
         <p>Arguments (scrubbed):</p><pre>{}</pre>\
         <p><small>approval {id} · session {} · args_sha256 {}</small></p>\
         <form method=\"post\" action=\"/v1/approvals/{id}/approve\">\
         <label>Your ID token (unless your login sends it) <input name=\"id_token\" type=\"password\" autocomplete=\"off\"></label> \
         <button type=\"submit\">Approve</button>\
         <button type=\"submit\" formaction=\"/v1/approvals/{id}/deny\">Deny</button></form></div>",
        escape(&r.user),
        r.team
            .as_deref()
            .map(|t| format!(" (team {})", escape(t)))
            .unwrap_or_default(),
        r.agent
            .as_deref()
            .map(|a| format!(" via agent {}", escape(a)))
            .unwrap_or_default(),
        escape(&r.tool),
        r.class.as_str(),
        escape(&r.server),
        escape(&r.arguments_preview),
        escape(&r.session),
        escape(&r.args_sha256),
    )
}

fn decided_row(e: &Entry) -> String {
    let status = serde_json::to_value(e.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    format!(
        "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
        escape(&e.id),
        escape(&e.request.user),
        escape(&e.request.tool),
        status,
        escape(e.approver.as_deref().unwrap_or("-")),
    )
}
