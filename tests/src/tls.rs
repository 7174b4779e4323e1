//! Envoy v3 configuration fragments for mesh identity: mTLS transport sockets carrying
//! SPIFFE SVIDs, and the native RBAC filter keyed on peer SPIFFE ids. This is how the local
//! mesh mirrors Istio's `PeerAuthentication: STRICT` and `AuthorizationPolicy`.

use crate::pki::Svid;
use serde_json::{json, Value};
use std::path::Path;

/// `tls_certificates` + `validation_context` shared by both directions: present `svid`,
/// trust `ca`, and (when `peers` is not empty) accept only peers whose URI SAN is one of them.
fn common_tls_context(svid: &Svid, ca: &Path, peers: &[&str]) -> Value {
    let mut validation = json!({"trusted_ca": {"filename": ca}});
    if !peers.is_empty() {
        validation["match_typed_subject_alt_names"] = peers
            .iter()
            .map(|id| json!({"san_type": "URI", "matcher": {"exact": id}}))
            .collect();
    }
    json!({
        "tls_certificates": [{
            "certificate_chain": {"filename": svid.cert},
            "private_key": {"filename": svid.key},
        }],
        "validation_context": validation,
    })
}

/// A listener-side transport socket that requires a client certificate signed by `ca`
/// (optionally only from the SPIFFE ids in `allowed_peers`) and presents `svid`.
pub fn downstream_mtls(svid: &Svid, ca: &Path, allowed_peers: &[&str]) -> Value {
    json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": true,
            "common_tls_context": common_tls_context(svid, ca, allowed_peers),
        }
    })
}

/// A cluster-side transport socket that presents `svid` as the client certificate and
/// accepts only a server whose certificate is signed by `ca` and carries `server_id` as URI
/// SAN (a sidecar must not talk to an impostor gateway any more than the reverse).
pub fn upstream_mtls(svid: &Svid, ca: &Path, server_id: &str) -> Value {
    json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": common_tls_context(svid, ca, &[server_id]),
        }
    })
}

/// Envoy's native RBAC HTTP filter allowing only requests whose mTLS peer is one of
/// `principals` (SPIFFE ids, matched by `authenticated.principal_name`, which Envoy checks
/// against the peer certificate's URI SAN first). Anything else gets Envoy's own 403
/// `RBAC: access denied`, as an Istio `AuthorizationPolicy` with `principals` would.
pub fn rbac_allow_principals(principals: &[&str]) -> Value {
    let principals: Vec<Value> = principals
        .iter()
        .map(|id| json!({"authenticated": {"principal_name": {"exact": id}}}))
        .collect();
    json!({
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {
                "action": "ALLOW",
                "policies": {
                    "allow-spiffe-principals": {
                        "permissions": [{"any": true}],
                        "principals": principals,
                    }
                }
            }
        }
    })
}
