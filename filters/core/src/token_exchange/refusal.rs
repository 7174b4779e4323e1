//! Every way token-exchange refuses a request, and the one place each becomes a [`Denial`]
//! (status, control, reason, message). The decisions in this module and the proxy adapter
//! name a [`Refusal`]; nothing else in the filter builds a denial, so a reviewer reads the
//! filter's whole error surface here.

use crate::denial::{Control, Denial};

/// Why token-exchange refuses. Borrowed fields name what the message mentions (never a
/// secret from the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal<'a> {
    /// The path is neither an agent, a tool nor the JWKS route.
    NoRoute,
    /// A well-known metadata path for an endpoint the gateway does not serve.
    NoEndpoint,
    /// The host gave no randomness for a token id (MCP-02) or a session id (MCP-18).
    NoRandomness(Control),
    /// The minter failed (`reason` from the minting error).
    MintFailed(&'static str),
    /// Flow 1 without a chat session id.
    MissingSession,
    /// The session id was not issued to this user or is too old (`reason` from the check).
    SessionNotTheUsers(&'static str),
    /// The session header names another session than the agent token carries.
    SessionMismatch,
    /// The body is too large or encoded, so the tool name cannot be read.
    BodyUninspectable,
    /// MCP mirror headers on a body too large (or encoded) to check them against.
    MirrorUncheckable,
    /// A `tools/call` without a usable `params.name` (`reason` from the reader).
    UnnamedCall(&'static str),
    /// The user's team may not drive this agent.
    TeamNotAllowed { agent: &'a str },
    /// The caller's team/role may not call this tool on this server.
    ToolNotAllowed { server: &'a str },
    /// The token has no `sub`.
    MissingSubject,
    /// A batch naming more than one tool (one tool token names one tool).
    BatchMixedTools,
    /// The user token was not issued for this resource (RFC 8707).
    ResourceMismatch,
    /// A browser `Origin` that is not allowed.
    OriginNotAllowed,
    /// The user token lacks a required scope; the challenge names the scopes and metadata.
    InsufficientScope {
        scopes: String,
        resource_metadata: String,
    },
}

impl From<Refusal<'_>> for Denial {
    fn from(r: Refusal<'_>) -> Denial {
        use Refusal as R;
        match r {
            R::NoRoute => Denial::new(
                404,
                Control::Protocol,
                "no_route",
                "no agent or tool is served on this path",
            ),
            R::NoEndpoint => Denial::new(
                404,
                Control::Protocol,
                "no_route",
                "no MCP endpoint is served on this path",
            ),
            R::NoRandomness(control) => Denial::new(
                503,
                control,
                "no_randomness",
                "the host provided no randomness",
            ),
            R::MintFailed(reason) => {
                Denial::new(500, Control::Mcp02, reason, "could not mint a token")
            }
            R::MissingSession => Denial::new(
                403,
                Control::Mcp18,
                "missing_session",
                "a chat session id is required",
            ),
            R::SessionNotTheUsers(reason) => Denial::new(
                403,
                Control::Mcp18,
                reason,
                "the session does not belong to this user",
            ),
            R::SessionMismatch => Denial::new(
                403,
                Control::Mcp18,
                "session_mismatch",
                "the session named does not belong to this token",
            ),
            R::BodyUninspectable => Denial::new(
                413,
                Control::Protocol,
                "body_too_large",
                "the tool name cannot be read from this body",
            ),
            R::MirrorUncheckable => Denial::new(
                413,
                Control::Protocol,
                "body_too_large",
                "the MCP mirror headers cannot be checked against this body",
            ),
            R::UnnamedCall(reason) => Denial::new(
                400,
                Control::Protocol,
                reason,
                "tools/call without a usable name",
            ),
            R::TeamNotAllowed { agent } => Denial::new(
                403,
                Control::Mcp09,
                "team_not_allowed",
                format!("this team may not use agent {agent}"),
            ),
            R::ToolNotAllowed { server } => Denial::new(
                403,
                Control::Mcp09,
                "tool_not_allowed",
                format!("caller's team/role may not call this tool on {server}"),
            ),
            R::MissingSubject => {
                Denial::new(401, Control::Mcp02, "missing_claim", "token has no subject")
            }
            R::BatchMixedTools => Denial::new(
                400,
                Control::Mcp02,
                "batch_mixed_tools",
                "a batch may call only one tool",
            ),
            R::ResourceMismatch => Denial::new(
                401,
                Control::Mcp02,
                "resource_mismatch",
                "the token was not issued for this resource (RFC 8707 audience)",
            ),
            R::OriginNotAllowed => Denial::new(
                403,
                Control::Protocol,
                "origin_not_allowed",
                "requests from this Origin are not accepted",
            ),
            R::InsufficientScope {
                scopes,
                resource_metadata,
            } => Denial::new(
                403,
                Control::Mcp02,
                "insufficient_scope",
                "the token lacks a scope this resource requires",
            )
            .with_challenge("scope", scopes)
            .with_challenge("resource_metadata", resource_metadata),
        }
    }
}
