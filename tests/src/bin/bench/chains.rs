//! The filter chains as deployed, each against Envoy with no meshguard filter in the same run:
//!
//! - gateway: token-exchange, tool-policy, prompt-guardrail, approval-gate on the gateway's
//!   mesh listener, judging agents' `tools/call`s ([`mesh::gateway_chain`]);
//! - tool sidecar: audience-check, egress-guard, pii-scrubber, output-sanitizer on a tool
//!   server's inbound listener ([`mesh::tool_sidecar_chain`]), with tool results to scan.
//!
//! Each side is what the mesh runs: the listener takes mTLS with the workload's SVID and
//! Istio's RBAC (native, before the chain), and a client Envoy holding the caller's SVID
//! (the agent's sidecar, or the gateway's upstream) originates the mTLS, so the identity
//! filters see the peer they bind tokens to. The no-filter side differs only in having no
//! meshguard filter. Tokens are valid (an agent token bound to the agent, a tool token bound
//! to the gateway), bodies are honest `tools/call`s carrying varied real text
//! ([`Corpus`]), and the tool sidecar's upstream answers each call with its own tool result
//! of varied real text. Bodies the chain refuses on a first probe (an honest sample the
//! guardrail mistakes for an attack, a record the scrubber blocks in a request) are left out
//! and counted, so the load measures calls that pass; the run fails if a filter of the chain
//! counted nothing on the probe (it would not be measured) or the chain denied a call under
//! load.
//!
//! Rounds alternate (no filter, chain, no filter, chain, ...) so machine drift hits both
//! sides alike; the reported figure is the median over rounds of each round's ratio or
//! difference: closed-loop throughput (wrk), and p50/p99 latency at a fixed 500 req/s from an
//! open-loop generator ([`OpenLoop`]), counted from each request's scheduled send time.

use axum::body::Bytes;
use meshguard_e2e::load::{bench_line, fixed_upstream, median, upstream, Corpus, Load, OpenLoop};
use meshguard_e2e::mesh::{self, plugin, GatewayKeys, MCP_GITHUB, SRE_AGENT};
use meshguard_e2e::pki::ids;
use meshguard_e2e::{approval, Envoy, EnvoyBuilder, McpClient, OidcIssuer, Pki, Svid};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The fixed request rate of the latency rounds.
const RATE: f64 = 500.0;
/// Candidate bodies per chain (before the probe leaves out refused ones).
const CANDIDATES: u64 = 60;
/// Sizes of the text a `tools/call` carries, in turn (bytes).
const CALL_SIZES: [usize; 6] = [200, 400, 800, 1600, 3200, 6400];
/// Sizes of the text a tool result carries, in turn (bytes).
const RESULT_SIZES: [usize; 6] = [500, 1000, 2000, 4000, 8000, 16000];
/// What the gateway's upstream answers (the tool sidecar behind it is not measured here).
const GATEWAY_REPLY: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}],"isError":false}}"#;

/// Round length: `BENCH_SECONDS`, default 3 s (rounds are short; there are several).
fn round_length() -> Duration {
    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    Duration::from_secs(secs)
}

/// Rounds per side: `BENCH_ROUNDS`, at least 3 (default 3).
fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(3)
}

/// Where one side's load goes: the client Envoy's URL, the headers and bodies it sends, and
/// the Envoys and services that must stay up while it runs.
struct Side {
    url: String,
    headers: Vec<(String, String)>,
    bodies: Vec<String>,
    /// The server (the workload's Envoy) first, then its client.
    envoys: Vec<Envoy>,
}

impl Side {
    fn closed(&self, duration: Duration) -> Load {
        let mut load =
            Load::post(self.url.clone(), String::new(), duration).bodies(self.bodies.clone());
        for (k, v) in &self.headers {
            load = load.header(k, v);
        }
        load
    }

    fn open(&self, duration: Duration) -> OpenLoop {
        let mut load = OpenLoop::post(self.url.clone(), self.bodies.clone(), RATE, duration);
        for (k, v) in &self.headers {
            load = load.header(k, v);
        }
        load
    }
}

/// `tools/call` of `echo` with id `id` carrying `text` (the echo tool of the test servers).
fn echo_call(id: u64, text: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "echo", "arguments": {"text": text}}})
    .to_string()
}

/// The candidate calls: varied sizes, each from its own place in the corpus.
fn candidate_calls(corpus: &Corpus, seed: u64) -> Vec<String> {
    (0..CANDIDATES)
        .map(|i| {
            let size = CALL_SIZES[i as usize % CALL_SIZES.len()];
            echo_call(i, &corpus.window(size, seed + i))
        })
        .collect()
}

/// The calls among `calls` the chain at `url` answers with a result; fails when fewer than a
/// third pass (the load would no longer be varied), and says how many were left out.
async fn passing(
    chain: &str,
    url: &str,
    headers: &[(String, String)],
    calls: Vec<String>,
) -> Result<Vec<String>, String> {
    let mut client = McpClient::new(url);
    for (k, v) in headers {
        client = client.with_header(k, v);
    }
    let total = calls.len();
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for call in calls {
        let reply = client.post_raw(call.clone().into_bytes(), &[]).await;
        // A policy denial is a JSON-RPC error, by default with HTTP 200: a pass is a result.
        match (reply.status, reply.json().get("result").is_some()) {
            (200, true) => kept.push(call),
            (status, _) => refused.push(format!("{status} {}", truncate(&reply.text(), 160))),
        }
    }
    eprintln!(
        "chain={chain}: {} of {total} candidate calls pass; left out: {refused:?}",
        kept.len()
    );
    if kept.len() * 3 < total {
        return Err(format!(
            "chain={chain}: only {} of {total} honest calls pass the chain: {refused:?}",
            kept.len()
        ));
    }
    Ok(kept)
}

fn truncate(s: &str, n: usize) -> &str {
    let mut cut = n.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// Evidence that every filter of `chain` judged the probe's calls: each has a nonzero
/// `meshguard.<filter>.*` counter in `envoy`, printed with its values.
fn check_filters_ran(chain: &str, envoy: &Envoy, filters: &[&str]) -> Result<(), String> {
    let stats = meshguard_stats(envoy);
    eprintln!("chain={chain}: {stats:?}");
    let silent: Vec<&&str> = filters
        .iter()
        .filter(|f| {
            !stats
                .iter()
                .any(|(name, n)| *n > 0 && name.starts_with(&format!("meshguard.{f}.")))
        })
        .collect();
    match silent.as_slice() {
        [] => Ok(()),
        _ => Err(format!(
            "chain={chain}: filters {silent:?} counted nothing: the load would not measure them"
        )),
    }
}

/// The nonzero meshguard counters of `envoy` (Wasm counters, `wasmcustom.` prefix dropped).
fn meshguard_stats(envoy: &Envoy) -> Vec<(String, u64)> {
    envoy
        .counters_with_prefix("wasmcustom.meshguard.")
        .into_iter()
        .map(|(name, n)| (name.trim_start_matches("wasmcustom.").to_string(), n))
        .collect()
}

/// A client Envoy: plain HTTP in, mTLS out to `server` as `svid`, accepting only a server
/// presenting `server_id` (what an agent's sidecar, or the gateway's upstream, does).
fn client_envoy(server: &Envoy, svid: &Svid, pki: &Pki, server_id: &str) -> Result<Envoy, String> {
    EnvoyBuilder::new()
        .upstream(server.listener("main"))
        .upstream_mtls(svid, pki.ca_file(), server_id)
        .start()
        .map_err(|e| format!("client envoy did not start:\n{}", e.log))
}

fn start(builder: EnvoyBuilder, what: &str) -> Result<Envoy, String> {
    builder
        .start()
        .map_err(|e| format!("{what} did not start:\n{}", e.log))
}

/// The gateway chain against the gateway's Envoy without meshguard filters.
pub async fn gateway() -> Result<(), String> {
    let pki = Pki::new();
    let idp = OidcIssuer::start().await;
    let keys = GatewayKeys::generate();
    let approvals = approval::start_service(&idp).await;
    let token_exchange = mesh::token_exchange_filter(&idp, "http://127.0.0.1:1", &keys);
    let chain = mesh::gateway_chain(
        &token_exchange,
        unlimited(plugin::as_deployed("tool_policy")),
        &approvals,
        false,
    );
    let tool = fixed_upstream(GATEWAY_REPLY).await?;
    let svid = pki.svid(ids::GATEWAY);
    let agent = pki.svid(SRE_AGENT.spiffe);
    let gateway = |filters: &[Value]| {
        let mut b = EnvoyBuilder::new()
            .mtls_listener(&svid, pki.ca_file())
            .rbac_allow_principals(&[SRE_AGENT.spiffe])
            .cluster("oidc-issuer", idp.addr)
            .cluster(approval::CLUSTER, approvals.addr)
            .upstream(tool);
        for f in filters {
            b = b.native_filter(f.clone());
        }
        start(b, "gateway")
    };
    let token = keys.sign_agent_token(&SRE_AGENT, "bench-session", "bench");
    let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
    let path = format!("/tools/{}/mcp", MCP_GITHUB.id);
    let with_chain = gateway(&chain)?;
    let chain_client = client_envoy(&with_chain, &agent, &pki, ids::GATEWAY)?;
    let corpus = Corpus::load();
    let bodies = passing(
        "gateway",
        &chain_client.url(&path),
        &headers,
        candidate_calls(&corpus, 1000),
    )
    .await?;
    check_filters_ran(
        "gateway",
        &with_chain,
        &[
            "token_exchange",
            "tool_policy",
            "prompt_guardrail",
            "approval_gate",
        ],
    )?;
    let without = gateway(&[])?;
    let plain_client = client_envoy(&without, &agent, &pki, ids::GATEWAY)?;
    let a = Side {
        url: plain_client.url(&path),
        headers: headers.clone(),
        bodies: bodies.clone(),
        envoys: vec![without, plain_client],
    };
    let b = Side {
        url: chain_client.url(&path),
        headers,
        bodies,
        envoys: vec![with_chain, chain_client],
    };
    compare("gateway", &a, &b).await
}

/// tool-policy as deployed, with every rate limit raised to the most it accepts (a million
/// per window, out of reach of a bench run): the bench is one user
/// calling thousands of times a second, which the deployed limits (100 reads a minute)
/// rightly refuse. The buckets are still taken from on every call.
fn unlimited(mut policy: Value) -> Value {
    if let Some(limits) = policy["rate_limits"].as_array_mut() {
        for limit in limits {
            limit["requests"] = json!(1_000_000);
        }
    }
    policy
}

/// The tool-sidecar chain against the sidecar's Envoy without meshguard filters.
pub async fn tool_sidecar() -> Result<(), String> {
    let pki = Pki::new();
    let keys = GatewayKeys::generate();
    // The gateway's JWKS, which audience-check fetches through its `meshguard-gateway-jwks`
    // cluster as in the mesh.
    let jwks_body = Bytes::from(keys.public_jwks().to_string());
    let jwks = upstream(move |_| jwks_body.clone()).await?;
    let corpus = Corpus::load();
    let results: Arc<Vec<Bytes>> = Arc::new(
        (0..CANDIDATES)
            .map(|i| {
                let size = RESULT_SIZES[i as usize % RESULT_SIZES.len()];
                Bytes::from(tool_result(i, &corpus.window(size, 5000 + i)))
            })
            .collect(),
    );
    // The tool server: call `id` gets result `id`, so a call and its result pass or fail
    // the probe together.
    let tool =
        upstream(move |body| results[(request_id(body) % results.len() as u64) as usize].clone())
            .await?;
    let svid = pki.svid(MCP_GITHUB.spiffe);
    let gateway_svid = pki.svid(ids::GATEWAY);
    let chain = mesh::tool_sidecar_chain(&MCP_GITHUB);
    let sidecar = |filters: &[Value]| {
        let mut b = EnvoyBuilder::new()
            .mtls_listener(&svid, pki.ca_file())
            .rbac_allow_principals(&[ids::GATEWAY])
            .cluster("meshguard-gateway-jwks", jwks)
            .upstream(tool);
        for f in filters {
            b = b.native_filter(f.clone());
        }
        start(b, "tool sidecar")
    };
    let token = keys.sign_tool_token(MCP_GITHUB.id, "echo", Some(ids::GATEWAY), "bench");
    let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
    let with_chain = sidecar(&chain)?;
    let chain_client = client_envoy(&with_chain, &gateway_svid, &pki, MCP_GITHUB.spiffe)?;
    let bodies = passing(
        "tool_sidecar",
        &chain_client.url("/mcp"),
        &headers,
        candidate_calls(&corpus, 3000),
    )
    .await?;
    check_filters_ran(
        "tool_sidecar",
        &with_chain,
        &[
            "audience_check",
            "egress_guard",
            "pii_scrubber",
            "output_sanitizer",
        ],
    )?;
    let without = sidecar(&[])?;
    let plain_client = client_envoy(&without, &gateway_svid, &pki, MCP_GITHUB.spiffe)?;
    let a = Side {
        url: plain_client.url("/mcp"),
        headers: headers.clone(),
        bodies: bodies.clone(),
        envoys: vec![without, plain_client],
    };
    let b = Side {
        url: chain_client.url("/mcp"),
        headers,
        bodies,
        envoys: vec![with_chain, chain_client],
    };
    compare("tool_sidecar", &a, &b).await
}

/// A tool's JSON-RPC result for call `id` carrying `text`.
fn tool_result(id: u64, text: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id,
           "result": {"content": [{"type": "text", "text": text}], "isError": false}})
    .to_string()
}

/// The numeric JSON-RPC id of a call as [`echo_call`] writes it (0 if there is none).
fn request_id(body: &[u8]) -> u64 {
    let key = br#""id":"#;
    body.windows(key.len())
        .position(|w| w == key)
        .map(|at| {
            body[at + key.len()..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .fold(0u64, |n, b| {
                    n.wrapping_mul(10).wrapping_add(u64::from(b - b'0'))
                })
        })
        .unwrap_or(0)
}

/// Fails if `side`'s server took a connection per request or so instead of reusing them:
/// the figures would measure handshakes (an origin answering before reading the request
/// body does that; see [`meshguard_e2e::load::upstream`]).
fn reused_connections(chain: &str, name: &str, side: &Side) -> Result<(), String> {
    let Some(server) = side.envoys.first() else {
        return Ok(());
    };
    let counts = server.counters(&[
        "http.main.downstream_cx_total",
        "http.main.downstream_rq_total",
    ]);
    let (connections, requests) = (counts[0], counts[1]);
    match connections * 10 < requests {
        true => Ok(()),
        false => Err(format!(
            "chain={chain} ({name}): {connections} connections for {requests} requests: \
             the load measures connection set-up"
        )),
    }
}

/// The denials `envoy`'s meshguard filters answered so far.
fn denials(envoy: &Envoy) -> u64 {
    meshguard_stats(envoy)
        .iter()
        .filter(|(name, _)| name.contains(".denied."))
        .map(|(_, n)| n)
        .sum()
}

/// Warm both sides, then alternate them round by round, and print the medians. Fails if the
/// chain denied any call under load (the figures would not be those of calls that pass).
async fn compare(chain: &str, a: &Side, b: &Side) -> Result<(), String> {
    let denied_before = b.envoys.first().map(denials).unwrap_or(0);
    let warm = Duration::from_secs(1);
    for side in [a, b] {
        side.closed(warm).run()?;
        side.open(warm).run().await?;
    }
    let length = round_length();
    let (mut rps, mut p50, mut p99) = (Vec::new(), Vec::new(), Vec::new());
    let (mut base_rps, mut base_p50, mut base_p99) = (Vec::new(), Vec::new(), Vec::new());
    let (mut chain_rps, mut chain_p50, mut chain_p99) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds() {
        let ca = a.closed(length).run()?;
        let cb = b.closed(length).run()?;
        let oa = a.open(length).run().await?;
        let ob = b.open(length).run().await?;
        eprintln!(
            "chain={chain} round {round}: rps {:.0} vs {:.0}; at {RATE} req/s p50 {:.3} vs {:.3} ms, p99 {:.3} vs {:.3} ms (no filter vs chain)",
            ca.rps, cb.rps, oa.p50_ms, ob.p50_ms, oa.p99_ms, ob.p99_ms
        );
        rps.push(cb.rps / ca.rps.max(1e-9));
        p50.push(ob.p50_ms - oa.p50_ms);
        p99.push(ob.p99_ms - oa.p99_ms);
        base_rps.push(ca.rps);
        base_p50.push(oa.p50_ms);
        base_p99.push(oa.p99_ms);
        chain_rps.push(cb.rps);
        chain_p50.push(ob.p50_ms);
        chain_p99.push(ob.p99_ms);
    }
    let anchor = format!("envoy_no_filter_{chain}");
    let medians = [
        (format!("{anchor}_rps"), &base_rps, "req/s"),
        (format!("{anchor}_p50_at_500rps"), &base_p50, "ms"),
        (format!("{anchor}_p99_at_500rps"), &base_p99, "ms"),
        (format!("{chain}_chain_rps"), &chain_rps, "req/s"),
        (format!("{chain}_chain_p50_at_500rps"), &chain_p50, "ms"),
        (format!("{chain}_chain_p99_at_500rps"), &chain_p99, "ms"),
    ];
    for (name, values, unit) in medians {
        bench_line(&name, median(values), unit, None);
    }
    println!(
        "BENCH chain={chain} rps_ratio={:.3} p50_delta_ms={:.3} p99_delta_ms={:.3} (goal >=0.5x, <=+1ms p50, <=+2ms p99)",
        median(&rps),
        median(&p50),
        median(&p99)
    );
    for (side, name) in [(a, "no filter"), (b, "chain")] {
        reused_connections(chain, name, side)?;
    }
    let denied = b.envoys.first().map(denials).unwrap_or(0) - denied_before;
    match denied {
        0 => Ok(()),
        n => Err(format!(
            "chain={chain}: {n} calls were denied under load: {:?}",
            b.envoys.first().map(meshguard_stats)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_read_from_calls() {
        assert_eq!(request_id(echo_call(42, "x \"id\":7").as_bytes()), 42);
        assert_eq!(request_id(b"{}"), 0);
    }
}
