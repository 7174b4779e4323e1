//! Approval tokens: what they claim, how the service mints them and how the gate checks
//! them against the retried call.
//!
//! An approval token is a JWT signed by the approval service (ES256 by default), verified
//! by the gate with the core [`Verifier`](crate::jwt::Verifier) (pinned algorithm, issuer,
//! audience, `exp`). Its claims:
//!
//! ```json
//! {"iss": "meshguard-approval", "aud": "meshguard-gateway", "sub": "alice",
//!  "sid": "<session>", "tool": "delete_repo", "server": "/tools/mcp-github/mcp",
//!  "args_sha256": "<hex>", "approver": "carol", "jti": "...", "iat": 1700000000,
//!  "exp": 1700000120}
//! ```
//!
//! The gate accepts it only for the same user, session, tool, server and argument hash, no
//! older than the configured age, and only once: the gate redeems the `jti`, bound to the
//! call, at the approval service ([`super::RedeemRequest`]), whose store all replicas share.

use super::webhook::ApprovalRequest;
use crate::denial::{Control, Denial};
use crate::jwt::{Claims, MintError, MintRequest, Minted, Minter, VerifyError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The approval-specific claims, read from the same signed payload as the core [`Claims`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalClaims {
    /// Hash of the approved arguments ([`super::args_sha256`]).
    pub args_sha256: String,
    /// Who approved (the person who clicked).
    pub approver: String,
    /// The tool server route the approval is for, when the request named one.
    #[serde(default)]
    pub server: Option<String>,
}

/// A verified approval token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The registered and meshguard claims (`sub`, `sid`, `tool`, `jti`, `iat`, `exp`).
    pub claims: Claims,
    /// The approval claims.
    pub extra: ApprovalClaims,
}

/// What the retried call is: an approval must match every field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding<'a> {
    pub user: &'a str,
    pub session: &'a str,
    pub tool: &'a str,
    pub server: &'a str,
    pub args_sha256: &'a str,
}

/// Why an approval token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalError {
    /// Signature, issuer, audience, time or structure (the core reason).
    Invalid(VerifyError),
    /// Valid, but for another user, session, tool, server or arguments (which one).
    Mismatch(&'static str),
    /// Older than the configured maximum age.
    TooOld,
    /// Already used once.
    Replayed,
}

impl ApprovalError {
    /// Stable reason for denials and stats.
    pub fn reason(&self) -> &'static str {
        match self {
            ApprovalError::Invalid(VerifyError::TokenExpired) | ApprovalError::TooOld => {
                "approval_expired"
            }
            ApprovalError::Invalid(_) => "approval_invalid",
            ApprovalError::Mismatch(_) => "approval_mismatch",
            ApprovalError::Replayed => "approval_replayed",
        }
    }

    /// The denial for this refusal (403, control HITL), naming the detail but no token content.
    pub fn denial(&self) -> Denial {
        let d = Denial::new(
            403,
            Control::Hitl,
            self.reason(),
            "the approval does not cover this call; ask for a new one",
        );
        match self {
            ApprovalError::Invalid(e) => d.with_data("detail", json!(e.reason())),
            ApprovalError::Mismatch(field) => d.with_data("mismatch", json!(field)),
            _ => d,
        }
    }
}

/// Check a verified approval against the retried call at time `now`.
pub fn check(
    approval: &Approval,
    binding: &Binding<'_>,
    now: u64,
    max_age_seconds: u64,
) -> Result<(), ApprovalError> {
    let c = &approval.claims;
    let required = [("jti", c.jti.is_some()), ("iat", c.iat.is_some())];
    if let Some((name, _)) = required.iter().find(|(_, present)| !present) {
        return Err(ApprovalError::Invalid(VerifyError::MissingClaim(name)));
    }
    let same = |claim: &Option<String>, value: &str| claim.as_deref() == Some(value);
    if !same(&c.sub, binding.user) {
        return Err(ApprovalError::Mismatch("user"));
    }
    if !same(&c.sid, binding.session) {
        return Err(ApprovalError::Mismatch("session"));
    }
    if !same(&c.tool, binding.tool) {
        return Err(ApprovalError::Mismatch("tool"));
    }
    if approval
        .extra
        .server
        .as_deref()
        .is_some_and(|s| s != binding.server)
    {
        return Err(ApprovalError::Mismatch("server"));
    }
    if approval.extra.args_sha256 != binding.args_sha256 {
        return Err(ApprovalError::Mismatch("arguments"));
    }
    if approval.extra.approver.trim().is_empty() {
        return Err(ApprovalError::Invalid(VerifyError::MissingClaim(
            "approver",
        )));
    }
    let iat = c.iat.unwrap_or(0);
    if now.saturating_sub(iat) > max_age_seconds {
        return Err(ApprovalError::TooOld);
    }
    Ok(())
}

/// Mint the approval token for `request`, approved by `approver` (the approval service).
pub fn mint(
    minter: &Minter,
    request: &ApprovalRequest,
    approver: &str,
    audience: &str,
    ttl_seconds: u64,
    now: u64,
    jti: &str,
) -> Result<Minted, MintError> {
    if approver.trim().is_empty() {
        return Err(MintError::MissingInput("approver"));
    }
    let req = MintRequest {
        subject: request.user.clone(),
        audience: audience.to_string(),
        team: request.team.clone(),
        sid: Some(request.session.clone()),
        tool: Some(request.tool.clone()),
        agent: request.agent.clone(),
        ttl_seconds,
        ..MintRequest::default()
    };
    let mut extra = Map::new();
    extra.insert(
        "args_sha256".into(),
        Value::String(request.args_sha256.clone()),
    );
    extra.insert("approver".into(), Value::String(approver.to_string()));
    extra.insert("server".into(), Value::String(request.server.clone()));
    minter.mint_with(&req, &extra, now, jti)
}
