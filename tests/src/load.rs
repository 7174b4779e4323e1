//! Load generation with `wrk` on loopback and the `BENCH` line format `make bench` prints.

use std::process::Command;
use std::time::Duration;

/// One load run's figures.
#[derive(Debug, Clone, Copy)]
pub struct LoadResult {
    pub rps: f64,
    pub p99_ms: f64,
}

/// How to load an endpoint.
#[derive(Debug, Clone)]
pub struct Load {
    pub url: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub connections: u32,
    pub duration: Duration,
}

impl Load {
    /// POST `body` as JSON-RPC to `url` with 8 connections for `duration`.
    pub fn post(url: String, body: String, duration: Duration) -> Self {
        Self {
            url,
            body,
            headers: Vec::new(),
            connections: 8,
            duration,
        }
    }

    /// Add a request header (e.g. `authorization`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
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
        // Any non-2xx answer means the scenario is not measuring what it claims to.
        lua.push_str("function response(status, headers, body)\n  if status ~= 200 then\n    io.stderr:write(\"status \" .. status .. \"\\n\")\n    os.exit(3)\n  end\nend\n");
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
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parse "Requests/sec:" and the 99% latency line of `wrk --latency`.
fn parse_wrk(text: &str) -> Option<LoadResult> {
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))?
        .trim();
    Some(LoadResult {
        rps,
        p99_ms: parse_duration_ms(p99)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_report() {
        let report = "Running 5s test @ http://127.0.0.1:1/\n  1 threads and 8 connections\n  Latency Distribution\n     50%  310.00us\n     75%  400.00us\n     90%  1.20ms\n     99%    2.50ms\n  100 requests in 5.00s\nRequests/sec:  12345.67\nTransfer/sec:      1.00MB\n";
        let r = parse_wrk(report).unwrap();
        assert_eq!(r.rps, 12345.67);
        assert_eq!(r.p99_ms, 2.5);
        assert_eq!(parse_duration_ms("310.00us"), Some(0.31));
        assert_eq!(parse_duration_ms("1.5s"), Some(1500.0));
    }

    #[test]
    fn lua_strings_are_escaped() {
        assert_eq!(lua_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }
}
