//! Trains the detector's n-gram jailbreak model on the dev half of the guardrail corpus and
//! writes `filters/core/src/detect/ngram_model.bin`.
//!
//! Logistic regression with L2, AdaGrad over a fixed shuffle (the output is deterministic),
//! on the very windows and features the filter scores ([`window_features`]). Positives are
//! the dev attacks of [`TRAINED_FAMILIES`]; negatives every dev honest sample. Each sample
//! weighs the same whatever its number of windows, and both classes weigh the same. The
//! cut written into the model is the lowest probability at which at most [`FP_BUDGET`] of
//! the dev honest samples score a window over it. Held-out samples are never read here:
//! `make eval` measures them.
//!
//!     cargo run --release -p meshguard-e2e --bin train_guardrail [-- --dry-run | --check]
//!
//! `--check` retrains and fails if the committed model differs (a feature or corpus change
//! without retraining).

use meshguard_core::detect::ngram_model::{norm, window_features, NgramModel};
use meshguard_e2e::guardrail_corpus::{load_all, Sample, ATTACK_FILES, MODEL_HONEST_FILES};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Attack families the model learns: the persona and override texts rules cannot
/// enumerate. Encoded, exfiltration and latent (document-embedded) injections are the
/// rules' and the decoder's job; their documents also appear, injection removed, among the
/// honest samples, and learning them teaches the model to flag those documents.
const TRAINED_FAMILIES: &[&str] = &["jailbreak", "jailbreak_inthewild", "instruction_override"];
/// Table size (log2): 16 KiB of weights.
const DIMS_LOG2: u8 = 14;
/// Words per window.
const WINDOW: u16 = 48;
/// Share of dev honest samples (out of fold) allowed over the cut: the rules flag about
/// 0.45% of the dev honest samples on their own, and rules plus model must stay under the
/// 1% goal with room to spare.
const FP_BUDGET: f64 = 0.003;
const EPOCHS: usize = 40;
const L2: f32 = 1e-5;
const LEARNING_RATE: f32 = 0.5;

/// One window as a sparse vector with its label and weight.
struct Example {
    x: Vec<(u32, f32)>,
    y: f32,
    weight: f32,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("training failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let dry_run = std::env::args().any(|a| a == "--dry-run");
    let check = std::env::args().any(|a| a == "--check");
    let hp = Hyper::from_args()?;
    let attacks: Vec<Sample> = load_all(ATTACK_FILES)?
        .into_iter()
        .filter(|s| s.is_dev() && TRAINED_FAMILIES.contains(&s.family.as_str()))
        .collect();
    let honest: Vec<Sample> = load_all(MODEL_HONEST_FILES)?
        .into_iter()
        .filter(Sample::is_dev)
        .collect();
    eprintln!(
        "{} attack and {} honest dev samples; {hp:?}",
        attacks.len(),
        honest.len()
    );
    let (attack_oof, honest_oof) = out_of_fold(&hp, &attacks, &honest);
    let cut = choose_cut(&honest_oof);
    report(cut, &attacks, &attack_oof, &honest, &honest_oof);
    let model = fit(&hp, &attacks, &honest, cut)?;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../filters/core/src/detect/ngram_model.bin");
    if check {
        let committed = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if committed != model {
            return Err(format!(
                "{} is stale: run make train-guardrail",
                path.display()
            ));
        }
        eprintln!("{} is what this trainer writes", path.display());
        return Ok(());
    }
    if !dry_run {
        std::fs::write(&path, model).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Training knobs, overridable for experiments (`--l2 1e-4 --window 64 --epochs 40`).
#[derive(Debug, Clone, Copy)]
struct Hyper {
    l2: f32,
    window: u16,
    epochs: usize,
}

impl Hyper {
    fn from_args() -> Result<Self, String> {
        let mut hp = Hyper {
            l2: L2,
            window: WINDOW,
            epochs: EPOCHS,
        };
        let args: Vec<String> = std::env::args().collect();
        for pair in args.windows(2) {
            let bad = |e: &dyn std::fmt::Display| format!("{} {}: {e}", pair[0], pair[1]);
            match pair[0].as_str() {
                "--l2" => hp.l2 = pair[1].parse().map_err(|e| bad(&e))?,
                "--window" => hp.window = pair[1].parse().map_err(|e| bad(&e))?,
                "--epochs" => hp.epochs = pair[1].parse().map_err(|e| bad(&e))?,
                _ => {}
            }
        }
        Ok(hp)
    }
}

/// Train on the given samples: the model file, with `cut` as its default.
fn fit(hp: &Hyper, attacks: &[Sample], honest: &[Sample], cut: f32) -> Result<Vec<u8>, String> {
    let mut examples = examples_of(hp, attacks, 1.0, 0.5 / attacks.len() as f32);
    let groups = groups(honest);
    for members in groups.values() {
        let weight = 0.5 / groups.len() as f32 / members.len() as f32;
        examples.extend(examples_of(hp, members, 0.0, weight));
    }
    let (weights, bias) = train(hp, &mut examples);
    let (quantised, scale) = quantise(&weights);
    let bytes = NgramModel::to_bytes(DIMS_LOG2, hp.window, bias, scale, cut, &quantised);
    NgramModel::parse(Box::leak(bytes.clone().into_boxed_slice())).map_err(|e| e.0.to_string())?;
    Ok(bytes)
}

/// Each sample's best-window probability from a model that did not see it: four folds
/// inside the dev half. The cut is chosen on these scores, since scores on training
/// samples are optimistic; the held-out half stays unread.
fn out_of_fold(hp: &Hyper, attacks: &[Sample], honest: &[Sample]) -> (Vec<f32>, Vec<f32>) {
    const FOLDS: usize = 4;
    let mut a_scores = vec![0f32; attacks.len()];
    let mut h_scores = vec![0f32; honest.len()];
    for fold in 0..FOLDS {
        let train_on = |all: &[Sample]| -> Vec<Sample> {
            all.iter()
                .enumerate()
                .filter(|(j, _)| j % FOLDS != fold)
                .map(|(_, s)| s.clone())
                .collect()
        };
        let Ok(bytes) = fit(hp, &train_on(attacks), &train_on(honest), 0.5) else {
            continue;
        };
        let Ok(model) = NgramModel::parse(Box::leak(bytes.into_boxed_slice())) else {
            continue;
        };
        for (all, scores) in [(attacks, &mut a_scores), (honest, &mut h_scores)] {
            for (j, s) in all.iter().enumerate().filter(|(j, _)| j % FOLDS == fold) {
                scores[j] = best(&model, &s.text);
            }
        }
    }
    (a_scores, h_scores)
}

/// Honest samples by group; each group weighs the same in training, so the few written
/// hard negatives count as much as the many public documents.
fn groups(honest: &[Sample]) -> BTreeMap<&'static str, Vec<Sample>> {
    let mut out: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
    for s in honest {
        out.entry(s.group).or_default().push(s.clone());
    }
    out
}

/// The windows of every sample, each weighing `class_weight / windows of its sample`.
fn examples_of(hp: &Hyper, samples: &[Sample], y: f32, class_weight: f32) -> Vec<Example> {
    let mut out = Vec::new();
    for s in samples {
        let folded = meshguard_core::detect::normalize::normalize(&s.text, true);
        let windows = window_features(&folded.view.text, DIMS_LOG2, usize::from(hp.window));
        let n = windows.len().max(1) as f32;
        for feats in windows {
            let words = feats.len().div_ceil(2);
            let mut counts: BTreeMap<u32, f32> = BTreeMap::new();
            for f in feats {
                *counts.entry(f).or_default() += 1.0;
            }
            let scale = 1.0 / norm(words);
            out.push(Example {
                x: counts.into_iter().map(|(f, c)| (f, c * scale)).collect(),
                y,
                weight: class_weight / n,
            });
        }
    }
    out
}

/// AdaGrad on the weighted logistic loss; a fixed xorshift shuffle keeps it reproducible.
fn train(hp: &Hyper, examples: &mut [Example]) -> (Vec<f32>, f32) {
    let total: f32 = examples.iter().map(|e| e.weight).sum();
    let mean_weight = total / examples.len() as f32;
    let mut w = vec![0f32; 1 << DIMS_LOG2];
    let mut g2 = vec![1e-8f32; 1 << DIMS_LOG2];
    let (mut b, mut b2) = (0f32, 1e-8f32);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..hp.epochs {
        for i in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        for &i in &order {
            let e = &examples[i];
            let z = b + e.x.iter().map(|&(f, v)| w[f as usize] * v).sum::<f32>();
            let p = 1.0 / (1.0 + (-z).exp());
            let g = (p - e.y) * e.weight / mean_weight;
            for &(f, v) in &e.x {
                let f = f as usize;
                let grad = g * v + hp.l2 * w[f];
                g2[f] += grad * grad;
                w[f] -= LEARNING_RATE * grad / g2[f].sqrt();
            }
            b2 += g * g;
            b -= LEARNING_RATE * g / b2.sqrt();
        }
    }
    (w, b)
}

/// Symmetric 8-bit quantisation: weight = q * scale.
fn quantise(w: &[f32]) -> (Vec<i8>, f32) {
    let max = w.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let scale = max / 127.0;
    let q = w
        .iter()
        .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scale)
}

fn best(model: &NgramModel, text: &str) -> f32 {
    let folded = meshguard_core::detect::normalize::normalize(text, true);
    model
        .best_window(&folded.view.text)
        .map_or(0.0, |w| w.probability)
}

/// The lowest cut that keeps the out-of-fold honest scores over it within the budget.
fn choose_cut(honest_scores: &[f32]) -> f32 {
    let mut scores = honest_scores.to_vec();
    scores.sort_by(|a, b| b.total_cmp(a));
    let allowed = (FP_BUDGET * scores.len() as f64).floor() as usize;
    scores.get(allowed).map_or(0.5, |s| s.next_up()).max(0.5)
}

/// Out-of-fold detection per family and false positives at the cut.
fn report(cut: f32, attacks: &[Sample], a_scores: &[f32], honest: &[Sample], h_scores: &[f32]) {
    let mut per: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (s, p) in attacks.iter().zip(a_scores) {
        let t = per.entry(s.family.as_str()).or_default();
        t.0 += usize::from(*p >= cut);
        t.1 += 1;
    }
    eprintln!("out of fold, model alone, cut {cut:.4}:");
    for (family, (hit, n)) in per {
        eprintln!("  {family}: {hit}/{n}");
    }
    let fp: Vec<&str> = honest
        .iter()
        .zip(h_scores)
        .filter(|(_, p)| **p >= cut)
        .map(|(s, _)| s.id.as_str())
        .collect();
    eprintln!(
        "  honest over the cut: {}/{} {fp:?}",
        fp.len(),
        honest.len()
    );
    for (group, members) in groups(honest) {
        let over = members
            .iter()
            .filter(|s| fp.contains(&s.id.as_str()))
            .count();
        eprintln!("    {group}: {over}/{}", members.len());
    }
}
