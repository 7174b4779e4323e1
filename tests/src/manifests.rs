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

// ---------------------------------------------------------------------------------------
// Semantic checks: the manifests read as a cluster would run them (issue 20)
// ---------------------------------------------------------------------------------------

/// The minimum versions the deployment documents (`istio/versions.env`): `ISTIO_MIN`,
/// `ENVOY_MIN`, as `(major, minor)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinVersions {
    /// Minimum Istio (control plane and proxies).
    pub istio: (u32, u32),
    /// Minimum Envoy (the proxy Istio ships).
    pub envoy: (u32, u32),
}

/// Envoy fields meshguard's manifests use that older Envoys ignore or reject, with the Envoy
/// release that added them. istiod only warns on an EnvoyFilter field it does not know, so
/// a proxy older than this runs the filter without the field (for
/// `allow_on_headers_stop_iteration`: every request held by a filter stalls).
pub const ENVOY_FIELD_MINIMUMS: [(&str, (u32, u32)); 1] =
    [("allow_on_headers_stop_iteration", (1, 35))];

/// Parse `istio/versions.env`-style text (`KEY=1.27` lines, `#` comments).
pub fn parse_min_versions(text: &str) -> Result<MinVersions, ManifestError> {
    let get = |key: &str| -> Result<(u32, u32), ManifestError> {
        let value = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .ok_or_else(|| err(format!("versions: no {key}")))?;
        parse_major_minor(value.trim()).ok_or_else(|| err(format!("versions: {key}={value}")))
    };
    Ok(MinVersions {
        istio: get("ISTIO_MIN")?,
        envoy: get("ENVOY_MIN")?,
    })
}

/// `1.27` or `1.27.3` -> `(1, 27)`.
pub fn parse_major_minor(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// `istio/versions.env`, parsed.
pub fn documented_min_versions() -> Result<MinVersions, ManifestError> {
    let path = istio_dir().join("versions.env");
    let text =
        std::fs::read_to_string(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
    parse_min_versions(&text)
}

/// A pod template of the manifests (from a Deployment), as the checks need it.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Deployment name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Pod labels.
    pub labels: BTreeMap<String, String>,
    /// Pod annotations.
    pub annotations: BTreeMap<String, String>,
    /// ServiceAccount.
    pub service_account: String,
    /// Whether Istio's `gateway` injection template makes the pod an Envoy gateway (Sidecar
    /// resources do not apply to it; VirtualServices bound to its Gateway are its routes).
    pub gateway: bool,
}

/// Every Deployment's pod template in `docs`.
pub fn workloads(docs: &[Document]) -> Vec<Workload> {
    docs.iter()
        .filter(|d| d.kind() == "Deployment")
        .map(|d| {
            let pod = &d.value["spec"]["template"];
            let annotations = labels(&pod["metadata"]["annotations"]);
            Workload {
                name: d.name().to_string(),
                namespace: d.namespace().to_string(),
                labels: labels(&pod["metadata"]["labels"]),
                gateway: annotations
                    .get("inject.istio.io/templates")
                    .map(String::as_str)
                    == Some("gateway"),
                annotations,
                service_account: pod["spec"]["serviceAccountName"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string(),
            }
        })
        .collect()
}

/// A Kubernetes label selector (`matchLabels` and `matchExpressions`) against labels; an
/// empty or absent selector matches everything.
pub fn selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let by_expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let have = labels.get(key).map(String::as_str);
            match e["operator"].as_str().unwrap_or_default() {
                "In" => have.is_some_and(|h| values.contains(&h)),
                "NotIn" => have.is_none_or(|h| !values.contains(&h)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        });
    by_labels && by_expressions
}

/// The labels of a namespace as NetworkPolicy sees them (its own plus
/// `kubernetes.io/metadata.name`, which the API server sets on every namespace).
fn namespace_labels(docs: &[Document], ns: &str) -> BTreeMap<String, String> {
    let mut out = docs
        .iter()
        .find(|d| d.kind() == "Namespace" && d.name() == ns)
        .map(|d| labels(&d.value["metadata"]["labels"]))
        .unwrap_or_default();
    out.insert("kubernetes.io/metadata.name".to_string(), ns.to_string());
    out
}

/// Whether the NetworkPolicies let a pod `from` open a TCP connection to pod `to` on
/// `port`: egress in `from`'s namespace and ingress in `to`'s, each allowed when no policy
/// of that direction selects the pod, or when a rule of one that does admits the peer
/// (`podSelector`/`namespaceSelector` peers; `ipBlock`s never match pod addresses here, as
/// every internet rule excludes the private ranges pods live in).
pub fn network_allows(docs: &[Document], from: &Workload, to: &Workload, port: u16) -> bool {
    let direction = |pod: &Workload, peer: &Workload, kind: &str, field: &str, peers: &str| {
        let selecting: Vec<&Document> = docs
            .iter()
            .filter(|d| d.kind() == "NetworkPolicy" && d.namespace() == pod.namespace)
            .filter(|d| selector_matches(&d.value["spec"]["podSelector"], &pod.labels))
            .filter(|d| {
                let spec = &d.value["spec"];
                match spec["policyTypes"].as_array() {
                    Some(types) => types.iter().any(|t| t == kind),
                    None => kind == "Ingress" || !spec[field].is_null(),
                }
            })
            .collect();
        if selecting.is_empty() {
            return true;
        }
        let peer_ns = namespace_labels(docs, &peer.namespace);
        selecting.iter().any(|policy| {
            policy.value["spec"][field]
                .as_array()
                .into_iter()
                .flatten()
                .any(|rule| {
                    let port_ok = rule["ports"].as_array().is_none_or(|ports| {
                        ports.is_empty()
                            || ports.iter().any(|p| {
                                p["protocol"].as_str().unwrap_or("TCP") == "TCP"
                                    && (p["port"].is_null()
                                        || p["port"].as_u64() == Some(port.into()))
                            })
                    });
                    let peer_ok = rule[peers].as_array().is_none_or(|list| {
                        list.is_empty()
                            || list.iter().any(|p| {
                                let has_pod = !p["podSelector"].is_null();
                                let has_ns = !p["namespaceSelector"].is_null();
                                if !has_pod && !has_ns {
                                    return false; // ipBlock
                                }
                                let ns_ok = if has_ns {
                                    selector_matches(&p["namespaceSelector"], &peer_ns)
                                } else {
                                    peer.namespace == pod.namespace
                                };
                                ns_ok && selector_matches(&p["podSelector"], &peer.labels)
                            })
                    });
                    port_ok && peer_ok
                })
        })
    };
    direction(from, to, "Egress", "egress", "to")
        && direction(to, from, "Ingress", "ingress", "from")
}

/// A Service of the manifests: its host name, the workloads behind it and, per Service port,
/// the pod port.
fn service<'a>(docs: &'a [Document], host: &str) -> Option<&'a Document> {
    let (name, ns) = host
        .strip_suffix(".svc.cluster.local")
        .and_then(|h| h.split_once('.'))?;
    docs.iter()
        .find(|d| d.kind() == "Service" && d.name() == name && d.namespace() == ns)
}

fn service_backends<'a>(all: &'a [Workload], svc: &Document) -> Vec<&'a Workload> {
    all.iter()
        .filter(|w| w.namespace == svc.namespace())
        .filter(|w| {
            svc.value["spec"]["selector"]
                .as_object()
                .is_some_and(|sel| {
                    !sel.is_empty()
                        && sel
                            .iter()
                            .all(|(k, v)| w.labels.get(k).map(String::as_str) == v.as_str())
                })
        })
        .collect()
}

/// The pod port behind `port` of a Service (its numeric `targetPort`, else the port itself).
fn target_port(svc: &Document, port: u16) -> Option<u16> {
    let p = svc.value["spec"]["ports"]
        .as_array()?
        .iter()
        .find(|p| p["port"].as_u64() == Some(port.into()))?;
    Some(
        p["targetPort"]
            .as_u64()
            .and_then(|t| u16::try_from(t).ok())
            .unwrap_or(port),
    )
}

/// The ranges no internet egress rule may reach (metadata, private, CGNAT, loopback,
/// link-local, ULA, and the IPv6 forms that reach IPv4 ones).
pub const PRIVATE_RANGES: [&str; 14] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::/127",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "fc00::/7",
    "fe80::/10",
    "fd00:ec2::254/128",
];

/// A CIDR as (address as u128 in the IPv6-mapped space, prefix length in that space).
fn cidr(text: &str) -> Option<(u128, u32)> {
    let (addr, len) = text.split_once('/')?;
    let len: u32 = len.parse().ok()?;
    match addr.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) if len <= 32 => Some((u128::from(v4.to_ipv6_mapped()), 96 + len)),
        std::net::IpAddr::V6(v6) if len <= 128 => Some((u128::from(v6), len)),
        _ => None,
    }
}

fn cidr_contains(outer: (u128, u32), inner: (u128, u32)) -> bool {
    let mask = |len: u32| {
        if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        }
    };
    outer.1 <= inner.1 && (outer.0 & mask(outer.1)) == (inner.0 & mask(outer.1))
}

fn same_family(a: &str, b: &str) -> bool {
    a.contains(':') == b.contains(':')
}

/// Every rule the deployment must keep beyond schemas and the mesh policy, read as a
/// cluster runs the manifests; returns every violation (empty = sound). `versions` are the
/// documented minimums (`istio/versions.env`).
///
/// - every Namespace has a namespace-wide STRICT PeerAuthentication and a namespace-wide
///   REGISTRY_ONLY Sidecar;
/// - every NetworkPolicy `ipBlock` egress excludes every range of [`PRIVATE_RANGES`] it
///   would otherwise cover;
/// - every Wasm remote code source is complete (`uri`, `cluster`, `timeout`), as Envoy's
///   HttpUri requires (`sha256` is kustomize's to fill: the API-server rules check it on the
///   rendered output);
/// - every Envoy field with a minimum version ([`ENVOY_FIELD_MINIMUMS`]) is covered by the
///   documented minimum;
/// - every workload that loads a module can reach its source: an in-cluster registry
///   Service, allowed by the NetworkPolicies from that pod to the registry's pods, and, for
///   plaintext, named in the pod's `WASM_INSECURE_REGISTRIES`;
/// - every flow an ALLOW AuthorizationPolicy admits can happen: a sidecar caller's Sidecar
///   imports the target's Service, a gateway caller has a route (VirtualService on its
///   Gateway, or a filter's `outbound|port||host` cluster) to it, the NetworkPolicies admit
///   the connection, and every path admitted for users from outside (`requestPrincipals`
///   at a gateway) is routed by a VirtualService on that gateway.
pub fn check_deployment(docs: &[Document], versions: MinVersions) -> Vec<String> {
    let mut v = Vec::new();
    check_namespaces(docs, &mut v);
    check_internet_egress(docs, &mut v);
    check_remote_sources(docs, versions, &mut v);
    check_module_sources(docs, &mut v);
    check_flows(docs, &mut v);
    v
}

fn check_namespaces(docs: &[Document], v: &mut Vec<String>) {
    for ns in docs.iter().filter(|d| d.kind() == "Namespace") {
        let strict = docs.iter().any(|d| {
            d.kind() == "PeerAuthentication"
                && d.namespace() == ns.name()
                && d.value["spec"]["selector"].is_null()
                && d.value["spec"]["mtls"]["mode"] == "STRICT"
        });
        if !strict {
            v.push(format!(
                "namespace {} has no namespace-wide STRICT PeerAuthentication",
                ns.name()
            ));
        }
        let sidecar = docs.iter().any(|d| {
            d.kind() == "Sidecar"
                && d.namespace() == ns.name()
                && d.value["spec"]["workloadSelector"].is_null()
                && d.value["spec"]["outboundTrafficPolicy"]["mode"] == "REGISTRY_ONLY"
        });
        if !sidecar {
            v.push(format!(
                "namespace {} has no namespace-wide REGISTRY_ONLY Sidecar",
                ns.name()
            ));
        }
    }
}

fn check_internet_egress(docs: &[Document], v: &mut Vec<String>) {
    for d in docs.iter().filter(|d| d.kind() == "NetworkPolicy") {
        for rule in d.value["spec"]["egress"].as_array().into_iter().flatten() {
            for peer in rule["to"].as_array().into_iter().flatten() {
                let Some(block) = peer.get("ipBlock") else {
                    continue;
                };
                let text = block["cidr"].as_str().unwrap_or_default();
                let Some(range) = cidr(text) else {
                    v.push(format!(
                        "NetworkPolicy {}/{}: cidr `{text}`",
                        d.namespace(),
                        d.name()
                    ));
                    continue;
                };
                let excepts: Vec<(u128, u32)> = block["except"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|e| same_family(e, text))
                    .filter_map(cidr)
                    .collect();
                for private in PRIVATE_RANGES.iter().filter(|p| same_family(p, text)) {
                    let Some(p) = cidr(private) else { continue };
                    let reachable = cidr_contains(range, p) || cidr_contains(p, range);
                    if reachable && !excepts.iter().any(|e| cidr_contains(*e, p)) {
                        v.push(format!(
                            "NetworkPolicy {}/{}: egress to {text} does not exclude {private}",
                            d.namespace(),
                            d.name()
                        ));
                    }
                }
            }
        }
    }
}

/// Every Wasm code source in the documents: (document, Wasm config).
fn wasm_sources(docs: &[Document]) -> Vec<(&Document, &Value)> {
    docs.iter()
        .filter(|d| d.kind() == "EnvoyFilter")
        .flat_map(|d| {
            d.value["spec"]["configPatches"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |p| wasm_config(&p["patch"]["value"]).map(|w| (d, w)))
        })
        .collect()
}

fn contains_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(m) => m.iter().any(|(k, v)| k == key || contains_key(v, key)),
        Value::Array(a) => a.iter().any(|v| contains_key(v, key)),
        _ => false,
    }
}

fn check_remote_sources(docs: &[Document], versions: MinVersions, v: &mut Vec<String>) {
    for (d, wasm) in wasm_sources(docs) {
        let remote = &wasm["vm_config"]["code"]["remote"];
        if remote.is_null() {
            continue;
        }
        let uri = &remote["http_uri"];
        for field in ["uri", "cluster", "timeout"] {
            if uri[field].as_str().is_none_or(str::is_empty) {
                v.push(format!(
                    "EnvoyFilter {}/{}: remote code source without http_uri.{field} (Envoy requires it)",
                    d.namespace(),
                    d.name()
                ));
            }
        }
    }
    for d in docs.iter().filter(|d| d.kind() == "EnvoyFilter") {
        for (field, min) in ENVOY_FIELD_MINIMUMS {
            if contains_key(&d.value, field) && versions.envoy < min {
                v.push(format!(
                    "EnvoyFilter {}/{} uses {field} (Envoy >= {}.{}) but the documented minimum is Envoy {}.{}",
                    d.namespace(),
                    d.name(),
                    min.0,
                    min.1,
                    versions.envoy.0,
                    versions.envoy.1
                ));
            }
        }
    }
}

/// (namespace, selector labels, module URL) of every module a workload loads.
fn module_loads(docs: &[Document]) -> Vec<(String, BTreeMap<String, String>, String, String)> {
    let mut out = Vec::new();
    for d in docs {
        let spec = &d.value["spec"];
        match d.kind() {
            "WasmPlugin" => out.push((
                d.namespace().to_string(),
                labels(&spec["selector"]["matchLabels"]),
                spec["url"].as_str().unwrap_or_default().to_string(),
                format!("WasmPlugin {}/{}", d.namespace(), d.name()),
            )),
            "EnvoyFilter" => {
                for p in spec["configPatches"].as_array().into_iter().flatten() {
                    if let Some(w) = wasm_config(&p["patch"]["value"]) {
                        if let Some(uri) =
                            w["vm_config"]["code"]["remote"]["http_uri"]["uri"].as_str()
                        {
                            out.push((
                                d.namespace().to_string(),
                                labels(&spec["workloadSelector"]["labels"]),
                                uri.to_string(),
                                format!("EnvoyFilter {}/{}", d.namespace(), d.name()),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn check_module_sources(docs: &[Document], v: &mut Vec<String>) {
    let all = workloads(docs);
    for (ns, selector, url, who) in module_loads(docs) {
        let Some((scheme, rest)) = url.split_once("://") else {
            v.push(format!("{who}: module URL `{url}` has no scheme"));
            continue;
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().unwrap_or(0)),
            None => (authority, 443),
        };
        let loaders: Vec<&Workload> = all
            .iter()
            .filter(|w| {
                w.namespace == ns && selector.iter().all(|(k, val)| w.labels.get(k) == Some(val))
            })
            .collect();
        if loaders.is_empty() {
            v.push(format!("{who}: selects no workload"));
        }
        let Some(svc) = service(docs, host) else {
            v.push(format!(
                "{who}: module source {authority} is not a Service of the manifests; istio-agent pulls it from inside {} and no NetworkPolicy admits that",
                loaders.iter().map(|w| w.name.as_str()).collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        let Some(pod_port) = target_port(svc, port) else {
            v.push(format!("{who}: Service {host} has no port {port}"));
            continue;
        };
        let registries = service_backends(&all, svc);
        if registries.is_empty() {
            v.push(format!("{who}: Service {host} has no workload behind it"));
        }
        for loader in &loaders {
            if !registries
                .iter()
                .any(|r| network_allows(docs, loader, r, pod_port))
            {
                v.push(format!(
                    "{who}: NetworkPolicies do not let {}/{} pull its module from {authority}",
                    loader.namespace, loader.name
                ));
            }
            if scheme == "oci" {
                let insecure = loader
                    .annotations
                    .get("proxy.istio.io/config")
                    .map(String::as_str)
                    .unwrap_or_default();
                if !insecure.contains("WASM_INSECURE_REGISTRIES") || !insecure.contains(authority) {
                    v.push(format!(
                        "{who}: {}/{} pulls from the plaintext in-cluster registry {authority} without WASM_INSECURE_REGISTRIES naming it",
                        loader.namespace, loader.name
                    ));
                }
            }
        }
    }
}

/// A sample path an Istio path pattern admits (`/x/*` -> `/x/sample`).
fn sample_path(pattern: &str) -> String {
    match pattern.strip_suffix('*') {
        Some(prefix) => format!("{prefix}sample"),
        None => pattern.to_string(),
    }
}

fn route_matches(m: &Value, path: &str) -> bool {
    let uri = &m["uri"];
    if let Some(p) = uri["prefix"].as_str() {
        path.starts_with(p)
    } else if let Some(e) = uri["exact"].as_str() {
        path == e
    } else {
        uri.is_null()
    }
}

/// VirtualService HTTP routes bound to a Gateway whose selector picks `gw`.
fn gateway_routes<'a>(docs: &'a [Document], gw: &Workload) -> Vec<&'a Value> {
    let gateways: Vec<String> = docs
        .iter()
        .filter(|d| d.kind() == "Gateway")
        .filter(|d| {
            let sel = labels(&d.value["spec"]["selector"]);
            !sel.is_empty() && sel.iter().all(|(k, v)| gw.labels.get(k) == Some(v))
        })
        .map(|d| format!("{}/{}", d.namespace(), d.name()))
        .collect();
    docs.iter()
        .filter(|d| d.kind() == "VirtualService")
        .filter(|d| {
            d.value["spec"]["gateways"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|g| {
                    let full = if g.contains('/') {
                        g.to_string()
                    } else {
                        format!("{}/{g}", d.namespace())
                    };
                    gateways.contains(&full)
                })
        })
        .flat_map(|d| d.value["spec"]["http"].as_array().into_iter().flatten())
        .collect()
}

fn route_destinations(route: &Value) -> Vec<String> {
    route["route"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["destination"]["host"].as_str().map(str::to_string))
        .collect()
}

fn sidecar_imports(docs: &[Document], caller: &Workload, svc: &Document) -> bool {
    let host = format!("{}.{}.svc.cluster.local", svc.name(), svc.namespace());
    docs.iter()
        .filter(|d| d.kind() == "Sidecar" && d.namespace() == caller.namespace)
        .filter(|d| {
            selector_matches(
                &json_selector(&d.value["spec"]["workloadSelector"]),
                &caller.labels,
            )
        })
        .flat_map(|d| d.value["spec"]["egress"].as_array().into_iter().flatten())
        .flat_map(|e| e["hosts"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .any(|entry| {
            let Some((ns, h)) = entry.split_once('/') else {
                return false;
            };
            let ns_ok = ns == "*"
                || ns == svc.namespace()
                || (ns == "." && caller.namespace == svc.namespace());
            ns_ok && (h == "*" || h == host)
        })
}

/// Sidecar's `workloadSelector: {labels: ...}` as a label selector.
fn json_selector(workload_selector: &Value) -> Value {
    serde_json::json!({"matchLabels": workload_selector["labels"].clone()})
}

fn check_flows(docs: &[Document], v: &mut Vec<String>) {
    let all = workloads(docs);
    let services: Vec<&Document> = docs.iter().filter(|d| d.kind() == "Service").collect();
    let configs = plugin_instances(docs).unwrap_or_default();
    for d in docs.iter().filter(|d| d.kind() == "AuthorizationPolicy") {
        let spec = &d.value["spec"];
        if spec["action"].as_str().unwrap_or("ALLOW") != "ALLOW" {
            continue;
        }
        let selector = labels(&spec["selector"]["matchLabels"]);
        let targets: Vec<&Workload> = all
            .iter()
            .filter(|w| {
                w.namespace == d.namespace()
                    && selector.iter().all(|(k, val)| w.labels.get(k) == Some(val))
            })
            .collect();
        for rule in spec["rules"].as_array().into_iter().flatten() {
            let r = flatten_rule(rule);
            for target in &targets {
                let svc = services.iter().copied().find(|s| {
                    s.namespace() == target.namespace
                        && s.value["spec"]["selector"].as_object().is_some_and(|sel| {
                            !sel.is_empty()
                                && sel.iter().all(|(k, val)| {
                                    target.labels.get(k).map(String::as_str) == val.as_str()
                                })
                        })
                });
                let Some(svc) = svc else {
                    v.push(format!(
                        "AuthorizationPolicy {}/{} admits callers to {}, which no Service exposes",
                        d.namespace(),
                        d.name(),
                        target.name
                    ));
                    continue;
                };
                let host = format!("{}.{}.svc.cluster.local", svc.name(), svc.namespace());
                let ports: Vec<(u16, u16)> = svc.value["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        let port = u16::try_from(p["port"].as_u64()?).ok()?;
                        Some((port, target_port(svc, port)?))
                    })
                    .collect();
                for principal in &r.principals {
                    let Some((ns, sa)) = principal
                        .strip_prefix(&format!("spiffe://{TRUST_DOMAIN}/ns/"))
                        .and_then(|rest| rest.split_once("/sa/"))
                    else {
                        continue;
                    };
                    for caller in all
                        .iter()
                        .filter(|w| w.namespace == ns && w.service_account == sa)
                    {
                        let who = format!(
                            "AuthorizationPolicy {}/{}: {}/{} -> {}",
                            d.namespace(),
                            d.name(),
                            caller.namespace,
                            caller.name,
                            host
                        );
                        if caller.gateway {
                            let routed = gateway_routes(docs, caller)
                                .iter()
                                .any(|route| route_destinations(route).contains(&host));
                            let by_filter = configs.iter().any(|i| {
                                i.namespace == caller.namespace
                                    && i.selector
                                        .iter()
                                        .all(|(k, val)| caller.labels.get(k) == Some(val))
                                    && i.config.to_string().contains(&format!("||{host}\""))
                            });
                            if !routed && !by_filter {
                                v.push(format!(
                                    "{who}: the gateway has no route or filter cluster to it"
                                ));
                            }
                        } else if !sidecar_imports(docs, caller, svc) {
                            v.push(format!("{who}: the caller's Sidecar does not import {host} (REGISTRY_ONLY black-holes it)"));
                        }
                        if !ports
                            .iter()
                            .any(|(_, pod_port)| network_allows(docs, caller, target, *pod_port))
                        {
                            v.push(format!("{who}: no NetworkPolicy path"));
                        }
                    }
                }
                if r.principals.is_empty() && !r.request_principals.is_empty() && target.gateway {
                    let routes = gateway_routes(docs, target);
                    for pattern in &r.paths {
                        let path = sample_path(pattern);
                        let routed = routes.iter().any(|route| {
                            route["match"]
                                .as_array()
                                .is_none_or(|ms| ms.iter().any(|m| route_matches(m, &path)))
                                && !route_destinations(route).is_empty()
                        });
                        if !routed {
                            v.push(format!(
                                "AuthorizationPolicy {}/{} admits users on {pattern} at {}, but no VirtualService on its Gateway routes {path}",
                                d.namespace(),
                                d.name(),
                                target.name
                            ));
                        }
                    }
                }
            }
        }
    }
}
