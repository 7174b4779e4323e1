//! `bench_scrubber`: throughput of the pii-scrubber inside real Envoy on 1 KB, 64 KB and
//! 1 MB JSON tool results, against Envoy with no filter in the same run.
//!
//! An upstream in this process answers every call with the same `application/json` tool
//! result (realistic text with a few e-mails, card numbers and keys to mask); wrk loads
//! Envoy on loopback (one worker). Prints `BENCH name=scrubber_throughput_<size> value=<MB/s>
//! unit=MB/s ratio=<ours/no filter> vs=envoy_no_filter_throughput_<size>`, plus the native
//! scrubber's own throughput on the same bodies (no proxy in the way).

use meshguard_core::pii_scrubber::{Config, Direction, Engine};
use meshguard_e2e::load::{bench_line, Load};
use meshguard_e2e::{EnvoyBuilder, WasmFilter};
use serde_json::json;
use std::time::{Duration, Instant};

const TOOL_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_payroll","arguments":{"team":"sre"}}}"#;

fn duration() -> Duration {
    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

/// A tool result of about `size` bytes: log-like lines, one in eight carrying a value to mask.
fn tool_result(size: usize) -> Vec<u8> {
    let mut text = String::with_capacity(size);
    let mut i = 0u64;
    while text.len() + 160 < size {
        let line = match i % 8 {
            0 => format!("2024-06-11T10:{:02}:30Z payroll row {i}: contact emp{i}@example.com, card 4111 1111 1111 1111\n", i % 60),
            _ => format!("2024-06-11T10:{:02}:30Z order ORD-2024-{i:06} shipped, sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n", i % 60),
        };
        text.push_str(&line);
        i += 1;
    }
    json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": text}], "isError": false}})
        .to_string()
        .into_bytes()
}

fn main() {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench_scrubber failed: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run()) {
        eprintln!("bench_scrubber failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let engine = Engine::new(Config::default(), |_| None).map_err(|e| e.to_string())?;
    for (label, size) in [("1kb", 1 << 10), ("64kb", 64 << 10), ("1mb", 1_000_000)] {
        let body = tool_result(size);
        let bytes = body.len() as f64;
        native(&engine, &body, label);
        let upstream = serve_fixed(body).await?;
        let plain = measure(EnvoyBuilder::new().upstream(upstream)).await?;
        let filtered = measure(
            EnvoyBuilder::new()
                .filter(WasmFilter::new("pii_scrubber", json!({})))
                .upstream(upstream),
        )
        .await?;
        let mbps = |rps: f64| rps * bytes / 1e6;
        let base = format!("envoy_no_filter_throughput_{label}");
        bench_line(&base, mbps(plain), "MB/s", None);
        bench_line(
            &format!("scrubber_throughput_{label}"),
            mbps(filtered),
            "MB/s",
            Some((&base, mbps(plain))),
        );
    }
    Ok(())
}

/// An upstream answering every request with `body` in one write, with a `content-length`
/// (a chunked, trickled body would measure delayed ACKs, not the filter).
async fn serve_fixed(body: Vec<u8>) -> Result<std::net::SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let body = axum::body::Bytes::from(body);
    let router = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { ([("content-type", "application/json")], body) }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}

/// The native scrubber's throughput on `body` (what the Wasm VM runs, minus the VM).
fn native(engine: &Engine, body: &[u8], label: &str) {
    let started = Instant::now();
    let mut rounds = 0u64;
    while started.elapsed() < Duration::from_millis(500) {
        let decision = engine.json_body(body, Direction::Response);
        std::hint::black_box(decision);
        rounds += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let mbps = rounds as f64 * body.len() as f64 / secs / 1e6;
    bench_line(&format!("scrubber_native_{label}"), mbps, "MB/s", None);
}

/// Requests per second through one Envoy, after a warm-up.
async fn measure(builder: EnvoyBuilder) -> Result<f64, String> {
    let envoy = builder
        .start()
        .map_err(|e| format!("envoy did not start:\n{}", e.log))?;
    let url = envoy.url("/mcp");
    let load = move |d: Duration| {
        let mut l = Load::post(url.clone(), TOOL_CALL.to_string(), d);
        l.connections = 4;
        l
    };
    let warm = load(Duration::from_secs(1));
    tokio::task::spawn_blocking(move || warm.run())
        .await
        .map_err(|e| e.to_string())??;
    let run = load(duration());
    let result = tokio::task::spawn_blocking(move || run.run())
        .await
        .map_err(|e| e.to_string())??;
    drop(envoy);
    Ok(result.rps)
}
