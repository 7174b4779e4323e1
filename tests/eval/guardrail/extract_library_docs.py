#!/usr/bin/env python3
"""Honest library documentation as a tool returns it, for `make eval` (not committed).

Writes one JSON object per line (`id`, `family` = "library_doc", `source`, `split`, `text`):
the pydoc page of every importable module of this Python's standard library, and the README
of every crate in the workspace's Cargo.lock found in cargo's registry. Nobody tuned the
detector on these; the eval counts how many the output sanitizer changes and the guardrail
flags (`sanitizer_clean_changed_library_docs`, `guardrail_false_positive_library_docs`).
`split` is `dev` when the first 32 bits of sha256(text) are even, else `heldout`: only dev
pages may be read while fixing what they show.

Usage: extract_library_docs.py OUT.jsonl
"""
import glob
import hashlib
import importlib
import json
import os
import pydoc
import sys
import warnings

MAX_CHARS = 60_000
# Modules that open windows, print on import, or pull optional system libraries.
SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"}


def split(text):
    return "dev" if int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 2 == 0 else "heldout"


def pydoc_pages():
    warnings.filterwarnings("ignore")
    for name in sorted(sys.stdlib_module_names):
        if name in SKIP or name.startswith("_"):
            continue
        try:
            module = importlib.import_module(name)
            text = pydoc.render_doc(module, renderer=pydoc.plaintext)
        except BaseException:  # a module this build lacks (e.g. a platform one)
            continue
        # pydoc names the file it read: the same page on every machine.
        text = text.replace(os.path.dirname(os.__file__), "<stdlib>")
        yield f"pydoc:{name}", text


def crate_readmes(lock_path):
    crates = []
    with open(lock_path) as f:
        name = None
        for line in f:
            if line.startswith("name = "):
                name = line.split('"')[1]
            elif line.startswith("version = ") and name:
                version = line.split('"')[1]
                crates.append(f"{name}-{version}")
                name = None
    registry = os.path.expanduser(os.environ.get("CARGO_HOME", "~/.cargo"))
    for crate in sorted(set(crates)):
        for path in sorted(glob.glob(f"{registry}/registry/src/*/{crate}/README.md"))[:1]:
            with open(path, errors="replace") as f:
                yield f"readme:{crate}", f.read()


def main():
    out_path = sys.argv[1]
    lock = os.path.join(os.path.dirname(__file__), "..", "..", "..", "Cargo.lock")
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    n = 0
    with open(out_path, "w") as out:
        for source, text in [*pydoc_pages(), *crate_readmes(lock)]:
            text = text[:MAX_CHARS]
            if len(text) < 200:
                continue
            row = {"id": source, "family": "library_doc", "source": source,
                   "split": split(text), "text": text}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    print(f"{out_path}: {n} library docs", file=sys.stderr)


if __name__ == "__main__":
    main()
