//! `make eval`: the labeled guardrail corpus (tests/eval/guardrail) through the real
//! detector, natively, as the gateway sees it: each text as a `tools/call` argument judged
//! by [`Guardrail::inspect`] with the default configuration. Prints detection rate per
//! attack family and the false-positive rate on honest traffic as `BENCH` lines; with
//! `--misses`, lists the ids of misclassified samples on stderr (ids, not texts).

use meshguard_core::prompt_guardrail::{Config, Decision, Guardrail};
use meshguard_e2e::load::bench_line;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One labeled sample.
struct Sample {
    id: String,
    family: String,
    text: String,
}

fn load(name: &str) -> Result<Vec<Sample>, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("eval/guardrail")
        .join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).map_err(|e| format!("{name}: {e}"))?;
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            Ok(Sample {
                id: field("id"),
                family: field("family"),
                text: field("text"),
            })
        })
        .collect()
}

fn flagged(g: &Guardrail, text: &str) -> bool {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "ask", "arguments": {"text": text}}});
    matches!(
        g.inspect(body.to_string().as_bytes()).decision,
        Decision::Block(_) | Decision::Annotate(_)
    )
}

fn pct(hit: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * hit as f64 / total as f64
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("eval failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let show_misses = std::env::args().any(|a| a == "--misses");
    let guardrail = Guardrail::new(Config::default()).map_err(|e| e.to_string())?;
    let attacks = load("attacks.jsonl")?;
    let honest = load("honest.jsonl")?;
    let mut families: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut hit_all, mut total_all) = (0, 0);
    for s in &attacks {
        let hit = flagged(&guardrail, &s.text);
        let e = families.entry(s.family.as_str()).or_default();
        e.0 += usize::from(hit);
        e.1 += 1;
        hit_all += usize::from(hit);
        total_all += 1;
        if !hit && show_misses {
            eprintln!("miss {} {}", s.id, s.family);
        }
    }
    for (family, (hit, total)) in &families {
        bench_line(
            &format!("guardrail_detection_{family}"),
            pct(*hit, *total),
            "percent",
            None,
        );
        eprintln!("{family}: {hit}/{total}");
    }
    bench_line(
        "guardrail_detection_all",
        pct(hit_all, total_all),
        "percent",
        None,
    );
    let fp = honest.iter().filter(|s| {
        let f = flagged(&guardrail, &s.text);
        if f && show_misses {
            eprintln!("false positive {}", s.id);
        }
        f
    });
    let fp = fp.count();
    eprintln!("honest: {fp}/{} flagged", honest.len());
    bench_line(
        "guardrail_false_positive",
        pct(fp, honest.len()),
        "percent",
        None,
    );
    Ok(())
}
