#!/usr/bin/env python3
"""Generate the labeled scrubber corpus (tests/eval/scrubber/corpus.jsonl), deterministically.

PII values come from Faker (a third-party generator, several locales); secrets are
fake-but-well-formed tokens in each provider's published shape. Each positive sample embeds
exactly one labeled value in realistic context: prose, log lines, CSV rows, JSON tool results
(sometimes under a telling key, as real payloads do), .env/YAML config. Negatives are honest
operational data that must pass untouched: order ids, timestamps, hashes, UUIDs, versions,
amounts, trace ids, build numbers, base64 blobs.

    .tools/scrub-presidio/bin/python tests/eval/scrubber/make_corpus.py [--out PATH]

Each line: {"id", "format", "text", "entities": [{"type", "start", "end", "value"}]}; `type`
is a meshguard kind name; offsets are Python str (code point) offsets into `text`, and the
value is also given so consumers working in bytes can find it.
"""

import argparse
import base64
import json
import os
import random
import string

from faker import Faker

SEED = 20240611
PER_TYPE = 150
NEGATIVES = 900

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT"]

rng = random.Random(SEED)
Faker.seed(SEED)
fakers = {loc: Faker(loc) for loc in LOCALES}
for i, f in enumerate(fakers.values()):
    f.seed_instance(SEED + i)
en = fakers["en_US"]

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"


def rand(chars, n):
    return "".join(rng.choice(chars) for _ in range(n))


def fk():
    return fakers[rng.choice(LOCALES)]


# ---------------------------------------------------------------- PII values


def email():
    f = fk()
    v = rng.choice([f.email, f.company_email, f.free_email, f.ascii_safe_email])()
    if rng.random() < 0.2:
        user, dom = v.split("@", 1)
        v = f"{user}+{rand(string.ascii_lowercase, 4)}@{dom}"
    return v


def phone():
    loc = rng.choice(["en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT"])
    f = fakers[loc]
    v = f.phone_number() if rng.random() < 0.75 else f.msisdn()
    if rng.random() < 0.25 and not v.startswith("+"):
        # E.164 form of the same number for an international context.
        digits = "".join(c for c in v if c.isdigit()).lstrip("0")
        cc = {"en_US": "1", "en_GB": "44", "de_DE": "49", "fr_FR": "33", "nl_NL": "31", "es_ES": "34", "it_IT": "39"}[loc]
        if not digits.startswith(cc):
            digits = cc + digits
        v = "+" + digits[:15]
    return v


# Issuer ranges as registered: Faker's JCB and Maestro generators also draw prefixes no issuer
# uses (JCB 3500-3527/3590+, Maestro 0604, 56xx-58xx); such numbers are drawn again.
JCB = range(3528, 3590)
MAESTRO = ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763")


def card():
    brand = rng.choice(["visa16", "mastercard", "amex", "discover", "jcb", "diners", "maestro", "visa16"])
    while True:
        v = en.credit_card_number(card_type=brand)
        if brand == "jcb" and int(v[:4]) not in JCB:
            continue
        if brand == "maestro" and not v.startswith(MAESTRO):
            continue
        break
    style = rng.random()
    if style < 0.3 and len(v) == 16:
        v = " ".join(v[i:i + 4] for i in range(0, 16, 4))
    elif style < 0.45 and len(v) == 16:
        v = "-".join(v[i:i + 4] for i in range(0, 16, 4))
    elif style < 0.55 and len(v) == 15:
        v = f"{v[:4]} {v[4:10]} {v[10:]}"
    return v


def iban():
    f = fakers[rng.choice(["en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT"])]
    v = f.iban()
    if rng.random() < 0.35:
        v = " ".join(v[i:i + 4] for i in range(0, len(v), 4))
    return v


def ssn():
    v = en.ssn()
    if rng.random() < 0.2:
        v = v.replace("-", " ")
    return v


def ip_address():
    r = rng.random()
    if r < 0.55:
        return en.ipv4_public()
    if r < 0.75:
        return en.ipv4_private()
    return en.ipv6()


# ---------------------------------------------------------------- secret values

UPPER_B32 = string.ascii_uppercase + "234567"


def aws_access_key_id():
    return rng.choice(["AKIA", "ASIA"]) + rand(UPPER_B32, 16)


def aws_secret_access_key():
    return rand(B64, 40)


def github_token():
    if rng.random() < 0.3:
        return "github_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59)
    return "gh" + rng.choice("pousr") + "_" + rand(ALNUM, 36)


def gitlab_token():
    return "glpat-" + rand(ALNUM + "-_", 20)


def slack_token():
    digits = string.digits
    kind = rng.choice(["xoxb", "xoxp", "xoxa", "xoxe"])
    return f"{kind}-{rand(digits, 12)}-{rand(digits, 13)}-{rand(ALNUM, 24)}"


def slack_webhook():
    return (
        "https://hooks.slack.com/services/T" + rand(string.ascii_uppercase + string.digits, 8)
        + "/B" + rand(string.ascii_uppercase + string.digits, 10) + "/" + rand(ALNUM, 24)
    )


def stripe_key():
    return rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + rand(ALNUM, rng.choice([24, 34, 99]))


def google_api_key():
    return "AIza" + rand(ALNUM + "-_", 35)


def openai_api_key():
    if rng.random() < 0.5:
        return "sk-" + rand(ALNUM, 20) + "T3BlbkFJ" + rand(ALNUM, 20)
    return "sk-proj-" + rand(ALNUM + "-_", 58) + "T3BlbkFJ" + rand(ALNUM + "-_", 58)


def anthropic_api_key():
    return "sk-ant-api03-" + rand(ALNUM + "-_", 93) + "AA"


def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def jwt():
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    payload = {"sub": en.uuid4(), "iat": rng.randint(1.6e9, 1.8e9), "name": en.name()}
    if rng.random() < 0.5:
        payload["scope"] = rng.choice(["read", "admin", "repo:write"])
    sig_len = {"HS256": 43, "RS256": 342, "ES256": 86}[header["alg"]]
    return f"{b64url(header)}.{b64url(payload)}.{rand(B64URL, sig_len)}"


def private_key():
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY",
                        "ENCRYPTED PRIVATE KEY", "DSA PRIVATE KEY"])
    lines = [rand(B64, 64) for _ in range(rng.randint(3, 12))]
    lines.append(rand(B64, rng.randint(8, 60)) + "==")
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"


def url_password():
    """Returns (full url, password): only the password is the labeled value."""
    user = en.user_name()
    pw = rand(ALNUM + "!$%*", rng.randint(10, 24))
    scheme, port, path = rng.choice([("postgres", 5432, "/orders"), ("postgresql", 5432, "/app"),
                                     ("mysql", 3306, "/crm"), ("mongodb+srv", None, "/prod"),
                                     ("redis", 6379, "/0"), ("amqp", 5672, "/vhost"),
                                     ("https", None, "/repo.git")])
    host = en.domain_name() if rng.random() < 0.6 else f"db-{rand(string.digits, 2)}.internal"
    hostport = f"{host}:{port}" if port else host
    return f"{scheme}://{user}:{pw}@{hostport}{path}", pw


def generic_secret():
    """Returns (assignment text, value)."""
    key = rng.choice(["password", "db_password", "DB_PASSWORD", "api_key", "apiKey", "API_KEY", "client_secret",
                      "secret_key", "auth_token", "access_token", "SECRET_TOKEN", "passwd"])
    value = rand(ALNUM, rng.randint(16, 40)) if rng.random() < 0.7 else rand(ALNUM + "!@#%^*-_", rng.randint(12, 28))
    form = rng.choice(['{k}={v}', '{k}: {v}', '{k} = "{v}"', '"{k}": "{v}"', "{k}='{v}'", "export {k}={v}"])
    return form.format(k=key, v=value), value


# ---------------------------------------------------------------- contexts

PROSE = [
    "Hi team, please reach out to {v} about the overdue invoice.",
    "Customer record updated: {v} (verified by support).",
    "Per the ticket, the value on file is {v}; confirm before closing.",
    "Forwarding the details you asked for: {v}. Let me know if anything is missing.",
    "Note from {name}: use {v} for the follow-up.",
]
LOG = [
    "{ts} INFO  payroll-sync user={user} value={v} status=ok",
    "{ts} WARN  ci-runner step=deploy leaked={v}",
    "[{ts}] DEBUG request id={uuid} field={v}",
    "{ts} ERROR checkout failed for {v} order={order}",
]
CSV = [
    "{name},{v},{city},{order}",
    "{order};{v};{amount} EUR;{ts}",
]
JSON_KEYS = {
    "email": ["email", "contact", "owner"],
    "phone": ["phone", "mobile", "contact_number"],
    "credit_card": ["card_number", "pan", "payment"],
    "iban": ["iban", "account", "payout_account"],
    "ssn": ["ssn", "tax_id", "national_id"],
    "ip_address": ["client_ip", "remote_addr", "source"],
}


def ctx_vars():
    f = fk()
    return {
        "name": f.name(), "city": f.city(), "user": en.user_name(), "uuid": en.uuid4(),
        "ts": en.date_time_between("-2y", "now").isoformat() + "Z", "order": f"ORD-{rng.randint(2020, 2025)}-{rng.randint(0, 999999):06d}",
        "amount": f"{rng.randint(1, 9999)}.{rng.randint(0, 99):02d}",
    }


def embed_pii(kind, value):
    fmt = rng.choice(["prose", "log", "csv", "json", "json"])
    vars_ = ctx_vars()
    if fmt == "json":
        key = rng.choice(JSON_KEYS[kind] + ["note", "text"])
        inner = value if key not in ("note", "text") else f"see {value} for details"
        doc = {"jsonrpc": "2.0", "id": rng.randint(1, 999),
               "result": {"content": [{"type": "text", "text": f"Record {vars_['order']}"}],
                          "structuredContent": {"name": vars_["name"], key: inner, "updated": vars_["ts"]}}}
        return "json", json.dumps(doc)
    template = rng.choice({"prose": PROSE, "log": LOG, "csv": CSV}[fmt])
    return fmt, template.format(v=value, **vars_)


def embed_secret(kind, text_value):
    fmt = rng.choice(["log", "env", "json", "yaml", "prose"])
    vars_ = ctx_vars()
    label = {"aws_access_key_id": "AWS_ACCESS_KEY_ID", "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
             "github_token": "GITHUB_TOKEN", "gitlab_token": "GITLAB_TOKEN", "slack_token": "SLACK_BOT_TOKEN",
             "slack_webhook": "SLACK_WEBHOOK_URL", "stripe_key": "STRIPE_SECRET_KEY", "google_api_key": "GOOGLE_API_KEY",
             "openai_api_key": "OPENAI_API_KEY", "anthropic_api_key": "ANTHROPIC_API_KEY", "jwt": "AUTH_TOKEN",
             "private_key": "TLS_KEY", "url_password": "DATABASE_URL"}.get(kind)
    if kind == "generic_secret":
        fmt = rng.choice(["log", "env", "prose"])
        if fmt == "log":
            return fmt, f"{vars_['ts']} DEBUG config loaded: {text_value}"
        if fmt == "prose":
            return fmt, f"Here is the config you asked for:\n{text_value}\nrotate it after the migration."
        return fmt, f"# service config\nLOG_LEVEL=info\n{text_value}\nREGION=eu-west-1"
    if kind == "private_key":
        fmt = rng.choice(["json", "prose", "env"])
        if fmt == "json":
            doc = {"jsonrpc": "2.0", "id": 3, "result": {"content": [{"type": "text", "text": f"Contents of deploy/{label.lower()}.pem:\n{text_value}"}]}}
            return fmt, json.dumps(doc)
        if fmt == "prose":
            return fmt, f"The old key was:\n{text_value}\nPlease revoke it."
        return fmt, f"cat /etc/ssl/private/server.key\n{text_value}\n$ "
    if kind == "aws_secret_access_key":
        # Real credential dumps carry the key id next to the secret: both are labeled.
        fmt = rng.choice(["env", "json", "yaml", "log"])
        kid = aws_access_key_id()
        extra = [("aws_access_key_id", kid)]
        if fmt == "env":
            return fmt, f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={text_value}\nAWS_REGION=us-east-1", extra
        if fmt == "json":
            return fmt, json.dumps({"Credentials": {"AccessKeyId": kid, "SecretAccessKey": text_value,
                                                    "Expiration": vars_["ts"]}}), extra
        if fmt == "yaml":
            return fmt, f"[default]\naws_access_key_id = {kid}\naws_secret_access_key = {text_value}\n", extra
        return fmt, f"{vars_['ts']} INFO boto: using aws_secret_access_key={text_value}"
    if fmt == "log":
        return fmt, f"{vars_['ts']} INFO  ci-runner step=deploy env {label}={text_value} job={vars_['uuid']}"
    if fmt == "env":
        return fmt, f"# .env for staging\nNODE_ENV=production\n{label}={text_value}\nPORT=8080"
    if fmt == "yaml":
        return fmt, f"env:\n  - name: {label}\n    value: {text_value}\n  - name: REGION\n    value: eu-west-1"
    if fmt == "json":
        doc = {"jsonrpc": "2.0", "id": rng.randint(1, 999),
               "result": {"content": [{"type": "text", "text": f"Build log for {vars_['order']}: exported {label}={text_value} and ran tests"}]}}
        return fmt, json.dumps(doc)
    return fmt, f"Use this credential for the integration: {text_value} (expires next week)."


PII = {"email": email, "phone": phone, "credit_card": card, "iban": iban, "ssn": ssn, "ip_address": ip_address}
SECRETS = {
    "aws_access_key_id": aws_access_key_id, "aws_secret_access_key": aws_secret_access_key,
    "github_token": github_token, "gitlab_token": gitlab_token, "slack_token": slack_token,
    "slack_webhook": slack_webhook, "stripe_key": stripe_key, "google_api_key": google_api_key,
    "openai_api_key": openai_api_key, "anthropic_api_key": anthropic_api_key, "jwt": jwt,
    "private_key": private_key, "url_password": url_password, "generic_secret": generic_secret,
}


def negative():
    f = fk()
    vars_ = ctx_vars()
    pick = rng.randrange(12)
    if pick == 0:
        return "log", f"{vars_['ts']} INFO order {vars_['order']} shipped, {rng.randint(1, 40)} items, total {vars_['amount']} EUR"
    if pick == 1:
        return "json", json.dumps({"jsonrpc": "2.0", "id": rng.randint(1, 10**12), "result": {"structuredContent": {
            "order_id": vars_["order"], "created": vars_["ts"], "epoch_ms": rng.randint(1.6e12, 1.8e12),
            "sha256": en.sha256(), "uuid": en.uuid4(), "status": rng.choice(["paid", "shipped", "refunded"])}}})
    if pick == 2:
        return "log", f"commit {en.sha1()} by {en.user_name()}: bump version to {rng.randint(0, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 99)}"
    if pick == 3:
        return "log", f"[{vars_['ts']}] trace_id={en.hexify('^' * 32)} span_id={en.hexify('^' * 16)} duration_ms={rng.randint(1, 5000)}"
    if pick == 4:
        return "csv", f"{vars_['order']},{vars_['amount']},{en.date()},{rng.randint(100000, 999999)},{en.md5()}"
    if pick == 5:
        return "prose", f"{f.sentence(nb_words=12)} Reference {vars_['order']}, batch {rng.randint(10**7, 10**9)}."
    if pick == 6:
        return "log", f"docker pull registry.example.com/api@sha256:{en.sha256()} # build {rng.randint(1000, 99999)}"
    if pick == 7:
        return "json", json.dumps({"metrics": {"p50_ms": round(rng.random() * 100, 3), "p99_ms": round(rng.random() * 900, 3),
                                               "requests": rng.randint(10**5, 10**9), "window": f"{en.date()}T00:00:00Z"}})
    if pick == 8:
        return "log", f"upload ok: checksum={base64.b64encode(rng.randbytes(24)).decode()} size={rng.randint(1, 10**8)} bytes"
    if pick == 9:
        return "prose", f"Invoice INV-{rng.randint(0, 99999):05d}-{rng.randint(2020, 2025)} dated {en.date()} for {vars_['amount']} was paid on {en.date()}."
    if pick == 10:
        return "log", f"k8s pod api-{en.hexify('^' * 10)}-{rand(string.ascii_lowercase + string.digits, 5)} restarted at {vars_['ts']} (exit 137)"
    return "json", json.dumps({"ticket": f"SRE-{rng.randint(100, 9999)}", "title": f.sentence(nb_words=6),
                               "uuid": en.uuid4(), "version": f"v{rng.randint(1, 3)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
                               "port": rng.choice([443, 8080, 5432, 6379]), "ratio": round(rng.random(), 4)})


def find_span(text, value):
    start = text.find(value)
    if start < 0:
        # JSON-escaped (multi-line values inside a JSON string).
        esc = json.dumps(value)[1:-1]
        start = text.find(esc)
        if start < 0:
            raise ValueError(f"value not in text: {value!r}")
        return start, start + len(esc), esc
    return start, start + len(value), value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.jsonl"))
    args = ap.parse_args()
    rows = []
    for kind, gen in PII.items():
        for _ in range(PER_TYPE):
            v = gen()
            fmt, text = embed_pii(kind, v)
            rows.append((kind, fmt, text, v, []))
    for kind, gen in SECRETS.items():
        for _ in range(PER_TYPE):
            out = gen()
            if isinstance(out, tuple):
                shown, v = out
            else:
                shown, v = out, out
            embedded = embed_secret(kind, shown)
            fmt, text = embedded[0], embedded[1]
            extra = embedded[2] if len(embedded) > 2 else []
            rows.append((kind, fmt, text, v, extra))
    for _ in range(NEGATIVES):
        fmt, text = negative()
        rows.append((None, fmt, text, None, []))
    rng.shuffle(rows)
    with open(args.out, "w") as out:
        for i, (kind, fmt, text, v, extra) in enumerate(rows):
            entities = []
            for k, value in ([(kind, v)] if kind else []) + extra:
                s, e, shown = find_span(text, value)
                entities.append({"type": k, "start": s, "end": e, "value": shown})
            out.write(json.dumps({"id": i, "format": fmt, "text": text, "entities": entities}) + "\n")
    print(f"wrote {len(rows)} samples to {args.out}")


if __name__ == "__main__":
    main()
