//! Approval gate (HITL) in real Envoy, with the real approval service
//! (examples/approval-service) on loopback as the webhook and the redemption authority: a
//! delete is held until a verified approver approves it, the approved call goes through once
//! with exactly the approved arguments, and replays (at the same or another gateway replica,
//! after a gateway or service restart), changed arguments, other users, self-approval,
//! stated approver names, webhook timeouts and outages are refused. The test sets the
//! trusted identity and class headers itself, standing in for token-exchange and
//! tool-policy.

use meshguard_approval::store::StoreConfig;
use meshguard_approval::testing::Postgres;
use meshguard_approval::Running;
use meshguard_e2e::approval::{self, person_token, APPROVER_ROLE};
use meshguard_e2e::upstream::{start_chunked, start_echo};
use meshguard_e2e::{Envoy, EnvoyBuilder, McpClient, OidcIssuer, Reply, WasmFilter};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const FILTER: &str = "approval_gate";

/// The IdP people approve with, and the approval service verifying them against it.
async fn approval_service() -> (OidcIssuer, Running) {
    let idp = OidcIssuer::start().await;
    let service = approval::start_service(&idp).await;
    (idp, service)
}

fn gate_config(jwks: &str, timeout_ms: u64) -> Value {
    json!({
        "classes": ["write", "delete", "admin"],
        "webhook": {"cluster": "approval", "authority": "approval.local",
                    "path": "/v1/approvals", "timeout_ms": timeout_ms},
        "tokens": {"issuer": "meshguard-approval", "audiences": ["meshguard-gateway"],
                   "algorithms": ["ES256"], "jwks": {"inline": jwks}},
        "max_token_age_seconds": 120,
    })
}

fn gateway(config: Value, webhook: SocketAddr, upstream: SocketAddr) -> Envoy {
    EnvoyBuilder::new()
        .filter(WasmFilter::new(FILTER, config))
        .cluster("approval", webhook)
        .upstream(upstream)
        .concurrency(2)
        .start()
        .unwrap_or_else(|e| panic!("envoy did not start:\n{}", e.log))
}

fn upstream_requests(envoy: &Envoy) -> u64 {
    envoy.counter("cluster.upstream.upstream_rq_total")
}

fn counter(envoy: &Envoy, name: &str) -> u64 {
    envoy.counter(&format!("wasmcustom.meshguard.{FILTER}.{name}"))
}

/// Trusted headers as token-exchange and tool-policy would set them.
fn identity(
    user: &'static str,
    session: &'static str,
    class: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("x-meshguard-sub", user),
        ("x-meshguard-team", "sre"),
        ("x-meshguard-session", session),
        ("x-meshguard-agent", "sre-agent"),
        ("x-meshguard-tool-class", class),
    ]
}

fn call(id: u64, tool: &str, args: Value, token: Option<&str>) -> Vec<u8> {
    let mut params = json!({"name": tool, "arguments": args});
    if let Some(t) = token {
        params["_meta"] = json!({"meshguard/approval": t});
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
        .to_string()
        .into_bytes()
}

fn assert_denied(reply: &Reply, status: u16, reason: &str) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text());
    let v = reply.json();
    assert_eq!(v["error"]["data"]["control"], "HITL", "{v}");
    assert_eq!(v["error"]["data"]["reason"], reason, "{v}");
    v
}

/// Ask for approval of a delete; returns the pending error's approval id and poll URL.
async fn ask(client: &McpClient, id: u64, args: Value) -> (String, String) {
    let reply = client
        .post_raw(
            call(id, "delete_repo", args, None),
            &identity("alice", "sess-1", "delete"),
        )
        .await;
    let v = assert_denied(&reply, 200, "approval_pending");
    assert_eq!(v["id"], id);
    let approval_id = v["error"]["data"]["approval_id"]
        .as_str()
        .expect("approval id");
    let poll = v["error"]["data"]["poll"].as_str().expect("poll url");
    (approval_id.to_string(), poll.to_string())
}

/// carol (approver role) approves through the service's HTTP API; the agent polls for the
/// token.
async fn approve_and_poll(
    idp: &OidcIssuer,
    service: &Running,
    approval_id: &str,
    poll: &str,
) -> String {
    let pending: Value = reqwest::get(poll)
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    assert_eq!(pending["status"], "pending");
    assert!(pending.get("approval_token").is_none());
    let carol = person_token(idp, "carol", APPROVER_ROLE);
    approval::approve_and_poll(service, approval_id, poll, &carol)
        .await
        .expect("approved and polled")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_held_then_approved_arguments_go_through_once() {
    let (idp, service) = approval_service().await;
    let upstream = start_echo().await;
    let envoy = gateway(
        gate_config(&service.jwks(), 2000),
        service.addr,
        upstream.addr,
    );
    let client = McpClient::new(envoy.url("/tools/mcp-github/mcp"));
    let args = json!({"repo": "org/api", "force": true});

    let (approval_id, poll) = ask(&client, 7, args.clone()).await;
    assert_eq!(upstream_requests(&envoy), 0, "a held call reached the tool");
    assert!(poll.starts_with(&service.url("/v1/approvals/")), "{poll}");
    // The service got the request with the hash and a preview, not a pass-through of headers.
    let entry = service
        .app
        .store
        .get(&approval_id)
        .await
        .expect("store")
        .expect("stored");
    assert_eq!(entry.request.user, "alice");
    assert_eq!(entry.request.session, "sess-1");
    assert_eq!(entry.request.server, "/tools/mcp-github/mcp");
    assert_eq!(
        entry.request.arguments_preview,
        r#"{"force":true,"repo":"org/api"}"#
    );

    let token = approve_and_poll(&idp, &service, &approval_id, &poll).await;
    // The retry, members reordered, carries the token in params._meta.
    let reordered = json!({"force": true, "repo": "org/api"});
    let reply = client
        .post_raw(
            call(8, "delete_repo", reordered, Some(&token)),
            &identity("alice", "sess-1", "delete"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = reply.json();
    assert_eq!(seen["headers"]["x-meshguard-approver"], "carol");
    let forwarded: Value =
        serde_json::from_str(seen["body"].as_str().unwrap_or("")).expect("body json");
    assert_eq!(forwarded["params"]["arguments"], args);
    assert_eq!(forwarded["id"], 8);
    assert!(
        forwarded["params"].get("_meta").is_none(),
        "token forwarded: {forwarded}"
    );
    assert!(!seen["body"].as_str().unwrap_or("").contains(&token));
    assert_eq!(upstream_requests(&envoy), 1);
    assert_eq!(counter(&envoy, "approved"), 1);
    assert!(envoy
        .log()
        .contains("decision=approved control=HITL tool=delete_repo class=delete user=alice"));
    assert!(envoy.log().contains("approver=carol"));

    // Replay of the used token: refused, the tool is not called again.
    let reply = client
        .post_raw(
            call(9, "delete_repo", args.clone(), Some(&token)),
            &identity("alice", "sess-1", "delete"),
        )
        .await;
    assert_denied(&reply, 200, "approval_replayed");
    assert_eq!(
        upstream_requests(&envoy),
        1,
        "a replayed approval reached the tool"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_arguments_and_other_users_are_refused_without_using_up_the_approval() {
    let (idp, service) = approval_service().await;
    let upstream = start_echo().await;
    let envoy = gateway(
        gate_config(&service.jwks(), 2000),
        service.addr,
        upstream.addr,
    );
    let client = McpClient::new(envoy.url("/tools/mcp-github/mcp"));
    let args = json!({"repo": "org/api"});
    let (approval_id, poll) = ask(&client, 1, args.clone()).await;
    let token = approve_and_poll(&idp, &service, &approval_id, &poll).await;

    let changed = json!({"repo": "org/payroll"});
    let reply = client
        .post_raw(
            call(2, "delete_repo", changed, Some(&token)),
            &identity("alice", "sess-1", "delete"),
        )
        .await;
    let v = assert_denied(&reply, 200, "approval_mismatch");
    assert_eq!(v["error"]["data"]["mismatch"], "arguments");
    // The same approval presented by another user, then in another session.
    for (id, user, session, mismatch) in [
        (3, "mallory", "sess-1", "user"),
        (4, "alice", "sess-9", "session"),
    ] {
        let reply = client
            .post_raw(
                call(id, "delete_repo", args.clone(), Some(&token)),
                &identity(user, session, "delete"),
            )
            .await;
        assert_eq!(
            assert_denied(&reply, 200, "approval_mismatch")["error"]["data"]["mismatch"],
            mismatch
        );
    }
    let reply = client
        .post_raw(
            call(
                5,
                "delete_repo",
                args.clone(),
                Some("eyJhbGciOiJub25lIn0.e30."),
            ),
            &identity("alice", "sess-1", "delete"),
        )
        .await;
    assert_denied(&reply, 200, "approval_invalid");
    assert_eq!(upstream_requests(&envoy), 0);

    // The refused attempts did not consume it: the owner's call (token in the header) passes.
    let mut headers = identity("alice", "sess-1", "delete");
    headers.push(("meshguard-approval", token.as_str()));
    let reply = client
        .post_raw(call(6, "delete_repo", args, None), &headers)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.json()["headers"].get("meshguard-approval").is_none(),
        "token header forwarded"
    );
    assert_eq!(upstream_requests(&envoy), 1);
    assert!(counter(&envoy, "denied.approval_mismatch") >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_timeout_outage_or_nonsense_denies() {
    let upstream = start_echo().await;
    // A webhook that accepts the connection and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            open.push(conn);
        }
    });
    let (_idp, service) = approval_service().await;
    let envoy = gateway(
        gate_config(&service.jwks(), 400),
        silent_addr,
        upstream.addr,
    );
    let client = McpClient::new(envoy.url("/tools/mcp-github/mcp"));
    let started = Instant::now();
    let reply = client
        .post_raw(
            call(1, "delete_repo", json!({"repo": "x"}), None),
            &identity("alice", "s", "delete"),
        )
        .await;
    let waited = started.elapsed();
    assert_denied(&reply, 503, "approval_unavailable");
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(counter(&envoy, "webhook_failed"), 1);
    assert_eq!(upstream_requests(&envoy), 0);
    drop(envoy);

    // Nothing listening.
    let down = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let down_addr = down.local_addr().expect("addr");
    drop(down);
    let envoy = gateway(gate_config(&service.jwks(), 2000), down_addr, upstream.addr);
    let client = McpClient::new(envoy.url("/mcp"));
    let reply = client
        .post_raw(
            call(2, "delete_repo", json!({"repo": "x"}), None),
            &identity("alice", "s", "admin"),
        )
        .await;
    assert_denied(&reply, 503, "approval_unavailable");
    assert_eq!(upstream_requests(&envoy), 0);
    drop(envoy);

    // A 200 that is not a ticket.
    let odd = start_chunked(
        "application/json",
        vec![b"{\"ok\":true}".to_vec()],
        Duration::ZERO,
    )
    .await;
    let envoy = gateway(gate_config(&service.jwks(), 2000), odd.addr, upstream.addr);
    let client = McpClient::new(envoy.url("/mcp"));
    let reply = client
        .post_raw(
            call(3, "delete_repo", json!({"repo": "x"}), None),
            &identity("alice", "s", "write"),
        )
        .await;
    assert_denied(&reply, 503, "approval_unavailable");
    assert_eq!(upstream_requests(&envoy), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_calls_pass_untouched_and_unclassified_calls_fail_closed() {
    let (_idp, service) = approval_service().await;
    let upstream = start_echo().await;
    let envoy = gateway(
        gate_config(&service.jwks(), 2000),
        service.addr,
        upstream.addr,
    );
    let client = McpClient::new(envoy.url("/tools/mcp-github/mcp"));
    let body = r#"{ "jsonrpc":"2.0", "id":1, "method":"tools/call", "params":{"name":"get_issue","arguments":{"repo":"org/api","number":7}} }"#;
    let reply = client
        .post_raw(body.as_bytes().to_vec(), &identity("alice", "s", "read"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["body"].as_str(),
        Some(body),
        "read call altered"
    );
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let reply = client.post_raw(list.as_bytes().to_vec(), &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["body"].as_str(), Some(list));
    assert_eq!(upstream_requests(&envoy), 2);
    assert_eq!(counter(&envoy, "passed"), 2);

    // A client cannot name its own approver.
    let reply = client
        .post_raw(
            body.as_bytes().to_vec(),
            &[
                identity("alice", "s", "read"),
                vec![("x-meshguard-approver", "root")],
            ]
            .concat(),
        )
        .await;
    assert!(reply.json()["headers"]
        .get("x-meshguard-approver")
        .is_none());

    let delete = call(3, "delete_repo", json!({"repo": "x"}), None);
    let no_class = vec![("x-meshguard-sub", "alice"), ("x-meshguard-session", "s")];
    assert_denied(
        &client.post_raw(delete.clone(), &no_class).await,
        200,
        "missing_tool_class",
    );
    let no_user = vec![("x-meshguard-tool-class", "delete")];
    assert_denied(
        &client.post_raw(delete, &no_user).await,
        401,
        "missing_identity",
    );
    assert_eq!(upstream_requests(&envoy), 3);
    assert!(
        service
            .app
            .store
            .newest_first(10)
            .await
            .expect("store")
            .is_empty(),
        "asked without identity"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_plugin_config_holds_and_admits_an_approved_call() {
    let (idp, service) = approval_service().await;
    let upstream = start_echo().await;
    // istio/'s pluginConfig, only the webhook endpoint and the service key replaced.
    let envoy = gateway(approval::gate_config(&service), service.addr, upstream.addr);
    let client = McpClient::new(envoy.url("/tools/mcp-github/mcp"));
    let args = json!({"repo": "org-thousandeyes/sre-api", "title": "rotate keys"});
    let reply = client
        .post_raw(
            call(1, "create_issue", args.clone(), None),
            &identity("alice", "sess-1", "write"),
        )
        .await;
    let v = assert_denied(&reply, 200, "approval_pending");
    let id = v["error"]["data"]["approval_id"]
        .as_str()
        .expect("id")
        .to_string();
    let poll = v["error"]["data"]["poll"]
        .as_str()
        .expect("poll")
        .to_string();
    assert_eq!(upstream_requests(&envoy), 0);
    let token = approve_and_poll(&idp, &service, &id, &poll).await;
    let reply = client
        .post_raw(
            call(2, "create_issue", args, Some(&token)),
            &identity("alice", "sess-1", "write"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["headers"]["x-meshguard-approver"], "carol");
    assert_eq!(upstream_requests(&envoy), 1);
}

/// Ask at `client` for approval of `args`; a verified approver (carol) approves; the token.
async fn approved_token(
    idp: &OidcIssuer,
    service: &Running,
    client: &McpClient,
    id: u64,
    args: Value,
) -> String {
    let (approval_id, poll) = ask(client, id, args).await;
    approve_and_poll(idp, service, &approval_id, &poll).await
}

fn retry(id: u64, args: &Value, token: &str) -> Vec<u8> {
    call(id, "delete_repo", args.clone(), Some(token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_is_used_once_across_two_gateway_replicas_and_restarts_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = StoreConfig::Sqlite(dir.path().join("approvals.sqlite3").display().to_string());
    used_once_across_replicas_and_restarts(store, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_is_used_once_across_two_gateway_replicas_and_restarts_on_postgres() {
    let pg = Postgres::start().expect("postgres (make test installs postgresql)");
    used_once_across_replicas_and_restarts(StoreConfig::Postgres(pg.url()), Some(&pg)).await;
}

/// Two approval-gate Envoy replicas share one approval service on `store`; the service (and
/// `pg`, when given) restart between uses.
async fn used_once_across_replicas_and_restarts(store: StoreConfig, pg: Option<&Postgres>) {
    let idp = OidcIssuer::start().await;
    let keys = approval::signing_keys_json();
    let service = approval::start_service_with(&idp, store.clone(), None, Some(&keys)).await;
    let upstream = start_echo().await;
    let config = gate_config(&service.jwks(), 2000);
    // Two gateway replicas (two Envoy processes) sharing the one approval service.
    let a = gateway(config.clone(), service.addr, upstream.addr);
    let b = gateway(config.clone(), service.addr, upstream.addr);
    let at_a = McpClient::new(a.url("/tools/mcp-github/mcp"));
    let at_b = McpClient::new(b.url("/tools/mcp-github/mcp"));
    let who = identity("alice", "sess-1", "delete");
    let args = json!({"repo": "org/api"});
    let token = approved_token(&idp, &service, &at_a, 1, args.clone()).await;

    // Used at replica B; its replay at replica A (which never saw it) and at B is refused.
    let reply = at_b.post_raw(retry(2, &args, &token), &who).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["headers"]["x-meshguard-approver"], "carol");
    for (id, client) in [(3, &at_a), (4, &at_b)] {
        let v = assert_denied(
            &client.post_raw(retry(id, &args, &token), &who).await,
            200,
            "approval_replayed",
        );
        assert_eq!(v["id"], id);
    }
    let upstream_total =
        |envoys: &[&Envoy]| envoys.iter().map(|e| upstream_requests(e)).sum::<u64>();
    assert_eq!(
        upstream_total(&[&a, &b]),
        1,
        "a replayed approval reached the tool"
    );
    assert!(
        b.log().contains("approver=carol"),
        "audit line lacks the verified approver"
    );

    // Restart a gateway replica: the used approval stays used.
    drop(b);
    let b = gateway(config.clone(), service.addr, upstream.addr);
    let at_b = McpClient::new(b.url("/tools/mcp-github/mcp"));
    assert_denied(
        &at_b.post_raw(retry(5, &args, &token), &who).await,
        200,
        "approval_replayed",
    );
    // Restart the approval service on its SQLite file (same port, same signing key).
    let addr = service.addr;
    drop(service);
    if let Some(pg) = pg {
        pg.restart().expect("postgres restart");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let service = approval::start_service_with(&idp, store.clone(), Some(addr), Some(&keys)).await;
    for (id, client) in [(6, &at_a), (7, &at_b)] {
        assert_denied(
            &client.post_raw(retry(id, &args, &token), &who).await,
            200,
            "approval_replayed",
        );
    }
    assert_eq!(upstream_total(&[&a, &b]), 0, "b restarted: counts only a");
    assert_eq!(upstream_requests(&a), 0);
    // A fresh approval still works once after all the restarts.
    let other = json!({"repo": "org/other"});
    let fresh = approved_token(&idp, &service, &at_b, 8, other.clone()).await;
    let reply = at_a.post_raw(retry(9, &other, &fresh), &who).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_denied(
        &at_b.post_raw(retry(10, &other, &fresh), &who).await,
        200,
        "approval_replayed",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_verified_approver_with_the_role_who_is_not_the_requester_can_approve() {
    let (idp, service) = approval_service().await;
    let upstream = start_echo().await;
    let envoy = gateway(
        gate_config(&service.jwks(), 2000),
        service.addr,
        upstream.addr,
    );
    let client = McpClient::new(envoy.url("/tools/mcp-github/mcp"));
    let args = json!({"repo": "org/api"});
    let (approval_id, poll) = ask(&client, 1, args.clone()).await;
    let url = service.url(&format!("/v1/approvals/{approval_id}/approve"));
    let http = reqwest::Client::new();
    let attempts = [
        // A forged x-forwarded-user, as the old service trusted.
        (
            http.post(&url).header("x-forwarded-user", "carol"),
            401,
            "approver_token_required",
        ),
        // A stated approver name.
        (
            http.post(&url).json(&json!({"approver": "carol"})),
            401,
            "approver_token_required",
        ),
        // A token that does not verify.
        (
            http.post(&url).bearer_auth(
                idp.forge_unknown_kid(
                    &meshguard_e2e::UserClaims::new(
                        "carol",
                        "sre",
                        APPROVER_ROLE,
                        approval::APPROVER_AUDIENCE,
                    )
                    .exact_audience(),
                ),
            ),
            401,
            "approver_token_invalid",
        ),
        // A verified user without the approver role.
        (
            http.post(&url)
                .bearer_auth(person_token(&idp, "bob", "operator")),
            403,
            "not_an_approver",
        ),
        // The requester approving their own call.
        (
            http.post(&url)
                .bearer_auth(person_token(&idp, "alice", APPROVER_ROLE)),
            403,
            "self_approval",
        ),
    ];
    for (i, (req, status, reason)) in attempts.into_iter().enumerate() {
        let r = req.send().await.expect("approve");
        assert_eq!(r.status().as_u16(), status, "attempt {i}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"], reason, "attempt {i}");
    }
    let status: Value = reqwest::get(&poll)
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    assert_eq!(status["status"], "pending", "{status}");
    assert!(status.get("approval_token").is_none());
    // Nothing to retry with: the call is still held.
    assert_denied(
        &client
            .post_raw(
                call(2, "delete_repo", args, None),
                &identity("alice", "sess-1", "delete"),
            )
            .await,
        200,
        "approval_pending",
    );
    assert_eq!(upstream_requests(&envoy), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_service_down_denies_the_approved_call_and_does_not_use_it_up() {
    let idp = OidcIssuer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = StoreConfig::Sqlite(dir.path().join("approvals.sqlite3").display().to_string());
    let keys = approval::signing_keys_json();
    let service = approval::start_service_with(&idp, store.clone(), None, Some(&keys)).await;
    let upstream = start_echo().await;
    let envoy = gateway(
        gate_config(&service.jwks(), 2000),
        service.addr,
        upstream.addr,
    );
    let client = McpClient::new(envoy.url("/tools/mcp-github/mcp"));
    let who = identity("alice", "sess-1", "delete");
    let args = json!({"repo": "org/api"});
    let token = approved_token(&idp, &service, &client, 1, args.clone()).await;
    let jwks = service.jwks();
    let addr = service.addr;
    drop(service);
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The service is down: the approved write is denied, readable, fail closed.
    let reply = client.post_raw(retry(42, &args, &token), &who).await;
    let v = assert_denied(&reply, 503, "approval_unavailable");
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], 42);
    assert_eq!(v["error"]["data"]["detail"], "redeem_failed");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    assert_eq!(upstream_requests(&envoy), 0, "forwarded without redemption");
    assert!(counter(&envoy, "redeem_failed") >= 1);

    // A service that accepts the connection and never answers: the redemption times out
    // (redeem.timeout_ms) and the call is denied the same way.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            open.push(conn);
        }
    });
    let mut slow_config = gate_config(&jwks, 2000);
    slow_config["redeem"] = json!({"timeout_ms": 300});
    let slow = gateway(slow_config, silent_addr, upstream.addr);
    let at_slow = McpClient::new(slow.url("/tools/mcp-github/mcp"));
    let started = Instant::now();
    let v = assert_denied(
        &at_slow.post_raw(retry(45, &args, &token), &who).await,
        503,
        "approval_unavailable",
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(v["id"], 45);
    assert_eq!(upstream_requests(&slow), 0);
    drop(slow);

    // Back up on its store: the approval was not used up by the failed attempts; once only.
    let _service = approval::start_service_with(&idp, store, Some(addr), Some(&keys)).await;
    let reply = client.post_raw(retry(43, &args, &token), &who).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_denied(
        &client.post_raw(retry(44, &args, &token), &who).await,
        200,
        "approval_replayed",
    );
    assert_eq!(upstream_requests(&envoy), 1);
}
