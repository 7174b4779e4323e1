//! Every way tool-policy refuses a request or a listing, and the one place each becomes a
//! [`Denial`]. The decisions in this module and the proxy adapter name a [`Refusal`];
//! nothing else in the filter builds a denial.

use super::config::{RateLimit, ToolClass};
use crate::denial::{Control, Denial};
use serde_json::json;

/// Why tool-policy refuses. Borrowed fields name what the message mentions.
#[derive(Debug, Clone, Copy)]
pub enum Refusal<'a> {
    /// The path is a tool route of no registered server (MCP-03).
    UnregisteredServer,
    /// No verified caller identity: token-exchange did not run first.
    MissingIdentity,
    /// A `tools/call` without a usable `params.name`.
    MissingParamsName,
    /// The tool is not in the server's registry.
    UnregisteredTool { server: &'a str },
    /// The caller's team/role has no grant for the tool (its class goes in `data`).
    ToolNotGranted { server: &'a str, class: ToolClass },
    /// The tool changed since it was pinned and is quarantined (rug pull).
    Quarantined { server: &'a str },
    /// Over a rate limit; `retry_after` seconds (also sent as `retry-after`).
    RateLimited {
        limit: &'a RateLimit,
        retry_after: u64,
    },
    /// The rate-limit state could not be updated (full or contended): fail closed.
    RateLimitUnavailable,
    /// The quarantine table could not be read: no call or listing is judged without it.
    PolicyStateUnavailable,
    /// A body this filter cannot read (too large, encoded) cannot be judged.
    BodyUninspectable,
    /// A `tools/list` response that is not JSON cannot be filtered.
    ListNotJson,
}

impl From<Refusal<'_>> for Denial {
    fn from(r: Refusal<'_>) -> Denial {
        use Refusal as R;
        match r {
            R::UnregisteredServer => Denial::new(
                403,
                Control::Mcp03,
                "unregistered_server",
                "no registered tool server is served on this path",
            ),
            R::MissingIdentity => Denial::new(
                403,
                Control::Mcp03,
                "missing_identity",
                "no verified caller identity: tool policy needs token exchange first",
            ),
            R::MissingParamsName => Denial::new(
                400,
                Control::Protocol,
                "missing_params_name",
                "tools/call without a usable name",
            ),
            R::UnregisteredTool { server } => Denial::new(
                403,
                Control::Mcp03,
                "unregistered_tool",
                format!("this tool is not in the registry of {server}"),
            ),
            R::ToolNotGranted { server, class } => Denial::new(
                403,
                Control::Mcp03,
                "tool_not_granted",
                format!("caller's team/role may not use this tool on {server}"),
            )
            .with_data("class", json!(class.as_str())),
            R::Quarantined { server } => Denial::new(
                403,
                Control::Mcp03,
                "tool_quarantined",
                format!("this tool of {server} changed since it was pinned and is quarantined"),
            ),
            R::RateLimited { limit, retry_after } => Denial::new(
                429,
                Control::Mcp03,
                "rate_limited",
                format!(
                    "{} {} calls per {} s per {} exceeded",
                    limit.requests,
                    limit.class.as_str(),
                    limit.window_seconds,
                    limit.per.as_str()
                ),
            )
            .with_data("retry_after", json!(retry_after))
            .with_data("class", json!(limit.class.as_str()))
            .with_data("per", json!(limit.per.as_str())),
            R::RateLimitUnavailable => Denial::new(
                503,
                Control::Mcp03,
                "rate_limit_unavailable",
                "the rate limit state is unavailable",
            )
            .with_data("retry_after", json!(1)),
            R::PolicyStateUnavailable => Denial::new(
                503,
                Control::Mcp03,
                "policy_state_unavailable",
                "the tool quarantine cannot be read",
            ),
            R::BodyUninspectable => Denial::new(
                413,
                Control::Protocol,
                "body_uninspectable",
                "the tool call cannot be read from this body",
            ),
            R::ListNotJson => Denial::new(
                502,
                Control::Protocol,
                "invalid_json",
                "the tools/list response cannot be inspected",
            ),
        }
    }
}
