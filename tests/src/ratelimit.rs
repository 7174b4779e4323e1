//! Global (mesh-wide) intent rate limits: the Envoy configuration that puts the native
//! `envoy.filters.http.ratelimit` filter after tool-policy and points it at meshguard's rate
//! limit service (examples/ratelimit-service: Envoy's RLS gRPC over limitador and Redis), and
//! the service run in-process for the tests and the local mesh.
//!
//! What Envoy does, and what this configuration adds to it:
//! - Descriptors come from the `x-meshguard-rl-*` headers tool-policy sets on an allowed
//!   `tools/call` (incoming copies are stripped by tool-policy): `[class, user]`,
//!   `[class, team]` and `[class, agent]` (the last only when an agent acts). Requests
//!   without them (`tools/list`, `initialize`) send no descriptor and are not counted.
//! - The failure mode is per class. Envoy's filter has one `failure_mode_deny`, so classes
//!   that fail open (reads, only when configured) get a second filter instance with
//!   `failure_mode_deny: false`; each instance's descriptors carry a
//!   `failure_mode=deny|allow` entry from a `header_value_match` on the class header, so a
//!   class is counted by exactly one instance. Write, delete and admin always fail closed.
//! - Envoy answers an over-limit call 429 and a service failure `status_on_error` (503) with
//!   a plain body. The `local_reply_config` here rewrites both into the JSON-RPC error
//!   tool-policy itself would send (HTTP 200 when the request had one id, reason
//!   `rate_limited` / `rate_limit_unavailable`, control MCP-03): the id is the
//!   `x-meshguard-rl-id` header tool-policy sets (JSON text, `null` for batches), spliced
//!   verbatim by `%REQ(...)%`; a `null` id keeps the real status (429 / 503).

use serde_json::{json, Value};
use std::net::SocketAddr;

/// The rate limit domain (the service's `domain`, the filter's `domain`).
pub const DOMAIN: &str = "meshguard";
/// The Envoy cluster of the rate limit service.
pub const CLUSTER: &str = "meshguard_ratelimit";
/// Classes that never fail open.
pub const FAIL_CLOSED_ALWAYS: [&str; 3] = ["write", "delete", "admin"];
/// Every tool class.
pub const CLASSES: [&str; 4] = ["read", "write", "delete", "admin"];

/// The HTTP/2 cluster Envoy's gRPC client uses to reach the service.
pub fn cluster(addr: SocketAddr) -> Value {
    let mut c = crate::envoy::static_cluster(CLUSTER, addr);
    c["connect_timeout"] = json!("0.5s");
    c["typed_extension_protocol_options"] = json!({
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}
        }
    });
    c
}

/// The descriptor actions for one failure mode: a `failure_mode` entry that exists only for
/// the classes listed, then the class and one principal.
pub fn rate_limits(classes: &[&str], mode: &str) -> Value {
    let regex = format!("^({})$", classes.join("|"));
    let gate = json!({"header_value_match": {
        "descriptor_key": "failure_mode",
        "descriptor_value": mode,
        "expect_match": true,
        "headers": [{"name": "x-meshguard-rl-class", "string_match": {"safe_regex": {"regex": regex}}}]
    }});
    let header =
        |h: &str, k: &str| json!({"request_headers": {"header_name": h, "descriptor_key": k}});
    let class = header("x-meshguard-rl-class", "class");
    Value::Array(
        ["user", "team", "agent"]
            .iter()
            .map(|p| json!({"actions": [gate, class, header(&format!("x-meshguard-rl-{p}"), p)]}))
            .collect(),
    )
}

/// One `envoy.filters.http.ratelimit` instance.
fn filter(classes: &[&str], deny: bool) -> Value {
    let mode = if deny { "deny" } else { "allow" };
    json!({
        "name": "envoy.filters.http.ratelimit",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
            "domain": DOMAIN,
            "stat_prefix": format!("meshguard_{mode}"),
            "failure_mode_deny": deny,
            "status_on_error": {"code": 503},
            "timeout": "1s",
            "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
            "rate_limit_service": {
                "transport_api_version": "V3",
                "grpc_service": {"envoy_grpc": {"cluster_name": CLUSTER}}
            },
            "rate_limits": rate_limits(classes, mode),
        }
    })
}

/// The ratelimit filters to place after tool-policy: one failing closed for every class not
/// in `fail_open` (write, delete and admin always), and one failing open for the classes in
/// `fail_open` when there are any (only `read` is accepted).
pub fn filters(fail_open: &[&str]) -> Vec<Value> {
    assert!(
        fail_open.iter().all(|c| *c == "read"),
        "only reads may fail open: {fail_open:?}"
    );
    let closed: Vec<&str> = CLASSES
        .iter()
        .copied()
        .filter(|c| !fail_open.contains(c))
        .collect();
    let mut out = vec![filter(&closed, true)];
    if !fail_open.is_empty() {
        out.push(filter(fail_open, false));
    }
    out
}

/// The HCM `local_reply_config` turning the ratelimit filter's plain 429 / 503 into
/// JSON-RPC errors (response flags `RL` and `RLSE`).
pub fn local_reply_config() -> Value {
    let mapper = |flag: &str, with_id: bool, status: u16, reason: &str, code: i64, msg: &str| {
        let flag_filter = json!({"response_flag_filter": {"flags": [flag]}});
        let filter = if with_id {
            json!({"and_filter": {"filters": [flag_filter, {"header_filter": {"header": {
                "name": "x-meshguard-rl-id",
                "string_match": {"exact": "null"},
                "invert_match": true
            }}}]}})
        } else {
            flag_filter
        };
        let id = if with_id {
            "%REQ(x-meshguard-rl-id)%"
        } else {
            "null"
        };
        // Only values tool-policy writes (the id as JSON, the class from its enum) are
        // spliced; the user and team are not (they could hold quotes).
        let body = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":{code},\"message\":\"{msg}\",\
             \"data\":{{\"control\":\"MCP-03\",\"reason\":\"{reason}\",\"scope\":\"mesh\",\
             \"class\":\"%REQ(x-meshguard-rl-class)%\"}}}}}}"
        );
        let header = |k: &str, v: &str| json!({"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"});
        json!({
            "filter": filter,
            "status_code": status,
            "headers_to_add": [header("x-meshguard-control", "MCP-03"), header("x-meshguard-reason", reason)],
            "body_format_override": {
                "text_format_source": {"inline_string": body},
                "content_type": "application/json"
            }
        })
    };
    let over = "mesh-wide rate limit exceeded for this tool class";
    let down = "the rate limit service is unavailable: call refused (fail closed)";
    json!({"mappers": [
        mapper("RL", true, 200, "rate_limited", -32029, over),
        mapper("RL", false, 429, "rate_limited", -32029, over),
        mapper("RLSE", true, 200, "rate_limit_unavailable", -32603, down),
        mapper("RLSE", false, 503, "rate_limit_unavailable", -32603, down),
    ]})
}

/// The service's configuration (YAML) for a Redis URL and limits, each
/// `(name, class, per, requests, window_seconds)`.
pub fn service_config(redis_url: &str, limits: &[(&str, &str, &str, u64, u64)]) -> String {
    let mut y = format!("domain: {DOMAIN}\nredis_url: {redis_url}\nlimits:\n");
    for (name, class, per, requests, window) in limits {
        y.push_str(&format!(
            "  - name: {name}\n    match: {{ class: {class} }}\n    per: {per}\n    requests: {requests}\n    window_seconds: {window}\n"
        ));
    }
    y
}

/// The service's configuration whose limits are the mesh-wide twins of tool-policy's
/// per-proxy `rate_limits` in `tool_policy` (its pluginConfig): the same class, principal,
/// count and window, counted in Redis at `redis_url` across every gateway replica.
pub fn service_config_for_policy(redis_url: &str, tool_policy: &Value) -> Result<String, String> {
    let limits = tool_policy["rate_limits"]
        .as_array()
        .ok_or("tool_policy pluginConfig has no rate_limits")?;
    let mut specs = Vec::new();
    for (i, l) in limits.iter().enumerate() {
        let field = |k: &str| format!("rate_limits[{i}].{k}");
        let class = l["class"].as_str().ok_or_else(|| field("class"))?;
        let per = l["per"].as_str().ok_or_else(|| field("per"))?;
        let requests = l["requests"].as_u64().ok_or_else(|| field("requests"))?;
        let window = l["window_seconds"]
            .as_u64()
            .ok_or_else(|| field("window_seconds"))?;
        specs.push((format!("{class}-per-{per}"), class, per, requests, window));
    }
    let borrowed: Vec<(&str, &str, &str, u64, u64)> = specs
        .iter()
        .map(|(n, c, p, r, w)| (n.as_str(), *c, *p, *r, *w))
        .collect();
    Ok(service_config(redis_url, &borrowed))
}

/// Start the rate limit service in-process on a free loopback port.
pub async fn start_service(config_yaml: &str) -> meshguard_ratelimit::Running {
    let config =
        meshguard_ratelimit::config::Config::parse(config_yaml).unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    meshguard_ratelimit::start(&config, listener)
        .await
        .unwrap_or_else(|e| panic!("rate limit service: {e}"))
}
