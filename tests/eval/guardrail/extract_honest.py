#!/usr/bin/env python3
"""Regenerate honest_public.jsonl: honest text from public, permissively licensed PyPI sdists.

    python3 tests/eval/guardrail/extract_honest.py [--cache DIR]

Standard library only. Each pinned sdist is fetched with
`python3 -m pip download --no-deps --no-binary :all: NAME==VERSION` into a temporary directory
(or into --cache DIR, reused when the file is already there) and read with tarfile; nothing is
installed or imported. Extracted, per package:

- documentation prose: PKG-INFO long description (the README) and the .rst/.md/.txt docs the
  sdist ships (for awscli: its command examples and topic guides), code blocks, directives, tables and headings dropped, paragraphs grouped into
  chunks of about 350-1,500 characters;
- docstrings (module, public classes and functions) of the package's own modules, via ast;
- translations: msgstr of .po catalogues (Django, Sphinx, MkDocs themes), >= 80 characters;
- dialogue: chatterbot-corpus YAML conversations (27 languages), turns joined by newlines.

Filters: 80-1,500 characters; prose only (>= 70% letters/spaces, few code symbols); samples
quoting an attack (ATTACK_QUOTE) are dropped; duplicates (case- and whitespace-insensitive)
removed. Per (package, kind) at most CAPS samples, chosen in sha256 order: half of the cap from
chunks containing a word attackers also use (KEYWORDS), the rest from all others. Output
order is deterministic: package order, then source, then position. Split: extract_garak.split.
"""

import argparse
import ast
import hashlib
import inspect
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from extract_garak import split

OUT = Path(__file__).with_name("honest_public.jsonl")

# (name, version, licence, {kind: cap}); kinds: readme, docs, docstrings, po, dialogue.
PACKAGES = [
    ("django", "5.2.19", "BSD-3-Clause", {"readme": 5, "docs": 370, "docstrings": 90, "po": 300}),
    ("sphinx", "9.0.4", "BSD-2-Clause", {"readme": 5, "docs": 200, "docstrings": 60, "po": 180}),
    ("pip", "26.3", "MIT", {"readme": 5, "docs": 180, "docstrings": 60}),
    ("setuptools", "84.2.1", "MIT", {"readme": 5, "docs": 160, "docstrings": 50}),
    ("pytest", "9.2.0", "MIT", {"readme": 5, "docs": 180, "docstrings": 40}),
    ("celery", "5.7.0", "BSD-3-Clause", {"readme": 5, "docs": 200, "docstrings": 60}),
    ("sqlalchemy", "2.1.9", "MIT", {"readme": 5, "docs": 220, "docstrings": 60}),
    ("flask", "3.1.3", "BSD-3-Clause", {"readme": 5, "docs": 120, "docstrings": 30}),
    ("click", "8.1.8", "BSD-3-Clause", {"readme": 5, "docs": 70, "docstrings": 30}),
    ("jinja2", "3.1.6", "BSD-3-Clause", {"readme": 5, "docs": 70, "docstrings": 30}),
    ("black", "26.10.1", "MIT", {"readme": 5, "docs": 80, "docstrings": 20}),
    ("docutils", "0.23", "public domain (docs), BSD-2-Clause", {"readme": 5, "docs": 120, "docstrings": 40}),
    ("requests", "2.34.2", "Apache-2.0", {"readme": 5, "docstrings": 40}),
    ("httpx", "0.28.1", "BSD-3-Clause", {"readme": 5, "docstrings": 40}),
    ("pyjwt", "2.15.1", "MIT", {"readme": 5, "docs": 50, "docstrings": 30}),
    ("oauthlib", "4.0.1", "BSD-3-Clause", {"readme": 5, "docstrings": 80}),
    ("boto3", "1.44.5", "Apache-2.0", {"readme": 5, "docstrings": 30}),
    ("mkdocs", "1.6.1", "BSD-2-Clause", {"readme": 5, "docstrings": 20, "po": 40}),
    ("awscli", "1.46.3", "Apache-2.0", {"readme": 5, "docs": 320}),
    ("chatterbot-corpus", "1.3.3", "BSD-3-Clause", {"dialogue": 380}),
]

MIN_LEN, MAX_LEN, CHUNK = 80, 1500, 350

KEYWORDS = re.compile(
    r"\b(ignor\w*|system|instruction\w*|prompt\w*|admin\w*|overrid\w*|token\w*|previous\w*|"
    r"role\w*|developer\w*|root|bypass\w*|disabl\w*|secret\w*|password\w*|forget|disregard\w*|"
    r"privilege\w*|superuser\w*|execut\w*)\b",
    re.I,
)
ATTACK_QUOTE = re.compile(
    r"(ignore|disregard|forget)\s+(all\s+|any\s+)?(the\s+|your\s+)?(previous|prior|above|earlier)"
    r"\s+(instructions|prompts?|rules|directions)|jailbr[eo]ak|(?-i:\bDAN\b)|do anything now|"
    r"prompt[ -]injection|developer mode",
    re.I,
)
DOC_SUFFIXES = (".rst", ".md", ".txt")
DOC_DIRS = re.compile(r"^(docs?|documentation|awscli/examples|awscli/topics)/", re.I)
SKIP_DOC = re.compile(r"(^|/)(requirements[^/]*|spelling_wordlist|AUTHORS[^/]*|LICENSE[^/]*|"
                      r"CHANGE[^/]*|HISTORY[^/]*|robots)\.?(txt|rst|md)?$|/releases?/|/changelog",
                      re.I)
PROSE_DIRECTIVES = ("note", "warning", "tip", "important", "seealso", "versionadded",
                    "versionchanged", "deprecated", "admonition", "attention", "caution", "hint")


def fetch(name, version, where):
    """The sdist for name==version in `where` (downloaded with pip unless already there)."""
    base = "[-_]".join(re.escape(part) for part in name.split("-"))
    stem = re.compile(rf"^{base}-{re.escape(version)}\.(tar\.gz|zip)$", re.I)
    found = [p for p in Path(where).iterdir() if stem.match(p.name)]
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--no-binary", ":all:", f"{name}=={version}", "-d", str(where)], check=True)
        found = [p for p in Path(where).iterdir() if stem.match(p.name)]
    if len(found) != 1:
        sys.exit(f"no unique sdist for {name}=={version} in {where}")
    return found[0]


def members(sdist):
    """(path inside the sdist without its top folder, text) for every text file, sorted."""
    out = []
    with tarfile.open(sdist) as tar:
        for m in tar.getmembers():
            if not m.isfile() or m.size > 2_000_000:
                continue
            rel = m.name.split("/", 1)[1] if "/" in m.name else m.name
            try:
                text = tar.extractfile(m).read().decode("utf-8")
            except (UnicodeDecodeError, AttributeError):
                continue
            out.append((rel, text))
    return sorted(out)


def clean_inline(text):
    """Reduce reST / markdown inline markup to its words."""
    text = re.sub(r":[\w:+-]+:`~?!?([^`<]*?)\s*<[^>]*>`", r"\1", text)
    text = re.sub(r":[\w:+-]+:`~?!?([^`]*)`", r"\1", text)
    text = re.sub(r"`([^`<]+?)\s*<[^>]+>`__?", r"\1", text)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    text = re.sub(r"\|([\w -]+)\|", r"\1", text)
    text = re.sub(r"`([^`]+)`_\b", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def is_prose(text):
    """Mostly words: few code symbols, most characters letters or spaces."""
    if len(text) < 40:
        return False
    letters = sum(c.isalpha() or c.isspace() for c in text)
    code = sum(text.count(s) for s in ("{", "}", "=", ";", "()", "$ ", ">>>", "</", "[]", "\\"))
    return letters / len(text) >= 0.7 and code <= len(text) / 80 + 1


def blocks(text):
    """Paragraphs of a reST/markdown document (list of lines each), blank-line separated."""
    para = []
    for line in text.splitlines():
        if line.strip():
            para.append(line.rstrip())
        elif para:
            yield para
            para = []
    if para:
        yield para


def doc_paragraphs(text):
    """Prose paragraphs of a reST or markdown document, markup removed, in order."""
    out, skip_indented, fenced = [], False, False
    for para in blocks(text):
        first = para[0]
        if first.lstrip().startswith(("```", "~~~")):
            ticks = sum(line.lstrip().startswith(("```", "~~~")) for line in para)
            fenced = fenced ^ (ticks % 2 == 1)
            continue
        if fenced:
            continue
        indented = all(line.startswith((" ", "\t")) for line in para)
        if indented and skip_indented:
            continue
        directive = re.match(r"\s*\.\. ([\w:-]+)::", first)
        if first.lstrip().startswith(".."):
            skip_indented = not (directive and directive.group(1) in PROSE_DIRECTIVES)
            continue
        skip_indented = para[-1].endswith("::")
        lines = [line for line in para
                 if not re.fullmatch(r"\s*([=\-~^\"'`#*+_.:])\1{2,}\s*", line)
                 and not line.lstrip().startswith(("#", "|", "+-", "<", "!["))]
        if len(lines) < len(para) and len(lines) <= 1 and len(para) <= 3:
            continue  # a heading with its underline
        body = clean_inline(" ".join(lines))
        body = re.sub(r"\s+::$", "", body)
        if body.endswith("::"):
            body = body[:-1]
        if is_prose(body):
            out.append(body)
    return out


def split_long(text):
    """Cut text longer than MAX_LEN at sentence ends."""
    if len(text) <= MAX_LEN:
        return [text]
    out, cur = [], ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if cur and len(cur) + len(sentence) + 1 > MAX_LEN:
            out.append(cur)
            cur = ""
        cur = f"{cur} {sentence}".strip()
    out.append(cur)
    return [t for t in out if len(t) <= MAX_LEN]


def chunks(paragraphs):
    """Consecutive paragraphs grouped until about CHUNK characters (one sample each)."""
    out, cur = [], []
    for p in (piece for para in paragraphs for piece in split_long(para)):
        if cur and len("\n\n".join(cur + [p])) > MAX_LEN:
            out.append("\n\n".join(cur))
            cur = []
        cur.append(p)
        if len("\n\n".join(cur)) >= CHUNK:
            out.append("\n\n".join(cur))
            cur = []
    if cur:
        out.append("\n\n".join(cur))
    return out


def readme(files):
    """The long description (README) in PKG-INFO, after the header."""
    for rel, text in files:
        if rel == "PKG-INFO":
            body = text.split("\n\n", 1)[1] if "\n\n" in text else ""
            return [("README", c) for c in chunks(doc_paragraphs(body))]
    return []


def docs(files):
    out = []
    for rel, text in files:
        if rel.endswith(DOC_SUFFIXES) and DOC_DIRS.match(rel) and not SKIP_DOC.search(rel):
            out.extend((rel, c) for c in chunks(doc_paragraphs(text)))
    return out


def docstrings(files, package):
    """Docstrings of the package's own modules (not tests, docs or build scripts)."""
    top = re.compile(rf"^(src/|lib/)?{re.escape(package)}/", re.I)
    out = []
    for rel, text in files:
        if not rel.endswith(".py") or not top.match(rel) or re.search(r"(^|/)tests?/|/_vendor/", rel):
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name.startswith("_"):
                    continue
            elif not isinstance(node, ast.Module):
                continue
            doc = ast.get_docstring(node, clean=False)
            if doc:
                out.extend((f"{rel}#docstring", c)
                           for c in chunks(doc_paragraphs(inspect.cleandoc(doc))))
    return out


def po_strings(text):
    """(msgid, msgstr) pairs of a gettext catalogue, continuation lines joined."""
    pairs, cur, key = [], {}, None
    for line in text.splitlines() + [""]:
        line = line.strip()
        m = re.match(r'(msgid|msgstr(\[0\])?|msgctxt|msgid_plural)\s+(".*")$', line)
        if m:
            key = m.group(1).replace("[0]", "")
            if key in ("msgid", "msgctxt") and "msgstr" in cur:
                pairs.append((cur.get("msgid", ""), cur["msgstr"]))
                cur = {}
            cur[key] = cur.get(key, "") + unquote(m.group(3))
        elif line.startswith('"') and key:
            cur[key] = cur.get(key, "") + unquote(line)
        elif not line or line.startswith("#"):
            if "msgstr" in cur:
                pairs.append((cur.get("msgid", ""), cur["msgstr"]))
            cur, key = {}, None
    return pairs


def unquote(s):
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        return s.strip('"')


def po(files):
    out = []
    for rel, text in files:
        if rel.endswith(".po") and "/en/" not in rel:
            for msgid, msgstr in po_strings(text):
                body = re.sub(r"\s+", " ", msgstr).strip()
                if msgid and len(body) >= MIN_LEN:
                    out.append((rel, body))
    return out


def yaml_scalar(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1].replace("''", "'")
    if len(s) >= 2 and s[0] == s[-1] == '"':
        return unquote(s)
    return s


def conversations(text):
    """Turns of each conversation in a chatterbot-corpus YAML file (its simple subset)."""
    convs, turn, block = [], None, None
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("conversations:")), None)
    if start is None:
        return []

    def flush():
        if turn is not None:
            value = "\n".join(turn).strip() if block else yaml_scalar(" ".join(turn))
            convs[-1].append(value)

    for line in lines[start + 1:]:
        m = re.match(r"^(- )?( *)- (.*)$", line)
        if m and len(m.group(1) or "") + len(m.group(2)) <= 2:
            flush()
            if m.group(1):
                convs.append([])
            if not convs:
                convs.append([])
            rest = m.group(3)
            block = rest.strip() in ("|", ">", "|-", ">-")
            turn = [] if block else [rest]
        elif turn is not None and (line.startswith("    ") or not line.strip()):
            turn.append(line[4:] if block else line.strip())
        elif line.strip() and not line.startswith(" "):
            break
    flush()
    return [[t for t in c if t] for c in convs]


def dialogue(files):
    """Whole conversations, consecutive short ones of a file joined until MIN_LEN."""
    out = []
    for rel, text in files:
        if not (rel.endswith((".yml", ".yaml")) and "/data/" in rel):
            continue
        cur = []
        for conv in conversations(text):
            cur.extend(conv)
            joined = "\n".join(cur)
            if len(joined) >= MIN_LEN:
                out.append((rel, joined))
                cur = []
    return out


def h(text):
    return hashlib.sha256(text.encode()).hexdigest()


def norm(text):
    return re.sub(r"\s+", " ", text).strip().lower()


def choose(candidates, cap, seen):
    """At most cap unseen candidates: half with KEYWORDS, the rest any, in sha256 order."""
    ok = []
    for pos, (rel, text) in enumerate(candidates):
        if MIN_LEN <= len(text) <= MAX_LEN and not ATTACK_QUOTE.search(text):
            ok.append((h(text), pos, rel, text))
    ok.sort()
    picked, taken = [], set()

    def take(pool, limit):
        for item in pool:
            if len(picked) >= limit:
                return
            key = norm(item[3])
            if key not in seen and key not in taken:
                taken.add(key)
                picked.append(item)

    take([c for c in ok if KEYWORDS.search(c[3])], cap // 2)
    take(ok, cap)
    seen.update(taken)
    return sorted(picked, key=lambda c: (c[2], c[1]))


def extract(sdist, name, caps):
    files = members(sdist)
    module = {"pyjwt": "jwt", "pytest": "_pytest"}.get(name, name)
    kinds = {
        "readme": lambda: readme(files),
        "docs": lambda: docs(files),
        "docstrings": lambda: docstrings(files, module),
        "po": lambda: po(files),
        "dialogue": lambda: dialogue(files),
    }
    return {kind: kinds[kind]() for kind in caps}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", help="directory for (and of already) downloaded sdists")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(args.cache or tmp)
        where.mkdir(parents=True, exist_ok=True)
        rows, seen = [], set()
        for name, version, _licence, caps in PACKAGES:
            found = extract(fetch(name, version, where), name, caps)
            for kind, cap in caps.items():
                for _, _, rel, text in choose(found[kind], cap, seen):
                    rows.append((f"pypi:{name}-{version}:{rel}", text))
                print(f"{name}-{version} {kind}: {len(found[kind])} candidates", file=sys.stderr)
    with OUT.open("w", encoding="utf-8") as f:
        for n, (source, text) in enumerate(rows, 1):
            f.write(json.dumps({"id": f"p{n:04d}", "family": "honest", "source": source,
                                "split": split("honest", text), "text": text},
                               ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} samples to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
