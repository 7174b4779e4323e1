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
        use jwt_simple::prelude::{Claims, Duration, ECDSAP256KeyPairLike, ES256KeyPair};
        let Ok(key) = ES256KeyPair::from_pem(&self.signing_pem) else {
            return String::new();
        };
        let mut custom = json!({"team": "sre", "role": "operator", "sid": "s", "tool": tool});
        if let Some(b) = binding {
            custom["cnf"] = json!({"spiffe": b});
        }
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

/// A loopback port free right now (bound, then released for Envoy to bind).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
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

/// A running local mesh; everything stops when it is dropped.
pub struct LocalMesh {
    pub pki: Pki,
    pub idp: OidcIssuer,
    pub keys: GatewayKeys,
    pub gateway: Envoy,
    pub agent_sidecars: Vec<(Agent, Envoy)>,
    pub tool_sidecars: Vec<(Tool, Envoy)>,
    /// The approval service the gateway's approval gate asks (HITL); see [`crate::approval`].
    pub approval: meshguard_approval::Running,
    layout_dir: tempfile::TempDir,
    _apps: Vec<McpUpstream>,
}

impl LocalMesh {
    /// Start the issuer, the workloads and every sidecar, gateway last.
    pub async fn start() -> Result<LocalMesh, String> {
        let layout_dir = tempfile::Builder::new()
            .prefix("mg")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?;
        let layout = Layout {
            dir: layout_dir.path().to_path_buf(),
        };
        let pki = Pki::new();
        let idp = OidcIssuer::start().await;
        // The gateway's public URL is its protected-resource identifier (RFC 8707/9728), so
        // its port is chosen before it starts. The issuer adds it to `aud` like an IdP's
        // audience mapper, and OAuth tokens carry the requested resource plus `meshguard`.
        let ingress_port = free_port()?;
        let resource = format!("http://127.0.0.1:{ingress_port}");
        idp.set_resource_audience(Some(resource.clone()));
        idp.set_oauth_tokens(&[GATEWAY_AUDIENCE], std::time::Duration::from_secs(900));
        let keys = GatewayKeys::generate();
        let approval = crate::approval::start_service(&idp).await;
        // The gateway first: sidecars fetch its JWKS at start. Clusters connect lazily, and
        // every mesh-internal address is a socket path known in advance, so order is free.
        let gateway = start_gateway(
            &layout,
            &pki,
            &idp,
            &keys,
            &approval,
            &resource,
            ingress_port,
        )?;
        let mut apps = Vec::new();
        let mut tool_sidecars = Vec::new();
        for tool in TOOLS {
            let server = McpUpstream::start(ResponseMode::Json).await;
            let envoy = start_tool_sidecar(&layout, &pki, &tool, server.addr)?;
            apps.push(server);
            tool_sidecars.push((tool, envoy));
        }
        let mut agent_sidecars = Vec::new();
        for agent in AGENTS {
            let outbound = Outbound::default();
            let app = ScriptedAgent::start(outbound.clone()).await;
            let envoy = start_agent_sidecar(&layout, &pki, &agent, app.addr)?;
            let _ = outbound.set(format!("http://{}", envoy.listener("outbound")));
            apps.push(app);
            agent_sidecars.push((agent, envoy));
        }
        Ok(LocalMesh {
            pki,
            idp,
            keys,
            gateway,
            agent_sidecars,
            tool_sidecars,
            approval,
            layout_dir,
            _apps: apps,
        })
    }

    /// Where users send requests (the gateway's ingress).
    pub fn gateway_url(&self, path: &str) -> String {
        format!("http://{}{}", self.gateway.listener("ingress"), path)
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

fn start_tool_sidecar(
    layout: &Layout,
    pki: &Pki,
    tool: &Tool,
    server: std::net::SocketAddr,
) -> Result<Envoy, String> {
    let svid = pki.svid(tool.spiffe);
    let filters = vec![
        rbac_allow_principals(&[ids::GATEWAY]),
        WasmFilter::new("audience_check", plugin::audience_check(tool)).http_filter(),
        WasmFilter::new(
            "egress_guard",
            crate::egress::deployed_config(crate::egress::INBOUND),
        )
        .http_filter(),
        WasmFilter::new("pii_scrubber", plugin::as_deployed("pii_scrubber")).http_filter(),
        WasmFilter::new("output_sanitizer", plugin::as_deployed("output_sanitizer")).http_filter(),
    ];
    let inbound = listener(
        "inbound",
        pipe(&layout.socket(&format!("tool-{}", tool.id))),
        vec![route("/", "app", None)],
        filters,
        Some(downstream_mtls(&svid, pki.ca_file(), &[])),
    );
    let clusters = vec![
        static_cluster("app", server),
        pipe_cluster(
            "meshguard-gateway-jwks",
            &layout.socket("gateway-jwks"),
            None,
        ),
    ];
    Envoy::start(&bootstrap(vec![inbound], clusters), 1)
        .map_err(|e| format!("{} sidecar did not start:\n{}", tool.id, e.log))
}

fn start_agent_sidecar(
    layout: &Layout,
    pki: &Pki,
    agent: &Agent,
    app: std::net::SocketAddr,
) -> Result<Envoy, String> {
    let svid = pki.svid(agent.spiffe);
    let inbound = listener(
        "inbound",
        pipe(&layout.socket(&format!("agent-{}", agent.id))),
        vec![route("/", "app", None)],
        vec![rbac_allow_principals(&[ids::GATEWAY])],
        Some(downstream_mtls(&svid, pki.ca_file(), &[])),
    );
    let outbound = listener(
        "outbound",
        tcp0(),
        vec![route("/", "gateway", None)],
        vec![],
        None,
    );
    let clusters = vec![
        static_cluster("app", app),
        pipe_cluster(
            "gateway",
            &layout.socket("gateway-mesh"),
            Some(upstream_mtls(&svid, pki.ca_file(), ids::GATEWAY)),
        ),
    ];
    Envoy::start(&bootstrap(vec![inbound, outbound], clusters), 1)
        .map_err(|e| format!("{} sidecar did not start:\n{}", agent.id, e.log))
}

fn start_gateway(
    layout: &Layout,
    pki: &Pki,
    idp: &OidcIssuer,
    keys: &GatewayKeys,
    approval: &meshguard_approval::Running,
    resource: &str,
    ingress_port: u16,
) -> Result<Envoy, String> {
    let svid = pki.svid(ids::GATEWAY);
    let token_exchange = WasmFilter::new("token_exchange", plugin::token_exchange(idp, resource))
        .env("MESHGUARD_SIGNING_KEYS", &keys.signing_env)
        .env("MESHGUARD_SESSION_KEYS", &keys.session_env)
        .http_filter();
    let guardrail =
        WasmFilter::new("prompt_guardrail", plugin::as_deployed("prompt_guardrail")).http_filter();
    let tool_policy =
        WasmFilter::new("tool_policy", plugin::as_deployed("tool_policy")).http_filter();
    let approval_gate =
        WasmFilter::new("approval_gate", crate::approval::gate_config(approval)).http_filter();
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
    let listeners = vec![
        listener(
            "ingress",
            json!({"socket_address": {"address": "127.0.0.1", "port_value": ingress_port}}),
            ingress_routes,
            vec![token_exchange.clone()],
            None,
        ),
        listener(
            "mesh",
            pipe(&layout.socket("gateway-mesh")),
            mesh_routes,
            vec![
                rbac_allow_principals(&agent_ids),
                token_exchange.clone(),
                tool_policy,
                guardrail,
                approval_gate,
            ],
            Some(downstream_mtls(&svid, pki.ca_file(), &[])),
        ),
        listener(
            "jwks",
            pipe(&layout.socket("gateway-jwks")),
            vec![not_found()],
            vec![token_exchange],
            None,
        ),
    ];
    let mut clusters = vec![static_cluster("oidc-issuer", idp.addr)];
    clusters.push(static_cluster(crate::approval::CLUSTER, approval.addr));
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
    Envoy::start(&bootstrap(listeners, clusters), 1)
        .map_err(|e| format!("gateway did not start:\n{}", e.log))
}
