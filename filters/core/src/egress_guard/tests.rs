use super::*;
use crate::config::parse;
use crate::pii_scrubber::Verdict;

const CONFIG: &str = include_str!("../../../../tests/eval/egress/config.json");
const SSRF: &str = include_str!("../../../../tests/eval/egress/ssrf.txt");
const ALLOWED: &str = include_str!("../../../../tests/eval/egress/allowed.txt");

fn guard() -> Guard {
    Guard::new(parse::<Config>(CONFIG.as_bytes()).unwrap()).unwrap()
}

fn guard_with(extra: Value) -> Guard {
    let mut v: Value = serde_json::from_str(CONFIG).unwrap();
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    Guard::new(parse::<Config>(v.to_string().as_bytes()).unwrap()).unwrap()
}

/// `(line, only_in_one_context)` for every corpus line with the given marker.
fn corpus<'a>(text: &'a str, marker: &str) -> Vec<(&'a str, bool)> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix(marker) {
            Some(rest) => (rest, true),
            None => (l, false),
        })
        .collect()
}

fn call(args: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
           "params": {"name": "fetch_url", "arguments": args}})
    .to_string()
    .into_bytes()
}

fn blocked(g: &Guard, args: Value) -> Option<Blocked> {
    match g.inspect(&call(args)) {
        Decision::Block(b) => Some(b),
        Decision::Pass(_) => None,
        Decision::Refuse(d) => panic!("refused as malformed: {d:?}"),
    }
}

fn keyed(v: &str) -> Value {
    json!({"url": v})
}

fn texted(v: &str) -> Value {
    json!({"query": {"notes": [format!("please fetch {v} now")]}})
}

#[test]
fn every_ssrf_spelling_is_refused() {
    let g = guard();
    let lines = corpus(SSRF, "@keyed ");
    assert!(lines.len() >= 120, "corpus shrank: {}", lines.len());
    let mut missed = Vec::new();
    for (line, keyed_only) in &lines {
        if blocked(&g, keyed(line)).is_none() {
            missed.push(format!("keyed: {line}"));
        }
        if !keyed_only && blocked(&g, texted(line)).is_none() {
            missed.push(format!("text: {line}"));
        }
    }
    assert!(missed.is_empty(), "passed:\n{}", missed.join("\n"));
}

#[test]
fn every_allowed_argument_passes() {
    let g = guard();
    let mut refused = Vec::new();
    for (line, text_only) in corpus(ALLOWED, "@text ") {
        if !text_only {
            if let Some(b) = blocked(&g, keyed(line)) {
                refused.push(format!("keyed: {line}: {:?}", b.refusal));
            }
        }
        if let Some(b) = blocked(&g, texted(line)) {
            refused.push(format!("text: {line}: {:?}", b.refusal));
        }
    }
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
}

fn refusal(v: &str) -> Refusal {
    blocked(&guard(), keyed(v))
        .map(|b| b.refusal)
        .unwrap_or_else(|| panic!("{v} passed"))
}

#[test]
fn metadata_spellings_are_classed_as_metadata() {
    for v in [
        "http://2852039166/",
        "http://0251.0376.0251.0376/",
        "http://0xa9.254.0251.0xfe/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[64:ff9b::169.254.169.254]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://%31%36%39.%32%35%34.%31%36%39.%32%35%34/",
        "http://api.github.com@169.254.169.254/",
        "http://169.254.169.254\\@api.github.com/",
        "http://metadata.google.internal./",
        "http://[fd00:ec2::254]/",
        "0xa9fea9fe",
    ] {
        assert_eq!(refusal(v), Refusal::Ssrf(Class::Metadata), "{v}");
    }
}

#[test]
fn reasons_say_what_was_wrong() {
    assert_eq!(refusal("file:///etc/passwd"), Refusal::SchemeNotAllowed);
    assert_eq!(
        refusal("gopher://api.github.com/"),
        Refusal::SchemeNotAllowed
    );
    assert_eq!(
        refusal("https://evil.example.net/"),
        Refusal::HostNotAllowed
    );
    assert_eq!(refusal("http://8.8.8.8/"), Refusal::HostNotAllowed);
    // WHATWG refuses the zone id; curl dials fe80::1 on eth0: the link-local reading wins.
    assert_eq!(
        refusal("http://[fe80::1%25eth0]/"),
        Refusal::Ssrf(Class::LinkLocal)
    );
    assert_eq!(refusal("http://0x7f.1/"), Refusal::Ssrf(Class::Loopback));
    assert_eq!(refusal("http://100.64.0.1/"), Refusal::Ssrf(Class::Cgnat));
    assert_eq!(refusal("http://[::]/"), Refusal::Ssrf(Class::Unspecified));
    assert_eq!(
        refusal("http://255.255.255.255/"),
        Refusal::Ssrf(Class::Broadcast)
    );
    assert_eq!(
        refusal("http://[ff02::1]/"),
        Refusal::Ssrf(Class::Multicast)
    );
    assert_eq!(
        refusal("http://redis.internal/"),
        Refusal::Ssrf(Class::InternalName)
    );
    assert_eq!(refusal("fe80::1%eth0"), Refusal::Ssrf(Class::LinkLocal));
    // Unicode hosts are mapped as IDNA and NFKC do, then classified (issue 15).
    assert_eq!(
        refusal("http://１６９.２５４.１６９.２５４/"),
        Refusal::Ssrf(Class::Metadata)
    );
    assert_eq!(
        refusal("http://ⓜⓔⓣⓐⓓⓐⓣⓐ.ⓖⓞⓞⓖⓛⓔ.ⓘⓝⓣⓔⓡⓝⓐⓛ/"),
        Refusal::Ssrf(Class::Metadata)
    );
}

#[test]
fn denial_is_mcp08_and_never_echoes_the_destination() {
    let b = blocked(
        &guard(),
        keyed("http://allowed@169.254.169.254/latest/meta-data/"),
    )
    .unwrap();
    let v = b.denial().to_jsonrpc();
    assert_eq!(v["id"], 7);
    assert_eq!(v["error"]["code"], -32003);
    assert_eq!(v["error"]["data"]["control"], "MCP-08");
    assert_eq!(v["error"]["data"]["reason"], "ssrf_blocked");
    assert_eq!(v["error"]["data"]["class"], "metadata");
    let text = v.to_string();
    assert!(
        !text.contains("169.254") && !text.contains("meta-data"),
        "{text}"
    );
    assert!(b.audit_line("arguments").contains("ip=169.254.169.254"));
}

#[test]
fn allow_private_opens_ranges_but_never_metadata() {
    let g = guard_with(json!({"allow_private": ["10.0.0.0/8", "169.254.0.0/16", "fd00::/8"]}));
    assert!(blocked(&g, keyed("http://10.1.2.3:8080/")).is_none());
    assert!(blocked(&g, keyed("http://[::ffff:10.1.2.3]/")).is_none());
    assert!(blocked(&g, keyed("http://169.254.1.1/")).is_none());
    assert!(blocked(&g, keyed("http://[fd12::1]/")).is_none());
    for v in [
        "http://169.254.169.254/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:a9fe:a9fe]/",
    ] {
        assert_eq!(
            blocked(&g, keyed(v)).unwrap().refusal,
            Refusal::Ssrf(Class::Metadata),
            "{v}"
        );
    }
    assert_eq!(
        blocked(&g, keyed("http://192.168.0.1/")).unwrap().refusal,
        Refusal::Ssrf(Class::Private)
    );
}

#[test]
fn mcp_requests_are_inspected_and_batches_answer_the_offender() {
    let g = guard();
    let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"http://169.254.169.254/"}});
    assert_eq!(g.inspect(list.to_string().as_bytes()), Decision::Pass(0));
    let batch = json!([
        {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"url":"https://api.github.com"}}},
        {"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"a","arguments":{"deep":[[{"x":"http://127.1/"}]]}}}
    ]);
    match g.inspect(batch.to_string().as_bytes()) {
        Decision::Block(b) => assert_eq!(b.id, json!("b")),
        other => panic!("{other:?}"),
    }
    // Keys are searched too.
    assert!(blocked(&g, json!({"http://169.254.169.254/": 1})).is_some());
    match g.inspect(b"{not json") {
        Decision::Refuse(d) => assert_eq!(d.reason, "invalid_json"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn authorities_are_judged_like_urls() {
    let g = guard();
    for ok in [
        "api.github.com",
        "api.github.com:443",
        "API.GITHUB.COM.",
        "raw.githubusercontent.com",
    ] {
        assert!(g.check_authority(ok).is_ok(), "{ok}");
    }
    let cases = [
        ("169.254.169.254", "ssrf_blocked"),
        ("169.254.169.254:80", "ssrf_blocked"),
        ("0xa9fea9fe", "ssrf_blocked"),
        ("[::ffff:169.254.169.254]:80", "ssrf_blocked"),
        ("metadata.google.internal", "ssrf_blocked"),
        ("localhost:6379", "ssrf_blocked"),
        ("evil.example.net", "host_not_allowed"),
        ("api.github.com@169.254.169.254", "invalid_url"),
        ("", "invalid_url"),
        ("[fe80::1%25eth0]", "invalid_url"),
    ];
    for (a, reason) in cases {
        let e = g
            .check_authority(a)
            .err()
            .unwrap_or_else(|| panic!("{a} passed"));
        assert_eq!(e.refusal.reason(), reason, "{a}");
    }
}

#[test]
fn outbound_bodies_go_through_the_scrubbers_dlp_check() {
    let g = guard_with(json!({"mode": "outbound"}));
    assert!(g.dlp_enabled());
    let secret =
        br#"{"note":"key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}"#;
    match g.check_body(secret, true).map(|d| d.verdict) {
        Some(Verdict::Block(d)) => {
            assert_eq!(d.reason, "sensitive_data");
            assert!(!d.body().windows(8).any(|w| w == b"AKIAIOSF"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        g.check_body(br#"{"q":"hello"}"#, true).map(|d| d.verdict),
        Some(Verdict::Clean)
    );
    let off = guard_with(json!({"mode": "outbound", "dlp": {"enabled": false}}));
    assert!(off.check_body(secret, true).is_none());
    assert!(
        guard().check_body(secret, true).is_none(),
        "inbound mode has no DLP"
    );
}

#[test]
fn embedded_ipv4_forms_are_unwrapped() {
    let v4 = |s: &str| embedded(s.parse().unwrap());
    fn embedded(a: std::net::Ipv6Addr) -> Option<String> {
        classify::embedded_v4(a).map(|x| x.to_string())
    }
    let m = Some("169.254.169.254".to_string());
    assert_eq!(v4("::ffff:169.254.169.254"), m);
    assert_eq!(v4("::169.254.169.254"), m);
    assert_eq!(v4("::ffff:0:169.254.169.254"), m);
    assert_eq!(v4("64:ff9b::a9fe:a9fe"), m);
    assert_eq!(v4("2002:a9fe:a9fe::"), m);
    assert_eq!(v4("2001:0:4136:e378:8000:63bf:5601:5601"), m);
    assert_eq!(v4("2606:4700::1111"), None);
}

fn config_error(v: Value) -> crate::config::ConfigError {
    parse::<Config>(v.to_string().as_bytes())
        .and_then(Guard::new)
        .err()
        .unwrap_or_else(|| panic!("accepted: {v}"))
}

#[test]
fn bad_configuration_is_refused_naming_the_field() {
    let base = json!({"mode": "inbound"});
    assert!(config_error(json!({}))
        .reason
        .contains("missing field `mode`"));
    assert_eq!(config_error(json!({"mode": "sideways"})).field, "mode");
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c
    };
    assert_eq!(
        config_error(with("allowed_hosts", json!(["ok.com", "*.com"]))).field,
        "allowed_hosts[1]"
    );
    assert_eq!(
        config_error(with("allowed_hosts", json!(["Upper.com"]))).field,
        "allowed_hosts[0]"
    );
    assert_eq!(
        config_error(with("allowed_hosts", json!(["10.0.0.1"]))).field,
        "allowed_hosts[0]"
    );
    assert_eq!(
        config_error(with("allowed_hosts", json!(["*"]))).field,
        "allowed_hosts[0]"
    );
    assert_eq!(
        config_error(with("allowed_schemes", json!([]))).field,
        "allowed_schemes"
    );
    assert_eq!(
        config_error(with("allowed_schemes", json!(["https", "file"]))).field,
        "allowed_schemes[1]"
    );
    assert_eq!(
        config_error(with("allow_private", json!(["10.0.0.1/8"]))).field,
        "allow_private[0]"
    );
    assert_eq!(
        config_error(with("allow_private", json!(["10.0.0.0/33"]))).field,
        "allow_private[0]"
    );
    assert_eq!(
        config_error(with("allow_private", json!(["fd00::/8", "nonsense"]))).field,
        "allow_private[1]"
    );
    assert!(config_error(with("bogus", json!(1)))
        .reason
        .contains("unknown field"));
    assert_eq!(
        config_error(with(
            "dlp",
            json!({"scrub": {"actions": {"nope": "redact"}}})
        ))
        .field
        .split('.')
        .next(),
        Some("dlp")
    );
}

#[test]
fn cidr_containment() {
    let c = classify::Cidr::parse("172.16.0.0/12").unwrap();
    assert!(c.contains("172.31.255.255".parse().unwrap()));
    assert!(!c.contains("172.32.0.0".parse().unwrap()));
    assert!(!c.contains("::ffff:172.16.0.1".parse().unwrap()));
    assert!(classify::Cidr::parse("0.0.0.0/0")
        .unwrap()
        .contains("8.8.8.8".parse().unwrap()));
    assert!(classify::Cidr::parse("::/0")
        .unwrap()
        .contains("::1".parse().unwrap()));
}

#[test]
fn odd_inputs_never_panic() {
    let g = guard();
    for s in [
        "",
        ":",
        "://",
        "http:",
        "[",
        "[::",
        "%",
        "%%%",
        "0x",
        "0x.0x",
        "....",
        "@",
        "a@",
        "\u{0}",
        "http://[",
        "//",
        "\\\\",
        "::",
        "1:2:3:4:5:6:7:8:9",
        "[]",
        "@@",
        "::%",
        "git@:",
        "a:b:c",
        "http:\\\\",
        "http://@",
        "http://[]:/",
        "x://é@ü:1",
        "\u{3002}",
        "①",
        "%ZZ%",
        "0x.",
        "....:",
        "\u{FEFF}http://\u{200b}/",
        "AAAAAAAA",
        "ＡＡＡＡ://ｘ",
    ] {
        let _ = g.inspect(&call(keyed(s)));
        let _ = g.inspect(&call(texted(s)));
        let _ = g.inspect(&call(json!({"target": s, "note": s, "data": s})));
        let _ = g.check_authority(s);
        let _ = read::url_readings(s);
        let _ = read::dest(s);
    }
}

#[test]
fn hostile_bodies_cost_linear_work() {
    let g = guard();
    let packed = "http://".repeat(100_000);
    let many = "1.2.3.4 ".repeat(100_000);
    let started = std::time::Instant::now();
    assert!(blocked(&g, json!({"a": packed})).is_some());
    assert!(blocked(&g, json!({"b": many})).is_none());
    let nested = "https://api.github.com/?u=".repeat(20_000) + "http://169.254.169.254/";
    assert!(blocked(&g, json!({"c": nested})).is_some());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

const DIFFERENTIAL: &str = include_str!("../../../../tests/eval/egress/differential.tsv");
const HONEST: &str = include_str!("../../../../tests/eval/egress/honest.jsonl");

/// `(class, where, value)` of every parser-differential case.
fn differential() -> Vec<(u8, &'static str, &'static str)> {
    DIFFERENTIAL
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let class = f.next().and_then(|c| c.parse().ok()).expect(l);
            (class, f.next().expect(l), f.next().expect(l))
        })
        .collect()
}

/// The request a differential case is sent as (shared shape with tests/tests/egress_guard.rs).
fn differential_request(place: &str, value: &str) -> Value {
    match place {
        "resources/read" => json!({"jsonrpc":"2.0","id":7,"method":"resources/read",
                                   "params":{"uri": value}}),
        "prompts/get" => json!({"jsonrpc":"2.0","id":7,"method":"prompts/get",
                                "params":{"name":"summarise","arguments":{"topic": value}}}),
        "_meta" => json!({"jsonrpc":"2.0","id":7,"method":"tools/call",
                          "params":{"name":"create_issue","arguments":{"title":"x"},
                                    "_meta":{"callback": value}}}),
        key => json!({"jsonrpc":"2.0","id":7,"method":"tools/call",
                      "params":{"name":"create_issue","arguments":{key: value}}}),
    }
}

fn differential_verdict(g: &Guard, out: &Guard, place: &str, value: &str) -> Option<Refusal> {
    if place == "authority" {
        return out.check_authority(value).err().map(|b| b.refusal);
    }
    match g.inspect(differential_request(place, value).to_string().as_bytes()) {
        Decision::Block(b) => Some(b.refusal),
        Decision::Pass(_) => None,
        Decision::Refuse(d) => panic!("refused as malformed: {d:?}"),
    }
}

#[test]
fn every_parser_differential_case_is_refused() {
    let g = guard();
    let out = guard_with(json!({"mode": "outbound"}));
    let cases = differential();
    assert!(cases.len() >= 90, "corpus shrank: {}", cases.len());
    let mut missed = Vec::new();
    let mut per_class = std::collections::BTreeMap::<u8, (usize, usize)>::new();
    for (class, place, value) in &cases {
        let e = per_class.entry(*class).or_default();
        e.0 += 1;
        match differential_verdict(&g, &out, place, value) {
            Some(_) => e.1 += 1,
            None => missed.push(format!("class {class} {place}: {value}")),
        }
    }
    for (class, (n, refused)) in &per_class {
        println!("EVAL egress_differential class={class} cases={n} refused={refused}");
    }
    assert!(missed.is_empty(), "passed:\n{}", missed.join("\n"));
}

/// `(tool, arguments)` of every honest call.
fn honest() -> Vec<(String, Value)> {
    HONEST
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect(l);
            (
                v["tool"].as_str().expect(l).to_string(),
                v["arguments"].clone(),
            )
        })
        .collect()
}

#[test]
fn every_honest_call_passes() {
    let g = guard();
    let calls = honest();
    assert!(calls.len() >= 500, "corpus shrank: {}", calls.len());
    let mut refused = Vec::new();
    for (tool, args) in &calls {
        assert_ne!(
            tool, "fetch_url",
            "honest calls go to tools without strict text"
        );
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
                          "params":{"name": tool, "arguments": args}});
        match g.inspect(body.to_string().as_bytes()) {
            Decision::Pass(_) => {}
            other => refused.push(format!("{tool} {args}: {other:?}")),
        }
    }
    println!(
        "EVAL egress_honest calls={} refused={}",
        calls.len(),
        refused.len()
    );
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
}

// ---- Issue 15: one test per bypass class; each fails when its defence is removed. ----

/// A `tools/call` to a tool without `strict_text_tools` (free text is not fetched as is).
fn blocked_by(g: &Guard, tool: &str, args: Value) -> Option<Refusal> {
    let body = json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
                      "params":{"name": tool, "arguments": args}});
    match g.inspect(body.to_string().as_bytes()) {
        Decision::Block(b) => Some(b.refusal),
        Decision::Pass(_) => None,
        Decision::Refuse(d) => panic!("refused as malformed: {d:?}"),
    }
}

fn hosts(url: &str) -> Vec<String> {
    read::url_readings(url)
        .hosts
        .iter()
        .map(|d| match d {
            read::Dest::Ip(ip) => ip.to_string(),
            read::Dest::Name(n) => n.clone(),
        })
        .collect()
}

#[test]
fn class1_backslash_userinfo_is_read_as_curl_and_python_read_it() {
    // WHATWG: host api.github.com; RFC 3986 (curl, urlsplit, java.net.URL): the metadata address.
    let h = hosts("http://api.github.com\\@169.254.169.254/");
    assert!(h.contains(&"api.github.com".into()), "{h:?}");
    assert!(h.contains(&"169.254.169.254".into()), "{h:?}");
    let g = guard();
    for v in [
        "http://api.github.com\\@169.254.169.254/",
        "http://api.github.com:80\\@169.254.169.254/",
        "http://api.github.com\\\\@169.254.169.254/",
    ] {
        assert_eq!(refusal(v), Refusal::Ssrf(Class::Metadata), "{v}");
        let text = json!({"body": format!("see {v} for details")});
        assert_eq!(
            blocked_by(&g, "create_issue", text),
            Some(Refusal::Ssrf(Class::Metadata)),
            "{v}"
        );
    }
    // Both readings allowed but different hosts: the clients disagree, so refused.
    assert_eq!(
        refusal("http://api.github.com\\@raw.githubusercontent.com/"),
        Refusal::Ambiguous
    );
}

#[test]
fn class2_a_separator_before_the_at_sign_does_not_split_the_url() {
    let g = guard();
    for sep in [",", ";", "|", "^", "{", "(", "\"", "'", " "] {
        for tail in ["169.254.43518", "127.1", "2852039166", "017700000001"] {
            let v = format!("http://api.github.com{sep}@{tail}/");
            assert!(
                matches!(
                    blocked_by(&g, "create_issue", json!({"url": v})),
                    Some(Refusal::Ssrf(_))
                ),
                "keyed {v}"
            );
            if sep != " " {
                let text = json!({"body": format!("fetch {v} now")});
                assert!(
                    matches!(blocked_by(&g, "create_issue", text), Some(Refusal::Ssrf(_))),
                    "text {v}"
                );
            }
        }
    }
    // A whole value with a space before `@` (WHATWG and curl read the tail's host).
    assert!(blocked_by(
        &g,
        "create_issue",
        json!({"note": "http://api.github.com @127.1/"})
    )
    .is_some());
}

#[test]
fn class3_an_allowed_url_elsewhere_in_the_value_skips_no_check() {
    let g = guard();
    for (k, v) in [
        (
            "query",
            "169.254.169.254/latest/meta-data/?next=http://api.github.com",
        ),
        ("host", "10.0.0.5:6379#https://github.com"),
        ("endpoint", "[fd00:ec2::254]/latest/?https://api.github.com"),
        ("url", "127.1:6379/?u=https://api.github.com/"),
        ("input", "2852039166/latest/#https://api.github.com"),
    ] {
        assert!(
            matches!(
                blocked_by(&g, "create_issue", json!({k: v})),
                Some(Refusal::Ssrf(_))
            ),
            "{k}: {v}"
        );
    }
}

#[test]
fn class4_ipv4_legacy_forms_parse_like_inet_aton_and_whatwg() {
    let ip = |s: &str| read::parse_ipv4(s).map(|a| a.to_string());
    assert_eq!(ip("127.1"), Some("127.0.0.1".into()));
    assert_eq!(ip("2852039166"), Some("169.254.169.254".into()));
    assert_eq!(ip("017700000001"), Some("127.0.0.1".into()));
    assert_eq!(ip("0x7f.1"), Some("127.0.0.1".into()));
    assert_eq!(ip("169.254.43518"), Some("169.254.169.254".into()));
    assert_eq!(ip("0xa9.0376.43518"), Some("169.254.169.254".into()));
    assert_eq!(ip("1.2.3.256"), None);
    assert_eq!(ip("08.1.1.1"), None);
    assert_eq!(ip("+1.2.3.4"), None);
    assert_eq!(ip("1.2.3.4.5"), None);
}

#[test]
fn class4_unicode_hosts_are_mapped_as_idna_and_nfkc_do() {
    assert_eq!(read::map_host("①⑥⑨.②⑤④.①⑥⑨.②⑤④"), "169.254.169.254");
    assert_eq!(read::map_host("169。254。169。254"), "169.254.169.254");
    assert_eq!(
        read::map_host("１６９．２５４．１６９．２５４"),
        "169.254.169.254"
    );
    assert_eq!(read::map_host("ｌｏｃａｌｈｏｓｔ"), "localhost");
    assert_eq!(read::map_host("ⓜⓔⓣⓐⓓⓐⓣⓐ"), "metadata");
    assert_eq!(read::map_host("loc\u{ad}al\u{200b}host"), "localhost");
    assert_eq!(read::map_host("API.GitHub.com"), "api.github.com");
}

#[test]
fn class4_values_under_any_key_that_are_destinations_are_judged() {
    let g = guard();
    for (k, v) in [
        ("target", "127.1"),
        ("address", "2852039166"),
        ("destination", "017700000001:80"),
        ("dest", "0x7f.1"),
        ("remote", "①⑥⑨.②⑤④.①⑥⑨.②⑤④"),
        ("registry", "169。254。169。254"),
        (
            "bootstrap_servers",
            "api.github.com:9092,１２７.０.０.１:9092",
        ),
        ("target", "ｌｏｃａｌｈｏｓｔ:8080"),
        ("address", "localhost"),
        ("upstream", "metadata"),
        ("target", "kubernetes.default"),
        ("dest", "169.254.169.254.nip.io"),
        ("remote", "app.localtest.me"),
        ("address", "redis.prod:6379"),
        ("value", "127.0.0.1:8080"),
        ("data", "169.254.169.254"),
        ("x", "metadata.google.internal"),
        ("y", "redis:6379"),
        ("z", "[::1]:8080"),
        ("url", "http://10.0.0.1.sslip.io/"),
        ("url", "http://ｌｏｃａｌｈｏｓｔ/"),
    ] {
        assert!(
            blocked_by(&g, "create_issue", json!({k: v})).is_some(),
            "{k}: {v}"
        );
    }
    // Extra destination keys from the configuration are judged in full.
    let g2 = guard_with(json!({"destination_keys": ["upstream_base"]}));
    assert_eq!(
        blocked_by(&g2, "x", json!({"upstream_base": "evil.example.net"})),
        Some(Refusal::HostNotAllowed)
    );
    assert_eq!(
        blocked_by(&g, "x", json!({"upstream_base": "evil.example.net"})),
        None
    );
}

#[test]
fn class5_encoded_values_and_scp_remotes_are_decoded_first() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let g = guard();
    for (k, v) in [
        ("data", b64("http://169.254.169.254/latest/meta-data/")),
        ("payload", hex("http://127.0.0.1:6379/")),
        ("config", b64("169.254.169.254:80")),
        (
            "note",
            format!(
                "decode {} and go",
                b64("http://169.254.169.254/latest/meta-data/iam/")
            ),
        ),
        ("remote", "git@169.254.169.254:org/repo.git".into()),
        ("repo", "git@10.0.0.5:org/repo.git".into()),
        ("note", "clone ssh://git@127.0.0.1:22/org/repo.git".into()),
    ] {
        assert!(
            matches!(
                blocked_by(&g, "create_issue", json!({k: v})),
                Some(Refusal::Ssrf(_))
            ),
            "{k}: {v}"
        );
    }
    // Honest base64 and hex stay honest.
    for v in [
        b64("hello world, this is a note"),
        "deadbeefcafebabe".into(),
    ] {
        assert_eq!(blocked_by(&g, "create_issue", json!({"data": v})), None);
    }
}

#[test]
fn class6_outbound_authorities_must_be_canonical() {
    let g = guard_with(json!({"mode": "outbound"}));
    for a in ["api.github.com.", "API.GITHUB.COM", "api.github.com:443"] {
        assert!(g.check_authority(a).is_ok(), "{a}");
    }
    for a in [
        "api.github.com..",
        "api.github.com:",
        "api.github.com.:",
        "api.github.com:+443",
        "api.github.com:0x1bb",
        ".api.github.com",
        "ａｐｉ.github.com",
    ] {
        assert_eq!(
            g.check_authority(a).err().map(|b| b.refusal),
            Some(Refusal::InvalidUrl),
            "{a}"
        );
    }
    assert_eq!(
        g.check_authority("127.1:80").err().map(|b| b.refusal),
        Some(Refusal::Ssrf(Class::Loopback))
    );
}

#[test]
fn class7_resources_prompts_and_meta_are_inspected() {
    let g = guard();
    let send = |v: Value| match g.inspect(v.to_string().as_bytes()) {
        Decision::Block(b) => Some(b.refusal),
        Decision::Pass(_) => None,
        Decision::Refuse(d) => panic!("{d:?}"),
    };
    let read = |uri: &str| {
        send(json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri": uri}}))
    };
    assert_eq!(
        read("http://169.254.169.254/latest/"),
        Some(Refusal::Ssrf(Class::Metadata))
    );
    assert_eq!(
        read("gopher://127.0.0.1:6379/_x"),
        Some(Refusal::SchemeNotAllowed)
    );
    assert!(read("file://169.254.169.254/share").is_some());
    assert!(read("postgres://10.0.0.5:5432/db").is_some());
    assert!(read("https://api.github.com/?next=http://127.0.0.1/").is_some());
    // A server's own resources: local files and custom schemes naming no internal host.
    assert_eq!(read("file:///project/README.md"), None);
    assert_eq!(read("repo://org-sre/infra/README.md"), None);
    assert_eq!(read("https://api.github.com/repos/org-sre/infra"), None);
    let prompt = |v: &str| {
        send(json!({"jsonrpc":"2.0","id":1,"method":"prompts/get",
                    "params":{"name":"summarise","arguments":{"topic": v}}}))
    };
    assert!(prompt("http://169.254.169.254/").is_some());
    assert!(prompt("localhost:6379").is_some());
    assert_eq!(prompt("the weekly report"), None);
    let meta = send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
        "params":{"name":"x","arguments":{},"_meta":{"callback":"http://127.0.0.1:8080/"}}}));
    assert_eq!(meta, Some(Refusal::Ssrf(Class::Loopback)));
}

#[test]
fn class8_honest_text_is_not_a_destination() {
    let g = guard();
    let honest = [
        "See [1] and [2].",
        "- [x] tests pass\n- [ ] docs",
        "[INFO] build finished",
        "let v = x[0] + y[1];",
        "[guide](https://github.com/org-sre/infra/blob/main/README.md)",
        "[\"a\", \"b\", [1, 2]]",
        "10.0.0.0/8 and 192.168.0.0/16 per RFC 1918",
        "SELECT * FROM hosts WHERE ip = '10.1.2.3';",
        "let addr: u32 = 0x7f000001;",
        "2024-05-01 [WARN] 10.0.0.12 GET /health 200",
        "bind to 127.0.0.1:8080 in dev",
        "docs at https://docs.python.org/3/library/ipaddress.html",
        "proxy_pass http://upstream_api;",
    ];
    for t in honest {
        assert_eq!(
            blocked_by(&g, "create_issue", json!({"body": t})),
            None,
            "{t}"
        );
    }
    // Brackets are IPv6 only when their content parses as IPv6, even for strict tools.
    let strict = guard_with(json!({"strict_text_tools": ["*"]}));
    for t in [
        "See [1] and [2].",
        "- [x] done",
        "[INFO] ok",
        "x[0]",
        "[::1]:80",
    ] {
        let r = blocked_by(&strict, "create_issue", json!({"body": t}));
        assert_eq!(r.is_some(), t.contains("::1"), "{t}: {r:?}");
    }
    // The per-tool setting makes free-text mentions destinations.
    for t in [
        "connect to 10.0.0.5 now",
        "try 169.254.169.254",
        "use localhost:6379",
    ] {
        assert!(
            blocked_by(&strict, "create_issue", json!({"body": t})).is_some(),
            "{t}"
        );
        assert_eq!(
            blocked_by(&g, "create_issue", json!({"body": t})),
            None,
            "{t}"
        );
    }
}
