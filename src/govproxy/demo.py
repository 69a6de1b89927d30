"""``govproxy demo``: the whole governance story on loopback, in well under a minute.

A newcomer should be able to see what govproxy does before configuring anything, without
API keys and without network access. So the demo starts the same stand-in provider the
tests use (a TLS "cloud" that impersonates api.openai.com, api.mistral.ai, … and a plain
HTTP "local" model), runs the real ``govproxy run`` in a temporary directory, and drives
it with the official ``openai`` SDK configured only through ``HTTPS_PROXY`` and
``SSL_CERT_FILE`` — exactly what ``eval "$(govproxy env)"`` does for an app. Each step
prints what the app sent, what the provider actually received and what the app got back,
then checks it; the exit status is 0 only when every step behaved as expected, so the demo
doubles as a smoke test of an installation.

All values shown are fake (documentation e-mail domain, test card number, sample IBAN).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govproxy.config import _default_providers
from govproxy.launcher import ProxyProcess
from govproxy.standin import CertBundle, StandinServer, make_test_certs

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
IBAN = "DE89370400440532013000"
PII_PROMPT = f"Draft a reply to {EMAIL} confirming refund to card {CARD} or IBAN {IBAN}."
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDx\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
APP_KEY = "sk-demo-app-key"  # what the app believes is its OpenAI key; the stand-in accepts any
EU_KEY_ENV = "MISTRAL_API_KEY"
EU_KEY = "demo-mistral-key-held-by-the-proxy"
EU_MODEL = "mistral-large-latest"
EU_TENANT = "eu-team"
BUDGET_TENANT = "small-team"
BUDGET_TOKENS = 30

_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


class StepFailed(Exception):
    """A step ran but govproxy did not behave as the demo promises."""


@dataclass
class Demo:
    """Everything the steps share: the stand-ins, the running proxy and the output sink."""

    workdir: Path
    certs: CertBundle
    cloud: StandinServer
    local: StandinServer
    proxy: ProxyProcess
    out: Callable[[str], None]
    bundle: Path | None = None
    results: list[tuple[str, bool]] = field(default_factory=list)

    def show(self, label: str, value: str) -> None:
        self.out(f"   {label:<20} {_quote(value)}")

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            raise StepFailed(what)
        self.out(f"   ✔ {what}")


def _quote(text: str, width: int = 100) -> str:
    one_line = text.replace("\n", "⏎")
    return json.dumps(one_line if len(one_line) <= width else one_line[: width - 1] + "…", ensure_ascii=False)


def _config(cloud: StandinServer, local: StandinServer) -> dict[str, Any]:
    """The proxy's YAML: every provider host pinned to the cloud stand-in, a local model, two tenants."""
    resolve = {f"{h}:443": f"127.0.0.1:{cloud.port}" for cfg in _default_providers().values() for h in cfg.hosts if not h.startswith("*.")}
    return {
        "proxy": {"resolve": resolve},
        "state": {"path": "state.sqlite3"},
        "providers": {
            "local": {"base_url": f"{local.url}/v1"},
            # The built-in EU provider needs to know which of its models stands in for gpt-4o.
            "mistral": {"models": {"map": {"gpt-4o": EU_MODEL}}},
        },
        "tenants": {
            EU_TENANT: {"residency": ["eu"]},
            BUDGET_TENANT: {"budget": {"daily_tokens": BUDGET_TOKENS}},
        },
    }


def _govproxy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    return subprocess.run([sys.executable, "-m", "govproxy.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env, check=False)


@contextmanager
def _app_environment(proxy: ProxyProcess, certs: CertBundle, workdir: Path) -> Iterator[Path]:
    """Set HTTPS_PROXY and SSL_CERT_FILE in this process from ``govproxy env``, restore them after."""
    env = _govproxy("env", "--confdir", str(proxy.confdir), "--roots", str(certs.ca_cert), "--proxy-port", str(proxy.port), cwd=workdir)
    if env.returncode != 0:
        raise StepFailed(f"govproxy env failed: {env.stderr.strip()}")
    values = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in env.stdout.splitlines() if line.startswith("export "))
    saved = {k: os.environ.get(k) for k in (*_PROXY_VARS, "SSL_CERT_FILE")}
    try:
        for k in _PROXY_VARS:
            os.environ.pop(k, None)
        os.environ["HTTPS_PROXY"] = values["HTTPS_PROXY"]
        os.environ["SSL_CERT_FILE"] = values["SSL_CERT_FILE"]
        yield Path(values["SSL_CERT_FILE"])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _client(tenant: str | None = None) -> Any:
    import openai

    headers = {"X-Govproxy-Tenant": tenant} if tenant else None
    return openai.OpenAI(api_key=APP_KEY, max_retries=0, timeout=30, default_headers=headers)


def _ask(prompt: str, tenant: str | None = None) -> str:
    resp = _client(tenant).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
    return resp.choices[0].message.content or ""


def _last_user_text(body: Any) -> str:
    return str(body["messages"][-1]["content"])


# --- the steps --------------------------------------------------------------------------------


def step_clean(d: Demo) -> None:
    prompt = "Summarise the quarterly planning notes in three bullet points."
    d.show("app sent:", prompt)
    reply = _ask(prompt)
    seen = d.cloud.last_request()
    d.show(f"{seen.sni} got:", _last_user_text(seen.json()))
    d.show("app got back:", reply)
    d.check(_last_user_text(seen.json()) == prompt, "forwarded unchanged to the provider the app asked for")
    d.check(prompt in reply, "the provider's answer reached the app")


def step_pii(d: Demo) -> None:
    d.show("app sent:", PII_PROMPT)
    reply = _ask(PII_PROMPT)
    sent = _last_user_text(d.cloud.last_request().json())
    d.show("provider received:", sent)
    d.show("app got back:", reply)
    leaked = [v for v in (EMAIL, CARD, IBAN) if v in sent]
    d.check(not leaked and "[" in sent, "the provider saw placeholders, never the e-mail, card or IBAN")
    d.check(all(v in reply for v in (EMAIL, CARD, IBAN)), "the app got its original values back in the answer")


def step_private_key(d: Demo) -> None:
    prompt = f"Why does ssh reject this key?\n{PRIVATE_KEY}"
    d.show("app sent:", prompt)
    before_requests, before_conns = len(d.cloud.requests), d.cloud.connections
    reply = _ask(prompt)
    seen = d.local.last_request()
    d.show("local model got:", _last_user_text(seen.json()))
    d.show("app got back:", reply)
    d.check(len(d.cloud.requests) == before_requests and d.cloud.connections == before_conns,
            "the cloud provider saw nothing: not a request, not a connection")
    d.check(seen.json().get("model") != "gpt-4o" and seen.header("authorization") is None,
            f"rerouted to the local model ({seen.json().get('model')}); the app's OpenAI key did not follow")


def step_eu_tenant(d: Demo) -> None:
    prompt = "Hello from our Frankfurt office."
    d.show("app sent:", f"{prompt}  (tenant {EU_TENANT}, residency: eu, to api.openai.com)")
    reply = _ask(prompt, tenant=EU_TENANT)
    seen = d.cloud.last_request()
    auth = seen.header("authorization") or ""
    d.show("provider reached:", f"{seen.sni} ({seen.path}), model {seen.json().get('model')}")
    d.show("app got back:", reply)
    d.check(seen.sni == "api.mistral.ai" and seen.json().get("model") == EU_MODEL,
            f"rerouted in-region to the EU provider (api.mistral.ai, {EU_MODEL}), not api.openai.com")
    d.check(auth == f"Bearer {EU_KEY}" and APP_KEY not in auth,
            f"authenticated with the proxy's own {EU_KEY_ENV}; the app's OpenAI key never left")


def step_budget(d: Demo) -> None:
    import openai

    client = _client(BUDGET_TENANT)
    d.out(f"   tenant {BUDGET_TENANT} may use {BUDGET_TOKENS} tokens a day")
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "word " * 60}])
    d.out("   a 60-word prompt:    allowed, and it spends the whole budget")
    before = len(d.cloud.requests)
    d.show("then app sent:", "one more")
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "one more"}])
    except openai.APIStatusError as exc:
        d.out(f"   SDK raised:          openai.{type(exc).__name__}: {textwrap.shorten(str(exc), 160)}")
        d.check(isinstance(exc, openai.PermissionDeniedError) and "budget" in str(exc),
                "denied in the SDK's own error format (403, reason: budget)")
        d.check(len(d.cloud.requests) == before, "the over-budget request never reached the provider")
        return
    raise StepFailed("the over-budget request was not denied")


def step_audit(d: Demo) -> None:
    d.proxy.stop()  # a clean stop signs the final checkpoint
    db = d.proxy.workdir / "audit" / "govproxy.db"
    pub = d.proxy.workdir / "audit" / "keys" / "signing.key.pub"
    bundle = d.workdir / "audit-bundle"
    exp = _govproxy("audit", "export", "--db", str(db), "--out", str(bundle), cwd=d.proxy.workdir)
    d.out(f"   $ govproxy audit export --db {db.name} --out {bundle.name}")
    d.check(exp.returncode == 0, "exported the signed audit trail to a bundle")
    records = [json.loads(line) for line in (bundle / "records.jsonl").read_text().splitlines() if line.strip()]
    kinds: dict[str, int] = {}
    for r in records:
        kinds[str(r.get("kind"))] = kinds.get(str(r.get("kind")), 0) + 1
    d.out(f"   bundle holds {len(records)} records: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    blob = (bundle / "records.jsonl").read_bytes()
    d.check(not any(v.encode() in blob for v in (EMAIL, IBAN, APP_KEY, EU_KEY, "b3BlbnNzaC1rZXkt")),
            "no prompt value, PII or key appears in the exported records")
    ver = _govproxy("audit", "verify", str(bundle), "--pubkey", str(pub), cwd=d.workdir)
    d.out(f"   $ govproxy audit verify {bundle.name} --pubkey {pub.name}    (public key only)")
    for line in ver.stdout.strip().splitlines()[-2:]:
        d.out(f"     {line}")
    d.check(ver.returncode == 0, "verified offline with only the public key: exit 0")

    tampered = d.workdir / "audit-bundle-tampered"
    shutil.rmtree(tampered, ignore_errors=True)
    shutil.copytree(bundle, tampered)
    where = _flip_one_byte(tampered / "records.jsonl")
    d.out(f"   tampering: flipped one byte of a copy's records.jsonl (offset {where})")
    bad = _govproxy("audit", "verify", str(tampered), "--pubkey", str(pub), cwd=d.workdir)
    d.out(f"   $ govproxy audit verify {tampered.name} --pubkey {pub.name}")
    errors = [line for line in bad.stdout.splitlines() if line.startswith("ERROR")]
    for line in [*errors[:3], *bad.stdout.strip().splitlines()[-1:]]:
        d.out(f"     {line}")
    d.check(bad.returncode == 1 and bool(errors), f"the verifier caught it: exit {bad.returncode}, reason {errors[0].split()[1] if errors else '?'}")


def _flip_one_byte(path: Path) -> int:
    """Change one hex digit of a hash inside the middle record, keeping the file valid JSON.

    A byte flip that merely breaks the JSON would be caught by any parser; changing a digit
    of a recorded value is the tampering a signature chain exists to catch.
    """
    data = bytearray(path.read_bytes())
    lines = data.split(b"\n")
    middle = len([ln for ln in lines if ln.strip()]) // 2
    offset = sum(len(ln) + 1 for ln in lines[:middle])
    line = lines[middle]
    for i in range(len(line) // 3, len(line)):
        c = line[i]
        if chr(c) in "0123456789abcdef" and chr(line[i - 1]) in "0123456789abcdef":
            data[offset + i] = ord("0") if c != ord("0") else ord("1")
            path.write_bytes(bytes(data))
            return offset + i
    raise StepFailed("found no value to tamper with in records.jsonl")


STEPS: list[tuple[str, Callable[[Demo], None]]] = [
    ("A clean prompt passes through untouched", step_clean),
    ("A prompt with PII: pseudonymised on the way out, restored on the way back", step_pii),
    ("A prompt with a private key: kept on the local model", step_private_key),
    ("An EU tenant's request: rerouted in-region", step_eu_tenant),
    ("A request over the tenant's budget: denied", step_budget),
    ("The audit trail: exported, verified offline, tampering caught", step_audit),
]


def run_demo(workdir: Path, out: Callable[[str], None] = print) -> int:
    """Run every step in ``workdir``; return 0 when all behaved as expected, else 1."""
    t0 = time.monotonic()
    out("govproxy demo — the governance story on loopback: no API keys, no network\n")
    with ExitStack() as stack:
        certs = make_test_certs(workdir / "standin-certs")
        cloud = stack.enter_context(StandinServer(tls=True, certs=certs, require_api_key=True))
        local = stack.enter_context(StandinServer(tls=False, require_api_key=False))
        out(f"  stand-in 'cloud' provider  https on 127.0.0.1:{cloud.port}  (answers as api.openai.com, api.mistral.ai, …; echoes the prompt)")
        out(f"  stand-in 'local' model     {local.url}")
        proxy = ProxyProcess(
            workdir / "proxy",
            _config(cloud, local),
            mitm_options={"ssl_verify_upstream_trusted_ca": str(certs.ca_cert)},
            env={EU_KEY_ENV: EU_KEY},
        )
        try:
            stack.enter_context(proxy)
        except RuntimeError as exc:
            out(f"  ✘ govproxy did not start: {exc}")
            return 1
        out(f"  govproxy run               {proxy.url}  (config: {proxy.config_path})")
        bundle = stack.enter_context(_app_environment(proxy, certs, workdir))
        out(f"  the app's only settings    HTTPS_PROXY={proxy.url}  SSL_CERT_FILE={bundle}")
        d = Demo(workdir, certs, cloud, local, proxy, out, bundle)
        for n, (title, step) in enumerate(STEPS, 1):
            out(f"\n{n}. {title}")
            try:
                step(d)
                d.results.append((title, True))
            except Exception as exc:  # noqa: BLE001 - a demo step failing must not hide the others
                d.results.append((title, False))
                out(f"   ✘ {type(exc).__name__}: {textwrap.shorten(str(exc), 300)}")
    passed = sum(ok for _, ok in d.results)
    out(f"\ndemo: {passed}/{len(STEPS)} steps behaved as expected in {time.monotonic() - t0:.1f} s")
    return 0 if passed == len(STEPS) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    if args.keep:
        workdir = Path(args.keep).resolve()
        if workdir.exists() and any(workdir.iterdir()):
            # A previous run's audit store and spent budget would change what the demo shows.
            print(f"govproxy demo: --keep {workdir} is not empty; give a new or empty directory", file=sys.stderr)
            return 2
        workdir.mkdir(parents=True, exist_ok=True)
        code = run_demo(workdir)
        print(f"workdir kept: {workdir}")
        return code
    with tempfile.TemporaryDirectory(prefix="govproxy-demo-") as tmp:
        return run_demo(Path(tmp))


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("demo", help="show what govproxy does, on loopback, in under a minute (no keys, no network)")
    p.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (config, audit store, bundles) instead of a temp dir")
    p.set_defaults(func=cmd_demo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govproxy")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
