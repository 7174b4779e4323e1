//! `make up`: start the local mesh and keep it running (until SIGTERM/SIGINT, `make down`),
//! printing where a person points their own MCP client (the MCP Inspector, the Python SDK).

use meshguard_e2e::mesh::{LocalMesh, GATEWAY_AUDIENCE, SRE_AGENT};
use meshguard_e2e::UserClaims;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mesh = match LocalMesh::start().await {
        Ok(mesh) => mesh,
        Err(e) => {
            eprintln!("mesh could not start: {e}");
            std::process::exit(2);
        }
    };
    let user = UserClaims::new("alice", "sre", "operator", GATEWAY_AUDIENCE)
        .ttl(std::time::Duration::from_secs(3600));
    let user_token = mesh.idp.token(&user);
    let (agent_token, sid) = match mesh.agent_token("sre-agent", &user).await {
        Ok(t) => t,
        Err(r) => {
            eprintln!("flow 1 failed: {}", r.text());
            std::process::exit(2);
        }
    };
    println!("meshguard local mesh is up (stop it with `make down` or Ctrl-C)");
    println!("  OIDC issuer         {}", mesh.idp.issuer());
    println!(
        "  gateway (users)     {}",
        mesh.gateway_url("/agents/sre-agent/mcp")
    );
    println!(
        "  sre-agent outbound  {}",
        mesh.agent_outbound_url(&SRE_AGENT, "/tools/mcp-github/mcp")
    );
    println!("  gateway admin       http://{}", mesh.gateway.admin());
    println!("  approvals (HITL)    {}", mesh.approval.url("/"));
    println!("  user token (alice, 1 h):\n    {user_token}");
    println!("  chat session (header x-chat-session):\n    {sid}");
    println!(
        "  agent token for sre-agent (use from the sre-agent outbound URL):\n    {agent_token}"
    );
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("cannot listen for signals");
        std::process::exit(2);
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    drop(mesh); // stops every Envoy and server
    println!("meshguard local mesh stopped");
}
