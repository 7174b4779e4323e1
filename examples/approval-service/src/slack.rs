//! The Slack-style notification: a Block Kit message with Approve and Deny buttons that
//! link to this service's page (link buttons need no Slack app or callback endpoint).

use meshguard_core::approval_gate::ApprovalRequest;
use serde_json::{json, Value};

/// The Block Kit message for one pending approval.
pub fn message(id: &str, req: &ApprovalRequest, public_url: &str) -> Value {
    let who = match (&req.team, &req.agent) {
        (Some(team), Some(agent)) => format!("*{}* (team {team}) via agent *{agent}*", req.user),
        (None, Some(agent)) => format!("*{}* via agent *{agent}*", req.user),
        (Some(team), None) => format!("*{}* (team {team})", req.user),
        (None, None) => format!("*{}*", req.user),
    };
    let link = format!("{public_url}/?id={id}");
    let button = |label: &str, style: &str, action: &str| {
        json!({"type": "button", "text": {"type": "plain_text", "text": label},
               "style": style, "action_id": action, "value": id, "url": link})
    };
    json!({
        "text": format!("Approval needed: {} wants to call {} ({})", req.user, req.tool, req.class.as_str()),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                "{who} wants to call `{}` (class *{}*) on `{}`", req.tool, req.class.as_str(), req.server)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                "Arguments (scrubbed):\n```{}```\nargs_sha256 `{}`", req.arguments_preview, req.args_sha256)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("approval `{id}`, session `{}`", req.session)}]},
            {"type": "actions", "block_id": format!("approval:{id}"), "elements": [
                button("Approve", "primary", "approve"),
                button("Deny", "danger", "deny"),
            ]},
        ],
    })
}
