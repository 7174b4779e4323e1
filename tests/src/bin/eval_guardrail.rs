//! `make eval`: the labeled guardrail corpus (tests/eval/guardrail) through the real
//! detector, natively, as the gateway sees it: each text as a `tools/call` argument judged
//! by [`Guardrail::inspect`] with the default configuration. Prints detection rate per
//! attack family and the false-positive rate on honest traffic as `BENCH` lines, over all
//! samples and over each half of the deterministic dev / held-out split (`_dev` and
//! `_heldout` suffixes). Rules are tuned on the dev half only: `--misses` lists the ids of
//! misclassified dev samples on stderr (ids, not texts) and only counts held-out ones;
//! `--explain` adds each one's score and partial findings.

use meshguard_core::detect::ngram_model::RULE_ID;
use meshguard_core::detect::{Channel, Detector};
use meshguard_core::output_sanitizer::{self, Outcome, Sanitizer};
use meshguard_core::prompt_guardrail::{Config, Decision, Guardrail};
use meshguard_e2e::guardrail_corpus::{
    load_all, prose, Sample, ATTACK_FILES, HELDOUT_TOOL_OUTPUT_FILES, HONEST_FILES,
    MULTILINGUAL_FILES, TOOL_OUTPUT_FILES, WRITTEN_TOOL_OUTPUT_FILES,
};
use meshguard_e2e::load::bench_line;
use regex::Regex;
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

/// The text as a tool result through the output sanitizer (default configuration): whether
/// it was caught (redacted, enveloped or withheld), changed at all, and what reaches the client.
fn sanitized(s: &Sanitizer, text: &str) -> (bool, bool, String) {
    let body = json!({"jsonrpc": "2.0", "id": 1,
                      "result": {"content": [{"type": "text", "text": text}]}});
    match s.sanitize_body(body.to_string().as_bytes()) {
        Outcome::Unchanged(_) => (false, false, text.to_string()),
        Outcome::Rewritten(bytes, r) => (
            r.redacted + r.enveloped + r.blocked > 0,
            true,
            String::from_utf8_lossy(&bytes).into_owned(),
        ),
        Outcome::Refused(d) => (true, true, d.to_jsonrpc().to_string()),
    }
}

/// Addresses, URLs and IBAN-like numbers in an attack: what the attacker wants used.
fn artefacts(sample: &Sample, re: &Regex) -> Vec<String> {
    let mut out = sample.artefacts.clone();
    out.extend(re.find_iter(&sample.text).map(|m| m.as_str().to_string()));
    out
}

/// Whether an artefact (or, for a URL or address, its host) reaches the client.
fn survives(out: &str, artefact: &str) -> bool {
    let host = artefact
        .split_once("://")
        .map(|(_, r)| r)
        .or_else(|| artefact.split_once('@').map(|(_, h)| h))
        .and_then(|r| r.split(['/', '?', '#', ':']).next())
        .filter(|h| h.contains('.'));
    out.contains(artefact) || host.is_some_and(|h| out.contains(h))
}

/// Honest texts of one split joined in corpus order ("\n\n" between) until each reaches
/// `len` bytes: long honest inputs, as many turns or pages pasted together.
fn joined(honest: &[Sample], split: &str, len: usize, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for s in honest.iter().filter(|s| s.split == split) {
        if !cur.is_empty() {
            cur.push_str("\n\n");
        }
        cur.push_str(&s.text);
        if cur.len() >= len {
            out.push(std::mem::take(&mut cur));
            if out.len() >= max {
                break;
            }
        }
    }
    out
}

/// The length band a text's false positive is reported in.
fn band(len: usize) -> &'static str {
    match len {
        0..100 => "lt100",
        100..300 => "100_300",
        300..1_000 => "300_1k",
        1_000..3_000 => "1k_3k",
        3_000..10_000 => "3k_10k",
        _ => "10k_50k",
    }
}

fn pct(hit: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * hit as f64 / total as f64
    }
}

/// Rule ids in `EVAL_DISABLE` (comma-separated), switched off in both the guardrail and the
/// sanitizer: what one rule adds to the figures, without editing the table.
fn disabled_by_env() -> Vec<String> {
    std::env::var("EVAL_DISABLE")
        .map(|d| d.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

fn main() {
    if let Err(e) = run() {
        eprintln!("eval failed: {e}");
        std::process::exit(1);
    }
}

/// The score and findings of one scan, for `--explain` and `--probe`.
fn findings_of(detector: &Detector, text: &str) -> String {
    let scan = detector.scan(text);
    let ids: Vec<String> = scan
        .findings
        .iter()
        .map(|f| format!("{}={:.1}@{}", f.rule_id, f.score, f.span.start))
        .collect();
    format!("score {:.2} [{}]", scan.score, ids.join(" "))
}

fn run() -> Result<(), String> {
    let show_misses = std::env::args().any(|a| a == "--misses");
    let explain = std::env::args().any(|a| a == "--explain");
    let mut config = Config::default();
    config.detect.disable_rules.extend(disabled_by_env());
    if std::env::args().any(|a| a == "--without-model") {
        config.detect.disable_rules.push(RULE_ID.to_string());
    }
    let detector = Detector::new(&config.detect).map_err(|e| e.to_string())?;
    if std::env::args().any(|a| a == "--speed") {
        speed(&detector);
        return Ok(());
    }
    let why = |text: &str| findings_of(&detector, text);
    if let Some(path) = arg_after("--probe-prompt") {
        let guardrail = Guardrail::new(config).map_err(|e| e.to_string())?;
        return probe_prompts(&path, &guardrail, &|text: &str| {
            findings_of(&detector, text)
        });
    }
    if let Some(path) = arg_after("--probe") {
        let tool = Detector::for_channel(&config.detect, Channel::ToolOutput)
            .map_err(|e| e.to_string())?;
        return probe(&path, &|text: &str| findings_of(&tool, text));
    }
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
    multilingual(&guardrail, show_misses)?;
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
    length_bands(&guardrail, &honest, show_misses, &|t: &str| {
        if explain {
            why(t)
        } else {
            String::new()
        }
    });
    tool_outputs(&attacks, &honest, show_misses)
}

/// Requests written in many languages, per family (`sysprompt_ml`: system-prompt
/// extraction, `override_ml`: instruction override): per language
/// (`guardrail_detection_<family>_<lang>`), per batch and overall, dev and held-out, and
/// how many languages reach 80% held-out.
fn multilingual(guardrail: &Guardrail, show_misses: bool) -> Result<(), String> {
    let samples = load_all(MULTILINGUAL_FILES)?;
    let mut families: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in &samples {
        families.entry(&s.family).or_default().push(s);
    }
    for (family, samples) in families {
        multilingual_family(guardrail, family, &samples, show_misses);
    }
    Ok(())
}

/// The figures of one family of [`multilingual`].
fn multilingual_family(
    guardrail: &Guardrail,
    family: &str,
    samples: &[&Sample],
    show_misses: bool,
) {
    let what = match family {
        "sysprompt_ml" => "system-prompt extraction",
        "override_ml" => "instruction override",
        other => other,
    };
    let mut langs: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut batches: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut all = Tally::default();
    for s in samples {
        let hit = flagged(guardrail, &s.text);
        let lang = s.id.split(':').nth(1).unwrap_or("unknown");
        langs.entry(lang).or_default().add(&s.split, hit);
        batches.entry(&s.source).or_default().add(&s.split, hit);
        all.add(&s.split, hit);
        if !hit && show_misses && s.split == "dev" {
            eprintln!("miss {}", s.id);
        }
    }
    for (lang, tally) in &langs {
        tally.report(
            &format!("guardrail_detection_{family}_{lang}"),
            &format!("{what}, {lang}"),
        );
    }
    for (batch, tally) in &batches {
        let tag = batch.rsplit(['-', ':']).next().unwrap_or(batch);
        tally.report(
            &format!("guardrail_detection_{family}_batch{tag}"),
            &format!("{what}, {batch}"),
        );
    }
    all.report(
        &format!("guardrail_detection_{family}"),
        &format!("{what}, all languages"),
    );
    let at_80 = langs
        .values()
        .filter(|t| t.heldout.1 > 0 && pct(t.heldout.0, t.heldout.1) >= 80.0)
        .count();
    bench_line(
        &format!("guardrail_{family}_languages_at_80_heldout"),
        at_80 as f64,
        "count",
        None,
    );
}

/// The value after `flag` on the command line.
fn arg_after(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

/// `--probe FILE`: every line of FILE (one text per line, `\n` for a newline) as a tool
/// result through the output sanitizer (rules named in `EVAL_DISABLE` off): caught or not,
/// and the detector's findings. For trying texts you write while tuning; it prints the
/// texts, so never point it at a held-out file.
fn probe(path: &str, why: &dyn Fn(&str) -> String) -> Result<(), String> {
    let mut config = output_sanitizer::Config::default();
    config.detect.disable_rules.extend(disabled_by_env());
    let sanitizer = Sanitizer::new(config).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let (mut hits, mut total) = (0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let line = line.replace("\\n", "\n");
        let (hit, changed, out) = sanitized(&sanitizer, &line);
        hits += usize::from(hit);
        total += 1;
        let mark = if hit {
            "CAUGHT "
        } else if changed {
            "changed"
        } else {
            "-      "
        };
        let head: String = line.chars().take(90).collect();
        println!("{mark} {head}\n        {}", why(&line));
        if changed && !hit {
            println!("        first change: {}", first_change(&line, &out));
        }
    }
    println!("{hits}/{total} caught");
    Ok(())
}

/// Where a rewritten tool result's text first differs from what the tool sent: a few
/// characters of each around the place (what a reader needs to see why it changed).
fn first_change(sent: &str, body: &str) -> String {
    let out: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let got = out["result"]["content"][0]["text"].as_str().unwrap_or(body);
    let at = sent
        .char_indices()
        .zip(got.chars())
        .find(|((_, a), b)| a != b)
        .map_or(sent.len().min(got.len()), |((i, _), _)| i);
    let around = |t: &str| -> String {
        let mut start = at.saturating_sub(40).min(t.len());
        while !t.is_char_boundary(start) {
            start -= 1;
        }
        t[start..]
            .chars()
            .take(100)
            .collect::<String>()
            .replace('\n', "\\n")
    };
    format!("sent {:?}\n        got  {:?}", around(sent), around(got))
}

/// `--probe-prompt FILE`: each line of FILE (`\\n` for a newline) as a user's prompt
/// through the guardrail (default configuration), with the prompt detector's findings.
fn probe_prompts(
    path: &str,
    guardrail: &Guardrail,
    why: &dyn Fn(&str) -> String,
) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let (mut hits, mut total) = (0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let line = line.replace("\\n", "\n");
        let hit = flagged(guardrail, &line);
        hits += usize::from(hit);
        total += 1;
        let mark = if hit { "CAUGHT " } else { "-      " };
        let head: String = line.chars().take(90).collect();
        println!("{mark} {head}\n        {}", why(&line));
    }
    println!("{hits}/{total} caught");
    Ok(())
}

/// Honest inputs per length band, long ones joined from consecutive honest samples.
fn length_bands(
    guardrail: &Guardrail,
    honest: &[Sample],
    show_misses: bool,
    why: &dyn Fn(&str) -> String,
) {
    let mut bands: BTreeMap<&str, Tally> = BTreeMap::new();
    for s in honest {
        let f = flagged(guardrail, &s.text);
        bands
            .entry(band(s.text.len()))
            .or_default()
            .add(&s.split, f);
    }
    for split in ["dev", "heldout"] {
        for (len, max) in [(3_000, 150), (10_000, 60), (30_000, 20), (50_000, 12)] {
            for (i, text) in joined(honest, split, len, max).iter().enumerate() {
                let f = flagged(guardrail, text);
                bands.entry(band(text.len())).or_default().add(split, f);
                if f && show_misses && split == "dev" {
                    eprintln!("false positive joined {len} #{i} {}", why(text));
                }
            }
        }
    }
    for (b, tally) in &bands {
        tally.report(
            &format!("guardrail_false_positive_len_{b}"),
            &format!("honest {b} bytes flagged"),
        );
    }
}

/// Injected tool outputs through the output sanitizer: caught, and whether any attacker
/// artefact survives in a caught one; honest documents as tool outputs: changed or caught.
fn tool_outputs(attacks: &[Sample], honest: &[Sample], show_misses: bool) -> Result<(), String> {
    let mut config = output_sanitizer::Config::default();
    config.detect.disable_rules.extend(disabled_by_env());
    let sanitizer = Sanitizer::new(config).map_err(|e| e.to_string())?;
    let (written_clean, written): (Vec<Sample>, Vec<Sample>) = load_all(WRITTEN_TOOL_OUTPUT_FILES)?
        .into_iter()
        .partition(|s| s.family == "written_clean");
    #[allow(clippy::expect_used)] // a constant
    let re = Regex::new(r"https?://[^\s)\]\x22'<>]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
        .expect("constant regex");
    let mut injected = load_all(TOOL_OUTPUT_FILES)?;
    let (clean_pypi, heldout): (Vec<Sample>, Vec<Sample>) = load_all(HELDOUT_TOOL_OUTPUT_FILES)?
        .into_iter()
        .partition(|s| s.family.starts_with("clean_"));
    injected.extend(heldout);
    injected.extend(written);
    injected.extend(
        attacks
            .iter()
            .filter(|s| {
                matches!(
                    s.family.as_str(),
                    "latent_injection" | "exfiltration" | "instruction_override" | "encoding"
                )
            })
            .cloned(),
    );
    let mut caught: BTreeMap<String, Tally> = BTreeMap::new();
    let (mut with_artefacts, mut surviving) = (Tally::default(), Tally::default());
    for s in &injected {
        let (hit, _, out) = sanitized(&sanitizer, &s.text);
        caught
            .entry(s.family.clone())
            .or_default()
            .add(&s.split, hit);
        if !hit && show_misses && s.split == "dev" {
            eprintln!("tool output miss {} {}", s.id, s.family);
        }
        let arts = artefacts(s, &re);
        if hit && !arts.is_empty() {
            let left = arts.iter().any(|a| survives(&out, a));
            with_artefacts.add(&s.split, true);
            surviving.add(&s.split, left);
            if left && show_misses && s.split == "dev" {
                eprintln!("artefact survives {}", s.id);
            }
        }
    }
    for (family, tally) in &caught {
        tally.report(
            &format!("sanitizer_caught_{family}"),
            &format!("tool output {family} caught"),
        );
    }
    for (suffix, (n, total)) in [
        ("", surviving.all),
        ("_dev", surviving.dev),
        ("_heldout", surviving.heldout),
    ] {
        bench_line(
            &format!("sanitizer_artefacts_surviving_caught{suffix}"),
            n as f64,
            "count",
            None,
        );
        let _ = total;
    }
    eprintln!(
        "caught tool outputs with attacker artefacts: {} ({} with an artefact surviving)",
        with_artefacts.all.1, surviving.all.0
    );
    let (mut changed, mut flagged_clean) = (Tally::default(), Tally::default());
    for s in honest.iter().filter(|s| s.group != "prompts") {
        let (hit, ch, _) = sanitized(&sanitizer, &s.text);
        changed.add(&s.split, ch);
        flagged_clean.add(&s.split, hit);
        if ch && show_misses && s.split == "dev" {
            eprintln!("clean tool output changed {} (caught: {hit})", s.id);
        }
    }
    for split in ["dev", "heldout"] {
        for text in joined(honest, split, 20_000, 20) {
            let (hit, ch, _) = sanitized(&sanitizer, &text);
            changed.add(split, ch);
            flagged_clean.add(split, hit);
        }
    }
    changed.report("sanitizer_clean_changed", "clean tool outputs changed");
    let mut written_changed = Tally::default();
    for s in &written_clean {
        let (hit, ch, _) = sanitized(&sanitizer, &s.text);
        written_changed.add(&s.split, ch);
        if ch && show_misses && s.split == "dev" {
            eprintln!("written clean tool output changed {} (caught: {hit})", s.id);
        }
    }
    written_changed.report(
        "sanitizer_clean_changed_written",
        "written clean tool outputs with honest imperatives changed",
    );
    let mut pypi = Tally::default();
    for s in &clean_pypi {
        let (_, ch, _) = sanitized(&sanitizer, &s.text);
        pypi.add(&s.split, ch);
    }
    pypi.report(
        "sanitizer_clean_changed_pypi",
        "clean tool outputs from the held-out packages changed",
    );
    flagged_clean.report(
        "sanitizer_clean_caught",
        "clean tool outputs caught as injected",
    );
    library_docs(&sanitizer)
}

/// Where `make eval` writes the library docs (`extract_library_docs.py`): the standard
/// library's pydoc pages and the READMEs of the workspace's crates, as this machine has them.
fn library_docs_path() -> std::path::PathBuf {
    std::env::var_os("LIBRARY_DOCS").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/eval/library_docs.jsonl")
        },
        Into::into,
    )
}

/// Honest library documentation nobody tuned on, as a tool result (changed by the output
/// sanitizer at all, or caught) and as a user's prompt (flagged by the guardrail). Skipped
/// with a note when `make eval` has not extracted it.
fn library_docs(sanitizer: &Sanitizer) -> Result<(), String> {
    let path = library_docs_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "library docs: {} missing (make eval extracts them)",
            path.display()
        );
        return Ok(());
    };
    let guardrail = Guardrail::new(Config::default()).map_err(|e| e.to_string())?;
    let (mut changed, mut flagged_prompt) = (Tally::default(), Tally::default());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let (doc, split) = (
            v["text"].as_str().unwrap_or(""),
            v["split"].as_str().unwrap_or(""),
        );
        changed.add(split, sanitized(sanitizer, doc).1);
        flagged_prompt.add(split, flagged(&guardrail, doc));
    }
    changed.report(
        "sanitizer_clean_changed_library_docs",
        "library docs (pydoc pages, crate READMEs) changed as tool outputs",
    );
    flagged_prompt.report(
        "guardrail_false_positive_library_docs",
        "library docs (pydoc pages, crate READMEs) flagged as prompts",
    );
    Ok(())
}

/// `--speed`: the detector's native throughput (MB/s) on the bench corpus (`make bench`'s
/// mix of docs, chat, records and written samples), 1 MB scanned as 64 KiB texts, best of
/// five rounds of about a second each: compare builds by running them in turn.
fn speed(detector: &Detector) {
    let text = prose(1_000_000);
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + (64 << 10)).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        chunks.push(&text[start..end]);
        start = end;
    }
    let mut best = 0.0f64;
    for _ in 0..5 {
        let t0 = std::time::Instant::now();
        let mut bytes = 0usize;
        while t0.elapsed().as_secs_f64() < 1.0 {
            for c in &chunks {
                std::hint::black_box(detector.scan(c));
                bytes += c.len();
            }
        }
        best = best.max(bytes as f64 / 1e6 / t0.elapsed().as_secs_f64());
    }
    bench_line("detector_native_throughput", best, "MB/s", None);
}
