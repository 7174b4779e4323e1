//! A real Envoy process per test: config written from a builder, listeners on ephemeral
//! loopback ports (discovered through the admin API, so tests never race for ports),
//! readiness from `/ready`, teardown on drop, and Envoy's log printed when a test fails.

use crate::paths;
use crate::pki::Svid;
use crate::tls;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One meshguard filter in the HTTP filter chain.
#[derive(Debug, Clone)]
pub struct WasmFilter {
    name: String,
    configuration: String,
    env: Vec<(String, String)>,
    stop_iteration: bool,
}

impl WasmFilter {
    /// Filter `name` (the `.wasm` file stem) with a JSON plugin configuration.
    pub fn new(name: &str, config: Value) -> Self {
        Self::raw(name, &config.to_string())
    }

    /// Filter with a configuration string taken as is (to test malformed ones).
    pub fn raw(name: &str, configuration: &str) -> Self {
        Self {
            name: name.to_string(),
            configuration: configuration.to_string(),
            env: Vec::new(),
            stop_iteration: true,
        }
    }

    /// Pass a host environment variable to the VM (as Istio's WasmPlugin `vmConfig.env` does).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The `envoy.filters.http.wasm` entry for this filter.
    pub fn http_filter(&self) -> Value {
        let env: serde_json::Map<String, Value> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let wasm = paths::wasm(&self.name);
        json!({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": self.name,
                    "root_id": self.name,
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": self.configuration,
                    },
                    "allow_on_headers_stop_iteration": self.stop_iteration,
                    "vm_config": {
                        "vm_id": self.name,
                        "runtime": "envoy.wasm.runtime.v8",
                        "code": { "local": { "filename": wasm } },
                        "environment_variables": { "key_values": env },
                    },
                },
            },
        })
    }
}

/// Where the listener's single route goes.
#[derive(Debug, Clone)]
enum Route {
    Upstream(SocketAddr),
    Direct {
        status: u16,
        body: String,
        content_type: String,
    },
}

/// Builds and starts an Envoy with one HTTP listener.
#[derive(Debug, Clone)]
pub struct EnvoyBuilder {
    filters: Vec<Value>,
    route: Route,
    concurrency: u32,
    clusters: Vec<Value>,
    /// Transport socket of the main listener (mTLS), plaintext when `None`.
    listener_tls: Option<Value>,
    /// Transport socket of the `upstream` cluster (mTLS origination), plaintext when `None`.
    upstream_tls: Option<Value>,
    /// Native RBAC filter, placed first in the chain.
    rbac: Option<Value>,
    /// Extra HttpConnectionManager fields (e.g. `forward_client_cert_details`).
    hcm: serde_json::Map<String, Value>,
    /// The main listener's `per_connection_buffer_limit_bytes` (Envoy's 1 MiB when `None`).
    buffer_limit: Option<u32>,
}

impl Default for EnvoyBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EnvoyBuilder {
    /// One worker, no filters, answering 200 with an empty body until told otherwise.
    pub fn new() -> Self {
        Self {
            filters: Vec::new(),
            route: Route::Direct {
                status: 200,
                body: String::new(),
                content_type: "text/plain".into(),
            },
            concurrency: 1,
            clusters: Vec::new(),
            listener_tls: None,
            upstream_tls: None,
            rbac: None,
            hcm: serde_json::Map::new(),
            buffer_limit: None,
        }
    }

    /// Append a meshguard filter (filters run in the order added).
    pub fn filter(mut self, filter: WasmFilter) -> Self {
        self.filters.push(filter.http_filter());
        self
    }

    /// Append any HTTP filter (e.g. Envoy's native `jwt_authn` for comparisons).
    pub fn native_filter(mut self, filter: Value) -> Self {
        self.filters.push(filter);
        self
    }

    /// Route every request to this upstream.
    pub fn upstream(mut self, addr: SocketAddr) -> Self {
        self.route = Route::Upstream(addr);
        self
    }

    /// Answer every request from Envoy itself (no upstream), as benchmarks do.
    pub fn direct_response(mut self, status: u16, content_type: &str, body: &str) -> Self {
        self.route = Route::Direct {
            status,
            body: body.into(),
            content_type: content_type.into(),
        };
        self
    }

    /// Worker threads.
    pub fn concurrency(mut self, workers: u32) -> Self {
        self.concurrency = workers;
        self
    }

    /// An extra STATIC cluster (e.g. a JWKS endpoint a filter fetches from).
    pub fn cluster(mut self, name: &str, addr: SocketAddr) -> Self {
        self.clusters.push(static_cluster(name, addr));
        self
    }

    /// An extra cluster given whole (e.g. the HTTP/2 cluster of a gRPC service).
    pub fn raw_cluster(mut self, cluster: Value) -> Self {
        self.clusters.push(cluster);
        self
    }

    /// An extra STATIC cluster that originates mTLS with `svid` and accepts only a server
    /// presenting `server_id` (e.g. the gateway's cluster for a tool server in the local mesh).
    pub fn mtls_cluster(
        mut self,
        name: &str,
        addr: SocketAddr,
        svid: &Svid,
        ca: &Path,
        server_id: &str,
    ) -> Self {
        let mut cluster = static_cluster(name, addr);
        cluster["transport_socket"] = tls::upstream_mtls(svid, ca, server_id);
        self.clusters.push(cluster);
        self
    }

    /// Make the main listener require mTLS: present `svid`, and accept only clients whose
    /// certificate chains to `ca` (Istio's `PeerAuthentication` mode `STRICT`).
    pub fn mtls_listener(self, svid: &Svid, ca: &Path) -> Self {
        self.mtls_listener_allowing(svid, ca, &[])
    }

    /// As [`Self::mtls_listener`], and also refuse the TLS handshake unless the client's URI
    /// SAN is one of `peers` (Envoy's `match_typed_subject_alt_names`). An empty list allows
    /// every client the CA vouches for.
    pub fn mtls_listener_allowing(mut self, svid: &Svid, ca: &Path, peers: &[&str]) -> Self {
        self.listener_tls = Some(tls::downstream_mtls(svid, ca, peers));
        self
    }

    /// Make the `upstream` cluster originate mTLS with `svid` as client certificate and verify
    /// that the server's certificate chains to `ca` and carries `server_id` as URI SAN, as an
    /// Istio sidecar does on its outbound path.
    pub fn upstream_mtls(mut self, svid: &Svid, ca: &Path, server_id: &str) -> Self {
        self.upstream_tls = Some(tls::upstream_mtls(svid, ca, server_id));
        self
    }

    /// Allow only mTLS peers with these SPIFFE ids, via Envoy's native RBAC filter placed
    /// first in the chain (before meshguard filters, where Istio puts an
    /// `AuthorizationPolicy`). Others get a 403 `RBAC: access denied` from Envoy itself.
    pub fn rbac_allow_principals(mut self, principals: &[&str]) -> Self {
        self.rbac = Some(tls::rbac_allow_principals(principals));
        self
    }

    /// Pass the verified client identity upstream: `forward_client_cert_details:
    /// SANITIZE_SET` with the URI SAN, so the upstream sees `x-forwarded-client-cert:
    /// ...;URI=spiffe://...` and any client-supplied XFCC header is replaced, never trusted.
    pub fn forward_client_cert_uri(self) -> Self {
        self.hcm_option("forward_client_cert_details", json!("SANITIZE_SET"))
            .hcm_option("set_current_client_cert_details", json!({"uri": true}))
    }

    /// Set any HttpConnectionManager field (v3 name) on the main listener.
    pub fn hcm_option(mut self, field: &str, value: Value) -> Self {
        self.hcm.insert(field.to_string(), value);
        self
    }

    /// Set the main listener's `per_connection_buffer_limit_bytes`: the most a stream's
    /// filters may hold of a body before Envoy answers 413 (requests) or 500 (responses).
    pub fn buffer_limit(mut self, bytes: u32) -> Self {
        self.buffer_limit = Some(bytes);
        self
    }

    /// The bootstrap configuration this builder produces.
    pub fn bootstrap(&self) -> Value {
        let mut http_filters: Vec<Value> = self.rbac.iter().cloned().collect();
        http_filters.extend(self.filters.iter().cloned());
        http_filters.push(json!({
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
        }));
        let (route, mut clusters) = match &self.route {
            Route::Upstream(addr) => (
                json!({"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": "60s", "idle_timeout": "60s"}}),
                vec![self.upstream_cluster(*addr)],
            ),
            Route::Direct {
                status,
                body,
                content_type,
            } => (
                json!({"match": {"prefix": "/"}, "direct_response": {"status": status, "body": {"inline_string": body}},
                       "response_headers_to_add": [{"header": {"key": "content-type", "value": content_type}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]}),
                vec![],
            ),
        };
        clusters.extend(self.clusters.iter().cloned());
        let mut hcm = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "main",
            "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}]},
            "http_filters": http_filters,
        });
        for (field, value) in &self.hcm {
            hcm[field] = value.clone();
        }
        let mut filter_chain = json!({"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": hcm,
        }]});
        if let Some(socket) = &self.listener_tls {
            filter_chain["transport_socket"] = socket.clone();
        }
        let mut listener = json!({
            "name": "main",
            "stat_prefix": "main",
            "address": loopback(0),
            "filter_chains": [filter_chain],
        });
        if let Some(bytes) = self.buffer_limit {
            listener["per_connection_buffer_limit_bytes"] = json!(bytes);
        }
        json!({
            "admin": {"address": loopback(0)},
            "static_resources": {"listeners": [listener], "clusters": clusters}
        })
    }

    /// The `upstream` cluster: plaintext, or originating mTLS when configured.
    fn upstream_cluster(&self, addr: SocketAddr) -> Value {
        let mut cluster = static_cluster("upstream", addr);
        if let Some(socket) = &self.upstream_tls {
            cluster["transport_socket"] = socket.clone();
        }
        cluster
    }

    /// Start Envoy and wait until it is ready, or return its log if it refused to start.
    pub fn start(&self) -> Result<Envoy, StartError> {
        Envoy::start(&self.bootstrap(), self.concurrency)
    }
}

fn loopback(port: u16) -> Value {
    json!({"socket_address": {"address": "127.0.0.1", "port_value": port}})
}

/// A plaintext HTTP/1.1 cluster with one loopback endpoint.
pub fn static_cluster(name: &str, addr: SocketAddr) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": addr.ip().to_string(), "port_value": addr.port()}}
        }}]}]}
    })
}

/// Envoy exited (or never became ready) instead of serving.
#[derive(Debug)]
pub struct StartError {
    pub log: String,
    pub exited: bool,
}

/// A running Envoy; killed on drop.
pub struct Envoy {
    child: Child,
    dir: tempfile::TempDir,
    admin: SocketAddr,
    listeners: Vec<(String, SocketAddr)>,
}

impl Envoy {
    /// Start Envoy with a full bootstrap (JSON) and `concurrency` workers.
    pub fn start(bootstrap: &Value, concurrency: u32) -> Result<Envoy, StartError> {
        let dir = tempfile::tempdir().map_err(io_start_error)?;
        let config = dir.path().join("envoy.json");
        std::fs::write(&config, bootstrap.to_string()).map_err(io_start_error)?;
        let log = File::create(dir.path().join("envoy.log")).map_err(io_start_error)?;
        let admin_file = dir.path().join("admin-address");
        let child = Command::new(paths::envoy_bin())
            .arg("-c")
            .arg(&config)
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--disable-hot-restart", "--log-level", "info"])
            .args(["--component-log-level", "wasm:debug"])
            .arg("--admin-address-path")
            .arg(&admin_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io_start_error)?)
            .stderr(log)
            .spawn()
            .map_err(io_start_error)?;
        let mut envoy = Envoy {
            child,
            dir,
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            listeners: Vec::new(),
        };
        envoy.wait_ready(&admin_file)?;
        Ok(envoy)
    }

    /// Waits for `/ready`. The bound is generous because V8 compiles every module (up to
    /// 2 MiB) once per Envoy before the workers start: a sidecar with four filters took 63 s
    /// on a 2-core machine under load, while it takes a few seconds on an idle one.
    fn wait_ready(&mut self, admin_file: &Path) -> Result<(), StartError> {
        let deadline = Instant::now() + Duration::from_secs(180);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(StartError {
                    log: self.log(),
                    exited: true,
                });
            }
            if let Some(admin) = read_addr(admin_file) {
                self.admin = admin;
                if matches!(http_get(admin, "/ready"), Ok((200, _))) {
                    self.listeners = self.fetch_listeners();
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(StartError {
            log: self.log(),
            exited: false,
        })
    }

    fn fetch_listeners(&self) -> Vec<(String, SocketAddr)> {
        let Ok((_, body)) = http_get(self.admin, "/listeners?format=json") else {
            return Vec::new();
        };
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let statuses = v["listener_statuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        statuses
            .iter()
            .filter_map(|l| {
                let sa = &l["local_address"]["socket_address"];
                let addr = format!("{}:{}", sa["address"].as_str()?, sa["port_value"].as_u64()?);
                Some((l["name"].as_str()?.to_string(), addr.parse().ok()?))
            })
            .collect()
    }

    /// Address of the named listener.
    pub fn listener(&self, name: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no listener {name}: {:?}", self.listeners))
    }

    /// `http://<main listener><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.listener("main"), path)
    }

    /// The admin endpoint.
    pub fn admin(&self) -> SocketAddr {
        self.admin
    }

    /// A counter's value (0 if never incremented). Wasm counters carry the `wasmcustom.` prefix.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters(&[name]).first().copied().unwrap_or(0)
    }

    /// Several counters read from one `/stats` snapshot, so they are consistent with each other
    /// at one instant (reading them one by one races with requests still being answered).
    pub fn counters(&self, names: &[&str]) -> Vec<u64> {
        let Ok((_, body)) = http_get(self.admin, "/stats?format=json") else {
            return vec![0; names.len()];
        };
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let stats = v["stats"].as_array().cloned().unwrap_or_default();
        names
            .iter()
            .map(|name| {
                stats
                    .iter()
                    .find(|s| s["name"] == *name)
                    .and_then(|s| s["value"].as_u64())
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Every nonzero counter whose name starts with `prefix` (e.g. `wasmcustom.meshguard.`),
    /// from one `/stats` snapshot.
    pub fn counters_with_prefix(&self, prefix: &str) -> Vec<(String, u64)> {
        let Ok((_, body)) = http_get(self.admin, "/stats?format=json") else {
            return Vec::new();
        };
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        v["stats"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let name = s["name"].as_str()?;
                let n = s["value"].as_u64()?;
                (n > 0 && name.starts_with(prefix)).then(|| (name.to_string(), n))
            })
            .collect()
    }

    /// [`Self::counters`] once Envoy has finished what was in flight: a load generator that
    /// stops leaves requests Envoy still judges and answers, so the snapshot is taken when two
    /// reads 200 ms apart agree (or after 10 s, returning the last read).
    pub fn settled_counters(&self, names: &[&str]) -> Vec<u64> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = self.counters(names);
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.counters(names);
            if now == last || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }

    /// Everything Envoy logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("envoy.log")).unwrap_or_default()
    }

    /// The directory holding this Envoy's config and log.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- envoy log ({}) ----\n{}",
                self.dir.path().display(),
                tail(&self.log(), 200)
            );
        }
    }
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn io_start_error(e: std::io::Error) -> StartError {
    StartError {
        log: format!("could not start envoy: {e}"),
        exited: true,
    }
}

fn read_addr(path: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A minimal blocking HTTP/1.1 GET for the admin API (no client runtime needed).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (status, text) = http_raw(addr, &request)?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, dechunk(&body)))
}

/// Send `request` exactly as written (request line, headers, body) and read the whole
/// answer: the status and the raw response text. For what an HTTP client would normalise
/// (absolute-form targets, odd Host headers).
pub fn http_raw(addr: SocketAddr, request: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    // A read timeout after a complete answer is not an error here.
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, text))
}

/// Admin responses may be chunked; undo that for the JSON endpoints.
fn dechunk(body: &str) -> String {
    let looks_chunked = body
        .lines()
        .next()
        .is_some_and(|l| !l.is_empty() && l.trim().chars().all(|c| c.is_ascii_hexdigit()));
    if !looks_chunked {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
