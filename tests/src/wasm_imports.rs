//! What a built filter imports from its host: Envoy provides the proxy-wasm ABI
//! (`env.proxy_*`) and a handful of WASI functions; a module importing anything else
//! (e.g. wasm-bindgen shims from a crate built for the wrong target) fails to load.

use std::path::Path;

/// The WASI preview-1 functions Envoy's Wasm host implements.
pub const ENVOY_WASI: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "environ_get",
    "environ_sizes_get",
    "fd_close",
    "fd_fdstat_get",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_read",
    "fd_seek",
    "fd_write",
    "path_open",
    "poll_oneoff",
    "proc_exit",
    "random_get",
    "sched_yield",
];

/// (module, name) of every function import of a `.wasm` file.
pub fn imports(path: &Path) -> Vec<(String, String)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let Ok(wasmparser::Payload::ImportSection(reader)) = payload {
            for import in reader.into_imports().flatten() {
                out.push((import.module.to_string(), import.name.to_string()));
            }
        }
    }
    out
}

/// Imports Envoy cannot satisfy.
pub fn unsupported_imports(path: &Path) -> Vec<(String, String)> {
    imports(path)
        .into_iter()
        .filter(|(module, name)| {
            let proxy = module == "env" && name.starts_with("proxy_");
            let wasi = module == "wasi_snapshot_preview1" && ENVOY_WASI.contains(&name.as_str());
            !(proxy || wasi)
        })
        .collect()
}
