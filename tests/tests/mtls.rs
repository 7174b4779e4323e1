//! Mesh identity without any meshguard filter: the local mesh's mTLS and RBAC, proved with
//! two real Envoys. An "agent sidecar" (plain HTTP listener for the agent, upstream cluster
//! originating mTLS with the agent's SVID) talks to a "gateway" whose listener requires mTLS,
//! in front of the rmcp MCP server, exactly as Istio's sidecars and `PeerAuthentication:
//! STRICT` + `AuthorizationPolicy` would.

use meshguard_e2e::pki::{ids, Pki, Svid};
use meshguard_e2e::upstream::start_echo;
use meshguard_e2e::{Envoy, EnvoyBuilder, McpClient, McpUpstream, ResponseMode};
use serde_json::json;
use std::net::SocketAddr;

/// The gateway: presents its own SVID, requires a client certificate from the mesh CA.
fn gateway(pki: &Pki, upstream: SocketAddr) -> EnvoyBuilder {
    EnvoyBuilder::new()
        .mtls_listener(&pki.svid(ids::GATEWAY), pki.ca_file())
        .upstream(upstream)
}

/// An agent's sidecar: plaintext for the agent, mTLS with `svid` to the gateway, which must
/// present the gateway's SPIFFE id.
fn sidecar(pki: &Pki, svid: &Svid, gateway: &Envoy) -> Envoy {
    EnvoyBuilder::new()
        .upstream(gateway.listener("main"))
        .upstream_mtls(svid, pki.ca_file(), ids::GATEWAY)
        .start()
        .unwrap_or_else(|e| panic!("sidecar did not start:\n{}", e.log))
}

fn start(builder: EnvoyBuilder, what: &str) -> Envoy {
    builder
        .start()
        .unwrap_or_else(|e| panic!("{what} did not start:\n{}", e.log))
}

async fn echo_call(envoy: &Envoy) -> meshguard_e2e::Reply {
    McpClient::new(envoy.url("/mcp"))
        .call_tool("echo", json!({"text": "over mTLS"}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_honest_agent_reaches_the_tool_over_mtls() {
    let pki = Pki::new();
    let upstream = McpUpstream::start(ResponseMode::Json).await;
    let gateway = start(gateway(&pki, upstream.addr), "gateway");
    let agent = sidecar(&pki, &pki.svid(ids::SRE_AGENT), &gateway);

    let reply = echo_call(&agent).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.response()["result"]["content"][0]["text"],
        "over mTLS"
    );
    assert!(agent.counter("cluster.upstream.ssl.handshake") >= 1);
    assert!(gateway.counter("listener.main.ssl.handshake") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let upstream = McpUpstream::start(ResponseMode::Json).await;
    let gateway = start(gateway(&pki, upstream.addr), "gateway");
    // The attacker claims the SRE agent's identity with a certificate its own CA signed,
    // and trusts the real CA so that it does not refuse the gateway first.
    let attacker = sidecar(&pki, &pki.rogue_svid(ids::SRE_AGENT), &gateway);

    let reply = echo_call(&attacker).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(gateway.counter("listener.main.ssl.fail_verify_error") >= 1);
    assert_eq!(gateway.counter("listener.main.ssl.handshake"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_svid_is_refused() {
    let pki = Pki::new();
    let upstream = McpUpstream::start(ResponseMode::Json).await;
    let gateway = start(gateway(&pki, upstream.addr), "gateway");
    let stale = sidecar(&pki, &pki.expired_svid(ids::SRE_AGENT), &gateway);

    let reply = echo_call(&stale).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(gateway.counter("listener.main.ssl.fail_verify_error") >= 1);
    assert_eq!(gateway.counter("listener.main.ssl.handshake"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_client_is_refused_by_the_mtls_listener() {
    let pki = Pki::new();
    let upstream = McpUpstream::start(ResponseMode::Json).await;
    let gateway = start(gateway(&pki, upstream.addr), "gateway");

    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let result = McpClient::new(gateway.url("/mcp")).try_post(&call).await;
    assert!(result.is_err(), "plaintext got an HTTP answer: {result:?}");
    assert_eq!(gateway.counter("listener.main.ssl.handshake"), 0);
    assert!(gateway.counter("listener.main.ssl.connection_error") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_admits_only_the_listed_spiffe_ids() {
    let pki = Pki::new();
    let upstream = McpUpstream::start(ResponseMode::Json).await;
    let gateway = start(
        gateway(&pki, upstream.addr).rbac_allow_principals(&[ids::SRE_AGENT]),
        "gateway",
    );
    let sre = sidecar(&pki, &pki.svid(ids::SRE_AGENT), &gateway);
    let security = sidecar(&pki, &pki.svid(ids::SECURITY_AGENT), &gateway);

    let allowed = echo_call(&sre).await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    // A valid mesh identity, just not one the policy names: the handshake succeeds and
    // Envoy's RBAC answers 403 itself.
    let denied = echo_call(&security).await;
    assert_eq!(denied.status, 403, "{}", denied.text());
    assert_eq!(denied.text(), "RBAC: access denied");
    assert_eq!(gateway.counter("http.main.rbac.denied"), 1);
    assert_eq!(gateway.counter("http.main.rbac.allowed"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_san_matcher_refuses_other_identities_at_the_handshake() {
    let pki = Pki::new();
    let upstream = McpUpstream::start(ResponseMode::Json).await;
    let builder = EnvoyBuilder::new()
        .mtls_listener_allowing(&pki.svid(ids::GATEWAY), pki.ca_file(), &[ids::SRE_AGENT])
        .upstream(upstream.addr);
    let gateway = start(builder, "gateway");
    let sre = sidecar(&pki, &pki.svid(ids::SRE_AGENT), &gateway);
    let security = sidecar(&pki, &pki.svid(ids::SECURITY_AGENT), &gateway);

    assert_eq!(echo_call(&sre).await.status, 200);
    let refused = echo_call(&security).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(gateway.counter("listener.main.ssl.fail_verify_san") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_refuses_a_gateway_with_the_wrong_identity() {
    let pki = Pki::new();
    let upstream = McpUpstream::start(ResponseMode::Json).await;
    // A workload of the mesh (valid CA) posing as the gateway.
    let impostor = start(
        EnvoyBuilder::new()
            .mtls_listener(&pki.svid(ids::MCP_GITHUB), pki.ca_file())
            .upstream(upstream.addr),
        "impostor",
    );
    let agent = sidecar(&pki, &pki.svid(ids::SRE_AGENT), &impostor);

    let reply = echo_call(&agent).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(agent.counter("cluster.upstream.ssl.fail_verify_san") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_forwards_the_verified_peer_identity_and_drops_a_spoofed_one() {
    let pki = Pki::new();
    let echo = start_echo().await;
    let gateway = start(
        gateway(&pki, echo.addr).forward_client_cert_uri(),
        "gateway",
    );
    // This sidecar forwards the agent's own XFCC header unchanged, so the spoofed value
    // reaches the gateway and the gateway's sanitizing is what is under test.
    let agent = start(
        EnvoyBuilder::new()
            .upstream(gateway.listener("main"))
            .upstream_mtls(&pki.svid(ids::SRE_AGENT), pki.ca_file(), ids::GATEWAY)
            .hcm_option("forward_client_cert_details", json!("ALWAYS_FORWARD_ONLY")),
        "sidecar",
    );
    let spoofed = format!("URI={}", ids::SECURITY_AGENT);
    let reply = McpClient::new(agent.url("/mcp"))
        .with_header("x-forwarded-client-cert", &spoofed)
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = reply.json();
    let xfcc = seen["headers"]["x-forwarded-client-cert"]
        .as_str()
        .unwrap_or_else(|| panic!("no XFCC upstream: {seen}"));
    assert!(
        xfcc.contains(&format!("URI={}", ids::SRE_AGENT)),
        "XFCC lacks the agent's SPIFFE id: {xfcc}"
    );
    assert!(
        xfcc.contains(&format!("By={}", ids::GATEWAY)),
        "XFCC lacks the gateway's own id: {xfcc}"
    );
    assert!(
        !xfcc.contains(ids::SECURITY_AGENT),
        "spoofed XFCC survived: {xfcc}"
    );
}

#[test]
fn svids_carry_the_spiffe_id_and_are_written_where_envoy_reads_them() {
    let pki = Pki::new();
    let svid = pki.svid(ids::SRE_AGENT);
    assert_eq!(svid.spiffe_id, ids::SRE_AGENT);
    for (file, pem, marker) in [
        (&svid.cert, &svid.cert_pem, "BEGIN CERTIFICATE"),
        (&svid.key, &svid.key_pem, "BEGIN PRIVATE KEY"),
        (
            &pki.ca_file().to_path_buf(),
            &pki.ca_pem().to_string(),
            "BEGIN CERTIFICATE",
        ),
    ] {
        assert!(
            file.starts_with(pki.dir()),
            "{} outside the PKI dir",
            file.display()
        );
        assert_eq!(&std::fs::read_to_string(file).unwrap(), pem);
        assert!(pem.contains(marker), "{marker} missing: {pem}");
    }
    // Two SVIDs for one identity never overwrite each other's files.
    let again = pki.svid(ids::SRE_AGENT);
    assert_ne!(again.cert, svid.cert);
    assert_ne!(again.cert_pem, svid.cert_pem);
}
