//! The egress guard's deployed configurations, read from `istio/mesh/filters/egress-guard.yaml`
//! (one source of truth). The module is configured twice there (inbound and outbound on the
//! same tool sidecars), so an instance is picked by its manifest name, not by filter alone.
//! Also the corpora of `tests/eval/egress/` (parser-differential and honest) and the real
//! parsers the differential test asks (Python's `urlsplit`, curl through a loopback proxy).

use crate::manifests::{base_documents, plugin_instances};
use serde_json::{json, Value};

/// Manifest of the inbound instance (tool arguments at the tool sidecar).
pub const INBOUND: &str = "meshguard-egress-guard-inbound";
/// Manifest of the outbound instance (the tool's own requests).
pub const OUTBOUND: &str = "meshguard-egress-guard-outbound";

/// The pluginConfig of the egress-guard instance configured by manifest `name`.
pub fn deployed_config(name: &str) -> Value {
    let instances = plugin_instances(&base_documents().unwrap_or_else(|e| panic!("istio/: {e}")))
        .unwrap_or_else(|e| panic!("istio/: {e}"));
    instances
        .into_iter()
        .find(|i| i.filter == "egress_guard" && i.name == name)
        .map(|i| i.config)
        .unwrap_or_else(|| panic!("no egress_guard instance named {name} in istio/"))
}

/// One case of `tests/eval/egress/differential.tsv`: `(class, where, value)`.
#[derive(Debug, Clone)]
pub struct Case {
    pub class: u8,
    pub place: String,
    pub value: String,
}

/// The parser-differential SSRF corpus.
pub fn differential_cases() -> Vec<Case> {
    let path = crate::paths::workspace_root().join("tests/eval/egress/differential.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let class = f.next().and_then(|c| c.parse().ok());
            match (class, f.next(), f.next()) {
                (Some(class), Some(place), Some(value)) => Case {
                    class,
                    place: place.to_string(),
                    value: value.to_string(),
                },
                _ => panic!("differential.tsv: bad line {l:?}"),
            }
        })
        .collect()
}

/// The JSON-RPC request a case is sent as (the native tests build the same shapes).
pub fn differential_request(id: u64, place: &str, value: &str) -> Value {
    match place {
        "resources/read" => json!({"jsonrpc":"2.0","id":id,"method":"resources/read",
                                   "params":{"uri": value}}),
        "prompts/get" => json!({"jsonrpc":"2.0","id":id,"method":"prompts/get",
                                "params":{"name":"summarise","arguments":{"topic": value}}}),
        "_meta" => json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
                          "params":{"name":"create_issue","arguments":{"title":"x"},
                                    "_meta":{"callback": value}}}),
        key => json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
                      "params":{"name":"create_issue","arguments":{key: value}}}),
    }
}

/// The honest corpus: `(tool, arguments)` of each line of `honest.jsonl`.
pub fn honest_calls() -> Vec<(String, Value)> {
    let path = crate::paths::workspace_root().join("tests/eval/egress/honest.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            let tool = v["tool"].as_str().unwrap_or_default().to_string();
            (tool, v["arguments"].clone())
        })
        .collect()
}

/// The host Python's `urllib.parse.urlsplit` gives for each URL (`None`: no host, or it
/// raises). One `python3` process for all of them.
pub fn python_hosts(urls: &[String]) -> Vec<Option<String>> {
    const SCRIPT: &str = r#"
import json, sys
from urllib.parse import urlsplit
out = []
for u in json.load(sys.stdin):
    try:
        out.append(urlsplit(u).hostname)
    except ValueError:
        out.append(None)
print(json.dumps(out))
"#;
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let input = serde_json::to_vec(urls).expect("json");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write to python3");
    let out = child.wait_with_output().expect("python3");
    assert!(out.status.success(), "python3 failed");
    serde_json::from_slice(&out.stdout).expect("python3 output")
}

/// Whether curl is installed (`None`), or why not.
pub fn curl_missing() -> Option<String> {
    match std::process::Command::new("curl").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("curl is not installed".into()),
    }
}

/// The host curl asks its proxy for, for each `http`/`https` URL (`None`: curl refused the
/// URL). curl runs with `--proxy` pointed at a loopback listener that records the request
/// line (`GET http://host/... ` or `CONNECT host:443`) and answers 502, so it never
/// connects anywhere else.
pub fn curl_hosts(urls: &[String]) -> Vec<Option<String>> {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::mpsc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(s.try_clone().expect("clone"));
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line.trim_end().to_string());
            let _ = s.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    urls.iter()
        .map(|u| {
            while rx.try_recv().is_ok() {}
            let status = std::process::Command::new("curl")
                .args(["-sS", "-g", "-o", "/dev/null", "--max-time", "5"])
                .args(["--proto", "=http,https", "--proto-redir", "-all"])
                .args(["--proxy", &format!("http://127.0.0.1:{port}")])
                .arg(u)
                .env_remove("http_proxy")
                .env_remove("https_proxy")
                .env_remove("HTTPS_PROXY")
                .env_remove("ALL_PROXY")
                .env_remove("all_proxy")
                .env_remove("NO_PROXY")
                .env_remove("no_proxy")
                .stderr(std::process::Stdio::null())
                .status();
            status.ok()?;
            let line = rx
                .recv_timeout(std::time::Duration::from_millis(500))
                .ok()?;
            request_line_host(&line)
        })
        .collect()
}

/// The host of a proxy request line: `GET http://host:port/path HTTP/1.1` or
/// `CONNECT host:port HTTP/1.1`.
fn request_line_host(line: &str) -> Option<String> {
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let authority = if method == "CONNECT" {
        target
    } else {
        let rest = target.split_once("://")?.1;
        &rest[..rest.find('/').unwrap_or(rest.len())]
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.starts_with('[') {
        return authority.find(']').map(|i| authority[..=i].to_string());
    }
    Some(
        authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .to_string(),
    )
}
