//! `istio/` as data: the one source of truth for plugin configuration and authorization.
//!
//! The Istio manifests carry each filter's pluginConfig (in a `WasmPlugin`, or as the JSON
//! string of an `EnvoyFilter`'s Wasm `configuration`) and the SPIFFE principals of the
//! `AuthorizationPolicy`s. The local mesh and the tests read them from here instead of
//! keeping a second copy, so the two deployments cannot drift.
//!
//! The manifests name deployment endpoints the local mesh does not have (the IdP's URL, the
//! Istio cluster `outbound|443||idp.example.com`). [`localize`] replaces exactly those
//! fields, listed in [`LOCAL_OVERRIDES`], and refuses anything else: every other field
//! (audiences, algorithms, agents, tools, allow rules, limits) is the manifest's.
//!
//! ```no_run
//! use meshguard_e2e::manifests::{localize, plugin_config};
//! use serde_json::json;
//! let config = localize(
//!     plugin_config("token_exchange"),
//!     &[
//!         ("/user_tokens/issuer", json!("http://127.0.0.1:4000")),
//!         ("/user_tokens/jwks/remote/uri", json!("http://127.0.0.1:4000/jwks.json")),
//!         ("/user_tokens/jwks/remote/cluster", json!("idp")),
//!     ],
//! )
//! .expect("only endpoint fields are replaced");
//! ```

use crate::paths;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// JSON pointers of the pluginConfig fields that name deployment endpoints; the only ones
/// [`localize`] may replace.
/// The two `min_refresh_interval_seconds` are timing, not endpoints: the local mesh lets an
/// unknown `kid` trigger a refetch after 1 s instead of 30 s so a key rotation shows up in
/// a demo and a test in seconds.
/// The approval gate's webhook cluster and authority are endpoints too, and its inline JWKS
/// is the deployment's approval-service public key (the local service makes a fresh one).
/// The gateway's protected-resource URL and its authorization servers are its public address
/// and the IdP's.
pub const LOCAL_OVERRIDES: [&str; 13] = [
    "/user_tokens/issuer",
    "/user_tokens/jwks/remote/uri",
    "/user_tokens/jwks/remote/cluster",
    "/user_tokens/jwks/remote/min_refresh_interval_seconds",
    "/tokens/jwks/remote/uri",
    "/tokens/jwks/remote/cluster",
    "/tokens/jwks/remote/min_refresh_interval_seconds",
    "/tokens/issuer",
    "/webhook/cluster",
    "/webhook/authority",
    "/tokens/jwks/inline",
    "/protected_resource/resource",
    "/protected_resource/authorization_servers",
];

/// Istio's trust domain in the reference deployment.
pub const TRUST_DOMAIN: &str = "cluster.local";

/// Reading or interpreting the manifests failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError(pub String);

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ManifestError {}

fn err(message: impl Into<String>) -> ManifestError {
    ManifestError(message.into())
}

/// `<workspace>/istio`.
pub fn istio_dir() -> PathBuf {
    paths::workspace_root().join("istio")
}

/// `<workspace>/istio/mesh`: the kustomization holding every resource of the deployment.
pub fn mesh_dir() -> PathBuf {
    istio_dir().join("mesh")
}

/// One YAML document of the manifests, as JSON, with the file it came from.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file (for messages).
    pub path: PathBuf,
    /// The object.
    pub value: Value,
}

impl Document {
    /// `kind`.
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// `metadata.namespace` (empty for cluster-scoped objects).
    pub fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
    }
}

/// Split a multi-document YAML text into JSON values (comment-only documents are skipped).
pub fn parse_documents(text: &str) -> Result<Vec<Value>, ManifestError> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut flush = |current: &mut String| -> Result<(), ManifestError> {
        if !current.trim().is_empty() {
            let value: Value = serde_yaml::from_str(current)
                .map_err(|e| err(format!("invalid YAML document: {e}")))?;
            if !value.is_null() {
                docs.push(value);
            }
        }
        current.clear();
        Ok(())
    };
    for line in text.lines() {
        if line.trim_end() == "---" {
            flush(&mut current)?;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    flush(&mut current)?;
    Ok(docs)
}

/// Every document of the base manifests: the files listed as `resources` of
/// `istio/mesh/kustomization.yaml`, in that order, before kustomize's replacements (module
/// digests) are applied.
pub fn base_documents() -> Result<Vec<Document>, ManifestError> {
    documents_of(&mesh_dir())
}

/// Every document of the resources listed by the kustomization in `dir`.
pub fn documents_of(dir: &Path) -> Result<Vec<Document>, ManifestError> {
    let kustomization = dir.join("kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization)
        .map_err(|e| err(format!("{}: {e}", kustomization.display())))?;
    let parsed = parse_documents(&text)?;
    let resources = parsed
        .first()
        .and_then(|k| k["resources"].as_array())
        .ok_or_else(|| err(format!("{}: no resources", kustomization.display())))?;
    let mut out = Vec::new();
    for resource in resources {
        let rel = resource
            .as_str()
            .ok_or_else(|| err("a resource entry is not a string"))?;
        let path = dir.join(rel);
        let text =
            std::fs::read_to_string(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        let docs = parse_documents(&text).map_err(|e| err(format!("{}: {e}", path.display())))?;
        out.extend(docs.into_iter().map(|value| Document {
            path: path.clone(),
            value,
        }));
    }
    Ok(out)
}

/// Where one instance of a filter is configured.
#[derive(Debug, Clone)]
pub struct PluginInstance {
    /// The filter (the `.wasm` file stem, the Wasm `root_id` / WasmPlugin `pluginName`).
    pub filter: String,
    /// `WasmPlugin` or `EnvoyFilter`.
    pub kind: String,
    /// Namespace of the manifest.
    pub namespace: String,
    /// Name of the manifest.
    pub name: String,
    /// Labels of the workloads it applies to.
    pub selector: BTreeMap<String, String>,
    /// The plugin configuration, as the filter receives it.
    pub config: Value,
    /// Environment variables the VM gets from the proxy (`valueFrom: HOST`/`host_env_keys`).
    pub host_env_keys: Vec<String>,
    /// `allow_on_headers_stop_iteration` as the manifest sets it.
    pub stop_iteration: bool,
}

/// Every configured instance of every meshguard filter in `docs`.
pub fn plugin_instances(docs: &[Document]) -> Result<Vec<PluginInstance>, ManifestError> {
    let mut out = Vec::new();
    for doc in docs {
        let spec = &doc.value["spec"];
        match doc.kind() {
            "WasmPlugin" => {
                let filter = spec["pluginName"]
                    .as_str()
                    .ok_or_else(|| err(format!("WasmPlugin {}: no pluginName", doc.name())))?;
                let host_env_keys = spec["vmConfig"]["env"]
                    .as_array()
                    .map(|env| {
                        env.iter()
                            .filter(|e| e["valueFrom"] == "HOST")
                            .filter_map(|e| e["name"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(PluginInstance {
                    filter: filter.to_string(),
                    kind: doc.kind().to_string(),
                    namespace: doc.namespace().to_string(),
                    name: doc.name().to_string(),
                    selector: labels(&spec["selector"]["matchLabels"]),
                    config: spec
                        .get("pluginConfig")
                        .cloned()
                        .unwrap_or_else(|| Value::Object(Default::default())),
                    host_env_keys,
                    stop_iteration: false,
                });
            }
            "EnvoyFilter" => {
                for patch in spec["configPatches"].as_array().into_iter().flatten() {
                    let Some(wasm) = wasm_config(&patch["patch"]["value"]) else {
                        continue;
                    };
                    let filter = wasm["root_id"].as_str().ok_or_else(|| {
                        err(format!("EnvoyFilter {}: Wasm without root_id", doc.name()))
                    })?;
                    let text = wasm["configuration"]["value"].as_str().ok_or_else(|| {
                        err(format!(
                            "EnvoyFilter {}: configuration is not a StringValue",
                            doc.name()
                        ))
                    })?;
                    let config: Value = serde_json::from_str(text).map_err(|e| {
                        err(format!(
                            "EnvoyFilter {}: pluginConfig is not JSON: {e}",
                            doc.name()
                        ))
                    })?;
                    let host_env_keys = wasm["vm_config"]["environment_variables"]["host_env_keys"]
                        .as_array()
                        .map(|k| {
                            k.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    out.push(PluginInstance {
                        filter: filter.to_string(),
                        kind: doc.kind().to_string(),
                        namespace: doc.namespace().to_string(),
                        name: doc.name().to_string(),
                        selector: labels(&spec["workloadSelector"]["labels"]),
                        config,
                        host_env_keys,
                        stop_iteration: wasm["allow_on_headers_stop_iteration"] == true,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The Wasm `config` (PluginConfig) inside an EnvoyFilter patch value, if it is a Wasm filter
/// (an EXTENSION_CONFIG `TypedExtensionConfig` or an inline HTTP filter).
pub fn wasm_config(value: &Value) -> Option<&Value> {
    let typed = &value["typed_config"];
    let is_wasm =
        typed["@type"] == "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
    is_wasm.then_some(&typed["config"])
}

fn labels(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The pluginConfig of one filter, from the base manifests.
///
/// `name` is the filter (`token_exchange`) when it is configured once, or
/// `<filter>@<app>` (`audience_check@mcp-github`) to pick the instance whose selector has
/// that `app` label. Panics with the reason when the manifests do not answer, as the harness
/// does for any missing prerequisite.
pub fn plugin_config(name: &str) -> Value {
    try_plugin_config(name).unwrap_or_else(|e| panic!("pluginConfig of {name} from istio/: {e}"))
}

/// [`plugin_config`] without the panic.
pub fn try_plugin_config(name: &str) -> Result<Value, ManifestError> {
    let instances = plugin_instances(&base_documents()?)?;
    select_instance(&instances, name).map(|i| i.config.clone())
}

/// The instance `name` designates (see [`plugin_config`]).
pub fn select_instance<'a>(
    instances: &'a [PluginInstance],
    name: &str,
) -> Result<&'a PluginInstance, ManifestError> {
    let (filter, app) = match name.split_once('@') {
        Some((f, a)) => (f, Some(a)),
        None => (name, None),
    };
    let matching: Vec<&PluginInstance> = instances
        .iter()
        .filter(|i| i.filter == filter)
        .filter(|i| app.is_none_or(|a| i.selector.get("app").map(String::as_str) == Some(a)))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(err(format!("no manifest configures {name}"))),
        many => Err(err(format!(
            "{name} is configured {} times ({}): name one as <filter>@<app>",
            many.len(),
            many.iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Replace deployment endpoints in a pluginConfig with the local mesh's. Each pointer must
/// be one of [`LOCAL_OVERRIDES`] and must already exist in `config`, so an override can
/// neither add a field nor change policy.
pub fn localize(mut config: Value, overrides: &[(&str, Value)]) -> Result<Value, ManifestError> {
    for (pointer, value) in overrides {
        if !LOCAL_OVERRIDES.contains(pointer) {
            return Err(err(format!(
                "{pointer} is not an endpoint field; the local mesh may only replace {LOCAL_OVERRIDES:?}"
            )));
        }
        let slot = config
            .pointer_mut(pointer)
            .ok_or_else(|| err(format!("{pointer} is not set in this pluginConfig")))?;
        *slot = value.clone();
    }
    Ok(config)
}

/// The Envoy cluster names a pluginConfig fetches JWKS from (Istio's
/// `outbound|<port>||<host>` in the manifests).
pub fn jwks_clusters(config: &Value) -> Vec<String> {
    [
        "/user_tokens/jwks/remote/cluster",
        "/tokens/jwks/remote/cluster",
    ]
    .iter()
    .filter_map(|p| config.pointer(p).and_then(Value::as_str))
    .map(str::to_string)
    .collect()
}

/// `cluster.local/ns/x/sa/y` (Istio principal) -> `spiffe://cluster.local/ns/x/sa/y`.
pub fn principal_to_spiffe(principal: &str) -> String {
    if principal.starts_with("spiffe://") {
        principal.to_string()
    } else {
        format!("spiffe://{principal}")
    }
}

/// One rule of an AuthorizationPolicy, flattened.
#[derive(Debug, Clone, Default)]
pub struct AuthzRule {
    /// Whether the rule has any `from` source; a rule without one matches every caller.
    pub has_from: bool,
    /// `from[].source.principals`, as SPIFFE ids.
    pub principals: Vec<String>,
    /// `from[].source.requestPrincipals`.
    pub request_principals: Vec<String>,
    /// Other source fields used (`namespaces`, `ipBlocks`, `notPrincipals`, ...), by name.
    pub other_sources: Vec<String>,
    /// `to[].operation.paths`.
    pub paths: Vec<String>,
}

/// An AuthorizationPolicy, flattened for checks.
#[derive(Debug, Clone)]
pub struct AuthzPolicy {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `selector.matchLabels` (empty = every workload of the namespace).
    pub selector: BTreeMap<String, String>,
    /// `action` (ALLOW when absent).
    pub action: String,
    /// Whether the spec is empty: the ALLOW-nothing default deny.
    pub deny_all: bool,
    /// The rules.
    pub rules: Vec<AuthzRule>,
}

impl AuthzPolicy {
    /// Whether the policy applies to a workload with these labels.
    pub fn applies_to(&self, labels: &BTreeMap<String, String>) -> bool {
        self.selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// Every AuthorizationPolicy in `docs`.
pub fn authorization_policies(docs: &[Document]) -> Vec<AuthzPolicy> {
    docs.iter()
        .filter(|d| d.kind() == "AuthorizationPolicy")
        .map(|d| {
            let spec = &d.value["spec"];
            let deny_all = spec.is_null() || spec.as_object().is_some_and(|m| m.is_empty());
            let rules = spec["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(flatten_rule)
                .collect();
            AuthzPolicy {
                namespace: d.namespace().to_string(),
                name: d.name().to_string(),
                selector: labels(&spec["selector"]["matchLabels"]),
                action: spec["action"].as_str().unwrap_or("ALLOW").to_string(),
                deny_all,
                rules,
            }
        })
        .collect()
}

fn flatten_rule(rule: &Value) -> AuthzRule {
    let mut out = AuthzRule::default();
    for from in rule["from"].as_array().into_iter().flatten() {
        out.has_from = true;
        let Some(source) = from["source"].as_object() else {
            continue;
        };
        for (field, values) in source {
            let strings = values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string);
            match field.as_str() {
                "principals" => out
                    .principals
                    .extend(strings.map(|p| principal_to_spiffe(&p))),
                "requestPrincipals" => out.request_principals.extend(strings),
                other => out.other_sources.push(other.to_string()),
            }
        }
    }
    for to in rule["to"].as_array().into_iter().flatten() {
        out.paths.extend(
            to["operation"]["paths"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string),
        );
    }
    out
}

/// SPIFFE ids the ALLOW policies let call a workload with `labels` in `namespace`, optionally
/// only those rules that allow `path` (prefix match on Istio's `/x/*` form).
pub fn allowed_principals(
    policies: &[AuthzPolicy],
    namespace: &str,
    labels: &BTreeMap<String, String>,
    path: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = policies
        .iter()
        .filter(|p| p.namespace == namespace && p.action == "ALLOW" && p.applies_to(labels))
        .flat_map(|p| p.rules.iter())
        .filter(|r| {
            path.is_none_or(|path| {
                r.paths.is_empty() || r.paths.iter().any(|p| path_matches(p, path))
            })
        })
        .flat_map(|r| r.principals.iter().cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Istio path matching: exact, `prefix*`, `*suffix`.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        path.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        path.ends_with(suffix)
    } else {
        pattern == path
    }
}

/// The mesh-level rules a deployment of meshguard must keep, checked over the rendered
/// documents; returns every violation found (empty = sound):
///
/// - mTLS: a mesh-wide `PeerAuthentication` `default` in `istio-system` with mode STRICT,
///   and no PeerAuthentication anywhere (or any port of one) in another mode (MCP-05/10);
/// - default deny: every Namespace has an empty-spec AuthorizationPolicy (MCP-07);
/// - no ALLOW rule without a `from` source (it would admit every caller);
/// - only the gateway reaches tools and agents: for every namespace labelled
///   `meshguard.io/role: tools` or `agents`, the principals of all its ALLOW rules are
///   exactly `{gateway}`, with no other kind of source (namespaces, IP blocks).
pub fn check_mesh_policy(docs: &[Document], gateway: &str) -> Vec<String> {
    let mut violations = Vec::new();
    let peer_auth: Vec<&Document> = docs
        .iter()
        .filter(|d| d.kind() == "PeerAuthentication")
        .collect();
    let mesh_wide_strict = peer_auth.iter().any(|d| {
        d.namespace() == "istio-system"
            && d.name() == "default"
            && d.value["spec"]["selector"].is_null()
            && d.value["spec"]["mtls"]["mode"] == "STRICT"
    });
    if !mesh_wide_strict {
        violations.push("no mesh-wide STRICT PeerAuthentication istio-system/default".to_string());
    }
    for d in &peer_auth {
        let spec = &d.value["spec"];
        let mut modes = vec![spec["mtls"]["mode"].as_str().unwrap_or("UNSET").to_string()];
        if let Some(ports) = spec["portLevelMtls"].as_object() {
            modes.extend(
                ports
                    .values()
                    .map(|p| p["mode"].as_str().unwrap_or("UNSET").to_string()),
            );
        }
        if let Some(mode) = modes.iter().find(|m| *m != "STRICT") {
            violations.push(format!(
                "PeerAuthentication {}/{} is {mode}, not STRICT",
                d.namespace(),
                d.name()
            ));
        }
    }
    let policies = authorization_policies(docs);
    for ns in docs.iter().filter(|d| d.kind() == "Namespace") {
        if !policies
            .iter()
            .any(|p| p.namespace == ns.name() && p.deny_all && p.selector.is_empty())
        {
            violations.push(format!(
                "namespace {} has no default-deny AuthorizationPolicy",
                ns.name()
            ));
        }
    }
    for p in policies
        .iter()
        .filter(|p| p.action == "ALLOW" && !p.deny_all)
    {
        if p.rules.is_empty() {
            violations.push(format!(
                "AuthorizationPolicy {}/{} is ALLOW with no rules",
                p.namespace, p.name
            ));
        }
        if p.rules.iter().any(|r| !r.has_from) {
            violations.push(format!(
                "AuthorizationPolicy {}/{} has an ALLOW rule without `from`: it admits every caller",
                p.namespace, p.name
            ));
        }
    }
    let guarded: Vec<(&str, &str)> = docs
        .iter()
        .filter(|d| d.kind() == "Namespace")
        .filter_map(|d| {
            let role = d.value["metadata"]["labels"]["meshguard.io/role"].as_str()?;
            matches!(role, "tools" | "agents").then_some((d.name(), role))
        })
        .collect();
    for (ns, role) in guarded {
        for p in policies
            .iter()
            .filter(|p| p.namespace == ns && p.action == "ALLOW" && !p.deny_all)
        {
            for r in &p.rules {
                let foreign: Vec<&String> = r
                    .principals
                    .iter()
                    .filter(|x| x.as_str() != gateway)
                    .collect();
                if !foreign.is_empty() {
                    violations.push(format!(
                        "AuthorizationPolicy {ns}/{} lets {foreign:?} reach {role} directly; only the gateway ({gateway}) may",
                        p.name
                    ));
                }
                if r.principals.is_empty()
                    || !r.other_sources.is_empty()
                    || !r.request_principals.is_empty()
                {
                    violations.push(format!(
                        "AuthorizationPolicy {ns}/{}: a rule for {role} must name the gateway's principal and nothing else (sources: {:?})",
                        p.name, r.other_sources
                    ));
                }
            }
        }
    }
    violations
}
