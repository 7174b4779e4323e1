#!/usr/bin/env python3
"""Generate the dev and held-out splits of the scrubber evaluation (issue #18), deterministically.

PII: presidio-evaluator's sentence generator (its own templates and Faker providers), one
seed per split: the dev seed was the only one looked at while building the detectors; the
held-out seed was generated once for the figures. Each sentence is used as written
("plain"), and a share of them the way tools return data: as `json.dumps(record)` text
("json_dumps", values after `\\n`/`\\t` escapes) and with digits and spaces of other scripts
("unicode": full-width or Arabic-Indic digits, non-breaking spaces).

Secrets: one token per provider family per sample, in each provider's documented format,
in prose, .env, YAML, JSON and log-line contexts; dev and held-out use different seeds and
different context templates. Honest pagination/metadata values under `*token*` and
`*password*` keys are the negatives ("pagination": none may be masked).

    .tools/scrub-presidio/bin/python tests/eval/scrubber/make_splits.py

Writes pii_dev.jsonl, pii_heldout.jsonl, secrets_dev.jsonl, secrets_heldout.jsonl next to
this file, in corpus.jsonl's format plus a "family" per secret entity.
"""

import json
import os
import random
import string

HERE = os.path.dirname(os.path.abspath(__file__))

PII_SEEDS = {"dev": 11, "heldout": 20261202}
SECRET_SEEDS = {"dev": 12, "heldout": 31337}
PII_SAMPLES = {"dev": 600, "heldout": 1500}
SECRETS_PER_FAMILY = {"dev": 4, "heldout": 10}

TYPES = {
    "PHONE_NUMBER": "phone",
    "EMAIL_ADDRESS": "email",
    "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban",
    "US_SSN": "ssn",
    "IP_ADDRESS": "ip_address",
}

FULLWIDTH = {c: chr(0xFF10 + int(c)) for c in string.digits}
ARABIC_INDIC = {c: chr(0x0660 + int(c)) for c in string.digits}


def pii_split(split):
    from presidio_evaluator.data_generator import PresidioSentenceFaker

    seed = PII_SEEDS[split]
    random.seed(seed)
    rng = random.Random(seed)
    faker = PresidioSentenceFaker("en_US", lower_case_ratio=0.0, random_seed=seed)
    out = []
    records = faker.generate_new_fake_sentences(num_samples=PII_SAMPLES[split])
    for i, rec in enumerate(records):
        spans = [s for s in rec.spans if s.entity_type in TYPES]
        if not spans:
            continue
        text = rec.full_text
        entities = [
            {"type": TYPES[s.entity_type], "value": text[s.start_position:s.end_position]}
            for s in spans
        ]
        fmt = rng.choice(["plain", "plain", "json_dumps", "unicode"])
        if fmt == "json_dumps":
            # A record whose note holds the sentence after a line break, dumped as text.
            record = {"id": i, "note": "Record:\n" + text.replace(". ", ".\n"), "ok": True}
            dumped = json.dumps(record)
            ents = []
            for e in entities:
                escaped = json.dumps(e["value"])[1:-1]
                if escaped in dumped:
                    ents.append({"type": e["type"], "value": escaped})
            text, entities = dumped, ents
        elif fmt == "unicode":
            table = rng.choice([FULLWIDTH, ARABIC_INDIC])
            ents = []
            for e in entities:
                v = e["value"]
                mapped = "".join(table.get(c, c) for c in v) if e["type"] != "email" else v
                mapped = mapped.replace(" ", "\u00a0")
                text = text.replace(v, mapped)
                ents.append({"type": e["type"], "value": mapped})
            entities = ents
        if entities:
            out.append({"id": f"pii-{split}-{i}", "format": fmt, "text": text, "entities": entities})
    return out


ALNUM = string.ascii_letters + string.digits
URL = ALNUM + "_-"
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l".upper()


def families(r):
    """Provider family -> a fresh token in its documented format."""
    t = lambda a, n: "".join(r.choice(a) for _ in range(n))
    return {
        "aws": lambda: "AKIA" + t("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
        "github_classic": lambda: r.choice(["ghp_", "gho_", "ghs_", "ghu_"]) + t(ALNUM, 36),
        "github_fine_grained": lambda: "github_pat_" + t(ALNUM, 22) + "_" + t(ALNUM, 59),
        "gitlab_pat": lambda: "glpat-" + t(URL, 20),
        "gitlab_other": lambda: r.choice(["gldt-", "glrt-", "glptt-", "glft-", "glimt-", "glcbt-", "gloas-", "glsoat-"]) + t(URL, 20),
        "slack_bot": lambda: "xoxb-" + t(string.digits, 12) + "-" + t(string.digits, 12) + "-" + t(ALNUM, 24),
        "slack_app": lambda: "xapp-1-A" + t(string.digits, 10) + "-" + t(string.digits, 13) + "-" + t(HEX, 64),
        "stripe": lambda: r.choice(["sk_live_", "rk_live_", "sk_test_"]) + t(ALNUM, 24),
        "google_api": lambda: "AIza" + t(URL, 35),
        "openai": lambda: "sk-proj-" + t(URL, 48) + "T3BlbkFJ" + t(URL, 48),
        "anthropic": lambda: "sk-ant-api03-" + t(URL, 93) + "AA",
        "huggingface": lambda: "hf_" + t(string.ascii_letters, 34),
        "npm": lambda: "npm_" + t(ALNUM, 36),
        "pypi": lambda: "pypi-AgEIcHlwaS5vcmc" + t(URL, 140),
        "sendgrid": lambda: "SG." + t(URL, 22) + "." + t(URL, 43),
        "shopify": lambda: r.choice(["shpat_", "shpss_", "shpca_", "shppa_"]) + t(HEX, 32),
        "twilio": lambda: "SK" + t(HEX, 32),
        "square": lambda: r.choice(["sq0atp-" + t(URL, 22), "sq0csp-" + t(URL, 43)]),
        "age": lambda: "AGE-SECRET-KEY-1" + t(BECH32, 58),
        "digitalocean": lambda: "dop_v1_" + t(HEX, 64),
        "databricks": lambda: "dapi" + t(HEX, 32),
        "vault": lambda: "hvs." + t(URL, 90),
        "grafana": lambda: "glsa_" + t(ALNUM, 32) + "_" + t(HEX, 8),
        "newrelic": lambda: "NRAK-" + t(string.ascii_uppercase + string.digits, 27),
        "linear": lambda: "lin_api_" + t(ALNUM, 40),
        "docker_hub": lambda: "dckr_pat_" + t(URL, 27),
        "postman": lambda: "PMAK-" + t(HEX, 24) + "-" + t(HEX, 34),
        "mailchimp": lambda: t(HEX, 32) + "-us" + str(r.randint(1, 21)),
        "replicate": lambda: "r8_" + t(ALNUM, 37),
        "groq": lambda: "gsk_" + t(ALNUM, 52),
        "jwt": lambda: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + t(URL, 60) + "." + t(URL, 43),
        "private_key": lambda: "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(t(B64, 64) for _ in range(4)) + "\n-----END RSA PRIVATE KEY-----",
        "azure_storage": lambda: "DefaultEndpointsProtocol=https;AccountName=st" + t(string.ascii_lowercase, 8) + ";AccountKey=" + t(B64, 86) + "==;EndpointSuffix=core.windows.net",
        "gcp_service_account": lambda: json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\n" + "\n".join(t(B64, 64) for _ in range(4)) + "\n-----END PRIVATE KEY-----\n"}),
        "url_password": lambda: "postgres://app:" + t(ALNUM, 16) + "@db.internal:5432/app",
    }


# The part of a family's sample that must be masked (None = the whole token).
SECRET_PART = {
    "azure_storage": lambda s: s.split("AccountKey=")[1].split(";")[0],
    "gcp_service_account": lambda s: json.loads(s)["private_key"].strip(),
    "url_password": lambda s: s.split("app:")[1].split("@")[0],
}

CONTEXTS = {
    "dev": [
        "export TOKEN={v}",
        "the deploy used {v} yesterday",
        '{{"credential": "{v}"}}',
        "config:\n  key: {v}\n",
    ],
    "heldout": [
        "2026-12-02T10:00:01Z INFO loaded {v} from vault",
        "Please rotate this: {v}",
        "| prod | {v} | owner: ops |",
        "{{\"items\": [{{\"name\": \"ci\", \"value\": \"{v}\"}}]}}",
        "SECRET_VALUE='{v}'",
    ],
}

PAGINATION = [
    ("nextPageToken", lambda t: t(URL, 40)),
    ("page_token", lambda t: "eyJvZmZzZXQiOj" + t(ALNUM, 20)),
    ("continuation_token", lambda t: t(B64, 32) + "=="),
    ("idempotency_token", lambda t: "-".join(t(HEX, n) for n in (8, 4, 4, 4, 12))),
    ("NextToken", lambda t: t(ALNUM, 60)),
    ("password_last_changed", lambda t: "2025-0" + str(1 + len(t(HEX, 1)) % 9) + "-14T08:12:55Z"),
    ("next_token", lambda t: t(URL, 24)),
    ("cursor_token", lambda t: t(ALNUM, 32)),
]


def secrets_split(split):
    r = random.Random(SECRET_SEEDS[split])
    t = lambda a, n: "".join(r.choice(a) for _ in range(n))
    out = []
    fams = families(r)
    for fam, make in sorted(fams.items()):
        for k in range(SECRETS_PER_FAMILY[split]):
            sample = make()
            value = SECRET_PART.get(fam, lambda s: s)(sample)
            ctx = r.choice(CONTEXTS[split])
            if ctx.startswith("{") and "{v}" in ctx:
                text = ctx.replace("{{", "{").replace("}}", "}").replace("{v}", json.dumps(sample)[1:-1])
                value = json.dumps(value)[1:-1]
            else:
                text = ctx.format(v=sample)
            out.append({"id": f"sec-{split}-{fam}-{k}", "format": "secret", "text": text,
                        "entities": [{"type": "secret", "family": fam, "value": value}]})
    for k in range(SECRETS_PER_FAMILY[split] * 3):
        key, make = PAGINATION[k % len(PAGINATION)]
        doc = {"items": [{"id": k}], key: make(t)}
        out.append({"id": f"page-{split}-{k}", "format": "pagination", "text": json.dumps(doc), "entities": []})
        out.append({"id": f"page-{split}-{k}-kv", "format": "pagination", "text": f"{key}={doc[key]}", "entities": []})
    return out


def locate(row):
    """Code-point offsets of each labeled value (its first occurrence); unlocatable values
    are dropped."""
    ents = []
    for e in row["entities"]:
        value = e["value"]
        for _ in range(3):  # as written, or JSON-escaped once or twice (a dump in a dump)
            at = row["text"].find(value)
            if at >= 0:
                ents.append({**e, "value": value, "start": at, "end": at + len(value)})
                break
            value = json.dumps(value)[1:-1]
    return {**row, "entities": ents}


def write(name, rows):
    path = os.path.join(HERE, name)
    rows = [locate(r) for r in rows]
    rows = [r for r in rows if r["entities"] or r["format"] == "pagination"]
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)} samples")


if __name__ == "__main__":
    for split in ("dev", "heldout"):
        write(f"secrets_{split}.jsonl", secrets_split(split))
        write(f"pii_{split}.jsonl", pii_split(split))
