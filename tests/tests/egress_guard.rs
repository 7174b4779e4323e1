//! Egress guard (MCP-08) in real Envoy.
//!
//! Inbound (tool sidecar): the whole SSRF spelling corpus of `tests/eval/egress/ssrf.txt` is
//! refused with a JSON-RPC error and never reaches the tool; every allowed argument of
//! `allowed.txt` reaches it byte-identical (the native tests read the same files).
//! Outbound (sidecar outbound listener / egress gateway): a metadata authority, an
//! absolute-form request to it and a body carrying a secret are refused; malformed,
//! compressed and oversize bodies are refused; bad configuration stops Envoy naming the field.
//! Issue 15: every case of the parser-differential corpus (`differential.tsv`) is refused
//! before the tool (and the hosts real parsers dial, Python's `urlsplit` and curl through a
//! loopback proxy, are among the guard's readings); every honest call of `honest.jsonl`
//! reaches the tool byte-identical.

use meshguard_e2e::client::tool_call;
use meshguard_e2e::paths::workspace_root;
use meshguard_e2e::upstream::start_echo;
use meshguard_e2e::{Envoy, EnvoyBuilder, McpClient, McpUpstream, Reply, WasmFilter};
use serde_json::{json, Value};
use std::time::Duration;

const REASONS: [&str; 5] = [
    "ssrf_blocked",
    "host_not_allowed",
    "scheme_not_allowed",
    "invalid_url",
    "ambiguous_url",
];

fn eval_file(name: &str) -> String {
    let path = workspace_root().join("tests/eval/egress").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The policy the corpus is judged under (shared with the native tests).
fn corpus_config() -> Value {
    serde_json::from_str(&eval_file("config.json")).expect("config.json")
}

/// `(line, marked)` for every corpus line; `marked` when it starts with `marker`.
fn corpus(name: &str, marker: &str) -> Vec<(String, bool)> {
    eval_file(name)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix(marker) {
            Some(rest) => (rest.to_string(), true),
            None => (l.to_string(), false),
        })
        .collect()
}

fn guarded(config: Value, upstream: &McpUpstream) -> Envoy {
    EnvoyBuilder::new()
        .filter(WasmFilter::new("egress_guard", config))
        .upstream(upstream.addr)
        .start()
        .unwrap_or_else(|e| panic!("envoy did not start:\n{}", e.log))
}

fn upstream_requests(envoy: &Envoy) -> u64 {
    envoy.counter("cluster.upstream.upstream_rq_total")
}

fn stat(envoy: &Envoy, name: &str) -> u64 {
    envoy.counter(&format!("wasmcustom.meshguard.egress_guard.{name}"))
}

fn keyed(v: &str) -> Value {
    json!({"url": v})
}

fn texted(v: &str) -> Value {
    json!({"query": {"notes": [format!("please fetch {v} now")]}})
}

/// A refusal by the guard: HTTP 200 to an MCP client (readable denial), JSON-RPC error echoing the id, control MCP-08.
fn assert_refused(reply: &Reply, id: u64, what: &str) -> String {
    assert_eq!(reply.status, 200, "{what} passed: {}", reply.text());
    let v = reply.json();
    assert_eq!(v["jsonrpc"], "2.0", "{what}");
    assert_eq!(v["id"], id, "{what}");
    assert_eq!(v["error"]["code"], -32003, "{what}");
    assert_eq!(v["error"]["data"]["control"], "MCP-08", "{what}");
    assert_eq!(reply.header("x-meshguard-control"), Some("MCP-08"));
    let reason = v["error"]["data"]["reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        REASONS.contains(&reason.as_str()),
        "{what}: reason {reason}"
    );
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ssrf_spelling_is_refused_before_the_tool() {
    let upstream = start_echo().await;
    let envoy = guarded(corpus_config(), &upstream);
    let client = McpClient::new(envoy.url("/mcp"));
    let lines = corpus("ssrf.txt", "@keyed ");
    assert!(lines.len() >= 120, "corpus shrank: {}", lines.len());
    let mut id = 0;
    let mut ssrf = 0;
    for (line, keyed_only) in &lines {
        let mut shapes = vec![keyed(line)];
        if !keyed_only {
            shapes.push(texted(line));
        }
        for args in shapes {
            id += 1;
            let reply = client.post(&tool_call(id, "fetch_url", args)).await;
            let reason = assert_refused(&reply, id, line);
            ssrf += u64::from(reason == "ssrf_blocked");
            // The denial names the class, never the destination.
            let text = reply.text();
            assert!(
                !text.contains("169.254") && !text.contains("metadata.google"),
                "{text}"
            );
        }
    }
    assert_eq!(
        upstream_requests(&envoy),
        0,
        "a refused call reached the tool"
    );
    assert_eq!(stat(&envoy, "requests"), id);
    assert_eq!(stat(&envoy, "denied.ssrf_blocked"), ssrf);
    let by_reason: u64 = REASONS
        .iter()
        .map(|r| stat(&envoy, &format!("denied.{r}")))
        .sum();
    assert_eq!(by_reason, id);
    assert!(stat(&envoy, "blocked.metadata") >= 40);
    assert!(stat(&envoy, "blocked.loopback") >= 10);
    assert!(stat(&envoy, "denied.scheme_not_allowed") >= 10);
    assert!(stat(&envoy, "denied.host_not_allowed") >= 8);
    let log = envoy.log();
    assert!(log.contains("decision=deny control=MCP-08 reason=ssrf_blocked class=metadata"));
    assert!(
        log.contains("ip=169.254.169.254"),
        "audit line lacks the address"
    );
    println!("BENCH egress_corpus_refused={id} ssrf_blocked={ssrf}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_arguments_reach_the_tool_byte_identical() {
    let upstream = start_echo().await;
    let envoy = guarded(corpus_config(), &upstream);
    let client = McpClient::new(envoy.url("/mcp"));
    let mut sent = 0;
    for (line, text_only) in corpus("allowed.txt", "@text ") {
        let mut shapes = vec![texted(&line)];
        if !text_only {
            shapes.push(keyed(&line));
        }
        for args in shapes {
            sent += 1;
            let body = tool_call(sent, "fetch_url", args).to_string();
            let reply = client.post_raw(body.clone().into_bytes(), &[]).await;
            assert_eq!(reply.status, 200, "{line}: {}", reply.text());
            assert_eq!(
                reply.json()["body"].as_str(),
                Some(body.as_str()),
                "{line}: altered"
            );
        }
    }
    // Methods other than tools/call are not the guard's business.
    let list = json!({"jsonrpc": "2.0", "id": 999, "method": "tools/list"}).to_string();
    let reply = client.post_raw(list.clone().into_bytes(), &[]).await;
    assert_eq!(reply.json()["body"].as_str(), Some(list.as_str()));
    assert_eq!(upstream_requests(&envoy), sent + 1);
    assert_eq!(stat(&envoy, "passed"), sent + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_compressed_and_oversize_calls_are_refused() {
    let upstream = start_echo().await;
    let mut config = corpus_config();
    config["body"] = json!({"max_bytes": 2048});
    let envoy = guarded(config, &upstream);
    let client = McpClient::new(envoy.url("/mcp"));
    let reply = client.post_raw(b"{not json".to_vec(), &[]).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.denial_reason().as_deref(), Some("invalid_json"));
    let call = tool_call(1, "fetch_url", keyed("https://api.github.com/")).to_string();
    let reply = client
        .post_raw(call.into_bytes(), &[("content-encoding", "gzip")])
        .await;
    assert_eq!(reply.status, 415);
    assert_eq!(reply.denial_reason().as_deref(), Some("compressed_body"));
    // A metadata URL hidden past the limit in a chunked upload without content-length.
    let padded = tool_call(
        2,
        "fetch_url",
        json!({"pad": "x".repeat(4000), "url": "http://169.254.169.254/"}),
    );
    let reply = client
        .post_chunked(padded.to_string().into_bytes(), 256)
        .await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(upstream_requests(&envoy), 0);
}

fn outbound(extra: Value, upstream: &McpUpstream) -> Envoy {
    let mut config = corpus_config();
    config["mode"] = json!("outbound");
    for (k, v) in extra.as_object().into_iter().flatten() {
        config[k] = v.clone();
    }
    guarded(config, upstream)
}

/// One raw HTTP/1.1 request (absolute-form targets and Host headers exactly as written).
fn raw_request(envoy: &Envoy, request: &str) -> (u16, String) {
    meshguard_e2e::envoy::http_raw(envoy.listener("main"), request).expect("raw request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_refuses_metadata_authorities_and_passes_allowed_ones() {
    let upstream = start_echo().await;
    let envoy = outbound(json!({}), &upstream);
    let client = McpClient::new(envoy.url("/latest/meta-data/"));
    for host in [
        "169.254.169.254",
        "169.254.169.254:80",
        "0xa9fea9fe",
        "2852039166",
        "[::ffff:169.254.169.254]",
        "[fd00:ec2::254]",
        "metadata.google.internal",
        "100.100.100.200",
        "localhost:6379",
        "evil.example.net",
    ] {
        let reply = client.post_raw(b"{}".to_vec(), &[("host", host)]).await;
        assert_eq!(reply.status, 403, "{host}: {}", reply.text());
        assert_eq!(reply.json()["error"]["data"]["control"], "MCP-08", "{host}");
    }
    // Absolute-form: the target's authority is what Envoy routes on, whatever Host says.
    let (status, text) = raw_request(
        &envoy,
        "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("ssrf_blocked"), "{text}");
    assert_eq!(
        upstream_requests(&envoy),
        0,
        "a refused request left the mesh"
    );
    assert!(stat(&envoy, "blocked.metadata") >= 7);

    let reply = client
        .post_raw(br#"{"q":"status"}"#.to_vec(), &[("host", "api.github.com")])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["headers"]["host"], "api.github.com");
    assert_eq!(reply.json()["body"], r#"{"q":"status"}"#);
    let (status, text) = raw_request(
        &envoy,
        "GET http://raw.githubusercontent.com/org/repo/main/x HTTP/1.1\r\nHost: raw.githubusercontent.com\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(upstream_requests(&envoy), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_bodies_carrying_secrets_are_refused() {
    let upstream = start_echo().await;
    let envoy = outbound(json!({}), &upstream);
    let client = McpClient::new(envoy.url("/repos/org/repo/issues"));
    // The client always sends `content-type: application/json`.
    let json_ct = [("host", "api.github.com")];
    let leak = r#"{"title":"ci","body":"aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY key AKIAIOSFODNN7EXAMPLE"}"#;
    let reply = client.post_raw(leak.as_bytes().to_vec(), &json_ct).await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(reply.json()["error"]["data"]["control"], "MCP-04");
    assert_eq!(reply.denial_reason().as_deref(), Some("sensitive_data"));
    assert!(!reply.text().contains("AKIAIOSFODNN7EXAMPLE"));
    // The same secret as plain text, a binary body and a compressed one are refused too.
    let post = |ct: &str, body: &str| {
        format!(
            "POST /x HTTP/1.1\r\nHost: api.github.com\r\ncontent-type: {ct}\r\ncontent-length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let (status, reply) = raw_request(&envoy, &post("text/plain", "token AKIAIOSFODNN7EXAMPLE"));
    assert_eq!(status, 403, "{reply}");
    assert!(reply.contains("sensitive_data") && !reply.contains("AKIAIOSFODNN7EXAMPLE"));
    let (status, reply) = raw_request(&envoy, &post("application/octet-stream", "\u{0}\u{1}\u{2}"));
    assert_eq!(status, 415, "{reply}");
    assert!(reply.contains("binary_body"), "{reply}");
    let gz = [("host", "api.github.com"), ("content-encoding", "gzip")];
    let reply = client.post_raw(b"{}".to_vec(), &gz).await;
    assert_eq!(reply.status, 415);
    assert_eq!(reply.denial_reason().as_deref(), Some("compressed_body"));
    assert_eq!(upstream_requests(&envoy), 0);
    assert_eq!(stat(&envoy, "blocked.data_loss"), 2);
    // A clean body passes byte-identical.
    let clean = r#"{"title":"flaky test","body":"retry the job"}"#;
    let reply = client.post_raw(clean.as_bytes().to_vec(), &json_ct).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["body"], clean);
    assert_eq!(upstream_requests(&envoy), 1);
}

#[test]
fn bad_configuration_stops_envoy_naming_the_field() {
    let cases = [
        (
            json!({"allowed_hosts": ["api.github.com"]}),
            "missing field `mode`",
        ),
        (
            json!({"mode": "inbound", "allowed_hosts": ["api.github.com", "*.com"]}),
            "field `allowed_hosts[1]`",
        ),
        (
            json!({"mode": "inbound", "allow_private": ["10.0.0.1/8"]}),
            "field `allow_private[0]`",
        ),
        (
            json!({"mode": "outbound", "allowed_schemes": ["file"]}),
            "field `allowed_schemes[0]`",
        ),
        (json!({"mode": "both"}), "field `mode`"),
    ];
    for (config, expected) in cases {
        let err = match EnvoyBuilder::new()
            .filter(WasmFilter::new("egress_guard", config.clone()))
            .start()
        {
            Ok(_) => panic!("Envoy started with {config}"),
            Err(e) => e,
        };
        assert!(err.exited, "{config}: Envoy neither started nor exited");
        assert!(
            err.log.contains(expected),
            "{config}: log lacks `{expected}`:\n{}",
            err.log
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_configurations_refuse_metadata_and_pass_github() {
    use meshguard_e2e::egress::{deployed_config, INBOUND, OUTBOUND};
    let upstream = start_echo().await;
    let envoy = guarded(deployed_config(INBOUND), &upstream);
    let client = McpClient::new(envoy.url("/mcp"));
    let reply = client
        .post(&tool_call(
            1,
            "fetch_url",
            keyed("http://169.254.169.254/latest/meta-data/"),
        ))
        .await;
    assert_eq!(assert_refused(&reply, 1, "metadata"), "ssrf_blocked");
    let reply = client
        .post(&tool_call(
            2,
            "fetch_url",
            keyed("https://api.github.com/repos/org-thousandeyes/sre-api"),
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(upstream_requests(&envoy), 1);

    let upstream = start_echo().await;
    let envoy = guarded(deployed_config(OUTBOUND), &upstream);
    let client = McpClient::new(envoy.url("/latest/meta-data/"));
    let reply = client
        .post_raw(b"{}".to_vec(), &[("host", "169.254.169.254")])
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    let reply = client
        .post_raw(b"{}".to_vec(), &[("host", "api.github.com")])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(upstream_requests(&envoy), 1);
}

/// The host each real parser would dial must be one the guard reads, for every case of the
/// differential corpus that is a URL (or `host[:port][/path]`, read as `http://` + it).
fn real_parsers_are_modelled(cases: &[meshguard_e2e::egress::Case]) -> (usize, usize, usize) {
    use meshguard_core::egress_guard::read;
    use meshguard_e2e::egress::{curl_hosts, curl_missing, python_hosts};
    let encoded = ["data", "payload", "blob", "config"];
    let urls: Vec<(u8, String)> = cases
        .iter()
        .filter(|c| {
            c.place != "authority" && !(c.class == 5 && encoded.contains(&c.place.as_str()))
        })
        .filter(|c| !c.value.trim().contains(char::is_whitespace))
        .map(|c| {
            let v = c.value.trim();
            let url = if read::scheme_of(v).is_some_and(|s| {
                read::SPECIAL.contains(&s.to_ascii_lowercase().as_str())
                    || v[s.len() + 1..].starts_with("//")
            }) {
                v.to_string()
            } else {
                format!("http://{v}")
            };
            (c.class, url)
        })
        .collect();
    let list: Vec<String> = urls.iter().map(|u| u.1.clone()).collect();
    let python = python_hosts(&list);
    let curl = match curl_missing() {
        None => {
            let web: Vec<String> = list
                .iter()
                .map(|u| {
                    if u.starts_with("http") {
                        u.clone()
                    } else {
                        String::new()
                    }
                })
                .collect();
            curl_hosts(&web)
        }
        Some(why) if std::env::var_os("MESHGUARD_REQUIRE_TOOLS").is_some() => {
            panic!("{why} and MESHGUARD_REQUIRE_TOOLS is set")
        }
        Some(why) => {
            println!("SKIPPED curl readings: {why}");
            vec![None; list.len()]
        }
    };
    let mut unmodelled = Vec::new();
    let (mut asked, mut internal) = (0, 0);
    let curl_read = curl.iter().filter(|h| h.is_some()).count();
    for (i, (class, url)) in urls.iter().enumerate() {
        let guard = read::url_readings(url).hosts;
        for (parser, host) in [("python", &python[i]), ("curl", &curl[i])] {
            let Some(host) = host else { continue };
            asked += 1;
            let Some(dest) = read::dest(host) else {
                continue;
            };
            if let read::Dest::Ip(ip) = dest {
                internal += usize::from(
                    meshguard_core::egress_guard::classify::class_ip(ip)
                        != meshguard_core::egress_guard::Class::Public,
                );
            }
            if !guard.contains(&dest) {
                unmodelled.push(format!(
                    "class {class} {parser} dials {host} for {url}; guard reads {guard:?}"
                ));
            }
        }
    }
    assert!(
        unmodelled.is_empty(),
        "real parsers dial hosts the guard does not read:\n{}",
        unmodelled.join("\n")
    );
    (asked, internal, curl_read)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_parser_differential_case_is_refused_before_the_tool() {
    let cases = meshguard_e2e::egress::differential_cases();
    assert!(cases.len() >= 90, "corpus shrank: {}", cases.len());
    let (asked, internal, curl_read) = real_parsers_are_modelled(&cases);
    assert!(asked >= 60, "the real parsers read only {asked} hosts");
    if meshguard_e2e::egress::curl_missing().is_none() {
        assert!(
            curl_read >= 30,
            "curl asked its proxy for only {curl_read} hosts"
        );
    }

    let upstream = start_echo().await;
    let envoy = guarded(corpus_config(), &upstream);
    let client = McpClient::new(envoy.url("/mcp"));
    let out_upstream = start_echo().await;
    let out = outbound(json!({}), &out_upstream);
    let out_client = McpClient::new(out.url("/x"));
    let mut per_class = std::collections::BTreeMap::<u8, (u64, u64)>::new();
    let mut passed = Vec::new();
    let mut id = 0;
    for case in &cases {
        id += 1;
        let entry = per_class.entry(case.class).or_default();
        entry.0 += 1;
        let refused = if case.place == "authority" {
            let reply = out_client
                .post_raw(b"{}".to_vec(), &[("host", case.value.as_str())])
                .await;
            if reply.status == 403 {
                assert_eq!(reply.json()["error"]["data"]["control"], "MCP-08");
            }
            reply.status == 403
        } else {
            let body = meshguard_e2e::egress::differential_request(id, &case.place, &case.value);
            let reply = client.post(&body).await;
            // A readable policy denial (HTTP 200, the JSON-RPC error with the id).
            let refused = reply.header("x-meshguard-control") == Some("MCP-08");
            if refused {
                assert_refused(&reply, id, &case.value);
            }
            refused
        };
        if refused {
            entry.1 += 1;
        } else {
            passed.push(format!(
                "class {} {}: {}",
                case.class, case.place, case.value
            ));
        }
    }
    for (class, (n, refused)) in &per_class {
        println!("BENCH egress_differential_class{class} cases={n} refused={refused}");
    }
    println!(
        "BENCH egress_differential_real_parser_hosts={asked} internal={internal} curl={curl_read}"
    );
    assert!(passed.is_empty(), "passed:\n{}", passed.join("\n"));
    assert_eq!(
        upstream_requests(&envoy),
        0,
        "a dangerous call reached the tool"
    );
    assert_eq!(
        upstream_requests(&out),
        0,
        "a dangerous request left the mesh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_honest_call_reaches_the_tool_byte_identical() {
    let calls = meshguard_e2e::egress::honest_calls();
    assert!(calls.len() >= 500, "corpus shrank: {}", calls.len());
    let upstream = start_echo().await;
    let envoy = guarded(corpus_config(), &upstream);
    let client = McpClient::new(envoy.url("/mcp"));
    let mut refused = Vec::new();
    for (i, (tool, args)) in calls.iter().enumerate() {
        let body = tool_call(i as u64 + 1, tool, args.clone()).to_string();
        let reply = client.post_raw(body.clone().into_bytes(), &[]).await;
        if reply.status != 200 || reply.json()["body"].as_str() != Some(body.as_str()) {
            refused.push(format!("{tool} {args}: {} {}", reply.status, reply.text()));
        }
    }
    println!(
        "BENCH egress_honest_calls={} refused={}",
        calls.len(),
        refused.len()
    );
    assert!(
        refused.is_empty(),
        "refused or altered:\n{}",
        refused.join("\n")
    );
    assert_eq!(upstream_requests(&envoy), calls.len() as u64);
}

/// Throughput of the inbound check on loopback (wrk; `--ignored`, prints BENCH lines).
#[test]
#[ignore = "load measurement, run with --ignored"]
fn bench_inbound_tools_call() {
    use meshguard_e2e::load::{bench_line, Load};
    let body = tool_call(
        1,
        "fetch_url",
        json!({"url": "https://api.github.com/repos/org-thousandeyes/sre-api/issues/42",
               "note": "compare with 1.2.3 and see README.md"}),
    )
    .to_string();
    let run = |builder: EnvoyBuilder| {
        let envoy = builder
            .direct_response(200, "application/json", "{}")
            .start()
            .unwrap_or_else(|e| panic!("envoy did not start:\n{}", e.log));
        let load = Load::post(envoy.url("/mcp"), body.clone(), Duration::from_secs(5));
        load.run().expect("wrk")
    };
    let base = run(EnvoyBuilder::new());
    let guarded = run(EnvoyBuilder::new().filter(WasmFilter::new(
        "egress_guard",
        meshguard_e2e::egress::deployed_config(meshguard_e2e::egress::INBOUND),
    )));
    bench_line("envoy_no_filter", base.rps, "req/s", None);
    bench_line(
        "egress_guard_inbound",
        guarded.rps,
        "req/s",
        Some(("envoy_no_filter", base.rps)),
    );
    println!("BENCH egress_guard_inbound_p99_ms {:.2}", guarded.p99_ms);
}
