//! Load generation on loopback and the `BENCH` line format `make bench` prints: closed-loop
//! throughput with `wrk` ([`Load`]), latency at a fixed request rate with an open-loop
//! generator ([`OpenLoop`]), and the real text the bench bodies are made of ([`Corpus`]).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One closed-loop run's figures.
#[derive(Debug, Clone, Copy)]
pub struct LoadResult {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// How to load an endpoint.
#[derive(Debug, Clone)]
pub struct Load {
    pub url: String,
    pub body: String,
    /// When not empty, requests carry these bodies in turn instead of `body`.
    pub bodies: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub connections: u32,
    pub duration: Duration,
    /// Exit after this many answers, when set ([`Load::run_requests`]).
    pub max_requests: Option<u64>,
}

impl Load {
    /// POST `body` as JSON-RPC to `url` with 8 connections for `duration`.
    pub fn post(url: String, body: String, duration: Duration) -> Self {
        Self {
            url,
            body,
            bodies: Vec::new(),
            headers: Vec::new(),
            connections: 8,
            duration,
            max_requests: None,
        }
    }

    /// Add a request header (e.g. `authorization`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Send `bodies` in turn (one after another, round and round) instead of one body.
    pub fn bodies(mut self, bodies: Vec<String>) -> Self {
        self.bodies = bodies;
        self
    }

    /// Run wrk (one thread: Envoy gets the other core) and parse its report.
    pub fn run(&self) -> Result<LoadResult, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let script = dir.path().join("post.lua");
        std::fs::write(&script, self.lua()).map_err(|e| e.to_string())?;
        let out = Command::new("wrk")
            .args(["-t1", &format!("-c{}", self.connections)])
            .arg(format!("-d{}s", self.duration.as_secs().max(1)))
            .args(["--latency", "-s"])
            .arg(&script)
            .arg(&self.url)
            .output()
            .map_err(|e| format!("wrk not runnable ({e}): apt-get install wrk"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let errors = String::from_utf8_lossy(&out.stderr);
        parse_wrk(&text).ok_or_else(|| format!("unexpected wrk output:\n{text}{errors}"))
    }

    /// Send `count` requests (then wrk exits; `duration` bounds the run), for what they
    /// leave behind rather than for figures.
    pub fn run_requests(&self, count: u64) -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let script = dir.path().join("count.lua");
        let counted = Self {
            max_requests: Some(count),
            ..self.clone()
        };
        std::fs::write(&script, counted.lua()).map_err(|e| e.to_string())?;
        let out = Command::new("wrk")
            .args(["-t1", &format!("-c{}", self.connections)])
            .arg(format!("-d{}s", self.duration.as_secs().max(1)))
            .arg("-s")
            .arg(&script)
            .arg(&self.url)
            .output()
            .map_err(|e| format!("wrk not runnable ({e}): apt-get install wrk"))?;
        // Exit 0 before the duration's report: the count was reached.
        let report = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && !report.contains("Requests/sec:") {
            Ok(())
        } else {
            Err(format!(
                "{count} requests not answered within {:?} ({}):\n{report}{}",
                self.duration,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn lua(&self) -> String {
        let mut lua = String::from("wrk.method = \"POST\"\n");
        lua.push_str(&format!("wrk.body = {}\n", lua_string(&self.body)));
        lua.push_str("wrk.headers[\"content-type\"] = \"application/json\"\n");
        lua.push_str("wrk.headers[\"accept\"] = \"application/json, text/event-stream\"\n");
        for (k, v) in &self.headers {
            lua.push_str(&format!(
                "wrk.headers[{}] = {}\n",
                lua_string(k),
                lua_string(v)
            ));
        }
        if !self.bodies.is_empty() {
            lua.push_str("local bodies = {\n");
            for b in &self.bodies {
                lua.push_str(&format!("  {},\n", lua_string(b)));
            }
            lua.push_str("}\nlocal next_body = 0\nfunction request()\n  next_body = next_body % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[next_body])\nend\n");
        }
        // Any non-2xx answer means the scenario is not measuring what it claims to.
        lua.push_str("local answers = 0\nfunction response(status, headers, body)\n  if status ~= 200 then\n    io.stderr:write(\"status \" .. status .. \"\\n\")\n    os.exit(3)\n  end\n  answers = answers + 1\n");
        // wrk has no request count (`wrk.thread:stop()` ends the thread, not the run).
        if let Some(max) = self.max_requests {
            lua.push_str(&format!(
                "  if answers >= {max} then\n    os.exit(0)\n  end\n"
            ));
        }
        lua.push_str("end\n");
        lua
    }
}

fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            // Lua's decimal escape, three digits so a following digit is not taken in.
            c if c.is_ascii_control() => out.push_str(&format!("\\{:03}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parse "Requests/sec:" and the 50% and 99% latency lines of `wrk --latency`.
fn parse_wrk(text: &str) -> Option<LoadResult> {
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let latency = |pct: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(pct))
            .and_then(|v| parse_duration_ms(v.trim()))
    };
    Some(LoadResult {
        rps,
        p50_ms: latency("50%")?,
        p99_ms: latency("99%")?,
    })
}

fn parse_duration_ms(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let value: f64 = s[..split].parse().ok()?;
    match &s[split..] {
        "us" => Some(value / 1000.0),
        "ms" => Some(value),
        "s" => Some(value * 1000.0),
        "m" => Some(value * 60_000.0),
        _ => None,
    }
}

/// Print one `BENCH` line; `vs` is the anchor measured in the same run, if any.
pub fn bench_line(name: &str, value: f64, unit: &str, vs: Option<(&str, f64)>) {
    let mut line = format!("BENCH name={name} value={value:.3} unit={unit}");
    if let Some((anchor, anchor_value)) = vs {
        if anchor_value > 0.0 {
            line.push_str(&format!(" ratio={:.3} vs={anchor}", value / anchor_value));
        }
    }
    println!("{line}");
}

/// Latency at a fixed request rate, measured open-loop: request `i` is due at
/// `start + i / rate` whatever happened to earlier ones (a slow answer does not delay the next
/// send, as it would in a closed loop, where queueing hides from the percentiles), and its
/// latency counts from that scheduled time to the end of its answer, so a request that had
/// to wait for a free connection or for a late sender shows the wait.
#[derive(Debug, Clone)]
pub struct OpenLoop {
    pub url: String,
    /// Request bodies, sent in turn.
    pub bodies: Vec<String>,
    pub headers: Vec<(String, String)>,
    /// Requests per second.
    pub rate: f64,
    pub duration: Duration,
    /// Requests in flight at most (connections); later ones wait, and their wait counts.
    pub max_in_flight: usize,
}

/// One open-loop run's figures.
#[derive(Debug, Clone, Copy)]
pub struct OpenLoopResult {
    /// Requests answered (all with 200: any other status fails the run).
    pub sent: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// When request `i` is due, counted from the start of a run at `rate` requests per second.
/// Computed from `i` (never accumulated), so rounding does not drift the schedule.
pub fn send_offset(rate: f64, i: usize) -> Duration {
    Duration::from_secs_f64(i as f64 / rate)
}

/// How many requests a run of `duration` at `rate` sends.
pub fn schedule_len(rate: f64, duration: Duration) -> usize {
    (rate * duration.as_secs_f64()).round().max(0.0) as usize
}

/// The `q` quantile (0 < q <= 1) of ascending `sorted` by nearest rank; 0 when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl OpenLoop {
    /// POST `bodies` in turn to `url` at `rate` requests per second for `duration`.
    pub fn post(url: String, bodies: Vec<String>, rate: f64, duration: Duration) -> Self {
        Self {
            url,
            bodies,
            headers: Vec::new(),
            rate,
            duration,
            max_in_flight: 64,
        }
    }

    /// Add a request header (e.g. `authorization`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Run the schedule on the current tokio runtime. A dedicated thread keeps the time
    /// (thread sleeps are precise to tens of microseconds, tokio timers to a millisecond)
    /// and hands each request to the runtime when it is due.
    pub async fn run(&self) -> Result<OpenLoopResult, String> {
        if self.bodies.is_empty() || self.rate <= 0.0 {
            return Err("open loop: no bodies or no rate".into());
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(self.max_in_flight)
            .build()
            .map_err(|e| e.to_string())?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(self.headers.iter().cloned())
        {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| format!("header {k}: {e}"))?;
            let value = reqwest::header::HeaderValue::from_str(&v)
                .map_err(|e| format!("header {k}: {e}"))?;
            headers.insert(name, value);
        }
        // Shared bytes: a request's body is a reference count, not a copy.
        let bodies: Arc<Vec<axum::body::Bytes>> = Arc::new(
            self.bodies
                .iter()
                .map(|b| axum::body::Bytes::from(b.clone().into_bytes()))
                .collect(),
        );
        let n = schedule_len(self.rate, self.duration);
        let permits = Arc::new(tokio::sync::Semaphore::new(self.max_in_flight.max(1)));
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        let runtime = tokio::runtime::Handle::current();
        let rate = self.rate;
        let url = self.url.clone();
        // Give the sender a moment to start before the first request is due.
        let start = Instant::now() + Duration::from_millis(20);
        let sender = std::thread::spawn(move || {
            for i in 0..n {
                let due = start + send_offset(rate, i);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let (client, headers, url, done) = (
                    client.clone(),
                    headers.clone(),
                    url.clone(),
                    done_tx.clone(),
                );
                let body = bodies[i % bodies.len()].clone();
                let permits = permits.clone();
                runtime.spawn(async move {
                    let outcome = async {
                        let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
                        let reply = client
                            .post(url)
                            .headers(headers)
                            .body(body)
                            .send()
                            .await
                            .map_err(|e| e.to_string())?;
                        let status = reply.status().as_u16();
                        let text = reply.bytes().await.map_err(|e| e.to_string())?;
                        match status {
                            200 => Ok(due.elapsed()),
                            s => Err(format!(
                                "status {s}: {}",
                                String::from_utf8_lossy(&text[..text.len().min(300)])
                            )),
                        }
                    }
                    .await;
                    let _ = done.send(outcome);
                });
            }
        });
        let mut latencies = Vec::with_capacity(n);
        for _ in 0..n {
            match done_rx.recv().await {
                Some(Ok(latency)) => latencies.push(latency.as_secs_f64() * 1000.0),
                Some(Err(e)) => return Err(format!("open loop: a request failed: {e}")),
                None => break,
            }
        }
        sender
            .join()
            .map_err(|_| "open loop: the sender thread panicked".to_string())?;
        latencies.sort_by(f64::total_cmp);
        Ok(OpenLoopResult {
            sent: latencies.len(),
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
            max_ms: latencies.last().copied().unwrap_or(0.0),
        })
    }
}

/// A loopback HTTP/1.1 server (the origin behind the Envoy under test) answering every
/// request with `reply(request body)` as JSON, with a content-length (a streamed body would
/// measure Nagle, not the filter). It reads each request body whole before answering, and
/// the bench never uses Envoy's `direct_response` as the origin: an answer sent before the
/// request body is read leaves the connection unusable, so Envoy closes it and every request
/// pays a new connection (and handshake), except behind a filter that holds the body, which
/// made such a no-filter anchor slower than the filters measured against it.
pub async fn upstream<F>(reply: F) -> Result<std::net::SocketAddr, String>
where
    F: Fn(&[u8]) -> axum::body::Bytes + Send + Sync + 'static,
{
    let reply = Arc::new(reply);
    let handler = move |body: axum::body::Bytes| {
        let reply = reply.clone();
        async move { ([("content-type", "application/json")], reply(&body)) }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().fallback(handler)).await;
    });
    Ok(addr)
}

/// [`upstream`] answering every request with `body`.
pub async fn fixed_upstream(
    body: impl Into<axum::body::Bytes>,
) -> Result<std::net::SocketAddr, String> {
    let body = body.into();
    upstream(move |_| body.clone()).await
}

/// Real text for bench bodies: the honest evaluation corpora (public library docs, chat and
/// agent prompts, PII-bearing records, written samples), so scanners see the mix users
/// deploy, not one repeated line.
pub struct Corpus {
    texts: Vec<String>,
}

impl Corpus {
    /// The honest corpora under `tests/eval/`, each sample's text joined by blank lines.
    pub fn load() -> Self {
        Self::of(&[
            "guardrail/honest_public.jsonl",
            "guardrail/honest_prompts.jsonl",
            "scrubber/corpus.jsonl",
            "guardrail/honest.jsonl",
        ])
    }

    /// What the scanning bench sends: the honest corpora plus tool outputs (clean and
    /// injected) and attacks, since scanners meet both and attacks cost more to scan.
    pub fn bench() -> Self {
        Self::of(&[
            "guardrail/honest_public.jsonl",
            "guardrail/honest_prompts.jsonl",
            "scrubber/corpus.jsonl",
            "guardrail/honest.jsonl",
            "guardrail/tool_outputs.jsonl",
            "guardrail/attacks.jsonl",
        ])
    }

    /// The given corpora (paths under `tests/eval/`).
    fn of(corpora: &[&str]) -> Self {
        let texts = corpora
            .iter()
            .map(|path| {
                let full = format!("{}/eval/{path}", env!("CARGO_MANIFEST_DIR"));
                let raw = std::fs::read_to_string(&full).unwrap_or_default();
                raw.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter_map(|v| v["text"].as_str().map(str::to_string))
                    .collect::<Vec<_>>()
                    .join("\n\n")
            })
            .filter(|t| !t.is_empty())
            .collect();
        Self { texts }
    }

    /// How many corpora this holds: [`Corpus::window`] seeds taken in runs of this length
    /// visit each once, so bodies of every size carry the same mix.
    pub fn corpora(&self) -> usize {
        self.texts.len()
    }

    /// About `n` bytes mixing every corpus: 4 KiB slices taken from each in turn.
    pub fn mixed(&self, n: usize) -> String {
        let mut out = String::with_capacity(n + 8);
        let mut offsets = vec![0usize; self.texts.len()];
        'fill: while out.len() < n && !self.texts.is_empty() {
            for (t, off) in self.texts.iter().zip(offsets.iter_mut()) {
                if *off >= t.len() {
                    *off = 0;
                }
                let end = ceil_char(t, (*off + 4096).min(t.len()));
                out.push_str(&t[*off..end]);
                *off = end;
                if out.len() >= n {
                    break 'fill;
                }
            }
        }
        truncate_chars(out, n)
    }

    /// About `n` bytes of one corpus from a place `seed` picks (corpus `seed % count`, offset
    /// from a hash of `seed`): varied bodies, each as a single source wrote it.
    pub fn window(&self, n: usize, seed: u64) -> String {
        if self.texts.is_empty() {
            return String::new();
        }
        let t = &self.texts[(seed % self.texts.len() as u64) as usize];
        // splitmix64: neighbouring seeds land far apart.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let start = ceil_char(t, (z % t.len() as u64) as usize);
        let mut out = String::with_capacity(n + 8);
        let mut off = start;
        while out.len() < n {
            if off >= t.len() {
                off = 0;
            }
            let end = ceil_char(t, (off + n - out.len()).min(t.len()));
            out.push_str(&t[off..end]);
            off = end;
        }
        truncate_chars(out, n)
    }
}

/// The first char boundary of `t` at or after `i`.
fn ceil_char(t: &str, mut i: usize) -> usize {
    while !t.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// `s` cut to at most `n` bytes on a char boundary.
fn truncate_chars(mut s: String, n: usize) -> String {
    let mut cut = n.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s
}

/// About `n` bytes of an honest service log (what a log-search tool returns).
pub fn service_log(n: usize) -> String {
    let paths = [
        "/api/v1/items",
        "/healthz",
        "/api/v1/orders",
        "/static/app.js",
    ];
    let mut out = String::with_capacity(n + 200);
    let mut i = 0u64;
    while out.len() < n {
        let ms = (i * 37) % 900 + 3;
        let path = paths[(i % 4) as usize];
        out.push_str(&format!(
            "2026-12-03T10:{:02}:{:02}.{:03}Z INFO http request id={i} method=GET path={path}/{} status=200 duration_ms={ms} bytes={}\n",
            (i / 60) % 60,
            i % 60,
            i % 1000,
            i % 97,
            (i * 131) % 65536
        ));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_report() {
        let report = "Running 5s test @ http://127.0.0.1:1/\n  1 threads and 8 connections\n  Latency Distribution\n     50%  310.00us\n     75%  400.00us\n     90%  1.20ms\n     99%    2.50ms\n  100 requests in 5.00s\nRequests/sec:  12345.67\nTransfer/sec:      1.00MB\n";
        let r = parse_wrk(report).unwrap();
        assert_eq!(r.rps, 12345.67);
        assert_eq!(r.p50_ms, 0.31);
        assert_eq!(r.p99_ms, 2.5);
        assert_eq!(parse_duration_ms("310.00us"), Some(0.31));
        assert_eq!(parse_duration_ms("1.5s"), Some(1500.0));
    }

    #[test]
    fn lua_strings_are_escaped() {
        assert_eq!(lua_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }

    #[test]
    fn control_characters_become_decimal_escapes() {
        assert_eq!(lua_string("a\r\u{1}9"), "\"a\\013\\0019\"");
    }

    #[test]
    fn bodies_rotate_through_a_request_function() {
        let lua = Load::post("http://x/".into(), String::new(), Duration::from_secs(1))
            .bodies(vec!["one".into(), "two".into()])
            .lua();
        assert!(
            lua.contains("local bodies = {\n  \"one\",\n  \"two\",\n}"),
            "{lua}"
        );
        assert!(lua.contains("function request()"), "{lua}");
    }

    #[test]
    fn schedule_is_fixed_and_does_not_drift() {
        assert_eq!(send_offset(500.0, 0), Duration::ZERO);
        assert_eq!(send_offset(500.0, 1), Duration::from_millis(2));
        // Accumulating 1/3 s steps would drift; the offset of i is i / rate exactly.
        assert_eq!(send_offset(3.0, 300_000), Duration::from_secs(100_000));
        assert_eq!(schedule_len(500.0, Duration::from_secs(3)), 1500);
        assert_eq!(schedule_len(500.0, Duration::from_millis(2500)), 1250);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn corpus_windows_are_varied_real_text_of_the_asked_size() {
        let corpus = Corpus::load();
        let a = corpus.window(2000, 1);
        let b = corpus.window(2000, 5);
        assert!(a.len() <= 2000 && a.len() >= 1990, "{}", a.len());
        assert_ne!(a, b);
        assert_eq!(a, corpus.window(2000, 1), "a seed names one window");
        let m = corpus.mixed(10_000);
        assert!(m.len() <= 10_000 && m.len() >= 9_990);
    }

    /// The open loop keeps sending on schedule while an answer is slow, and counts latency
    /// from the scheduled time: with one connection and a 150 ms stall on the first request,
    /// the ~30 requests due meanwhile all wait, and the p99 shows it. A closed loop (or a
    /// latency counted from the actual send) would report one slow request and a fast p99.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_latency_includes_queueing() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let seen = Arc::new(AtomicUsize::new(0));
        let handler = move || {
            let seen = seen.clone();
            async move {
                if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                "ok"
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, axum::Router::new().fallback(handler)).await;
        });
        let mut load = OpenLoop::post(
            format!("http://{addr}/"),
            vec!["{}".into()],
            200.0,
            Duration::from_millis(500),
        );
        load.max_in_flight = 1;
        let r = load.run().await.unwrap();
        assert_eq!(r.sent, 100);
        assert!(r.p99_ms >= 100.0, "queueing hidden: {r:?}");
        assert!(r.max_ms >= 150.0, "{r:?}");
        assert!(r.p50_ms < 100.0, "{r:?}");
    }
}
