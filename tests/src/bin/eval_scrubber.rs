//! `eval_scrubber`: meshguard's scrubber against Presidio and detect-secrets on the labeled
//! corpus in `tests/eval/scrubber/corpus.jsonl`, as `BENCH` lines.
//!
//! meshguard runs natively here (the same core the filter runs in Envoy), with the default
//! configuration; the anchors run through `tests/eval/scrubber/anchors.py` in their own
//! virtualenvs (`tests/eval/scrubber/setup.sh` creates them under `.tools/`; override the
//! interpreters with `SCRUB_PRESIDIO_PYTHON` / `SCRUB_DETECT_SECRETS_PYTHON`). Scoring is the
//! anchors script's: a labeled value is found when a finding of the same kind overlaps it; a
//! finding overlapping no labeled value of its kind is a false positive of that kind.
//!
//! Prints per kind `BENCH name=scrubber_recall_<kind> value=<pct> unit=percent
//! ratio=<ours/anchor> vs=<anchor>_recall_<kind>` (and `..._precision_...`), the anchors' own
//! lines, and exits non-zero when a goal is missed: >= 99% recall on e-mails, cards, IBANs and
//! high-signal secret formats, and at or above every anchor on every kind it covers.
//! `SCRUB_EVAL_MISSES=1` prints each value meshguard missed, to stderr.

use meshguard_core::scrub::default_scrubber;
use meshguard_e2e::load::bench_line;
use meshguard_e2e::paths::workspace_root;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// Kinds that must reach 99% recall (the goal).
const HIGH_SIGNAL: [&str; 13] = [
    "email",
    "credit_card",
    "iban",
    "aws_access_key_id",
    "github_token",
    "gitlab_token",
    "slack_token",
    "slack_webhook",
    "stripe_key",
    "google_api_key",
    "openai_api_key",
    "anthropic_api_key",
    "private_key",
];

/// True and false positives and misses of one kind.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    tp: u64,
    fn_: u64,
    fp: u64,
}

impl Counts {
    fn recall(&self) -> Option<f64> {
        let n = self.tp + self.fn_;
        (n > 0).then(|| 100.0 * self.tp as f64 / n as f64)
    }

    fn precision(&self) -> Option<f64> {
        let n = self.tp + self.fp;
        (n > 0).then(|| 100.0 * self.tp as f64 / n as f64)
    }
}

/// Recall and precision of one kind, when defined.
type Figures = (Option<f64>, Option<f64>);

/// One anchor's per-kind figures.
type AnchorFigures = BTreeMap<String, Figures>;

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(2),
        Err(e) => {
            eprintln!("eval_scrubber failed: {e}");
            std::process::exit(1);
        }
    }
}

fn corpus_path() -> PathBuf {
    std::env::var_os("SCRUB_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("tests/eval/scrubber/corpus.jsonl"))
}

fn run() -> Result<bool, String> {
    let corpus = corpus_path();
    let text = std::fs::read_to_string(&corpus)
        .map_err(|e| format!("{}: {e} (run make_corpus.py)", corpus.display()))?;
    let samples: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("corpus: {e}"))?;
    let (ours, negatives_clean) = score_meshguard(&samples);
    let anchors = [
        ("presidio", run_anchor("presidio", &corpus)),
        ("detect_secrets", run_anchor("detect-secrets", &corpus)),
    ];
    let mut ok = true;
    for (name, figures) in &anchors {
        match figures {
            Ok(f) => {
                for (kind, (recall, precision)) in f {
                    if let Some(r) = recall {
                        bench_line(&format!("{name}_recall_{kind}"), *r, "percent", None);
                    }
                    if let Some(p) = precision {
                        bench_line(&format!("{name}_precision_{kind}"), *p, "percent", None);
                    }
                }
            }
            Err(e) => {
                eprintln!("anchor {name} unavailable: {e}");
                ok = false;
            }
        }
    }
    for (kind, counts) in &ours {
        let covering: Vec<(&str, Figures)> = anchors
            .iter()
            .filter_map(|(name, f)| Some((*name, *f.as_ref().ok()?.get(kind)?)))
            .collect();
        let recall = counts.recall().unwrap_or(0.0);
        let precision = counts.precision().unwrap_or(0.0);
        if covering.is_empty() {
            bench_line(&format!("scrubber_recall_{kind}"), recall, "percent", None);
            bench_line(
                &format!("scrubber_precision_{kind}"),
                precision,
                "percent",
                None,
            );
        }
        for (anchor, (a_recall, a_precision)) in &covering {
            let a_recall = a_recall.unwrap_or(0.0);
            bench_line(
                &format!("scrubber_recall_{kind}"),
                recall,
                "percent",
                Some((&format!("{anchor}_recall_{kind}"), a_recall)),
            );
            bench_line(
                &format!("scrubber_precision_{kind}"),
                precision,
                "percent",
                Some((
                    &format!("{anchor}_precision_{kind}"),
                    a_precision.unwrap_or(0.0),
                )),
            );
            if recall + 1e-9 < a_recall {
                eprintln!("GOAL MISSED: {kind} recall {recall:.2}% below {anchor} {a_recall:.2}%");
                ok = false;
            }
        }
        if HIGH_SIGNAL.contains(&kind.as_str()) && recall < 99.0 {
            eprintln!("GOAL MISSED: {kind} recall {recall:.2}% < 99%");
            ok = false;
        }
    }
    bench_line(
        "scrubber_negatives_untouched",
        negatives_clean,
        "percent",
        None,
    );
    run_splits();
    Ok(ok)
}

/// Score meshguard's default scrubber; also the share of negative samples left untouched.
fn score_meshguard(samples: &[Value]) -> (BTreeMap<String, Counts>, f64) {
    let scrubber = default_scrubber();
    let show_misses = std::env::var_os("SCRUB_EVAL_MISSES").is_some();
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let (mut negatives, mut clean) = (0u64, 0u64);
    for sample in samples {
        let text = sample["text"].as_str().unwrap_or_default();
        let entities: Vec<(String, std::ops::Range<usize>)> = sample["entities"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|e| {
                let kind = e["type"].as_str()?.to_string();
                let value = e["value"].as_str()?;
                let start = text.find(value)?;
                Some((kind, start..start + value.len()))
            })
            .collect();
        let findings: Vec<(String, std::ops::Range<usize>)> = scrubber
            .find(text)
            .into_iter()
            .map(|f| (scrubber.name(f.kind).to_string(), f.span))
            .collect();
        let overlaps = |a: &std::ops::Range<usize>, b: &std::ops::Range<usize>| {
            a.start < b.end && b.start < a.end
        };
        for (kind, span) in &entities {
            let hit = findings.iter().any(|(k, s)| k == kind && overlaps(s, span));
            let c = counts.entry(kind.clone()).or_default();
            if hit {
                c.tp += 1;
            } else {
                c.fn_ += 1;
                if show_misses {
                    eprintln!("MISS {kind}: {:?} in {text:?}", &text[span.clone()]);
                }
            }
        }
        for (kind, span) in &findings {
            let matched = entities.iter().any(|(k, s)| k == kind && overlaps(s, span));
            if !matched {
                counts.entry(kind.clone()).or_default().fp += 1;
            }
        }
        if entities.is_empty() {
            negatives += 1;
            clean += u64::from(findings.is_empty());
        }
    }
    let clean_pct = if negatives > 0 {
        100.0 * clean as f64 / negatives as f64
    } else {
        100.0
    };
    (counts, clean_pct)
}

/// The interpreter of an anchor's virtualenv.
fn python_for(anchor: &str) -> PathBuf {
    let (var, dir) = match anchor {
        "presidio" => ("SCRUB_PRESIDIO_PYTHON", "scrub-presidio"),
        "kingfisher" => ("SCRUB_KINGFISHER_PYTHON", "scrub-kingfisher"),
        _ => ("SCRUB_DETECT_SECRETS_PYTHON", "scrub-detect-secrets"),
    };
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools").join(dir).join("bin/python"))
}

/// Run `anchors.py <anchor> <corpus>` and read its per-kind figures.
fn run_anchor(anchor: &str, corpus: &std::path::Path) -> Result<AnchorFigures, String> {
    let python = python_for(anchor);
    if !python.exists() {
        return Err(format!(
            "{} missing: run tests/eval/scrubber/setup.sh",
            python.display()
        ));
    }
    let script = workspace_root().join("tests/eval/scrubber/anchors.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(anchor)
        .arg(corpus)
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("output: {e}"))?;
    let types = v["types"].as_object().cloned().unwrap_or_default();
    Ok(types
        .into_iter()
        .map(|(kind, f)| (kind, (f["recall"].as_f64(), f["precision"].as_f64())))
        .collect())
}

/// Run an anchor and keep its raw per-type JSON (counts included).
fn run_anchor_raw(anchor: &str, corpus: &std::path::Path) -> Result<Value, String> {
    let python = python_for(anchor);
    if !python.exists() {
        return Err(format!(
            "{} missing: run tests/eval/scrubber/setup.sh",
            python.display()
        ));
    }
    let script = workspace_root().join("tests/eval/scrubber/anchors.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(anchor)
        .arg(corpus)
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("output: {e}"))?;
    Ok(v["types"].clone())
}

/// PII kinds whose recall makes the overall PII figure.
const PII_KINDS: [&str; 6] = ["email", "phone", "credit_card", "iban", "ssn", "ip_address"];

/// The dev and held-out splits (`make_splits.py`): PII against Presidio, secrets against
/// detect-secrets and Kingfisher, all in the same run. Prints BENCH lines per split, kind,
/// format and provider family; never fails the run (held-out figures are reported, not
/// tuned to).
fn run_splits() {
    let dir = workspace_root().join("tests/eval/scrubber");
    for split in ["dev", "heldout"] {
        let pii = dir.join(format!("pii_{split}.jsonl"));
        if pii.exists() {
            split_report(split, "pii", &pii, &["presidio"]);
        }
        let secrets = dir.join(format!("secrets_{split}.jsonl"));
        if secrets.exists() {
            split_report(
                split,
                "secrets",
                &secrets,
                &["detect-secrets", "kingfisher"],
            );
        }
    }
}

fn load(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Recall over `keys` from per-key counts (`tp`, `fn`).
fn pooled(counts: &BTreeMap<String, Counts>, keys: &[&str]) -> Option<f64> {
    let mut c = Counts::default();
    for k in keys {
        if let Some(x) = counts.get(*k) {
            c.tp += x.tp;
            c.fn_ += x.fn_;
        }
    }
    c.recall()
}

fn anchor_counts(types: &Value) -> BTreeMap<String, Counts> {
    types
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let c = Counts {
                        tp: v["tp"].as_u64().unwrap_or(0),
                        fn_: v["fn"].as_u64().unwrap_or(0),
                        fp: v["fp"].as_u64().unwrap_or(0),
                    };
                    (k.clone(), c)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn split_report(split: &str, set: &str, path: &std::path::Path, anchors: &[&str]) {
    let samples = load(path);
    let (ours, masked_pagination) = score_split(&samples);
    let ours_name = |key: &str| format!("scrubber_{split}_{set}_recall_{}", key.replace(':', "_"));
    let mut anchor_results = Vec::new();
    for anchor in anchors {
        match run_anchor_raw(anchor, path) {
            Ok(types) => anchor_results.push((anchor.replace('-', "_"), types)),
            Err(e) => eprintln!("anchor {anchor} unavailable on {split}/{set}: {}", e.trim()),
        }
    }
    let mut keys: Vec<String> = ours.keys().cloned().collect();
    if set == "pii" {
        keys.push("pii_overall".into());
    }
    for key in &keys {
        let recall = if key == "pii_overall" {
            pooled(&ours, &PII_KINDS)
        } else {
            ours.get(key).and_then(Counts::recall)
        };
        let Some(recall) = recall else { continue };
        let mut printed = false;
        for (anchor, types) in &anchor_results {
            let counts = anchor_counts(types);
            let theirs = if key == "pii_overall" {
                pooled(&counts, &PII_KINDS)
            } else {
                counts.get(key).and_then(Counts::recall)
            };
            if let Some(theirs) = theirs {
                let vs = format!("{anchor}_{split}_{set}_recall_{}", key.replace(':', "_"));
                bench_line(&ours_name(key), recall, "percent", Some((&vs, theirs)));
                printed = true;
            }
        }
        if !printed {
            bench_line(&ours_name(key), recall, "percent", None);
        }
    }
    if set == "secrets" {
        bench_line(
            &format!("scrubber_{split}_pagination_tokens_masked"),
            masked_pagination as f64,
            "count",
            None,
        );
        for (anchor, types) in &anchor_results {
            if let Some(n) = types["pagination_masked"]["count"].as_u64() {
                bench_line(
                    &format!("{anchor}_{split}_pagination_tokens_masked"),
                    n as f64,
                    "count",
                    None,
                );
            }
        }
    }
}

/// meshguard on a split: per kind (a "secret" entity is hit by any secret finding), per
/// `family:` and `format:`; and the findings on honest pagination samples.
fn score_split(samples: &[Value]) -> (BTreeMap<String, Counts>, u64) {
    let scrubber = default_scrubber();
    let show_misses = std::env::var_os("SCRUB_EVAL_MISSES").is_some();
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut masked_pagination = 0;
    for sample in samples {
        let text = sample["text"].as_str().unwrap_or_default();
        let format = sample["format"].as_str().unwrap_or_default();
        let findings = scrubber.find(text);
        if format == "pagination" {
            masked_pagination += findings.len() as u64;
            if show_misses && !findings.is_empty() {
                eprintln!("PAGINATION MASKED: {text:?}");
            }
        }
        for e in sample["entities"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let (Some(kind), Some(value)) = (e["type"].as_str(), e["value"].as_str()) else {
                continue;
            };
            let Some(start) = text.find(value) else {
                continue;
            };
            let span = start..start + value.len();
            let hit = findings.iter().any(|f| {
                let kind_ok = if kind == "secret" {
                    f.kind.is_secret()
                } else {
                    scrubber.name(f.kind) == kind
                };
                kind_ok && f.span.start < span.end && span.start < f.span.end
            });
            let mut keys = vec![kind.to_string()];
            if let Some(fam) = e["family"].as_str() {
                keys.push(format!("family:{fam}"));
            }
            if matches!(format, "plain" | "json_dumps" | "unicode") {
                keys.push(format!("format:{format}"));
            }
            for k in keys {
                let c = counts.entry(k).or_default();
                if hit {
                    c.tp += 1;
                } else {
                    c.fn_ += 1;
                }
            }
            if !hit && show_misses {
                eprintln!("MISS {kind}: {value:?} in {text:?}");
            }
        }
    }
    (counts, masked_pagination)
}
