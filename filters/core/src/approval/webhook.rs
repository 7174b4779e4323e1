//! The JSON the gateway and the approval service exchange.
//!
//! - gateway -> service, `POST <webhook path>`: [`ApprovalRequest`] (who, which tool, the
//!   arguments' hash and a scrubbed preview; never the raw arguments);
//! - service -> gateway, 2xx: [`ApprovalTicket`] (the approval id and where to poll);
//! - agent -> service, `GET <poll>`: [`ApprovalStatus`] (pending, approved with the signed
//!   approval token, or denied).

use super::ToolClass;
use serde::{Deserialize, Serialize};

/// Longest approval id accepted from the service.
pub const MAX_APPROVAL_ID: usize = 128;
/// Longest poll URL accepted from the service.
pub const MAX_POLL: usize = 512;

/// What the gateway asks a person to approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// The user the agent acts for (`sub`); the approval token is bound to it.
    pub user: String,
    /// The user's team, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The chat session (`sid`); the approval token is bound to it.
    pub session: String,
    /// The agent making the call, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The MCP tool name.
    pub tool: String,
    /// The tool server route (request path) the call goes to.
    pub server: String,
    /// The tool's class as the tool policy classified it.
    pub class: ToolClass,
    /// [`super::args_sha256`] of the call's arguments.
    pub args_sha256: String,
    /// The arguments as JSON, scrubbed of PII and secrets and truncated, for the approver.
    pub arguments_preview: String,
}

/// The service's answer: the approval is pending under this id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalTicket {
    /// Opaque id of the pending approval.
    pub approval_id: String,
    /// URL (or path) the agent polls for the decision and the approval token.
    pub poll: String,
}

impl ApprovalTicket {
    /// Parse and sanity-check a webhook response body; `None` means "deny: unavailable".
    pub fn parse(body: &[u8]) -> Option<Self> {
        let ticket: Self = serde_json::from_slice(body).ok()?;
        let id_ok = !ticket.approval_id.is_empty()
            && ticket.approval_id.len() <= MAX_APPROVAL_ID
            && ticket
                .approval_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let poll_ok = !ticket.poll.is_empty()
            && ticket.poll.len() <= MAX_POLL
            && ticket.poll.bytes().all(|b| b.is_ascii_graphic());
        (id_ok && poll_ok).then_some(ticket)
    }
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
    Expired,
}

/// What the agent sees when it polls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalStatus {
    /// The approval id.
    pub approval_id: String,
    /// Pending, approved, denied or expired.
    pub status: ApprovalState,
    /// Who decided, once someone did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    /// The signed approval token, once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_parsing_refuses_odd_ids_and_polls() {
        let ok =
            ApprovalTicket::parse(br#"{"approval_id":"ap_1-x","poll":"/v1/approvals/ap_1-x"}"#);
        assert_eq!(ok.map(|t| t.approval_id), Some("ap_1-x".to_string()));
        for bad in [
            &br#"{"approval_id":"","poll":"/p"}"#[..],
            br#"{"approval_id":"a b","poll":"/p"}"#,
            br#"{"approval_id":"a","poll":"/p q"}"#,
            br#"{"approval_id":"a"}"#,
            br#"not json"#,
            br#"[]"#,
        ] {
            assert!(ApprovalTicket::parse(bad).is_none(), "{bad:?}");
        }
        let long = format!(r#"{{"approval_id":"{}","poll":"/p"}}"#, "a".repeat(200));
        assert!(ApprovalTicket::parse(long.as_bytes()).is_none());
    }
}
