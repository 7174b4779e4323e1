#!/usr/bin/env python3
"""Quality anchors for meshguard's scrubber: Presidio's pattern recognizers and Yelp's
detect-secrets on the labeled corpus, per-type recall and precision as JSON on stdout.

    anchors.py presidio        CORPUS   (run with .tools/scrub-presidio/bin/python)
    anchors.py detect-secrets  CORPUS   (run with .tools/scrub-detect-secrets/bin/python)
    anchors.py kingfisher      CORPUS   (any python; runs .tools/scrub-kingfisher/bin/kingfisher)

Secret splits (secrets_*.jsonl) label every credential as type "secret" with its provider
"family": any secret finding overlapping it counts, per family too ("family:<name>"), and
every finding on an honest pagination sample is counted in "pagination_masked".

Offline: Presidio's NLP engine is a blank spaCy pipeline on disk (`SCRUB_BLANK_SPACY`, default
.tools/scrub-blank-en; no model, so only pattern recognizers find anything) and tldextract
uses its bundled suffix list instead of fetching one.

Scoring (the same rule `eval_scrubber` applies to meshguard): a labeled value counts as found
when a finding of a matching type overlaps it; a finding overlapping no labeled value of a
matching type is a false positive charged to its type. Presidio runs at its default score
threshold; detect-secrets with its default plugins and filters, line by line, and its
high-entropy detectors count as finding any secret type they overlap (generous to the anchor).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": {"email"},
    "PHONE_NUMBER": {"phone"},
    "CREDIT_CARD": {"credit_card"},
    "IBAN_CODE": {"iban"},
    "US_SSN": {"ssn"},
    "IP_ADDRESS": {"ip_address"},
}

SECRET_KINDS = {
    "aws_access_key_id", "aws_secret_access_key", "github_token", "gitlab_token", "slack_token",
    "slack_webhook", "stripe_key", "google_api_key", "openai_api_key", "anthropic_api_key", "jwt",
    "private_key", "url_password", "generic_secret",
}

DETECT_SECRETS_TYPES = {
    "AWS Access Key": {"aws_access_key_id", "aws_secret_access_key"},
    "GitHub Token": {"github_token"},
    "GitLab Token": {"gitlab_token"},
    "Slack Token": {"slack_token", "slack_webhook"},
    "Stripe Access Key": {"stripe_key"},
    "OpenAI Token": {"openai_api_key"},
    "JSON Web Token": {"jwt"},
    "Private Key": {"private_key"},
    "Basic Auth Credentials": {"url_password"},
    "Secret Keyword": {"generic_secret"},
    "Base64 High Entropy String": SECRET_KINDS,
    "Hex High Entropy String": SECRET_KINDS,
}

# The kinds each anchor is designed to find (recall is only compared on these).
COVERS = {
    "presidio": sorted(set().union(*PRESIDIO_TYPES.values())),
    "detect_secrets": sorted({
        "aws_access_key_id", "aws_secret_access_key", "github_token", "gitlab_token", "slack_token",
        "slack_webhook", "stripe_key", "openai_api_key", "jwt", "private_key", "url_password",
        "generic_secret",
    }),
}


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def score(samples, findings_of, covers):
    """findings_of(sample) -> [(kinds:set, primary:str, start, end)] in str offsets."""
    stats = {}

    def bump(kind, field):
        stats.setdefault(kind, {"tp": 0, "fn": 0, "fp": 0})[field] += 1

    masked_pagination = 0
    for s in samples:
        found = findings_of(s)
        ents = s["entities"]
        if s.get("format") == "pagination":
            masked_pagination += len(found)
        for e in ents:
            hit = any(e["type"] in kinds and a < e["end"] and e["start"] < b for kinds, _, a, b in found)
            bump(e["type"], "tp" if hit else "fn")
            if "family" in e:
                bump("family:" + e["family"], "tp" if hit else "fn")
            if s.get("format") in ("plain", "json_dumps", "unicode"):
                bump("format:" + s["format"], "tp" if hit else "fn")
        for kinds, primary, a, b in found:
            if not any(e["type"] in kinds and a < e["end"] and e["start"] < b for e in ents):
                bump(primary, "fp")
    out = {}
    if any(s.get("format") == "pagination" for s in samples):
        out["pagination_masked"] = {"recall": None, "precision": None, "count": masked_pagination}
    for kind, c in sorted(stats.items()):
        if kind not in covers and not kind.startswith(("family:", "format:")) and kind != "secret":
            continue
        pos = c["tp"] + c["fn"]
        det = c["tp"] + c["fp"]
        out[kind] = {
            "recall": 100.0 * c["tp"] / pos if pos else None,
            "precision": 100.0 * c["tp"] / det if det else None,
            **c,
        }
    return out


def presidio(samples):
    import tldextract
    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    tldextract.extract = offline
    tldextract.tldextract.extract = offline
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    blank = os.environ.get("SCRUB_BLANK_SPACY", os.path.join(ROOT, ".tools", "scrub-blank-en"))
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": blank}]})
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    entities = list(PRESIDIO_TYPES)

    def findings_of(s):
        res = engine.analyze(text=s["text"], language="en", entities=entities)
        return [(PRESIDIO_TYPES[r.entity_type], next(iter(PRESIDIO_TYPES[r.entity_type])), r.start, r.end)
                for r in res if r.entity_type in PRESIDIO_TYPES]

    return score(samples, findings_of, set(COVERS["presidio"]))


def detect_secrets(samples):
    """`detect-secrets scan` semantics: each sample is a file, scanned with the default
    plugins and filters (the ad-hoc `scan_line` mode reports every token's entropy instead)."""
    import tempfile
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    with tempfile.TemporaryDirectory() as tmp, default_settings():
        paths = {}
        for s in samples:
            path = os.path.join(tmp, f"sample_{s['id']}.txt")
            with open(path, "w") as f:
                f.write(s["text"])
            paths[s["id"]] = path
        collection = SecretsCollection(root=tmp)
        collection.scan_files(*paths.values(), num_processors=1)
        by_file = {}
        for filename, secret in collection:
            by_file.setdefault(os.path.basename(filename), []).append(secret)

        def findings_of(s):
            lines = s["text"].split("\n")
            starts = [0]
            for line in lines:
                starts.append(starts[-1] + len(line) + 1)
            out = []
            for secret in by_file.get(f"sample_{s['id']}.txt", []):
                kinds = DETECT_SECRETS_TYPES.get(secret.type, set()) | {"secret"}
                n = max(secret.line_number - 1, 0)
                line = lines[n] if n < len(lines) else ""
                value = secret.secret_value or ""
                at = line.find(value) if value else -1
                start = starts[n] + max(at, 0)
                end = start + (len(value) if at >= 0 else len(line))
                primary = "generic_secret" if len(kinds) > 3 else sorted(kinds - {"secret"} or kinds)[0]
                out.append((kinds, primary, start, end))
            return out

        return score(samples, findings_of, set(COVERS["detect_secrets"]))


def kingfisher(samples):
    """Kingfisher (PyPI kingfisher-bin) over one file per sample, all rules, no validation
    (offline); any finding overlapping a labeled secret counts."""
    import subprocess
    import tempfile

    exe = os.environ.get("SCRUB_KINGFISHER", os.path.join(ROOT, ".tools", "scrub-kingfisher", "bin", "kingfisher"))
    with tempfile.TemporaryDirectory() as tmp:
        for s in samples:
            with open(os.path.join(tmp, f"sample_{s['id']}.txt"), "w") as f:
                f.write(s["text"])
        proc = subprocess.run(
            [exe, "scan", tmp, "--format", "json", "--no-validate", "--no-update-check"],
            capture_output=True, text=True)
        findings = {}
        try:
            docs = [json.loads(proc.stdout)]
        except ValueError:
            docs = []
            for line in proc.stdout.splitlines():
                try:
                    docs.append(json.loads(line))
                except ValueError:
                    continue
        for doc in docs:
            items = doc.get("findings", []) if isinstance(doc, dict) else doc
            if not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict):
                    continue
                f = item.get("finding", item)
                path = f.get("path") or ""
                snippet = f.get("snippet") or ""
                findings.setdefault(os.path.basename(path), []).append(snippet)

    def findings_of(s):
        out = []
        for snippet in findings.get(f"sample_{s['id']}.txt", []):
            at = s["text"].find(snippet) if snippet else -1
            start, end = (at, at + len(snippet)) if at >= 0 else (0, len(s["text"]))
            out.append(({"secret"}, "secret", start, end))
        return out

    return score(samples, findings_of, {"secret"})


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("presidio", "detect-secrets", "kingfisher"):
        sys.exit(__doc__)
    samples = load(sys.argv[2])
    run = {"presidio": presidio, "detect-secrets": detect_secrets, "kingfisher": kingfisher}
    result = run[sys.argv[1]](samples)
    print(json.dumps({"anchor": sys.argv[1].replace("-", "_"), "types": result}))


if __name__ == "__main__":
    main()
