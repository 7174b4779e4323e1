//! Token exchange at the gateway (MCP-02, MCP-09, MCP-18).
//!
//! Flow 1 (user -> agent): a user's OIDC token is exchanged for an agent token bound to
//! the agent workload's SPIFFE id, after the chat session is checked to be the user's.
//! Flow 2 (agent -> tool): an agent token, presented from the workload it is bound to, is
//! exchanged for a tool token naming one tool server and the exact MCP tool, after the
//! team/role policy allows it. The user's own token never leaves the gateway.

pub mod config;
pub mod exchange;
pub mod policy;
pub mod refusal;
pub mod resource;

pub use config::{AgentRoute, Config, ToolRoute};
pub use exchange::{agent_mint_request, session_matches, single_tool, tool_mint_request, Target};
pub use refusal::Refusal;
pub use resource::{ProtectedResource, WELL_KNOWN};
