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

/// The gate asks the service to consume an approval, once, for this exact call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    /// `jti` of the verified approval token.
    pub jti: String,
    /// The user the call is made for (must be the approved requester).
    pub user: String,
    /// The session of the call.
    pub session: String,
    /// The tool server route of the call.
    pub server: String,
    /// The tool called.
    pub tool: String,
    /// [`super::args_sha256`] of the call's arguments.
    pub args_sha256: String,
}

impl RedeemRequest {
    /// True when every field is present (the service refuses blanks).
    pub fn complete(&self) -> bool {
        [
            &self.jti,
            &self.user,
            &self.session,
            &self.server,
            &self.tool,
            &self.args_sha256,
        ]
        .iter()
        .all(|f| !f.trim().is_empty())
    }
}

/// The service's answer to a successful redemption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemAnswer {
    /// The approval consumed.
    pub approval_id: String,
    /// The verified approver the service recorded.
    pub approver: String,
}

/// What a redemption answer means for the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// Consumed now, for this call: forward it.
    Redeemed(RedeemAnswer),
    /// Refused by the service (already used, unknown, or another call): deny, 403.
    Refused(&'static str),
    /// No usable answer (timeout, reset, 5xx, nonsense): deny, 503 (fail closed).
    Unavailable,
}

/// Read the service's answer to a redemption: `status` is the HTTP status (empty when the
/// call failed or timed out), `body` its body.
pub fn redeem_outcome(status: &str, body: &[u8]) -> RedeemOutcome {
    let reason = || -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        v.get("error")?.as_str().map(str::to_string)
    };
    match status {
        "200" => match serde_json::from_slice::<RedeemAnswer>(body) {
            Ok(a) if !a.approver.trim().is_empty() && a.approver.len() <= 128 => {
                RedeemOutcome::Redeemed(a)
            }
            _ => RedeemOutcome::Unavailable,
        },
        "404" | "409" => RedeemOutcome::Refused(match reason().as_deref() {
            Some("approval_mismatch") => "approval_mismatch",
            Some("unknown_approval") => "approval_unknown",
            _ => "approval_replayed",
        }),
        _ => RedeemOutcome::Unavailable,
    }
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

    #[test]
    fn only_a_200_with_an_approver_redeems_and_everything_odd_fails_closed() {
        let ok = br#"{"approval_id":"ap_1","approver":"carol"}"#;
        assert!(
            matches!(redeem_outcome("200", ok), RedeemOutcome::Redeemed(a) if a.approver == "carol")
        );
        assert_eq!(
            redeem_outcome("409", br#"{"error":"approval_replayed"}"#),
            RedeemOutcome::Refused("approval_replayed")
        );
        assert_eq!(
            redeem_outcome("409", br#"{"error":"approval_mismatch"}"#),
            RedeemOutcome::Refused("approval_mismatch")
        );
        assert_eq!(
            redeem_outcome("404", b"x"),
            RedeemOutcome::Refused("approval_replayed")
        );
        for (status, body) in [
            ("", &ok[..]),
            ("503", ok),
            ("201", ok),
            ("200", br#"{"approval_id":"a","approver":""}"#),
            ("200", b"nonsense"),
        ] {
            assert_eq!(
                redeem_outcome(status, body),
                RedeemOutcome::Unavailable,
                "{status}"
            );
        }
    }
}
