//! Prompt-injection detection engine shared by the prompt guardrail (MCP-01) and the output sanitizer (MCP-13).
//!
//! A [`Detector`] is built once per plugin configuration ([`DetectConfig`]) and scans text
//! in linear time: the text is normalised ([`normalize`]), matched by the rules on the folded
//! view (plus operator rules on the plain view; one literal pass, then each rule in its own
//! windows, see [`rules`]), checked for structural tricks ([`hidden`]), and its
//! base64/hex/escaped spans are decoded and scanned too ([`decode`]). Every [`Finding`]
//! names its rule, family and weight and points at the original bytes, so callers can
//! block, redact ([`neutralise()`]) or annotate. The filter decides what a score means with
//! [`Detector::verdict`] and the per-family [`Mode`].

pub mod anchors;
pub mod concepts;
pub mod config;
pub mod decode;
pub mod fold;
pub mod hidden;
pub mod json;
pub mod lexicon;
pub mod neutralise;
pub mod ngram_model;
pub mod normalize;
pub mod rules;

pub use config::{DetectConfig, ExtraRule, Family, FamilyConfig, Mode, ModelConfig};
pub use decode::Encoding;
pub use json::{JsonFinding, JsonScan};
pub use neutralise::{
    neutralise, neutralise_directive, strip_artefacts, strip_invisible, ARTEFACT_MARKER,
    REDACTION_MARKER,
};

use crate::config::{ConfigError, Validate};
use crate::pace::{self, Pace};
use hidden::{Hidden, Signal};
use ngram_model::NgramModel;
use normalize::{normalize, View};
use rules::{Compiled, RuleSet, Work};
use std::ops::Range;
use std::sync::Arc;

/// Largest text scanned in one call; the rest is not scanned and [`Scan::truncated`] is
/// set so the caller can fail closed.
pub const MAX_SCAN_BYTES: usize = 16 << 20;
/// Most findings kept per scan (the score is already decided long before).
pub const MAX_FINDINGS: usize = 256;
/// Most matches reported per rule and view.
pub const MAX_HITS_PER_RULE: usize = 8;

/// One reason a text looks like an injection.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Stable rule id (`io.ignore_previous`, `hidden.image_beacon`, or an extra rule's id).
    pub rule_id: Arc<str>,
    /// The rule's family.
    pub family: Family,
    /// The rule's weight after the family scale.
    pub score: f32,
    /// Byte range in the original text; for content found inside an encoded span, the
    /// whole encoded span.
    pub span: Range<usize>,
    /// Set when the match was inside decoded base64/hex/escaped content.
    pub encoding: Option<Encoding>,
    /// Extra context for audit records (the host of an image beacon).
    pub detail: Option<String>,
}

impl Finding {
    pub(crate) fn new(
        rule_id: Arc<str>,
        family: Family,
        score: f32,
        span: Range<usize>,
        detail: Option<String>,
    ) -> Self {
        Self {
            rule_id,
            family,
            score,
            span,
            encoding: None,
            detail,
        }
    }

    /// Whether [`neutralise()`] replaces this finding's span with the redaction marker
    /// (character-level findings are stripped instead).
    pub fn redacts(&self) -> bool {
        !Signal::is_char_level(&self.rule_id)
    }
}

/// The outcome of scanning one text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scan {
    /// Sum over distinct rules of their weight (a rule counts once however often it hits)
    /// within the densest neighbourhood of the text (see [`NEIGHBOURHOOD_BYTES`]).
    pub score: f32,
    /// Findings in order of discovery, at most [`MAX_FINDINGS`].
    pub findings: Vec<Finding>,
    /// The text exceeded [`MAX_SCAN_BYTES`] and its tail was not scanned.
    pub truncated: bool,
    /// Bytes handed to the rule automata (one pass for the anchors, then each rule's
    /// windows), over every view and decoded span: the work the scan did, which grows
    /// linearly with the text (tests assert it).
    pub work: usize,
}

impl Scan {
    /// Score contributed by one family (distinct rules, like [`Scan::score`]).
    pub fn family_score(&self, family: Family) -> f32 {
        score_of(self.findings.iter().filter(|f| f.family == family))
    }

    /// Families with at least one finding, each once, in [`Family::ALL`] order.
    pub fn families(&self) -> Vec<Family> {
        Family::ALL
            .into_iter()
            .filter(|fam| self.findings.iter().any(|f| f.family == *fam))
            .collect()
    }
}

/// How far apart (bytes between span starts) two findings may be and still add up.
///
/// An attack is written in one place; honest text of any length holds, here and there, a
/// word a rule weighs a little. Summing every rule over a whole document made the false
/// positives grow with its length (a 30 KB paste summed weak hits from pages apart), so
/// rules only add up within a neighbourhood, and the score of a text is that of its
/// densest neighbourhood. Findings without a span (a scan-wide signal) count everywhere.
/// 768 bytes is a paragraph or two: at 2 KiB, two half-weight hits from neighbouring
/// paragraphs of joined honest texts ("stay in character" here, "send the minutes to our
/// new address" there) still made 3-10 KB inputs fail 2.3% of the time; at 768 no attack
/// family of the evaluation lost a sample.
pub const NEIGHBOURHOOD_BYTES: usize = 768;

/// The score of a set of findings: over every neighbourhood of [`NEIGHBOURHOOD_BYTES`]
/// around a finding, the sum over distinct rule ids of the highest score each reached
/// there; the best neighbourhood wins.
pub(crate) fn score_of<'a>(findings: impl Iterator<Item = &'a Finding>) -> f32 {
    let all: Vec<&Finding> = findings.collect();
    let global = |f: &Finding| f.span.is_empty();
    let near =
        |a: &Finding, b: &Finding| a.span.start.abs_diff(b.span.start) <= NEIGHBOURHOOD_BYTES;
    let mut best: Option<f32> = None;
    for anchor in all.iter().filter(|f| !global(f)) {
        let local = distinct_sum(all.iter().copied().filter(|g| global(g) || near(anchor, g)));
        best = Some(best.map_or(local, |b| b.max(local)));
    }
    best.unwrap_or_else(|| distinct_sum(all.into_iter()))
}

/// Sum over distinct rule ids of the highest score each reached; when every one of them is
/// a [`rules::CONTEXT_RULES`] rule (a setting without an ask), [`rules::CONTEXT_ALONE`] of it.
fn distinct_sum<'a>(findings: impl Iterator<Item = &'a Finding>) -> f32 {
    let mut best: Vec<(&str, f32)> = Vec::new();
    for f in findings {
        match best.iter_mut().find(|(id, _)| *id == &*f.rule_id) {
            Some((_, s)) => *s = s.max(f.score),
            None => best.push((&f.rule_id, f.score)),
        }
    }
    let sum: f32 = best.iter().map(|(_, s)| s).sum();
    if !best.is_empty() && best.iter().all(|(id, _)| rules::CONTEXT_RULES.contains(id)) {
        sum * rules::CONTEXT_ALONE
    } else {
        sum
    }
}

/// What the configuration says to do with a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Below the threshold.
    Clean,
    /// Over the threshold, but only annotate-mode families contributed.
    Annotate,
    /// Over the threshold with a block-mode family contributing.
    Block,
}

/// Where a scanned text comes from, which decides the rules that apply to it.
///
/// A user asking their agent "please transfer $500 from my account to Bob" is honest; the
/// same sentence inside an e-mail a tool returned is a third party giving the agent an
/// order. Rules for such requests ([`rules::data_only`]) run on tool outputs only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channel {
    /// What a user or client sends (the prompt guardrail).
    #[default]
    Prompt,
    /// What a tool returns (the output sanitizer): data, never instructions.
    ToolOutput,
}

/// The compiled detection engine; build once per configuration and keep it.
#[derive(Debug, Clone)]
pub struct Detector {
    rules: Compiled,
    hidden: Hidden,
    threshold: f32,
    modes: [Mode; 7],
    model: Option<ModelRule>,
    concepts: Option<ConceptRule>,
}

/// The concept stage ([`concepts`]) as configured: the lexicon, the requests it looks
/// for and their findings' scores.
#[derive(Debug, Clone)]
struct ConceptRule {
    matcher: concepts::ConceptMatcher,
    /// The enabled requests.
    requests: Vec<concepts::Request>,
    /// Each enabled request's weight, in the order of `requests`.
    weights: Vec<f32>,
}

impl ConceptRule {
    fn new(config: &DetectConfig) -> Result<Option<Self>, ConfigError> {
        let requests: Vec<_> = concepts::Request::ALL
            .into_iter()
            .filter(|r| config.rule_enabled(r.id(), r.family()))
            .collect();
        if requests.is_empty() {
            return Ok(None);
        }
        let matcher = concepts::ConceptMatcher::builtin()
            .map_err(|e| ConfigError::invalid(config::field("disable_rules"), e))?;
        let weights = requests
            .iter()
            .map(|r| concepts::WEIGHT * config.family(r.family()).weight_scale)
            .collect();
        Ok(Some(Self {
            matcher,
            requests,
            weights,
        }))
    }

    /// A finding for the first request of each enabled kind in the view.
    fn scan(&self, view: &View) -> Vec<Finding> {
        self.matcher
            .find(view, &self.requests)
            .into_iter()
            .map(|(request, span)| {
                let i = self.requests.iter().position(|r| *r == request);
                Finding::new(
                    request.id().into(),
                    request.family(),
                    i.map_or(concepts::WEIGHT, |i| self.weights[i]),
                    view.map.to_original(span),
                    None,
                )
            })
            .collect()
    }
}

/// Log-odds added to the model's cut per e-fold of windows scored (see [`ModelRule`]).
pub const MODEL_LENGTH_SLOPE: f32 = 0.35;
/// Fewest words for the model to decide alone.
pub const MODEL_MIN_WORDS: usize = 16;
/// Fewest characters for the model to decide alone.
pub const MODEL_MIN_CHARS: usize = 100;

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// The n-gram model as configured: the cut and the score of its finding.
#[derive(Debug, Clone)]
struct ModelRule {
    model: NgramModel,
    min_probability: f32,
    weight: f32,
}

impl ModelRule {
    fn new(config: &DetectConfig) -> Result<Option<Self>, ConfigError> {
        if !config.rule_enabled(ngram_model::RULE_ID, ngram_model::FAMILY) {
            return Ok(None);
        }
        let model =
            NgramModel::builtin().map_err(|e| ConfigError::invalid(config::field("model"), e.0))?;
        let scale = config.family(ngram_model::FAMILY).weight_scale;
        Ok(Some(Self {
            min_probability: config.model.min_probability.unwrap_or(model.default_cut()),
            weight: config.model.weight.unwrap_or(config.threshold) * scale,
            model,
        }))
    }

    /// A finding for the best window of the folded view, when it reaches the cut.
    ///
    /// The cut rises with the number of windows scored (by [`MODEL_LENGTH_SLOPE`] in log-odds
    /// per e-fold of windows), so the chance that some window of an honest text crosses it
    /// does not grow with the text's length the way a maximum over independent windows
    /// does. A text of fewer than [`MODEL_MIN_WORDS`] words or [`MODEL_MIN_CHARS`]
    /// characters is too short for word statistics ("he", "Very nice!"): there the finding
    /// weighs half the threshold and counts only next to a rule's finding.
    fn scan(&self, view: &View) -> Option<Finding> {
        let best = self.model.best_window(&view.text)?;
        let windows = best.windows(self.model.window()) as f32;
        let cut = logit(self.min_probability) + MODEL_LENGTH_SLOPE * windows.ln();
        if logit(best.probability) < cut {
            return None;
        }
        let short = best.words < MODEL_MIN_WORDS || view.text.chars().count() < MODEL_MIN_CHARS;
        let weight = if short {
            self.weight * 0.5
        } else {
            self.weight
        };
        Some(Finding::new(
            ngram_model::RULE_ID.into(),
            ngram_model::FAMILY,
            weight,
            view.map.to_original(best.span),
            Some(format!("p={:.3}", best.probability)),
        ))
    }
}

impl Default for Detector {
    /// The built-in rules with the default configuration.
    #[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
    fn default() -> Self {
        // The built-in table is covered by tests; a failure here is a programming error.
        Self::new(&DetectConfig::default()).expect("built-in rules compile")
    }
}

impl Detector {
    /// Validate the configuration and compile its rules.
    pub fn new(config: &DetectConfig) -> Result<Self, ConfigError> {
        Self::for_channel(config, Channel::Prompt)
    }

    /// Validate the configuration and compile the rules that apply to texts of `channel`.
    pub fn for_channel(config: &DetectConfig, channel: Channel) -> Result<Self, ConfigError> {
        config.validate()?;
        let weights = Signal::ALL.map(|s| {
            config
                .rule_enabled(s.id(), Family::HiddenContent)
                .then(|| s.weight() * config.family(Family::HiddenContent).weight_scale)
        });
        Ok(Self {
            rules: rules::compile(config, channel)?,
            hidden: Hidden {
                weights,
                allowed_hosts: config.allowed_image_hosts.clone(),
            },
            threshold: config.threshold,
            modes: Family::ALL.map(|f| config.family(f).mode),
            model: ModelRule::new(config)?,
            concepts: ConceptRule::new(config)?,
        })
    }

    /// The score at which a scan is a detection.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The configured mode of a family.
    pub fn mode(&self, family: Family) -> Mode {
        self.modes[family as usize]
    }

    /// Block if the score reaches the threshold and a block-mode family contributed,
    /// annotate if it reaches it otherwise.
    pub fn verdict(&self, scan: &Scan) -> Verdict {
        self.verdict_of(scan.score, scan.findings.iter().map(|f| f.family))
    }

    pub(crate) fn verdict_of(
        &self,
        score: f32,
        mut families: impl Iterator<Item = Family>,
    ) -> Verdict {
        if score < self.threshold {
            Verdict::Clean
        } else if families.any(|f| self.mode(f) == Mode::Block) {
            Verdict::Block
        } else {
            Verdict::Annotate
        }
    }

    /// Scan a text: every finding with its span in `text`.
    pub fn scan(&self, text: &str) -> Scan {
        pace::finish(self.scan_paced(text, &Pace::unbounded()))
    }

    /// [`Detector::scan`] in slices: it offers to suspend at `pace`'s checkpoints, between
    /// whole passes over the text (normalisation, the literal pass, each rule, the model),
    /// so a caller can answer other streams between slices. Same findings as `scan`.
    pub async fn scan_paced(&self, text: &str, pace: &Pace) -> Scan {
        let (text, truncated) = clip(text, MAX_SCAN_BYTES);
        let mut findings = Vec::new();
        let mut work = Work::default();
        let norm = self
            .match_text(text, None, pace, &mut work, &mut findings)
            .await;
        if let Some(f) = self.model.as_ref().and_then(|m| m.scan(&norm.view)) {
            push(&mut findings, f);
        }
        for f in self.concepts.iter().flat_map(|c| c.scan(&norm.view)) {
            push(&mut findings, f);
        }
        pace.checkpoint(text.len()).await;
        let mut budget = decode::Budget::default();
        self.scan_decoded(text, 0, None, &mut budget, &mut work, &mut findings);
        drop_fallbacks(&mut findings);
        let structural = self.hidden.scan(text, &norm.marks, &findings);
        add_all(&mut findings, structural);
        if budget.exhausted {
            let sig = Signal::DecodeBudget;
            if let Some(w) = self.hidden.weights[sig as usize] {
                push(
                    &mut findings,
                    Finding::new(sig.id().into(), Family::HiddenContent, w, 0..0, None),
                );
            }
        }
        Scan {
            score: score_of(findings.iter()),
            findings,
            truncated,
            work: work.bytes,
        }
    }

    /// Match the rules against the views of `text`; returns the folded normalisation
    /// (its marks feed the structural signals).
    async fn match_text(
        &self,
        text: &str,
        decoded: Option<(&Range<usize>, Encoding)>,
        pace: &Pace,
        work: &mut Work,
        out: &mut Vec<Finding>,
    ) -> normalize::Normalized {
        let folded = normalize(text, true);
        pace.checkpoint(text.len()).await;
        self.match_view(&folded.view, &self.rules.folded, decoded, pace, work, out)
            .await;
        if !self.rules.plain.is_empty() {
            let plain = normalize(text, false);
            pace.checkpoint(text.len()).await;
            self.match_view(&plain.view, &self.rules.plain, decoded, pace, work, out)
                .await;
        }
        folded
    }

    async fn match_view(
        &self,
        view: &View,
        set: &RuleSet,
        decoded: Option<(&Range<usize>, Encoding)>,
        pace: &Pace,
        work: &mut Work,
        out: &mut Vec<Finding>,
    ) {
        if view.text.is_empty() {
            return;
        }
        let per_rule = if decoded.is_some() {
            1
        } else {
            MAX_HITS_PER_RULE
        };
        for (i, range) in set.matches(&view.text, per_rule, pace, work).await {
            let meta = &self.rules.metas[i];
            let span = match decoded {
                Some((outer, _)) => outer.clone(),
                None => view.map.to_original(trim_context(&view.text, range)),
            };
            let mut f = Finding::new(meta.id.clone(), meta.family, meta.weight, span, None);
            f.encoding = decoded.map(|(_, e)| e);
            push(out, f);
        }
    }

    /// Decode encoded spans of `text` and match them; findings point at `outer` (the
    /// outermost encoded span in the original) or at the span itself at the top level.
    fn scan_decoded(
        &self,
        text: &str,
        depth: usize,
        outer: Option<&Range<usize>>,
        budget: &mut decode::Budget,
        work: &mut Work,
        out: &mut Vec<Finding>,
    ) {
        if depth >= decode::MAX_DECODE_DEPTH {
            return;
        }
        for d in decode::decode_spans(text, budget) {
            let span = outer.unwrap_or(&d.span).clone();
            // Decoded text is bounded by the decode budget: matched in one go.
            let unbounded = Pace::unbounded();
            pace::finish(self.match_text(
                &d.text,
                Some((&span, d.encoding)),
                &unbounded,
                work,
                out,
            ));
            self.scan_decoded(&d.text, depth + 1, Some(&span), budget, work, out);
        }
    }
}

/// Drop the sentence punctuation and spaces a rule matched only as left context, so a
/// redaction does not swallow the end of the previous sentence.
fn trim_context(text: &str, r: Range<usize>) -> Range<usize> {
    let lead = text.as_bytes()[r.clone()]
        .iter()
        .take_while(|b| b" .,;:!?\"*".contains(b))
        .count();
    if lead < r.len() {
        r.start + lead..r.end
    } else {
        r
    }
}

/// Drop findings of [`rules::FALLBACK_RULES`] that another rule of their family overlaps.
fn drop_fallbacks(findings: &mut Vec<Finding>) {
    let fallback = |f: &Finding| rules::FALLBACK_RULES.contains(&&*f.rule_id);
    let covered: Vec<bool> = findings
        .iter()
        .map(|f| {
            fallback(f)
                && findings.iter().any(|g| {
                    !fallback(g)
                        && g.family == f.family
                        && g.span.start < f.span.end
                        && f.span.start < g.span.end
                })
        })
        .collect();
    let mut i = 0;
    findings.retain(|_| {
        i += 1;
        !covered[i - 1]
    });
}

/// Keep a finding unless it repeats one already kept or the cap is reached.
fn push(out: &mut Vec<Finding>, f: Finding) {
    let dup = out
        .iter()
        .any(|o| o.rule_id == f.rule_id && o.span == f.span);
    if !dup && out.len() < MAX_FINDINGS {
        out.push(f);
    }
}

fn add_all(out: &mut Vec<Finding>, more: Vec<Finding>) {
    for f in more {
        push(out, f);
    }
}

/// The longest prefix of `text` within `max` bytes, cut at a character boundary.
fn clip(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod linear_tests;
