//! A real Chroma vector database server (PyPI `chromadb`, installed by `make chroma` into
//! `.tools/chroma`) on a free loopback port with a temporary data directory, for the
//! memory-guard tests.
//!
//! `chroma run` is `chromadb.cli.cli:app`, which only hands its arguments to the Rust server
//! compiled into the wheel (`chromadb_rust_bindings.cli`). The wheel is installed without
//! its Python dependencies, so the harness calls that same entry point directly.
//!
//! Like the manifest validators, a missing install skips (with a message) unless
//! `MESHGUARD_REQUIRE_TOOLS` is set (CI), where it fails.

use crate::paths;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Chroma's default tenant and database (the path every collection route lives under).
pub const DATABASE_PATH: &str = "/api/v2/tenants/default_tenant/databases/default_database";

/// The Python of `.tools/chroma`, if `make chroma` ran; `None` (after saying so) if it did
/// not and missing tools may be skipped; panics if `MESHGUARD_REQUIRE_TOOLS` is set.
pub fn python() -> Option<PathBuf> {
    let python = paths::workspace_root().join(".tools/chroma/bin/python");
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", "import chromadb_rust_bindings"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if ready {
        return Some(python);
    }
    if std::env::var_os("MESHGUARD_REQUIRE_TOOLS").is_some() {
        panic!("Chroma is missing and MESHGUARD_REQUIRE_TOOLS is set: run `make chroma`");
    }
    eprintln!(
        "SKIPPED: Chroma is missing (run `make chroma`; set MESHGUARD_REQUIRE_TOOLS to make this a failure)"
    );
    None
}

/// A running Chroma server; stopped (and its data removed) on drop.
pub struct Chroma {
    pub port: u16,
    child: Child,
    data: tempfile::TempDir,
}

impl Chroma {
    /// Start Chroma and wait for its heartbeat; `None` when Chroma is not installed and the
    /// test may skip.
    pub async fn start() -> Option<Chroma> {
        let python = python()?;
        let data = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let port = crate::ports::unassigned_port().unwrap_or_else(|e| panic!("{e}"));
        let log = std::fs::File::create(data.path().join("chroma.log"))
            .unwrap_or_else(|e| panic!("chroma log: {e}"));
        let child = Command::new(python)
            .args([
                "-c",
                "import sys, chromadb_rust_bindings as c; c.cli(sys.argv[1:])",
            ])
            .args(["chroma", "run", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--path")
            .arg(data.path().join("db"))
            .env("ANONYMIZED_TELEMETRY", "False")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("chroma did not start: {e}"));
        let mut chroma = Chroma { port, child, data };
        chroma.wait_ready().await;
        Some(chroma)
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        while Instant::now() < deadline && self.child.try_wait().is_ok_and(|s| s.is_none()) {
            let beat = client.get(self.url("/api/v2/heartbeat")).send().await;
            if beat.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(self.data.path().join("chroma.log")).unwrap_or_default();
        panic!("chroma did not answer its heartbeat (exited, or 60 s passed):\n{log}");
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// The socket address (for an Envoy cluster).
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Create (or get) a collection directly, unguarded; returns its id.
    pub async fn collection(&self, name: &str) -> String {
        let body = json!({"name": name, "get_or_create": true});
        let (status, v) = self
            .call("POST", &format!("{DATABASE_PATH}/collections"), Some(&body))
            .await;
        match v["id"].as_str() {
            Some(id) if status == 200 => id.to_string(),
            _ => panic!("create collection: {status} {v}"),
        }
    }

    /// Read every record of a collection directly, unguarded (ids and metadatas).
    pub async fn all_records(&self, collection: &str) -> Value {
        let path = format!("{DATABASE_PATH}/collections/{collection}/get");
        let body = json!({"include": ["metadatas", "documents"]});
        let (status, v) = self.call("POST", &path, Some(&body)).await;
        assert_eq!(status, 200, "direct get: {v}");
        v
    }

    /// One request straight to Chroma: (status, JSON body or null).
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|e| panic!("method {method}: {e}"));
        let mut request = reqwest::Client::new().request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        let reply = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("chroma {path}: {e}"));
        let status = reply.status().as_u16();
        let bytes = reply.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

impl Drop for Chroma {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
