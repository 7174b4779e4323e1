//! `make bench`: load on loopback against Envoy with and without each meshguard filter,
//! printing `BENCH` lines with ratios against anchors measured in the same run.

use meshguard_e2e::load::{bench_line, Load, LoadResult};
use meshguard_e2e::{EnvoyBuilder, WasmFilter};
use serde_json::json;
use std::time::Duration;

const TOOL_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","arguments":{"repo":"org-sre/api","number":42}}}"#;
const TOOL_RESULT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Issue 42: the deploy pipeline times out on the integration stage."}],"isError":false}}"#;

fn duration() -> Duration {
    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

/// The filters that pass an unauthenticated call (identity filters are measured with tokens).
const BODY_FILTERS: [&str; 3] = ["prompt_guardrail", "output_sanitizer", "pii_scrubber"];

/// Start an Envoy answering `TOOL_RESULT` itself behind `filters`, and load it.
fn measure(builder: EnvoyBuilder, load: impl Fn(String) -> Load) -> Result<LoadResult, String> {
    let envoy = builder
        .direct_response(200, "application/json", TOOL_RESULT)
        .start()
        .map_err(|e| format!("envoy did not start:\n{}", e.log))?;
    let url = envoy.url("/mcp");
    // Warm up the worker's Wasm VM and connection pool before measuring.
    load(url.clone())
        .with_duration(Duration::from_secs(1))
        .run()?;
    load(url).run()
}

trait WithDuration {
    fn with_duration(self, d: Duration) -> Self;
}

impl WithDuration for Load {
    fn with_duration(mut self, d: Duration) -> Self {
        self.duration = d;
        self
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let load = |url: String| Load::post(url, TOOL_CALL.to_string(), duration());
    let base = measure(EnvoyBuilder::new(), load)?;
    bench_line("envoy_no_filter_rps", base.rps, "req/s", None);
    bench_line("envoy_no_filter_p99", base.p99_ms, "ms", None);
    for filter in BODY_FILTERS {
        let builder = EnvoyBuilder::new().filter(WasmFilter::new(filter, json!({})));
        let r = measure(builder, load)?;
        bench_line(
            &format!("{filter}_passthrough_rps"),
            r.rps,
            "req/s",
            Some(("envoy_no_filter_rps", base.rps)),
        );
        bench_line(
            &format!("{filter}_passthrough_p99"),
            r.p99_ms,
            "ms",
            Some(("envoy_no_filter_p99", base.p99_ms)),
        );
    }
    Ok(())
}
