//! The local mesh: the reference deployment of DESIGN.md on one machine, one Envoy per
//! workload, SPIFFE mTLS between them, native RBAC mirroring Istio's AuthorizationPolicies,
//! and the meshguard filters where Istio's WasmPlugins put them.
//!
//! ```text
//! user --HTTP--> gateway[ingress] --mTLS--> agent sidecar[inbound] --> agent app (rmcp, scripted)
//! agent app --> agent sidecar[outbound] --mTLS(agent SVID)--> gateway[mesh]
//!   --mTLS(gateway SVID)--> tool sidecar[inbound] --> MCP tool server (rmcp)
//! ```
//!
//! Mesh-internal listeners are Unix sockets in the mesh's directory, so every address is
//! known before any Envoy starts and nothing races for ports; only the two entry points a
//! person uses (gateway ingress, each agent's outbound) are loopback TCP ports.

use crate::agent::{Outbound, ScriptedAgent};
use crate::envoy::{static_cluster, Envoy};
use crate::oidc::OidcIssuer;
use crate::pki::{ids, Pki, Svid};
use crate::tls::{downstream_mtls, rbac_allow_principals, upstream_mtls};
use crate::upstream::{McpUpstream, ResponseMode};
use crate::{McpClient, Reply, UserClaims, WasmFilter};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Issuer (`iss`) of every token the gateway mints (`minter.issuer` in istio/).
pub const GATEWAY_ISSUER: &str = "https://mcp-gateway.mesh-gateway.svc.cluster.local";
/// Audience user tokens must carry to be accepted by the gateway (`user_tokens.audiences`).
pub const GATEWAY_AUDIENCE: &str = "meshguard";

/// An agent workload of the reference deployment.
#[derive(Debug, Clone, Copy)]
pub struct Agent {
    pub id: &'static str,
    pub spiffe: &'static str,
    pub team: &'static str,
}

/// A tool server of the reference deployment.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub id: &'static str,
    pub spiffe: &'static str,
}

pub const SRE_AGENT: Agent = Agent {
    id: "sre-agent",
    spiffe: ids::SRE_AGENT,
    team: "sre",
};
pub const SECURITY_AGENT: Agent = Agent {
    id: "security-agent",
    spiffe: ids::SECURITY_AGENT,
    team: "security",
};
pub const MCP_GITHUB: Tool = Tool {
    id: "mcp-github",
    spiffe: ids::MCP_GITHUB,
};
pub const MCP_PAYROLL: Tool = Tool {
    id: "mcp-payroll",
    spiffe: ids::MCP_PAYROLL,
};
pub const AGENTS: [Agent; 2] = [SRE_AGENT, SECURITY_AGENT];
pub const TOOLS: [Tool; 2] = [MCP_GITHUB, MCP_PAYROLL];

/// Keys the gateway reads from its VM environment (never from plugin configuration).
pub struct GatewayKeys {
    pub signing_env: String,
    pub session_env: String,
    /// The ES256 private key PEM (tests use it to play an attacker holding a stolen token).
    pub signing_pem: String,
}

impl GatewayKeys {
    /// Fresh keys for one mesh run.
    pub fn generate() -> Self {
        use jwt_simple::prelude::ES256KeyPair;
        let pem = ES256KeyPair::generate().to_pem().unwrap_or_default();
        let signing_env =
            json!({"active": "gw-1", "keys": [{"kid": "gw-1", "alg": "ES256", "pem": pem}]})
                .to_string();
        let mut session = [0u8; 32];
        getrandom_fill(&mut session);
        use base64::Engine;
        let session_env = format!(
            "1:{}",
            base64::engine::general_purpose::STANDARD.encode(session)
        );
        Self {
            signing_env,
            session_env,
            signing_pem: pem,
        }
    }
}

impl GatewayKeys {
    /// A tool token as the gateway mints it, bound to `binding` if given, with `jti`.
    pub fn sign_tool_token(
        &self,
        audience: &str,
        tool: &str,
        binding: Option<&str>,
        jti: &str,
    ) -> String {
        let mut custom = json!({"team": "sre", "role": "operator", "sid": "s", "tool": tool});
        if let Some(b) = binding {
            custom["cnf"] = json!({"spiffe": b});
        }
        self.sign(audience, custom, jti)
    }

    /// An agent token as token-exchange mints it for alice (team sre, operator) driving
    /// `agent` in session `sid`: audience the agent, bound to the agent's SPIFFE id, what the
    /// agent presents to the gateway when it calls a tool (flow 2).
    pub fn sign_agent_token(&self, agent: &Agent, sid: &str, jti: &str) -> String {
        let custom = json!({"team": agent.team, "role": "operator", "sid": sid,
                            "agent": agent.id, "cnf": {"spiffe": agent.spiffe},
                            "act": {"sub": GATEWAY_ISSUER}});
        self.sign(agent.id, custom, jti)
    }

    /// Claims `custom` plus issuer, `audience`, subject alice, `jti` and a 10-minute
    /// lifetime, signed with the gateway's key (empty if the key is unusable).
    fn sign(&self, audience: &str, custom: Value, jti: &str) -> String {
        use jwt_simple::prelude::{Claims, Duration, ECDSAP256KeyPairLike, ES256KeyPair};
        let Ok(key) = ES256KeyPair::from_pem(&self.signing_pem) else {
            return String::new();
        };
        let claims = Claims::with_custom_claims(custom, Duration::from_secs(600))
            .with_issuer(GATEWAY_ISSUER)
            .with_audience(audience)
            .with_subject("alice")
            .with_jwt_id(jti);
        key.with_key_id("gw-1").sign(claims).unwrap_or_default()
    }

    /// The gateway's public JWKS (what it serves on its JWKS path).
    pub fn public_jwks(&self) -> Value {
        use base64::Engine;
        use jwt_simple::prelude::{ECDSAP256PublicKeyLike, ES256KeyPair};
        let Ok(key) = ES256KeyPair::from_pem(&self.signing_pem) else {
            return json!({"keys": []});
        };
        let point = key.public_key().public_key().to_bytes_uncompressed();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "gw-1", "use": "sig", "alg": "ES256",
                         "x": b64(&point[1..33]), "y": b64(&point[33..65])}]})
    }
}

/// Fill `buf` from the kernel's CSPRNG (session keys for one test run).
fn getrandom_fill(buf: &mut [u8]) {
    use std::io::Read;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(buf);
    }
}

/// The plugin configuration of each filter in the mesh: read from `istio/` (one source
/// of truth), with only the deployment endpoints replaced by the local ones.
pub mod plugin {
    use super::*;
    use crate::manifests::{localize, plugin_config};

    /// token-exchange at the gateway, a protected resource at `resource` (its public URL)
    /// whose authorization server is `idp`.
    pub fn token_exchange(idp: &OidcIssuer, resource: &str) -> Value {
        let overrides = [
            ("/protected_resource/resource", json!(resource)),
            (
                "/protected_resource/authorization_servers",
                json!([idp.issuer()]),
            ),
            ("/user_tokens/issuer", json!(idp.issuer())),
            ("/user_tokens/jwks/remote/uri", json!(idp.jwks_uri())),
            ("/user_tokens/jwks/remote/cluster", json!("oidc-issuer")),
            (
                "/user_tokens/jwks/remote/min_refresh_interval_seconds",
                json!(1),
            ),
        ];
        localize(plugin_config("token_exchange"), &overrides)
            .unwrap_or_else(|e| panic!("token_exchange pluginConfig: {e}"))
    }

    /// audience-check at a tool's sidecar.
    pub fn audience_check(tool: &Tool) -> Value {
        audience_check_at(tool.id)
    }

    /// audience-check at `workload`'s sidecar (`audience_check@<workload>` in istio/), with
    /// the gateway's JWKS fetched through the sidecar's `meshguard-gateway-jwks` cluster.
    pub fn audience_check_at(workload: &str) -> Value {
        let overrides = [
            (
                "/tokens/jwks/remote/uri",
                json!("http://meshguard-gateway/.well-known/jwks.json"),
            ),
            (
                "/tokens/jwks/remote/cluster",
                json!("meshguard-gateway-jwks"),
            ),
            ("/tokens/jwks/remote/min_refresh_interval_seconds", json!(1)),
        ];
        localize(
            plugin_config(&format!("audience_check@{workload}")),
            &overrides,
        )
        .unwrap_or_else(|e| panic!("audience_check@{workload} pluginConfig: {e}"))
    }

    /// Any other filter, exactly as istio/ configures it.
    pub fn as_deployed(filter: &str) -> Value {
        plugin_config(filter)
    }
}

/// Socket paths and files of one mesh run.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn socket(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sock"))
    }
}

fn pipe(path: &Path) -> Value {
    json!({"pipe": {"path": path}})
}

fn tcp0() -> Value {
    json!({"socket_address": {"address": "127.0.0.1", "port_value": 0}})
}

fn pipe_cluster(name: &str, path: &Path, tls: Option<Value>) -> Value {
    let mut c = json!({
        "name": name, "type": "STATIC", "connect_timeout": "2s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": pipe(path)}}]}]}
    });
    if let Some(tls) = tls {
        c["transport_socket"] = tls;
    }
    c
}

fn router() -> Value {
    json!({"name": "envoy.filters.http.router",
           "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}})
}

fn listener(
    name: &str,
    address: Value,
    routes: Vec<Value>,
    filters: Vec<Value>,
    tls: Option<Value>,
) -> Value {
    let mut http_filters = filters;
    http_filters.push(router());
    let mut chain = json!({"filters": [{
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": name,
            "route_config": {"virtual_hosts": [{"name": name, "domains": ["*"], "routes": routes}]},
            "http_filters": http_filters,
        }
    }]});
    if let Some(tls) = tls {
        chain["transport_socket"] = tls;
    }
    json!({"name": name, "stat_prefix": name, "address": address, "filter_chains": [chain]})
}

fn route(prefix: &str, cluster: &str, rewrite: Option<&str>) -> Value {
    let mut r = json!({"cluster": cluster, "timeout": "60s", "idle_timeout": "60s"});
    if let Some(rw) = rewrite {
        r["prefix_rewrite"] = json!(rw);
    }
    json!({"match": {"prefix": prefix}, "route": r})
}

fn not_found() -> Value {
    json!({"match": {"prefix": "/"}, "direct_response": {"status": 404}})
}

fn bootstrap(listeners: Vec<Value>, clusters: Vec<Value>) -> Value {
    json!({
        "admin": {"address": tcp0()},
        "static_resources": {"listeners": listeners, "clusters": clusters}
    })
}

/// How the local mesh runs.
#[derive(Debug, Clone, Copy)]
pub struct MeshOptions {
    /// Gateway replicas. With one, the gateway listens on the public port itself and the
    /// intent rate limits are tool-policy's per-proxy buckets. With two or more, the replicas
    /// sit behind round-robin load balancing (an Envoy cluster with one endpoint per replica,
    /// at the edge and in every agent sidecar, as Istio balances over a Service's pods),
    /// share the approval service, and count intent rate limits mesh-wide through the rate
    /// limit service (examples/ratelimit-service) over a Redis the mesh starts.
    pub replicas: usize,
}

impl Default for MeshOptions {
    fn default() -> Self {
        MeshOptions { replicas: 1 }
    }
}

impl MeshOptions {
    /// Two gateway replicas with the mesh-wide services (what `make demo` and `make up` run).
    pub fn replicated() -> Self {
        MeshOptions { replicas: 2 }
    }
}

/// A running local mesh; everything stops when it is dropped.
pub struct LocalMesh {
    pub pki: Pki,
    pub idp: OidcIssuer,
    pub keys: GatewayKeys,
    /// The gateway replicas, in order (socket names: `gateway-mesh`, `gateway-mesh-1`, ...).
    gateways: Vec<Envoy>,
    /// Each replica's bootstrap, to restart it as it was.
    gateway_boots: Vec<Value>,
    /// The load balancer in front of the replicas (none with one replica).
    edge: Option<Envoy>,
    /// The public entry point (the edge, or the only replica).
    ingress: std::net::SocketAddr,
    pub agent_sidecars: Vec<(Agent, Envoy)>,
    pub tool_sidecars: Vec<(Tool, Envoy)>,
    /// The approval service the gateways' approval gate asks (HITL); see [`crate::approval`].
    /// `None` while stopped ([`LocalMesh::stop_approval_service`]).
    approval: Option<meshguard_approval::Running>,
    approval_addr: std::net::SocketAddr,
    approval_store: meshguard_approval::store::StoreConfig,
    approval_keys: String,
    /// The global rate limit service and its Redis (replicated meshes only).
    ratelimit: Option<meshguard_ratelimit::Running>,
    redis: Option<crate::redis::Redis>,
    _apps: Vec<McpUpstream>,
    /// Sockets, certificates, keys and the approvals database; removed last.
    layout_dir: tempfile::TempDir,
}

/// The suffix of replica `i`'s socket names (`""` for the first, `-<i>` after).
fn replica_suffix(i: usize) -> String {
    match i {
        0 => String::new(),
        i => format!("-{i}"),
    }
}

/// A STATIC cluster over several Unix sockets, round-robin.
fn pipes_cluster(name: &str, paths: &[PathBuf], tls: Option<Value>) -> Value {
    let endpoints: Vec<Value> = paths
        .iter()
        .map(|p| json!({"endpoint": {"address": pipe(p)}}))
        .collect();
    let mut c = json!({
        "name": name, "type": "STATIC", "connect_timeout": "2s", "lb_policy": "ROUND_ROBIN",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]}
    });
    if let Some(tls) = tls {
        c["transport_socket"] = tls;
    }
    c
}

impl LocalMesh {
    /// Start the one-gateway mesh (see [`MeshOptions`]).
    pub async fn start() -> Result<LocalMesh, String> {
        Self::start_with(MeshOptions::default()).await
    }

    /// Start the issuer, the services, the workloads and every sidecar. Files (sockets, SVIDs
    /// and their keys, Envoy configurations) go under the process's temporary directory
    /// (`TMPDIR`), so a caller that points it elsewhere keeps every key file there.
    pub async fn start_with(options: MeshOptions) -> Result<LocalMesh, String> {
        let replicas = options.replicas.max(1);
        let layout_dir = tempfile::Builder::new()
            .prefix("mg")
            .tempdir_in(std::env::temp_dir())
            .map_err(|e| e.to_string())?;
        let layout = Layout {
            dir: layout_dir.path().to_path_buf(),
        };
        // Unix socket paths are limited to 107 bytes.
        if layout.socket("gateway-ingress-9").as_os_str().len() > 100 {
            return Err(format!(
                "the mesh directory {} is too long for Unix socket paths: set TMPDIR shorter",
                layout.dir.display()
            ));
        }
        let pki = Pki::in_dir(&layout.dir.join("pki"));
        let idp = OidcIssuer::start().await;
        // The gateway's public URL is its protected-resource identifier (RFC 8707/9728), so
        // its port is chosen before it starts. The issuer adds it to `aud` like an IdP's
        // audience mapper, and OAuth tokens carry the requested resource plus `meshguard`.
        let ingress_port = crate::ports::unassigned_port()?;
        let resource = format!("http://127.0.0.1:{ingress_port}");
        idp.set_resource_audience(Some(resource.clone()));
        idp.set_oauth_tokens(&[GATEWAY_AUDIENCE], std::time::Duration::from_secs(900));
        let keys = GatewayKeys::generate();
        // Approvals in a SQLite file with a fixed signing key: a restarted service (same
        // port, same key) still knows which approvals were used.
        let approval_store = meshguard_approval::store::StoreConfig::Sqlite(
            layout.dir.join("approvals.sqlite3").display().to_string(),
        );
        let approval_keys = crate::approval::signing_keys_json();
        let approval = crate::approval::start_service_with(
            &idp,
            approval_store.clone(),
            None,
            Some(&approval_keys),
        )
        .await;
        let (redis, ratelimit) = match replicas {
            1 => (None, None),
            _ => {
                let redis = crate::redis::Redis::start()
                    .ok_or("redis-server is missing: run `make redis` (replicated mesh)")?;
                let config = crate::ratelimit::service_config_for_policy(
                    &redis.url(),
                    &plugin::as_deployed("tool_policy"),
                )?;
                let rls = crate::ratelimit::start_service(&config).await;
                (Some(redis), Some(rls))
            }
        };
        let shared = Shared {
            layout: &layout,
            pki: &pki,
            idp: &idp,
            keys: &keys,
            approval: &approval,
            ratelimit: ratelimit.as_ref().map(|r| r.addr),
            resource: &resource,
        };
        // Gateways first: sidecars fetch their JWKS at start. Clusters connect lazily, and
        // every mesh-internal address is a socket path known in advance, so order is free.
        let mut gateways = Vec::new();
        let mut gateway_boots = Vec::new();
        for i in 0..replicas {
            let public = (replicas == 1).then_some(ingress_port);
            let boot = gateway_bootstrap(&shared, i, public);
            gateways.push(
                Envoy::start(&boot, 1)
                    .map_err(|e| format!("gateway {i} did not start:\n{}", e.log))?,
            );
            gateway_boots.push(boot);
        }
        let edge = match replicas {
            1 => None,
            n => Some(start_edge(&layout, n, ingress_port)?),
        };
        let mut apps = Vec::new();
        let mut tool_sidecars = Vec::new();
        for tool in TOOLS {
            let server = McpUpstream::start(ResponseMode::Json).await;
            let envoy = start_tool_sidecar(&layout, &pki, &tool, server.addr, replicas)?;
            apps.push(server);
            tool_sidecars.push((tool, envoy));
        }
        let mut agent_sidecars = Vec::new();
        for agent in AGENTS {
            let outbound = Outbound::default();
            let app = ScriptedAgent::start(outbound.clone()).await;
            let envoy = start_agent_sidecar(&layout, &pki, &agent, app.addr, replicas)?;
            let _ = outbound.set(format!("http://{}", envoy.listener("outbound")));
            apps.push(app);
            agent_sidecars.push((agent, envoy));
        }
        Ok(LocalMesh {
            pki,
            idp,
            keys,
            gateways,
            gateway_boots,
            edge,
            ingress: std::net::SocketAddr::from(([127, 0, 0, 1], ingress_port)),
            agent_sidecars,
            tool_sidecars,
            approval_addr: approval.addr,
            approval: Some(approval),
            approval_store,
            approval_keys,
            ratelimit,
            redis,
            _apps: apps,
            layout_dir,
        })
    }

    /// How many gateway replicas run.
    pub fn replicas(&self) -> usize {
        self.gateways.len()
    }

    /// Gateway replica `i` (`0` is the only one unless replicated).
    pub fn gateway(&self, i: usize) -> Option<&Envoy> {
        self.gateways.get(i)
    }

    /// The load balancer in front of the replicas (replicated meshes only).
    pub fn edge(&self) -> Option<&Envoy> {
        self.edge.as_ref()
    }

    /// The approval service, unless stopped.
    pub fn approval_service(&self) -> Option<&meshguard_approval::Running> {
        self.approval.as_ref()
    }

    /// The global rate limit service's address (replicated meshes only, unless stopped).
    pub fn rate_limit_service(&self) -> Option<std::net::SocketAddr> {
        self.ratelimit.as_ref().map(|r| r.addr)
    }

    /// `redis://...` of the Redis the rate limit service counts in (replicated meshes only).
    pub fn redis_url(&self) -> Option<String> {
        self.redis.as_ref().map(|r| r.url())
    }

    /// The directory holding the mesh's sockets, SVIDs and keys.
    pub fn dir(&self) -> &Path {
        self.layout_dir.path()
    }

    /// Stop gateway replica `i` and start it again from the same configuration (a new
    /// process: whatever it kept in shared data is gone).
    pub fn restart_gateway(&mut self, i: usize) -> Result<(), String> {
        let boot = self
            .gateway_boots
            .get(i)
            .cloned()
            .ok_or(format!("no gateway replica {i}"))?;
        drop(self.gateways.remove(i));
        let sfx = replica_suffix(i);
        for name in ["gateway-mesh", "gateway-jwks", "gateway-ingress"] {
            let _ = std::fs::remove_file(self.socket(&format!("{name}{sfx}")));
        }
        let envoy = Envoy::start(&boot, 1)
            .map_err(|e| format!("gateway {i} did not restart:\n{}", e.log))?;
        self.gateways.insert(i, envoy);
        Ok(())
    }

    /// Stop the approval service (the gate's webhook and redemption then fail).
    pub fn stop_approval_service(&mut self) {
        self.approval = None;
    }

    /// Start the approval service again on its port, store and signing key (a restart after
    /// [`LocalMesh::stop_approval_service`]); a no-op while it runs.
    pub async fn start_approval_service(&mut self) -> Result<(), String> {
        if self.approval.is_some() {
            return Ok(());
        }
        // The old listener closes asynchronously: wait until the port is free again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::net::TcpListener::bind(self.approval_addr).is_err() {
            if std::time::Instant::now() > deadline {
                return Err(format!("approval port {} stays busy", self.approval_addr));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.approval = Some(
            crate::approval::start_service_with(
                &self.idp,
                self.approval_store.clone(),
                Some(self.approval_addr),
                Some(&self.approval_keys),
            )
            .await,
        );
        Ok(())
    }

    /// Stop the global rate limit service (its Redis keeps running).
    pub async fn stop_rate_limit_service(&mut self) {
        if let Some(rls) = self.ratelimit.take() {
            rls.stop().await;
        }
    }

    /// Where users send requests (the gateway's ingress).
    pub fn gateway_url(&self, path: &str) -> String {
        format!("http://{}{}", self.ingress, path)
    }

    /// Where an agent workload sends its tool calls (its sidecar's outbound listener).
    pub fn agent_outbound_url(&self, agent: &Agent, path: &str) -> String {
        let envoy = &self
            .agent_sidecars
            .iter()
            .find(|(a, _)| a.id == agent.id)
            .map(|(_, e)| e);
        let envoy = envoy.unwrap_or_else(|| panic!("no agent {}", agent.id));
        format!("http://{}{}", envoy.listener("outbound"), path)
    }

    /// Where an agent workload reaches gateway replica `replica` only (its sidecar's
    /// `outbound-<replica>` listener; the plain outbound with one replica): what a call that
    /// the load balancer happened to send there looks like.
    pub fn agent_outbound_url_at(&self, agent: &Agent, replica: usize, path: &str) -> String {
        let envoy = self
            .agent_sidecars
            .iter()
            .find(|(a, _)| a.id == agent.id)
            .map(|(_, e)| e)
            .unwrap_or_else(|| panic!("no agent {}", agent.id));
        let name = match self.gateways.len() {
            1 => "outbound".to_string(),
            _ => format!("outbound-{replica}"),
        };
        format!("http://{}{}", envoy.listener(&name), path)
    }

    /// The Unix socket of a mesh-internal listener (`gateway-mesh`, `tool-mcp-github`, ...).
    pub fn socket(&self, name: &str) -> PathBuf {
        self.layout_dir.path().join(format!("{name}.sock"))
    }

    /// An Envoy acting as a client inside the mesh with `svid`, forwarding plain HTTP from a
    /// loopback port to the mesh-internal listener `target` over mTLS: what a compromised
    /// pod holding that identity can do.
    pub fn client_as(&self, svid: &Svid, target: &str, server_id: &str) -> Result<Envoy, String> {
        let tls = upstream_mtls(svid, self.pki.ca_file(), server_id);
        let boot = bootstrap(
            vec![listener(
                "main",
                tcp0(),
                vec![route("/", "target", None)],
                vec![],
                None,
            )],
            vec![pipe_cluster("target", &self.socket(target), Some(tls))],
        );
        Envoy::start(&boot, 1).map_err(|e| format!("client envoy did not start:\n{}", e.log))
    }
}

/// What users, agents and attackers do in the mesh: the steps every scenario is made of.
impl LocalMesh {
    /// A session id the gateway issues to the holder of `user_token` (MCP-18).
    pub async fn session(&self, user_token: &str) -> Result<String, Reply> {
        let reply = McpClient::new(self.gateway_url("/meshguard/session"))
            .with_header("authorization", &format!("Bearer {user_token}"))
            .post(&json!({}))
            .await;
        match reply.json()["session_id"].as_str() {
            Some(sid) if reply.status == 200 => Ok(sid.to_string()),
            _ => Err(reply),
        }
    }

    /// Flow 1: a user talks to `agent` through the gateway; the reply is what the agent
    /// app saw (method, path, headers, body: its `/echo` endpoint), or the gateway's denial.
    pub async fn talk_to_agent(
        &self,
        agent: &str,
        user_token: &str,
        sid: &str,
        body: &Value,
    ) -> Reply {
        self.post_to_agent(agent, "echo", user_token, sid, body)
            .await
    }

    /// Flows 1 and 2 end to end: the user sends `call` to `agent`'s MCP endpoint; the
    /// scripted agent carries it out through the mesh (see [`crate::agent`]).
    pub async fn ask_agent(&self, agent: &str, user_token: &str, sid: &str, call: &Value) -> Reply {
        self.post_to_agent(agent, "mcp", user_token, sid, call)
            .await
    }

    async fn post_to_agent(
        &self,
        agent: &str,
        path: &str,
        user_token: &str,
        sid: &str,
        body: &Value,
    ) -> Reply {
        McpClient::new(self.gateway_url(&format!("/agents/{agent}/{path}")))
            .with_header("authorization", &format!("Bearer {user_token}"))
            .with_header("x-chat-session", sid)
            .post(body)
            .await
    }

    /// The agent token the gateway mints for `user` driving `agent`, and the session id.
    pub async fn agent_token(
        &self,
        agent: &str,
        user: &UserClaims,
    ) -> Result<(String, String), Reply> {
        let user_token = self.idp.token(user);
        let sid = self.session(&user_token).await?;
        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        let reply = self.talk_to_agent(agent, &user_token, &sid, &list).await;
        let token = match reply.json()["headers"]["authorization"].as_str() {
            Some(auth) if reply.status == 200 => auth.trim_start_matches("Bearer ").to_string(),
            _ => return Err(reply),
        };
        Ok((token, sid))
    }

    /// Flow 2: `from` calls `tool` through its own sidecar, presenting `token`.
    pub async fn call_tool(&self, from: &Agent, tool: &str, token: &str, call: &Value) -> Reply {
        McpClient::new(self.agent_outbound_url(from, &format!("/tools/{tool}/mcp")))
            .with_header("authorization", &format!("Bearer {token}"))
            .post(call)
            .await
    }

    /// [`LocalMesh::call_tool`] through gateway replica `replica`.
    pub async fn call_tool_at(
        &self,
        replica: usize,
        from: &Agent,
        tool: &str,
        token: &str,
        call: &Value,
    ) -> Reply {
        McpClient::new(self.agent_outbound_url_at(from, replica, &format!("/tools/{tool}/mcp")))
            .with_header("authorization", &format!("Bearer {token}"))
            .post(call)
            .await
    }

    /// A tool token for `audience` and `tool` signed with the gateway's key: what an
    /// attacker who copied one off the wire between gateway and tool holds.
    pub fn stolen_tool_token(&self, audience: &str, tool: &str) -> String {
        self.keys
            .sign_tool_token(audience, tool, Some(ids::GATEWAY), "stolen")
    }

    /// POST `call` with `token` through a client Envoy (see [`LocalMesh::client_as`]).
    pub async fn post_as(&self, client: &Envoy, token: &str, call: &Value) -> Reply {
        McpClient::new(client.url("/mcp"))
            .with_header("authorization", &format!("Bearer {token}"))
            .post(call)
            .await
    }
}

/// The gateway-side sockets of every replica named `name` (`gateway-mesh`, `gateway-jwks`).
fn replica_sockets(layout: &Layout, name: &str, replicas: usize) -> Vec<PathBuf> {
    (0..replicas)
        .map(|i| layout.socket(&format!("{name}{}", replica_suffix(i))))
        .collect()
}

/// The meshguard filters of `tool`'s sidecar (its inbound listener) as istio/ configures and
/// orders them: audience-check, egress-guard (inbound instance), pii-scrubber,
/// output-sanitizer. Istio's RBAC goes before them and the router after.
pub fn tool_sidecar_chain(tool: &Tool) -> Vec<Value> {
    vec![
        WasmFilter::new("audience_check", plugin::audience_check(tool)).http_filter(),
        WasmFilter::new(
            "egress_guard",
            crate::egress::deployed_config(crate::egress::INBOUND),
        )
        .http_filter(),
        WasmFilter::new("pii_scrubber", plugin::as_deployed("pii_scrubber")).http_filter(),
        WasmFilter::new("output_sanitizer", plugin::as_deployed("output_sanitizer")).http_filter(),
    ]
}

/// token-exchange as the gateway runs it: `plugin::token_exchange(idp, resource)`, with the
/// signing and session keys in its VM environment.
pub fn token_exchange_filter(idp: &OidcIssuer, resource: &str, keys: &GatewayKeys) -> WasmFilter {
    WasmFilter::new("token_exchange", plugin::token_exchange(idp, resource))
        .env("MESHGUARD_SIGNING_KEYS", &keys.signing_env)
        .env("MESHGUARD_SESSION_KEYS", &keys.session_env)
}

/// The meshguard filters of the gateway's mesh listener (agents' tool calls) as istio/
/// orders them: token-exchange, tool-policy (configured by `tool_policy`; deployed:
/// `plugin::as_deployed("tool_policy")`), the prompt guardrail, the global rate limit
/// (priority 10, when `global_rate_limit`), the approval gate (priority 20) asking
/// `approval`. Istio's RBAC goes before them and the router after.
pub fn gateway_chain(
    token_exchange: &WasmFilter,
    tool_policy: Value,
    approval: &meshguard_approval::Running,
    global_rate_limit: bool,
) -> Vec<Value> {
    let mut filters = vec![
        token_exchange.http_filter(),
        WasmFilter::new("tool_policy", tool_policy).http_filter(),
        WasmFilter::new("prompt_guardrail", plugin::as_deployed("prompt_guardrail")).http_filter(),
    ];
    if global_rate_limit {
        filters.extend(crate::ratelimit::filters(&[]));
    }
    filters.push(
        WasmFilter::new("approval_gate", crate::approval::gate_config(approval)).http_filter(),
    );
    filters
}

fn start_tool_sidecar(
    layout: &Layout,
    pki: &Pki,
    tool: &Tool,
    server: std::net::SocketAddr,
    replicas: usize,
) -> Result<Envoy, String> {
    let svid = pki.svid(tool.spiffe);
    let mut filters = vec![rbac_allow_principals(&[ids::GATEWAY])];
    filters.extend(tool_sidecar_chain(tool));
    let inbound = listener(
        "inbound",
        pipe(&layout.socket(&format!("tool-{}", tool.id))),
        vec![route("/", "app", None)],
        filters,
        Some(downstream_mtls(&svid, pki.ca_file(), &[])),
    );
    let clusters = vec![
        static_cluster("app", server),
        pipes_cluster(
            "meshguard-gateway-jwks",
            &replica_sockets(layout, "gateway-jwks", replicas),
            None,
        ),
    ];
    Envoy::start(&bootstrap(vec![inbound], clusters), 1)
        .map_err(|e| format!("{} sidecar did not start:\n{}", tool.id, e.log))
}

/// An agent's sidecar: inbound from the gateway, and `outbound` to the gateway replicas
/// (round-robin); with several replicas also `outbound-<i>` to replica `i` alone.
fn start_agent_sidecar(
    layout: &Layout,
    pki: &Pki,
    agent: &Agent,
    app: std::net::SocketAddr,
    replicas: usize,
) -> Result<Envoy, String> {
    let svid = pki.svid(agent.spiffe);
    let upstream = || Some(upstream_mtls(&svid, pki.ca_file(), ids::GATEWAY));
    let mut listeners = vec![
        listener(
            "inbound",
            pipe(&layout.socket(&format!("agent-{}", agent.id))),
            vec![route("/", "app", None)],
            vec![rbac_allow_principals(&[ids::GATEWAY])],
            Some(downstream_mtls(&svid, pki.ca_file(), &[])),
        ),
        listener(
            "outbound",
            tcp0(),
            vec![route("/", "gateway", None)],
            vec![],
            None,
        ),
    ];
    let sockets = replica_sockets(layout, "gateway-mesh", replicas);
    let mut clusters = vec![
        static_cluster("app", app),
        pipes_cluster("gateway", &sockets, upstream()),
    ];
    if replicas > 1 {
        for (i, socket) in sockets.iter().enumerate() {
            let name = format!("outbound-{i}");
            let cluster = format!("gateway-{i}");
            listeners.push(listener(
                &name,
                tcp0(),
                vec![route("/", &cluster, None)],
                vec![],
                None,
            ));
            clusters.push(pipe_cluster(&cluster, socket, upstream()));
        }
    }
    Envoy::start(&bootstrap(listeners, clusters), 1)
        .map_err(|e| format!("{} sidecar did not start:\n{}", agent.id, e.log))
}

/// The load balancer in front of the gateway replicas: the public port, round-robin over
/// each replica's ingress socket (a Kubernetes Service in front of the gateway pods).
fn start_edge(layout: &Layout, replicas: usize, port: u16) -> Result<Envoy, String> {
    let ingress = listener(
        "ingress",
        json!({"socket_address": {"address": "127.0.0.1", "port_value": port}}),
        vec![route("/", "gateway", None)],
        vec![],
        None,
    );
    let cluster = pipes_cluster(
        "gateway",
        &replica_sockets(layout, "gateway-ingress", replicas),
        None,
    );
    Envoy::start(&bootstrap(vec![ingress], vec![cluster]), 1)
        .map_err(|e| format!("gateway load balancer did not start:\n{}", e.log))
}

/// What every gateway replica shares.
struct Shared<'a> {
    layout: &'a Layout,
    pki: &'a Pki,
    idp: &'a OidcIssuer,
    keys: &'a GatewayKeys,
    approval: &'a meshguard_approval::Running,
    /// The global rate limit service, when the mesh counts limits mesh-wide.
    ratelimit: Option<std::net::SocketAddr>,
    resource: &'a str,
}

/// Gateway replica `replica`'s bootstrap: its ingress on the public port when it is the
/// only one (`public`), else on its own socket behind the load balancer.
fn gateway_bootstrap(shared: &Shared, replica: usize, public: Option<u16>) -> Value {
    let Shared {
        layout,
        pki,
        idp,
        keys,
        approval,
        ratelimit,
        resource,
    } = shared;
    let sfx = replica_suffix(replica);
    let svid = pki.svid(ids::GATEWAY);
    let token_exchange_filter = token_exchange_filter(idp, resource, keys);
    let token_exchange = token_exchange_filter.http_filter();
    let mut ingress_routes: Vec<Value> = AGENTS
        .iter()
        .map(|a| {
            route(
                &format!("/agents/{}/", a.id),
                &format!("agent-{}", a.id),
                Some("/"),
            )
        })
        .collect();
    ingress_routes.push(not_found());
    let mut mesh_routes: Vec<Value> = TOOLS
        .iter()
        .map(|t| {
            route(
                &format!("/tools/{}/", t.id),
                &format!("tool-{}", t.id),
                Some("/"),
            )
        })
        .collect();
    mesh_routes.push(not_found());
    let agent_ids: Vec<&str> = AGENTS.iter().map(|a| a.spiffe).collect();
    let mut mesh_filters = vec![rbac_allow_principals(&agent_ids)];
    mesh_filters.extend(gateway_chain(
        &token_exchange_filter,
        plugin::as_deployed("tool_policy"),
        approval,
        ratelimit.is_some(),
    ));
    let mut mesh = listener(
        "mesh",
        pipe(&layout.socket(&format!("gateway-mesh{sfx}"))),
        mesh_routes,
        mesh_filters,
        Some(downstream_mtls(&svid, pki.ca_file(), &[])),
    );
    if ratelimit.is_some() {
        mesh["filter_chains"][0]["filters"][0]["typed_config"]["local_reply_config"] =
            crate::ratelimit::local_reply_config();
    }
    let ingress_address = match public {
        Some(port) => json!({"socket_address": {"address": "127.0.0.1", "port_value": port}}),
        None => pipe(&layout.socket(&format!("gateway-ingress{sfx}"))),
    };
    let listeners = vec![
        listener(
            "ingress",
            ingress_address,
            ingress_routes,
            vec![token_exchange.clone()],
            None,
        ),
        mesh,
        listener(
            "jwks",
            pipe(&layout.socket(&format!("gateway-jwks{sfx}"))),
            vec![not_found()],
            vec![token_exchange],
            None,
        ),
    ];
    let mut clusters = vec![static_cluster("oidc-issuer", idp.addr)];
    clusters.push(static_cluster(crate::approval::CLUSTER, approval.addr));
    if let Some(addr) = ratelimit {
        clusters.push(crate::ratelimit::cluster(*addr));
    }
    for a in AGENTS {
        let tls = upstream_mtls(&svid, pki.ca_file(), a.spiffe);
        clusters.push(pipe_cluster(
            &format!("agent-{}", a.id),
            &layout.socket(&format!("agent-{}", a.id)),
            Some(tls),
        ));
    }
    for t in TOOLS {
        let tls = upstream_mtls(&svid, pki.ca_file(), t.spiffe);
        clusters.push(pipe_cluster(
            &format!("tool-{}", t.id),
            &layout.socket(&format!("tool-{}", t.id)),
            Some(tls),
        ));
    }
    bootstrap(listeners, clusters)
}
