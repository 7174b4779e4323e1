//! The agents' memory in the local mesh: a real Chroma server behind its sidecar
//! (audience_check `protocol: http` + memory_guard, configured from istio/ as the `memory`
//! namespace deploys them), and one client sidecar per agent originating mTLS with the
//! agent's SVID, as the agent's Istio sidecar does for `agent-memory.memory`.
//!
//! The sidecar verifies the agent tokens the mesh's gateway really minted (flow 1), fetching
//! the gateway's JWKS over the mesh's `gateway-jwks` socket.

use crate::chroma::{Chroma, DATABASE_PATH};
use crate::manifests::plugin_config;
use crate::mesh::{Agent, LocalMesh};
use crate::pki::spiffe_id;
use crate::{Envoy, EnvoyBuilder, WasmFilter};
use serde_json::{json, Value};

/// SPIFFE id of the memory workload (`memory/agent-memory` in istio/).
pub fn memory_spiffe() -> String {
    spiffe_id("memory", "agent-memory")
}

/// Chroma, its guarded sidecar and the agents' client sidecars.
pub struct MeshMemory {
    pub chroma: Chroma,
    pub sidecar: Envoy,
    clients: Vec<(&'static str, Envoy)>,
    /// Id of the `memories` collection (created by the operator, directly).
    pub collection: String,
}

impl MeshMemory {
    /// Start it next to `mesh`; `Ok(None)` when Chroma is not installed and may be skipped.
    pub async fn start(mesh: &LocalMesh, agents: &[Agent]) -> Result<Option<MeshMemory>, String> {
        let Some(chroma) = Chroma::start().await else {
            return Ok(None);
        };
        let sidecar = start_sidecar(mesh, &chroma)?;
        let mut clients = Vec::new();
        for agent in agents {
            let client = EnvoyBuilder::new()
                .upstream(sidecar.listener("main"))
                .upstream_mtls(
                    &mesh.pki.svid(agent.spiffe),
                    mesh.pki.ca_file(),
                    &memory_spiffe(),
                )
                .start()
                .map_err(|e| format!("{} memory client did not start:\n{}", agent.id, e.log))?;
            clients.push((agent.id, client));
        }
        let collection = chroma.collection("memories").await;
        Ok(Some(MeshMemory {
            chroma,
            sidecar,
            clients,
            collection,
        }))
    }

    /// Where `agent` reaches the memory (its client sidecar, mTLS with its SVID onwards).
    pub fn client_url(&self, agent: &Agent, path: &str) -> Option<String> {
        self.clients
            .iter()
            .find(|(id, _)| *id == agent.id)
            .map(|(_, c)| c.url(path))
    }

    /// POST a record operation (`add`, `query`, ...) as `agent` with its agent token:
    /// (status, JSON body or null).
    pub async fn post(&self, agent: &Agent, token: &str, op: &str, body: &Value) -> (u16, Value) {
        let Some((_, client)) = self.clients.iter().find(|(id, _)| *id == agent.id) else {
            return (0, Value::Null);
        };
        let path = format!("{DATABASE_PATH}/collections/{}/{op}", self.collection);
        let reply = reqwest::Client::new()
            .post(client.url(&path))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        match reply {
            Ok(r) => {
                let status = r.status().as_u16();
                let bytes = r.bytes().await.unwrap_or_default();
                (
                    status,
                    serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                )
            }
            Err(_) => (0, Value::Null),
        }
    }
}

fn start_sidecar(mesh: &LocalMesh, chroma: &Chroma) -> Result<Envoy, String> {
    let audience = crate::mesh::plugin::audience_check_at("agent-memory");
    let builder = EnvoyBuilder::new()
        .mtls_listener(&mesh.pki.svid(&memory_spiffe()), mesh.pki.ca_file())
        .filter(WasmFilter::new("audience_check", audience))
        .filter(WasmFilter::new(
            "memory_guard",
            plugin_config("memory_guard"),
        ))
        .upstream(chroma.addr());
    let mut boot = builder.bootstrap();
    let jwks = json!({
        "name": "meshguard-gateway-jwks", "type": "STATIC", "connect_timeout": "2s",
        "load_assignment": {"cluster_name": "meshguard-gateway-jwks", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"pipe": {"path": mesh.socket("gateway-jwks")}}}}]}]}
    });
    if let Some(clusters) = boot["static_resources"]["clusters"].as_array_mut() {
        clusters.push(jwks);
    }
    Envoy::start(&boot, 1).map_err(|e| format!("memory sidecar did not start:\n{}", e.log))
}
