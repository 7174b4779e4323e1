//! `make eval`: the labeled guardrail corpus (tests/eval/guardrail) through the real
//! detector, natively, as the gateway sees it: each text as a `tools/call` argument judged
//! by [`Guardrail::inspect`] with the default configuration. Prints detection rate per
//! attack family and the false-positive rate on honest traffic as `BENCH` lines, over all
//! samples and over each half of the deterministic dev / held-out split (`_dev` and
//! `_heldout` suffixes). Rules are tuned on the dev half only: `--misses` lists the ids of
//! misclassified dev samples on stderr (ids, not texts) and only counts held-out ones;
//! `--explain` adds each one's score and partial findings.

use meshguard_core::detect::ngram_model::RULE_ID;
use meshguard_core::detect::Detector;
use meshguard_core::prompt_guardrail::{Config, Decision, Guardrail};
use meshguard_e2e::guardrail_corpus::{load_all, ATTACK_FILES, HONEST_FILES};
use meshguard_e2e::load::bench_line;
use serde_json::json;
use std::collections::BTreeMap;

/// Hits and totals per family, overall and per split.
#[derive(Default)]
struct Tally {
    all: (usize, usize),
    dev: (usize, usize),
    heldout: (usize, usize),
}

impl Tally {
    fn add(&mut self, split: &str, hit: bool) {
        let half = match split {
            "dev" => Some(&mut self.dev),
            "heldout" => Some(&mut self.heldout),
            _ => None,
        };
        for t in [Some(&mut self.all), half].into_iter().flatten() {
            t.0 += usize::from(hit);
            t.1 += 1;
        }
    }

    /// BENCH lines `{name}`, `{name}_dev`, `{name}_heldout` and a summary on stderr.
    fn report(&self, name: &str, label: &str) {
        for (suffix, (hit, total)) in [
            ("", self.all),
            ("_dev", self.dev),
            ("_heldout", self.heldout),
        ] {
            bench_line(&format!("{name}{suffix}"), pct(hit, total), "percent", None);
        }
        eprintln!(
            "{label}: {}/{} (dev {}/{}, held-out {}/{})",
            self.all.0, self.all.1, self.dev.0, self.dev.1, self.heldout.0, self.heldout.1
        );
    }
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
    let explain = std::env::args().any(|a| a == "--explain");
    let mut config = Config::default();
    if std::env::args().any(|a| a == "--without-model") {
        config.detect.disable_rules.push(RULE_ID.to_string());
    }
    let detector = Detector::new(&config.detect).map_err(|e| e.to_string())?;
    let why = |text: &str| {
        let scan = detector.scan(text);
        let ids: Vec<String> = scan
            .findings
            .iter()
            .map(|f| format!("{}={:.1}", f.rule_id, f.score))
            .collect();
        format!("score {:.2} [{}]", scan.score, ids.join(" "))
    };
    let guardrail = Guardrail::new(config).map_err(|e| e.to_string())?;
    let attacks = load_all(ATTACK_FILES)?;
    let honest = load_all(HONEST_FILES)?;
    let mut families: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut all = Tally::default();
    for s in &attacks {
        let hit = flagged(&guardrail, &s.text);
        families
            .entry(s.family.as_str())
            .or_default()
            .add(&s.split, hit);
        all.add(&s.split, hit);
        if !hit && show_misses && s.split == "dev" {
            eprintln!("miss {} {}", s.id, s.family);
            if explain {
                eprintln!("    {}", why(&s.text));
            }
        }
    }
    for (family, tally) in &families {
        tally.report(&format!("guardrail_detection_{family}"), family);
    }
    all.report("guardrail_detection_all", "all attacks");
    let mut fp = Tally::default();
    let mut fp_groups: BTreeMap<&str, Tally> = BTreeMap::new();
    for s in &honest {
        let f = flagged(&guardrail, &s.text);
        fp.add(&s.split, f);
        fp_groups.entry(s.group).or_default().add(&s.split, f);
        if !f && explain && s.split == "dev" && detector.scan(&s.text).score >= 0.5 {
            eprintln!("near {}\n    {}", s.id, why(&s.text));
        }
        if f && show_misses && s.split == "dev" {
            eprintln!("false positive {}", s.id);
            if explain {
                eprintln!("    {}", why(&s.text));
            }
        }
    }
    for (group, tally) in &fp_groups {
        tally.report(
            &format!("guardrail_false_positive_{group}"),
            &format!("honest {group} flagged"),
        );
    }
    fp.report("guardrail_false_positive", "honest flagged");
    Ok(())
}
