//! Memory guard (MCP-11) end to end: real Envoy running audience_check (`protocol: http`)
//! and memory_guard with their configurations from istio/, in front of a real Chroma
//! server, reached over SPIFFE mTLS by two agents' client Envoys presenting agent tokens
//! bound to their identities. Stamping and isolation are checked by reading Chroma
//! directly, around the guard.

use meshguard_e2e::chroma::{Chroma, DATABASE_PATH};
use meshguard_e2e::manifests::{localize, plugin_config};
use meshguard_e2e::pki::{ids, spiffe_id};
use meshguard_e2e::{Alg, Envoy, EnvoyBuilder, McpClient, OidcIssuer, Pki, UserClaims, WasmFilter};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// An agent that uses memory: its id (the `aud` of its tokens), SPIFFE id and team.
#[derive(Clone, Copy)]
struct Agent {
    id: &'static str,
    spiffe: &'static str,
    team: &'static str,
}

const SRE: Agent = Agent {
    id: "sre-agent",
    spiffe: ids::SRE_AGENT,
    team: "sre",
};
const SECURITY: Agent = Agent {
    id: "security-agent",
    spiffe: ids::SECURITY_AGENT,
    team: "security",
};

/// Chroma behind its guarded sidecar, and one client sidecar per agent.
struct Memory {
    chroma: Chroma,
    idp: OidcIssuer,
    pki: Pki,
    guard: Envoy,
    clients: Vec<(&'static str, Envoy)>,
    collection: String,
}

fn memory_id() -> String {
    spiffe_id("memory", "agent-memory")
}

/// The deployed memory_guard configuration, with `change` applied.
fn guard_config(change: impl FnOnce(&mut Value)) -> Value {
    let mut config = plugin_config("memory_guard");
    change(&mut config);
    config
}

fn start_guard(chroma: &Chroma, idp: &OidcIssuer, pki: &Pki, guard: Value) -> Envoy {
    let overrides = [
        ("/tokens/issuer", json!(idp.issuer())),
        ("/tokens/jwks/remote/uri", json!(idp.jwks_uri())),
        ("/tokens/jwks/remote/cluster", json!("gateway-jwks")),
        ("/tokens/jwks/remote/min_refresh_interval_seconds", json!(1)),
    ];
    let audience = localize(plugin_config("audience_check@agent-memory"), &overrides)
        .unwrap_or_else(|e| panic!("audience_check@agent-memory: {e}"));
    EnvoyBuilder::new()
        .mtls_listener(&pki.svid(&memory_id()), pki.ca_file())
        .filter(WasmFilter::new("audience_check", audience))
        .filter(WasmFilter::new("memory_guard", guard))
        .cluster("gateway-jwks", idp.addr)
        .upstream(chroma.addr())
        .start()
        .unwrap_or_else(|e| panic!("guard envoy did not start:\n{}", e.log))
}

impl Memory {
    /// `None` when Chroma is not installed and missing tools may be skipped.
    async fn start(guard: Value) -> Option<Memory> {
        let chroma = Chroma::start().await?;
        let idp = OidcIssuer::start_with(Alg::ES256).await;
        let pki = Pki::new();
        let guard = start_guard(&chroma, &idp, &pki, guard);
        let clients = [SRE, SECURITY]
            .iter()
            .map(|a| (a.id, agent_client(&pki, a.spiffe, &guard)))
            .collect();
        let collection = chroma.collection("memories").await;
        Some(Memory {
            chroma,
            idp,
            pki,
            guard,
            clients,
            collection,
        })
    }

    /// An agent token as the gateway mints it: `aud` the agent, bound to its SPIFFE id.
    fn token(&self, agent: &Agent, sub: &str, sid: &str) -> String {
        let claims = UserClaims::new(sub, agent.team, "operator", agent.id)
            .claim("sid", json!(sid))
            .claim("cnf", json!({"spiffe": agent.spiffe}));
        self.idp.token(&claims)
    }

    fn client(&self, agent: &Agent) -> &Envoy {
        self.clients
            .iter()
            .find(|(id, _)| *id == agent.id)
            .map(|(_, e)| e)
            .unwrap_or_else(|| panic!("no client for {}", agent.id))
    }

    fn op_path(&self, op: &str) -> String {
        format!("{DATABASE_PATH}/collections/{}/{op}", self.collection)
    }

    /// POST a record operation through `agent`'s sidecar with `token`.
    async fn post(&self, agent: &Agent, token: &str, op: &str, body: &Value) -> Resp {
        let path = self.op_path(op);
        send(
            self.client(agent),
            Some(token),
            "POST",
            &path,
            Some(body.to_string().into_bytes()),
            &[],
        )
        .await
    }

    fn upstream_requests(&self) -> u64 {
        self.guard.counter("cluster.upstream.upstream_rq_total")
    }

    fn counter(&self, name: &str) -> u64 {
        self.guard
            .counter(&format!("wasmcustom.meshguard.memory_guard.{name}"))
    }

    /// Every record, read directly from Chroma (around the guard).
    async fn records(&self) -> Vec<(String, Value)> {
        let all = self.chroma.all_records(&self.collection).await;
        let ids = all["ids"].as_array().cloned().unwrap_or_default();
        let metas = all["metadatas"].as_array().cloned().unwrap_or_default();
        ids.iter()
            .zip(metas)
            .map(|(id, m)| (id.as_str().unwrap_or_default().to_string(), m))
            .collect()
    }
}

fn agent_client(pki: &Pki, spiffe: &str, guard: &Envoy) -> Envoy {
    EnvoyBuilder::new()
        .upstream(guard.listener("main"))
        .upstream_mtls(&pki.svid(spiffe), pki.ca_file(), &memory_id())
        .start()
        .unwrap_or_else(|e| panic!("agent client envoy did not start:\n{}", e.log))
}

/// An HTTP reply: status and body (JSON when it is JSON).
struct Resp {
    status: u16,
    json: Value,
    text: String,
}

impl Resp {
    fn reason(&self) -> Option<&str> {
        self.json["error"]["data"]["reason"].as_str()
    }

    fn ids(&self) -> BTreeSet<String> {
        let ids = match &self.json["ids"] {
            Value::Array(a) if a.first().is_some_and(Value::is_array) => a
                .iter()
                .flat_map(|x| x.as_array().cloned().unwrap_or_default())
                .collect(),
            Value::Array(a) => a.clone(),
            _ => panic!("no ids in {}", self.text),
        };
        ids.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }
}

async fn send(
    client: &Envoy,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
) -> Resp {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut req = reqwest::Client::new().request(method, client.url(path));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let reply = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = reply.status().as_u16();
    let text = reply.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp { status, json, text }
}

fn assert_refused(r: &Resp, status: u16, reason: &str) {
    assert_eq!(r.status, status, "expected {reason}: {}", r.text);
    assert_eq!(r.reason(), Some(reason), "{}", r.text);
    assert_eq!(r.json["error"]["data"]["control"], "MCP-11", "{}", r.text);
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Store two memories for `agent` in session `sid`.
async fn remember(
    m: &Memory,
    agent: &Agent,
    token: &str,
    sid: &str,
    near: [f64; 3],
) -> Vec<String> {
    let ids = vec![
        format!("{}/{sid}/m1", agent.team),
        format!("{}/{sid}/m2", agent.team),
    ];
    let body = json!({
        "ids": ids,
        "embeddings": [near, [near[0], near[1] + 0.1, near[2]]],
        "documents": [format!("{} runbook, session {sid}", agent.team), format!("{} secret, session {sid}", agent.team)],
        "metadatas": [{"topic": "ops"}, null],
    });
    let r = m.post(agent, token, "add", &body).await;
    assert_eq!(r.status, 201, "add: {}", r.text);
    ids
}

fn query(near: [f64; 3]) -> Value {
    json!({"query_embeddings": [near], "n_results": 10, "include": ["documents", "metadatas", "distances"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_teams_store_and_recall_only_their_own() {
    let Some(m) = Memory::start(plugin_config("memory_guard")).await else {
        return;
    };
    let sre = m.token(&SRE, "alice", "sre-s1");
    let sec = m.token(&SECURITY, "bob", "sec-s1");
    // The collection's id, through the guard (the one admin read the deployment allows).
    let path = format!("{DATABASE_PATH}/collections/memories");
    let r = send(m.client(&SRE), Some(&sre), "GET", &path, None, &[]).await;
    assert_eq!(
        (r.status, r.json["id"].as_str()),
        (200, Some(m.collection.as_str())),
        "{}",
        r.text
    );

    let sre_ids = remember(&m, &SRE, &sre, "sre-s1", [1.0, 0.0, 0.0]).await;
    let sec_ids = remember(&m, &SECURITY, &sec, "sec-s1", [0.0, 0.0, 1.0]).await;

    // Stamped: read straight from Chroma, every record carries its writer's tenant.
    let records = m.records().await;
    assert_eq!(records.len(), 4);
    for (id, meta) in &records {
        let (team, sid, user) = if id.starts_with("sre/") {
            ("sre", "sre-s1", "alice")
        } else {
            ("security", "sec-s1", "bob")
        };
        assert_eq!(
            (
                meta["team"].as_str(),
                meta["session_id"].as_str(),
                meta["user"].as_str()
            ),
            (Some(team), Some(sid), Some(user)),
            "{id}: {meta}"
        );
    }

    // Each team's query, even one aimed right at the other team's vectors, returns its own.
    let r = m.post(&SRE, &sre, "query", &query([0.0, 0.0, 1.0])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.ids(), ids(&[&sre_ids[0], &sre_ids[1]]));
    assert!(!r.text.contains("security"), "{}", r.text);
    let r = m
        .post(&SECURITY, &sec, "query", &query([1.0, 0.0, 0.0]))
        .await;
    assert_eq!(r.ids(), ids(&[&sec_ids[0], &sec_ids[1]]));
    let r = m
        .post(&SRE, &sre, "get", &json!({"include": ["metadatas"]}))
        .await;
    assert_eq!(r.ids(), ids(&[&sre_ids[0], &sre_ids[1]]));
    // By id: the other team's ids cannot even be named.
    let r = m
        .post(&SRE, &sre, "get", &json!({"ids": [sec_ids[0]]}))
        .await;
    assert_refused(&r, 403, "id_outside_tenant");

    // Posing as the other team through the identity headers changes nothing.
    let spoof = [
        ("x-meshguard-team", "security"),
        ("x-meshguard-session", "sec-s1"),
    ];
    let body = query([0.0, 0.0, 1.0]).to_string().into_bytes();
    let r = send(
        m.client(&SRE),
        Some(&sre),
        "POST",
        &m.op_path("query"),
        Some(body),
        &spoof,
    )
    .await;
    assert_eq!(r.ids(), ids(&[&sre_ids[0], &sre_ids[1]]), "{}", r.text);

    // Crafted filters for the other team never reach Chroma.
    let before = m.upstream_requests();
    let crafted = [
        (json!({"team": "security"}), 403, "cross_tenant_filter"),
        (
            json!({"$or": [{"team": "sre"}, {"team": "security"}]}),
            403,
            "cross_tenant_filter",
        ),
        (
            json!({"$or": [{"topic": "ops"}, {"team": {"$ne": "sre"}}]}),
            403,
            "tenant_operator",
        ),
        (
            json!({"team": {"$in": ["sre", "security"]}}),
            403,
            "tenant_operator",
        ),
        (
            json!({"$and": [{"Team": "security"}]}),
            403,
            "tenant_key_variant",
        ),
        (json!({"$not": {"team": "sre"}}), 400, "unknown_operator"),
    ];
    for (filter, status, reason) in crafted {
        let mut q = query([0.0, 0.0, 1.0]);
        q["where"] = filter;
        assert_refused(&m.post(&SRE, &sre, "query", &q).await, status, reason);
    }
    let raw = r#"{"query_embeddings":[[0,0,1]],"where":{"team":"security","team":"sre"}}"#;
    let r = send(
        m.client(&SRE),
        Some(&sre),
        "POST",
        &m.op_path("query"),
        Some(raw.as_bytes().to_vec()),
        &[],
    )
    .await;
    assert_eq!(
        (r.status, r.reason()),
        (400, Some("duplicate_key")),
        "{}",
        r.text
    );
    assert_eq!(
        m.upstream_requests(),
        before,
        "a refused request reached Chroma"
    );

    // Writes cannot claim, overwrite or delete another tenant's records.
    let claim = json!({"ids": ["sre/sre-s1/x"], "embeddings": [[0.0, 1.0, 0.0]], "metadatas": [{"team": "security"}]});
    assert_refused(
        &m.post(&SRE, &sre, "add", &claim).await,
        403,
        "conflicting_tenant_metadata",
    );
    let steal = json!({"ids": [sec_ids[1]], "metadatas": [{"topic": "mine now"}]});
    assert_refused(
        &m.post(&SRE, &sre, "update", &steal).await,
        403,
        "id_outside_tenant",
    );
    let steal = json!({"ids": [sec_ids[1]], "embeddings": [[0.0, 0.0, 1.0]]});
    assert_refused(
        &m.post(&SRE, &sre, "upsert", &steal).await,
        403,
        "id_outside_tenant",
    );
    assert_refused(
        &m.post(
            &SRE,
            &sre,
            "delete",
            &json!({"where": {"team": "security"}}),
        )
        .await,
        403,
        "cross_tenant_filter",
    );
    assert_refused(
        &m.post(&SRE, &sre, "delete", &json!({"ids": [sec_ids[0]]}))
            .await,
        403,
        "id_outside_tenant",
    );
    assert_refused(
        &m.post(&SRE, &sre, "delete", &json!({})).await,
        403,
        "unbounded_delete",
    );
    assert_eq!(
        m.upstream_requests(),
        before,
        "a refused write reached Chroma"
    );

    // A delete by a topic both teams use removes only the caller's records.
    let r = m
        .post(&SRE, &sre, "delete", &json!({"where": {"topic": "ops"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let left: BTreeSet<String> = m.records().await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(left, ids(&[&sre_ids[1], &sec_ids[0], &sec_ids[1]]));
    let sec_meta = m
        .records()
        .await
        .into_iter()
        .find(|(id, _)| *id == sec_ids[1])
        .map(|(_, m)| m);
    assert_eq!(
        sec_meta
            .and_then(|m| m["team"].as_str().map(str::to_string))
            .as_deref(),
        Some("security")
    );

    assert!(m.counter("allowed.query") >= 3);
    assert_eq!(m.counter("allowed.add"), 2);
    assert_eq!(m.counter("denied.cross_tenant_filter"), 3);
    assert_eq!(m.counter("denied.id_outside_tenant"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_bound_queries_see_only_their_session() {
    let Some(m) = Memory::start(plugin_config("memory_guard")).await else {
        return;
    };
    let s1 = m.token(&SRE, "alice", "s1");
    let s2 = m.token(&SRE, "alice", "s2");
    let in_s1 = remember(&m, &SRE, &s1, "s1", [1.0, 0.0, 0.0]).await;
    let in_s2 = remember(&m, &SRE, &s2, "s2", [1.0, 0.0, 0.0]).await;
    // Team memory (the deployed default): a session sees the team's memories...
    let r = m.post(&SRE, &s1, "query", &query([1.0, 0.0, 0.0])).await;
    assert_eq!(r.ids().len(), 4, "{}", r.text);
    // ...a session-bound query sees only its own session...
    let mut q = query([1.0, 0.0, 0.0]);
    q["where"] = json!({"session_id": "s1"});
    let r = m.post(&SRE, &s1, "query", &q).await;
    assert_eq!(r.ids(), ids(&[&in_s1[0], &in_s1[1]]), "{}", r.text);
    // ...and naming another session is refused, as is writing into it.
    q["where"] = json!({"session_id": "s2"});
    assert_refused(
        &m.post(&SRE, &s1, "query", &q).await,
        403,
        "cross_tenant_filter",
    );
    let into_s2 = json!({"ids": [in_s2[0]], "documents": ["overwritten"]});
    assert_refused(
        &m.post(&SRE, &s1, "update", &into_s2).await,
        403,
        "id_outside_tenant",
    );

    // Confined to the session: every read is session-bound without asking.
    let confined = guard_config(|c| c["confine_to_session"] = json!(true));
    let guard = start_guard(&m.chroma, &m.idp, &m.pki, confined);
    let client = agent_client(&m.pki, SRE.spiffe, &guard);
    let body = query([1.0, 0.0, 0.0]).to_string().into_bytes();
    let r = send(
        &client,
        Some(&s2),
        "POST",
        &m.op_path("query"),
        Some(body),
        &[],
    )
    .await;
    assert_eq!(r.ids(), ids(&[&in_s2[0], &in_s2[1]]), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_comes_only_from_a_verified_bound_token() {
    let Some(m) = Memory::start(plugin_config("memory_guard")).await else {
        return;
    };
    let path = m.op_path("get");
    let body = || Some(b"{}".to_vec());
    // No token: audience_check refuses before the guard.
    let r = send(
        m.client(&SRE),
        None,
        "POST",
        &path,
        body(),
        &[
            ("x-meshguard-team", "sre"),
            ("x-meshguard-session", "s"),
            ("x-meshguard-sub", "a"),
        ],
    )
    .await;
    assert_eq!(
        (r.status, r.reason()),
        (401, Some("missing_token")),
        "{}",
        r.text
    );
    // The sre agent's token replayed from the security agent's workload.
    let sre = m.token(&SRE, "alice", "s1");
    let r = send(m.client(&SECURITY), Some(&sre), "POST", &path, body(), &[]).await;
    assert_eq!(
        (r.status, r.reason()),
        (403, Some("binding_mismatch")),
        "{}",
        r.text
    );
    // A token for another audience (a tool) is not a memory token.
    let claims = UserClaims::new("alice", "sre", "operator", "mcp-github")
        .claim("sid", json!("s1"))
        .claim("cnf", json!({"spiffe": SRE.spiffe}));
    let r = send(
        m.client(&SRE),
        Some(&m.idp.token(&claims)),
        "POST",
        &path,
        body(),
        &[],
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // A token without a session claim.
    let claims = UserClaims::new("alice", "sre", "operator", SRE.id)
        .claim("cnf", json!({"spiffe": SRE.spiffe}));
    let r = send(
        m.client(&SRE),
        Some(&m.idp.token(&claims)),
        "POST",
        &path,
        body(),
        &[],
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(
        m.upstream_requests(),
        0,
        "an unauthenticated request reached Chroma"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversize_and_admin_requests_are_refused() {
    let Some(m) = Memory::start(plugin_config("memory_guard")).await else {
        return;
    };
    let sre = m.token(&SRE, "alice", "s1");
    let c = m.client(&SRE);
    let query_path = m.op_path("query");
    let r = send(
        c,
        Some(&sre),
        "POST",
        &query_path,
        Some(b"{not json".to_vec()),
        &[],
    )
    .await;
    assert_eq!(
        (r.status, r.reason()),
        (400, Some("invalid_json")),
        "{}",
        r.text
    );
    let r = send(
        c,
        Some(&sre),
        "POST",
        &query_path,
        Some(b"[1,2]".to_vec()),
        &[],
    )
    .await;
    assert_refused(&r, 400, "invalid_body");
    let r = m
        .post(
            &SRE,
            &sre,
            "get",
            &json!({"where": {"topic": "x"}, "read_level": "x"}),
        )
        .await;
    assert_refused(&r, 400, "unknown_field");
    // Over the guard's limit (768 KiB) but under Envoy's 1 MiB buffer, so the agent's own
    // sidecar (which buffers while it connects upstream) forwards it and the guard decides.
    let big = json!({"query_embeddings": [[0.5, 0.5, 0.5]], "where_document": {"$contains": "x".repeat(900_000)}});
    let r = m.post(&SRE, &sre, "query", &big).await;
    assert_eq!(
        (r.status, r.reason()),
        (413, Some("body_too_large")),
        "{}",
        r.text
    );
    // The same oversize body without a content-length, in chunks.
    let chunked = McpClient::new(c.url(&query_path))
        .with_header("authorization", &format!("Bearer {sre}"))
        .post_chunked(big.to_string().into_bytes(), 64 * 1024)
        .await;
    assert_eq!(
        (chunked.status, chunked.denial_reason().as_deref()),
        (413, Some("body_too_large")),
        "{}",
        chunked.text()
    );
    // Admin and unknown routes.
    let coll = format!("{DATABASE_PATH}/collections/memories");
    assert_refused(
        &send(c, Some(&sre), "DELETE", &coll, None, &[]).await,
        403,
        "operation_not_allowed",
    );
    let count = format!("{DATABASE_PATH}/collections/{}/count", m.collection);
    assert_refused(
        &send(c, Some(&sre), "GET", &count, None, &[]).await,
        403,
        "operation_not_allowed",
    );
    assert_refused(
        &send(c, Some(&sre), "POST", "/api/v2/reset", None, &[]).await,
        403,
        "route_not_allowed",
    );
    assert_refused(
        &send(
            c,
            Some(&sre),
            "POST",
            "/api/v2/tenants",
            Some(br#"{"name":"x"}"#.to_vec()),
            &[],
        )
        .await,
        403,
        "route_not_allowed",
    );
    assert_refused(
        &send(
            c,
            Some(&sre),
            "POST",
            &m.op_path("search"),
            Some(b"{}".to_vec()),
            &[],
        )
        .await,
        403,
        "route_not_allowed",
    );
    let other_db = query_path.replace("default_database", "other");
    assert_refused(
        &send(c, Some(&sre), "POST", &other_db, Some(b"{}".to_vec()), &[]).await,
        403,
        "database_not_allowed",
    );
    let encoded = query_path.replace("/query", "/%71uery");
    assert_refused(
        &send(c, Some(&sre), "POST", &encoded, Some(b"{}".to_vec()), &[]).await,
        400,
        "unusual_path",
    );
    assert_eq!(m.upstream_requests(), 0, "a refused request reached Chroma");
    // The collection is still there.
    let (status, _) = m.chroma.call("GET", &coll, None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_is_refused_at_load_naming_the_field() {
    for (config, field) in [
        (json!({"id_prefix": "{team}"}), "id_prefix"),
        (json!({"operations": ["reset"]}), "operations"),
        (
            json!({"body": {"allow_uninspectable": true}}),
            "body.allow_uninspectable",
        ),
        (
            json!({"metadata_keys": {"team": "$t"}}),
            "metadata_keys.team",
        ),
    ] {
        let started = EnvoyBuilder::new()
            .filter(WasmFilter::new("memory_guard", config.clone()))
            .start();
        let Err(e) = started else {
            panic!("envoy started with {config}");
        };
        assert!(
            e.log.contains(&format!("field `{field}")),
            "{config}: {}",
            e.log
        );
    }
}
