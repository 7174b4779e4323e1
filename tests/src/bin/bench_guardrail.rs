//! `make bench` (guardrail part): scanning throughput of the prompt guardrail (request
//! bodies) and the output sanitizer (response bodies) inside Envoy for 1 KB, 64 KB and
//! 1 MB bodies, and the p99 of a typical tools/call, each against Envoy with no filter in
//! the same run. Bodies are real text mixed from the evaluation corpora (docs, chat, records,
//! written honest samples), so every byte is scanned.

use meshguard_e2e::guardrail_corpus::prose;
use meshguard_e2e::load::{bench_line, fixed_upstream, Load, LoadResult};
use meshguard_e2e::{EnvoyBuilder, WasmFilter};
use serde_json::json;
use std::time::Duration;

/// "1 MB" is decimal: Envoy's default per-connection buffer limit is 1 MiB, and a filter that
/// buffers a body beyond it gets a 413 from Envoy itself.
const SIZES: [(&str, usize); 3] = [("1kb", 1 << 10), ("64kb", 64 << 10), ("1mb", 1_000_000)];
const TOOL_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","arguments":{"repo":"org-sre/api","number":42}}}"#;
const SMALL_RESULT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Issue 42: the deploy pipeline times out on the integration stage."}],"isError":false}}"#;

fn seconds() -> Duration {
    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

fn request_of(n: usize) -> String {
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "store_log", "arguments": {"text": ""}}});
    let overhead = call.to_string().len();
    let mut call = call;
    call["params"]["arguments"]["text"] = json!(prose(n.saturating_sub(overhead)));
    call.to_string()
}

fn result_of(n: usize) -> String {
    let r =
        json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": ""}]}});
    let overhead = r.to_string().len();
    let mut r = r;
    r["result"]["content"][0]["text"] = json!(prose(n.saturating_sub(overhead)));
    r.to_string()
}

/// Start an Envoy forwarding to the loopback `origin` (see
/// [`meshguard_e2e::load::upstream`]) behind `builder`'s filters, warm it up, and load it.
fn measure(
    builder: EnvoyBuilder,
    body: &str,
    origin: std::net::SocketAddr,
) -> Result<LoadResult, String> {
    let envoy = builder
        .upstream(origin)
        .start()
        .map_err(|e| format!("envoy did not start:\n{}", e.log))?;
    let url = envoy.url("/mcp");
    let mut warm = Load::post(url.clone(), body.to_string(), Duration::from_secs(1));
    warm.connections = 4;
    warm.run()?;
    let mut load = Load::post(url, body.to_string(), seconds());
    load.connections = 4;
    load.run()
}

/// The filter with a threshold no real text reaches: every byte is scanned and the body
/// passes (an honest mix of this size holds the odd false positive, and a refusal would end
/// the load run).
fn with(filter: &str) -> EnvoyBuilder {
    EnvoyBuilder::new().filter(WasmFilter::new(
        filter,
        json!({"body": {"max_bytes": 4 << 20}, "detect": {"threshold": 100.0}}),
    ))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let small = rt.block_on(fixed_upstream(SMALL_RESULT))?;
    for (label, size) in SIZES {
        if let Err(e) = run_size(&rt, small, label, size) {
            eprintln!("{label}: {e}");
        }
    }
    tools_call_p99(small)
}

/// Request- and response-side throughput for one body size, each against no filter.
fn run_size(
    rt: &tokio::runtime::Runtime,
    small: std::net::SocketAddr,
    label: &str,
    size: usize,
) -> Result<(), String> {
    {
        let req = request_of(size);
        let base = measure(EnvoyBuilder::new(), &req, small)?;
        let mbs = |r: &LoadResult| r.rps * size as f64 / 1e6;
        bench_line(
            &format!("envoy_no_filter_request_{label}_mbps"),
            mbs(&base),
            "MB/s",
            None,
        );
        let g = measure(with("prompt_guardrail"), &req, small)?;
        bench_line(
            &format!("prompt_guardrail_scan_{label}_mbps"),
            mbs(&g),
            "MB/s",
            Some((&format!("envoy_no_filter_request_{label}_mbps"), mbs(&base))),
        );
        let big = rt.block_on(fixed_upstream(result_of(size)))?;
        let base = measure(EnvoyBuilder::new(), TOOL_CALL, big)?;
        bench_line(
            &format!("envoy_no_filter_response_{label}_mbps"),
            mbs(&base),
            "MB/s",
            None,
        );
        let s = measure(with("output_sanitizer"), TOOL_CALL, big)?;
        bench_line(
            &format!("output_sanitizer_scan_{label}_mbps"),
            mbs(&s),
            "MB/s",
            Some((
                &format!("envoy_no_filter_response_{label}_mbps"),
                mbs(&base),
            )),
        );
    }
    Ok(())
}

/// p99 of a typical tools/call through both filters against no filter.
fn tools_call_p99(small: std::net::SocketAddr) -> Result<(), String> {
    let base = measure(EnvoyBuilder::new(), TOOL_CALL, small)?;
    bench_line("envoy_no_filter_tools_call_p99", base.p99_ms, "ms", None);
    let both = EnvoyBuilder::new()
        .filter(WasmFilter::new("prompt_guardrail", json!({})))
        .filter(WasmFilter::new("output_sanitizer", json!({})));
    let r = measure(both, TOOL_CALL, small)?;
    bench_line(
        "guardrail_and_sanitizer_tools_call_p99",
        r.p99_ms,
        "ms",
        Some(("envoy_no_filter_tools_call_p99", base.p99_ms)),
    );
    Ok(())
}
