//! `make bench` (scanning part): every body-scanning filter inside Envoy (one worker) on
//! varied real text, each figure against Envoy with no filter in the same run.
//!
//! - Throughput at 1 KB, 64 KB and 1 MB: the prompt guardrail on request bodies, the output
//!   sanitizer and the pii-scrubber on tool results. Bodies rotate through windows of the
//!   bench corpus ([`Corpus::bench`]: library docs, chat and agent prompts, PII records,
//!   written samples, tool outputs, attacks), so no two requests in a row carry the same text.
//! - The 1 MB cost per byte against the 64 KB cost per byte (linear scanning keeps it at 1).
//! - The 64 KB figure again on the same VM after 10,000 varied requests (history must not
//!   slow a VM down), as a ratio to the cold figure.
//! - How long a tiny request on the same worker waits while 1 MB bodies are scanned
//!   (open-loop, 50 req/s), p99 and max, against the same with no filter.
//! - How long Envoy takes to become ready with the filter, per worker.
//!
//! Then the p99 of a typical tools/call through the guardrail and the sanitizer.

use meshguard_e2e::load::{bench_line, upstream, Corpus, Load, LoadResult, OpenLoop};
use meshguard_e2e::{Envoy, EnvoyBuilder, WasmFilter};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// "1 MB" is decimal: Envoy's default per-connection buffer limit is 1 MiB, and a filter that
/// buffers a body beyond it gets a 413 from Envoy itself.
const SIZES: [(&str, usize); 3] = [("1kb", 1 << 10), ("64kb", 64 << 10), ("1mb", 1_000_000)];
const TOOL_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","arguments":{"repo":"org-sre/api","number":42}}}"#;
/// The call the response-side origin answers with a scanned body (any other gets
/// [`SMALL_RESULT`]).
const BIG_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fetch_page","arguments":{"url":"https://docs.example.com/"}}}"#;
const SMALL_RESULT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Issue 42: the deploy pipeline times out on the integration stage."}],"isError":false}}"#;
/// Varied requests sent between the cold and the warm figure.
const HISTORY_REQUESTS: u64 = 10_000;

/// A body-scanning filter and the side it scans.
#[derive(Clone, Copy)]
struct Scanner {
    filter: &'static str,
    response: bool,
}

const SCANNERS: [Scanner; 3] = [
    Scanner {
        filter: "prompt_guardrail",
        response: false,
    },
    Scanner {
        filter: "output_sanitizer",
        response: true,
    },
    Scanner {
        filter: "pii_scrubber",
        response: true,
    },
];

fn seconds() -> Duration {
    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

/// A tools/call whose argument is `text`.
fn request_of(text: String) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "store_log", "arguments": {"text": text}}})
    .to_string()
}

/// A tool result carrying `text`.
fn result_of(text: String) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": text}]}})
        .to_string()
}

/// `count` different texts of `n` bytes of JSON each, from the bench corpus.
fn texts(
    corpus: &Corpus,
    n: usize,
    count: u64,
    seed: u64,
    wrap: fn(String) -> String,
) -> Vec<String> {
    (0..count)
        .map(|i| {
            let overhead = wrap(String::new()).len();
            wrap(corpus.window(n.saturating_sub(overhead + n / 50), seed + i))
        })
        .collect()
}

/// The filter configured so that every byte is scanned and every body passes: a threshold
/// no text reaches (the corpus holds attacks, and a refusal would end the load run) and a
/// body limit above 1 MB.
fn with(filter: &str) -> EnvoyBuilder {
    let config = match filter {
        "pii_scrubber" => json!({"body": {"max_bytes": 4 << 20}}),
        _ => json!({"body": {"max_bytes": 4 << 20}, "detect": {"threshold": 100.0}}),
    };
    EnvoyBuilder::new().filter(WasmFilter::new(filter, config))
}

/// What one scanner is loaded with: request bodies to send (the measured ones and the
/// varied history), and the origin to send them to, which answers a response-side
/// scanner's calls with the scanned bodies in turn.
struct Workload {
    requests: Vec<String>,
    history: Vec<String>,
    origin: SocketAddr,
}

/// A call the response-side origin answers with one of `bodies` in turn.
fn rotating(bodies: Vec<String>) -> impl Fn() -> axum::body::Bytes + Send + Sync + 'static {
    let bodies: Vec<axum::body::Bytes> = bodies.into_iter().map(Into::into).collect();
    let next = AtomicUsize::new(0);
    move || bodies[next.fetch_add(1, Ordering::Relaxed) % bodies.len()].clone()
}

/// The workload of `scanner` for `bodies` (measured) and `history` (sent in between).
async fn workload(
    scanner: Scanner,
    bodies: Vec<String>,
    history: Vec<String>,
) -> Result<Workload, String> {
    let small = || axum::body::Bytes::from_static(SMALL_RESULT.as_bytes());
    if !scanner.response {
        return Ok(Workload {
            requests: bodies,
            history,
            origin: upstream(move |_| small()).await?,
        });
    }
    let (page, past) = (rotating(bodies), rotating(history));
    let origin = upstream(move |req: &[u8]| {
        let has = |name: &[u8]| req.windows(name.len()).any(|w| w == name);
        if has(b"fetch_page") {
            page()
        } else if has(b"fetch_history") {
            past()
        } else {
            small()
        }
    })
    .await?;
    Ok(Workload {
        requests: vec![BIG_CALL.to_string()],
        history: vec![BIG_CALL.replace("fetch_page", "fetch_history")],
        origin,
    })
}

/// Closed-loop throughput of `workload` through `envoy` (4 connections), after a warm-up.
fn throughput(url: &str, workload: &Workload, duration: Duration) -> Result<LoadResult, String> {
    let load = |duration| {
        let mut load =
            Load::post(url.to_string(), String::new(), duration).bodies(workload.requests.clone());
        load.connections = 4;
        load
    };
    load(Duration::from_secs(1)).run()?;
    load(duration).run()
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let corpus = Corpus::bench();
    // BENCH_FILTERS=a,b limits the run to those filters (while working on one of them).
    let only = std::env::var("BENCH_FILTERS").unwrap_or_default();
    for scanner in SCANNERS {
        if !only.is_empty() && !only.split(',').any(|f| f == scanner.filter) {
            continue;
        }
        if let Err(e) = rt.block_on(scanner_figures(&corpus, scanner)) {
            eprintln!("{}: {e}", scanner.filter);
        }
    }
    let small = rt.block_on(upstream(|_| {
        axum::body::Bytes::from_static(SMALL_RESULT.as_bytes())
    }))?;
    tools_call_p99(small)
}

/// Every figure of one scanner.
async fn scanner_figures(corpus: &Corpus, scanner: Scanner) -> Result<(), String> {
    let wrap = if scanner.response {
        result_of
    } else {
        request_of
    };
    let name = scanner.filter;
    let mut per_byte = Vec::new();
    for (label, size) in SIZES {
        // Whole rounds over the corpora: four 1 MB bodies had left out tool outputs and
        // attacks (the most costly to scan), so 1 MB looked cheaper per byte than 64 KB.
        let rounds = if size > 100_000 { 1 } else { 3 };
        let count = (rounds * corpus.corpora()) as u64;
        let bodies = texts(corpus, size, count, 0, wrap);
        let mean = bodies.iter().map(String::len).sum::<usize>() as f64 / bodies.len() as f64;
        let work = workload(scanner, bodies, history_texts(corpus, wrap)).await?;
        let mbps = |r: &LoadResult| r.rps * mean / 1e6;
        let anchor = format!("envoy_no_filter_{name}_{label}_mbps");
        let base = throughput(
            &start(EnvoyBuilder::new(), work.origin)?.url("/mcp"),
            &work,
            seconds(),
        )?;
        bench_line(&anchor, mbps(&base), "MB/s", None);
        let envoy = start(with(name), work.origin)?;
        let url = envoy.url("/mcp");
        let cold = throughput(&url, &work, seconds())?;
        bench_line(
            &format!("{name}_scan_{label}_mbps"),
            mbps(&cold),
            "MB/s",
            Some((&anchor, mbps(&base))),
        );
        per_byte.push(1.0 / mbps(&cold));
        if label == "64kb" {
            history(name, &url, &work)?;
            let warm = throughput(&url, &work, seconds())?;
            bench_line(
                &format!("{name}_scan_64kb_after_10k_mbps"),
                mbps(&warm),
                "MB/s",
                Some((&format!("{name}_scan_64kb_mbps"), mbps(&cold))),
            );
        }
        if label == "1mb" {
            drop(envoy);
            tiny_during_scan(name, &work).await?;
        }
    }
    if let [_, at_64kb, at_1mb] = per_byte[..] {
        bench_line(
            &format!("{name}_1mb_vs_64kb_cost_per_byte"),
            at_1mb / at_64kb,
            "x",
            None,
        );
    }
    ready_time(name)
}

/// Start Envoy with `builder`'s filters, forwarding to `origin`.
fn start(builder: EnvoyBuilder, origin: SocketAddr) -> Result<Envoy, String> {
    builder
        .upstream(origin)
        .start()
        .map_err(|e| format!("envoy did not start:\n{}", e.log))
}

/// Send [`HISTORY_REQUESTS`] varied requests through the VM behind `url`.
fn history(name: &str, url: &str, work: &Workload) -> Result<(), String> {
    let started = Instant::now();
    let mut load = Load::post(url.to_string(), String::new(), Duration::from_secs(300))
        .bodies(work.history.clone());
    load.connections = 4;
    load.run_requests(HISTORY_REQUESTS)?;
    eprintln!(
        "{name}: {HISTORY_REQUESTS} varied requests in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The varied history: 64 texts of 256 B to 16 KB from every corpus.
fn history_texts(corpus: &Corpus, wrap: fn(String) -> String) -> Vec<String> {
    let sizes = [256, 1 << 10, 4 << 10, 16 << 10];
    (0..64u64)
        .map(|i| wrap(corpus.window(sizes[(i % 4) as usize], 1000 + i)))
        .collect()
}

/// Latency of tiny requests (open-loop, 50 per second) on the same worker while 1 MB
/// bodies are scanned back to back, with and without the filter.
async fn tiny_during_scan(name: &str, work: &Workload) -> Result<(), String> {
    let mut figures = Vec::new();
    for builder in [EnvoyBuilder::new(), with(name)] {
        let envoy = start(builder, work.origin)?;
        let url = envoy.url("/mcp");
        let duration = seconds();
        let mut big = Load::post(
            url.clone(),
            String::new(),
            duration + Duration::from_secs(1),
        )
        .bodies(work.requests.clone());
        big.connections = 1;
        let background = std::thread::spawn(move || big.run());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let tiny = OpenLoop::post(url, vec![TOOL_CALL.to_string()], 50.0, duration);
        let result = tiny.run().await;
        let big = background
            .join()
            .map_err(|_| "load thread panicked".to_string())?;
        big?;
        figures.push(result?);
    }
    if let [base, ours] = figures[..] {
        bench_line(
            &format!("envoy_no_filter_{name}_tiny_during_1mb_p99_ms"),
            base.p99_ms,
            "ms",
            None,
        );
        bench_line(
            &format!("envoy_no_filter_{name}_tiny_during_1mb_max_ms"),
            base.max_ms,
            "ms",
            None,
        );
        bench_line(
            &format!("{name}_tiny_during_1mb_p99_ms"),
            ours.p99_ms,
            "ms",
            Some((
                &format!("envoy_no_filter_{name}_tiny_during_1mb_p99_ms"),
                base.p99_ms,
            )),
        );
        bench_line(
            &format!("{name}_tiny_during_1mb_max_ms"),
            ours.max_ms,
            "ms",
            Some((
                &format!("envoy_no_filter_{name}_tiny_during_1mb_max_ms"),
                base.max_ms,
            )),
        );
    }
    Ok(())
}

/// Time for Envoy to become ready with one and with two workers, with and without the
/// filter: the difference per worker is the VM start (module compile and plugin start).
fn ready_time(name: &str) -> Result<(), String> {
    let ms = |builder: EnvoyBuilder| -> Result<f64, String> {
        let started = Instant::now();
        let envoy = builder
            .start()
            .map_err(|e| format!("envoy did not start:\n{}", e.log))?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        drop(envoy);
        Ok(elapsed)
    };
    let base1 = ms(EnvoyBuilder::new())?;
    let base2 = ms(EnvoyBuilder::new().concurrency(2))?;
    let ours1 = ms(with(name))?;
    let ours2 = ms(with(name).concurrency(2))?;
    bench_line(
        &format!("envoy_no_filter_{name}_ready_ms"),
        base1,
        "ms",
        None,
    );
    bench_line(
        &format!("{name}_ready_ms"),
        ours1,
        "ms",
        Some((&format!("envoy_no_filter_{name}_ready_ms"), base1)),
    );
    bench_line(
        &format!("{name}_vm_start_per_worker_ms"),
        ((ours2 - base2) - (ours1 - base1)).max(0.0),
        "ms",
        None,
    );
    Ok(())
}

/// p99 of a typical tools/call through both detection filters against no filter.
fn tools_call_p99(small: SocketAddr) -> Result<(), String> {
    let p99 = |builder: EnvoyBuilder| -> Result<f64, String> {
        let envoy = start(builder, small)?;
        let url = envoy.url("/mcp");
        let mut warm = Load::post(url.clone(), TOOL_CALL.to_string(), Duration::from_secs(1));
        warm.connections = 4;
        warm.run()?;
        let mut load = Load::post(url, TOOL_CALL.to_string(), seconds());
        load.connections = 4;
        Ok(load.run()?.p99_ms)
    };
    let base = p99(EnvoyBuilder::new())?;
    bench_line("envoy_no_filter_tools_call_p99", base, "ms", None);
    let both = EnvoyBuilder::new()
        .filter(WasmFilter::new("prompt_guardrail", json!({})))
        .filter(WasmFilter::new("output_sanitizer", json!({})));
    let r = p99(both)?;
    bench_line(
        "guardrail_and_sanitizer_tools_call_p99",
        r,
        "ms",
        Some(("envoy_no_filter_tools_call_p99", base)),
    );
    Ok(())
}
