//! The egress guard's deployed configurations, read from `istio/mesh/filters/egress-guard.yaml`
//! (one source of truth). The module is configured twice there (inbound and outbound on the
//! same tool sidecars), so an instance is picked by its manifest name, not by filter alone.

use crate::manifests::{base_documents, plugin_instances};
use serde_json::Value;

/// Manifest of the inbound instance (tool arguments at the tool sidecar).
pub const INBOUND: &str = "meshguard-egress-guard-inbound";
/// Manifest of the outbound instance (the tool's own requests).
pub const OUTBOUND: &str = "meshguard-egress-guard-outbound";

/// The pluginConfig of the egress-guard instance configured by manifest `name`.
pub fn deployed_config(name: &str) -> Value {
    let instances = plugin_instances(&base_documents().unwrap_or_else(|e| panic!("istio/: {e}")))
        .unwrap_or_else(|e| panic!("istio/: {e}"));
    instances
        .into_iter()
        .find(|i| i.filter == "egress_guard" && i.name == name)
        .map(|i| i.config)
        .unwrap_or_else(|| panic!("no egress_guard instance named {name} in istio/"))
}
