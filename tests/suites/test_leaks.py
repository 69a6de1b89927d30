"""Issue 7, suite 4: leak canaries.

Unique canary secrets and PII (valid formats: an email, an ``sk-`` key, a Luhn-valid card,
credentials in Authorization, x-api-key and Gemini's ``?key=``) go through every code path:
allowed, denied, rerouted, failed over, errored upstream, malformed. Afterwards every file
the proxy wrote (audit store, WAL, checkpoints, key stores, routing state), an exported audit
bundle, the proxy's output and the /metrics text are searched: zero hits. With encrypted
content storage the canaries exist only inside the encrypted blobs: ``audit show --decrypt``
with the key store shows them, the bytes on disk do not.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import httpx
import pytest

from govproxy.launcher import ProxyProcess, free_port
from tests.e2e.helpers import trust_bundle
from tests.suites.support import (
    CHAT,
    PRIVATE_KEY,
    audit_db,
    audit_pubkey,
    chat_body,
    cli,
    client,
)

RNG = random.Random(7)


def _rand(n: int = 12) -> str:
    return "".join(RNG.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def _luhn_card(prefix: str = "4000") -> str:
    digits = [int(c) for c in prefix] + [RNG.randrange(10) for _ in range(11)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # positions counted from the check digit's left neighbour
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


class Canaries:
    def __init__(self) -> None:
        self.email = f"canary-{_rand()}@example.com"
        self.api_key = f"sk-canary{_rand(24)}"
        self.card = _luhn_card()
        self.bearer = f"sk-canarybearer{_rand(20)}"
        self.x_api_key = f"sk-ant-canary{_rand(20)}"
        self.gemini_key = f"AIzaCanary{_rand(25)}"
        self.plain = f"canaryplain{_rand(16)}"  # no format DLP knows: the request stays internal, its text is stored
        self.allowed_request_id = ""

    @property
    def prompt(self) -> str:
        """PII only (confidential): pseudonymised and sent to the cloud."""
        c = self.card
        return f"Contact {self.email}, card {c[:4]} {c[4:8]} {c[8:12]} {c[12:]}."

    @property
    def secret_prompt(self) -> str:
        """With an API key in the text: critical, kept off the cloud."""
        return f"{self.prompt} Use key {self.api_key}."

    def needles(self) -> dict[str, bytes]:
        c = self.card
        out = {
            "email": self.email, "api_key": self.api_key, "card": c, "card_spaced": f"{c[:4]} {c[4:8]} {c[8:12]} {c[12:]}",
            "bearer": self.bearer, "x_api_key": self.x_api_key, "gemini_key": self.gemini_key, "plain": self.plain,
        }
        return {k: v.encode() for k, v in out.items()}


def _config(cloud, metrics_port: int, content: str = "none") -> dict:
    return {
        "proxy": {"failover": True, "resolve": {"eu-a.test:443": f"127.0.0.1:{cloud.port}", "eu-b.test:443": f"127.0.0.1:{cloud.port}"}},
        "providers": {
            "eu-a": {"kind": "openai-compatible", "base_url": "https://eu-a.test/v1", "region": "eu", "api_key_env": "EU_A_KEY", "models": {"default": "model-a"}},
            "eu-b": {"kind": "openai-compatible", "base_url": "https://eu-b.test/v1", "region": "eu", "api_key_env": "EU_B_KEY", "models": {"default": "model-b"}},
        },
        "tenants": {"eu-team": {"residency": ["eu"], "deny_providers": ["local"]}, "no-gpt": {"deny_models": ["gpt-4o"]}},
        "metrics": {"port": metrics_port},
        "audit": {"content": content},
    }


def _drive_every_path(proxy: ProxyProcess, bundle: Path, cloud, local, c: Canaries) -> dict[str, int]:
    """One request per code path, each carrying all canaries; returns path -> client status."""
    seen: dict[str, int] = {}
    auth = {"authorization": f"Bearer {c.bearer}"}
    with client(proxy, bundle, limits=httpx.Limits(max_keepalive_connections=0)) as h:
        seen["allowed"] = h.post(CHAT, json=chat_body(c.prompt), headers=auth).status_code
        plain = h.post(CHAT, json=chat_body(f"Remember the word {c.plain} for later."), headers=auth)
        seen["allowed_plain"] = plain.status_code
        c.allowed_request_id = plain.headers.get("x-govproxy-request-id", "")
        seen["allowed_stream"] = h.post(CHAT, json=chat_body(c.prompt, stream=True), headers=auth).status_code
        seen["denied"] = h.post(CHAT, json=chat_body(c.prompt), headers={**auth, "X-Govproxy-Tenant": "no-gpt"}).status_code
        seen["rerouted"] = h.post(CHAT, json=chat_body(c.secret_prompt), headers=auth).status_code
        seen["rerouted_key"] = h.post(CHAT, json=chat_body(f"{c.prompt}\n{PRIVATE_KEY}"), headers=auth).status_code
        cloud.set_fault(kind="status", status=503, model="model-a", times=1)
        seen["failed_over"] = h.post(CHAT, json=chat_body(c.prompt), headers={**auth, "X-Govproxy-Tenant": "eu-team"}).status_code
        faults = [(up, up.set_fault(kind="status", status=500, path_prefix="/v1/chat")) for up in (cloud, local)]  # every candidate fails
        seen["errored"] = h.post(CHAT, json=chat_body(c.prompt), headers=auth).status_code
        for up, fid in faults:
            up.clear_fault(fid)
        seen["malformed"] = h.post(CHAT, content=('{"model":"gpt-4o","messages":[{"role":"user","content":"' + c.prompt).encode(),
                                   headers={**auth, "content-type": "application/json"}).status_code
        seen["anthropic"] = h.post("https://api.anthropic.com/v1/messages",
                                   json={"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": c.prompt}]},
                                   headers={"x-api-key": c.x_api_key, "anthropic-version": "2023-06-01"}).status_code
        seen["gemini"] = h.post(f"https://generativelanguage.googleapis.com/v1beta/models/gemini-1.5-flash:generateContent?key={c.gemini_key}",
                                json={"contents": [{"role": "user", "parts": [{"text": c.prompt}]}]}).status_code
    return seen


def _all_bytes_under(root: Path, skip: set[Path] = frozenset()) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and p not in skip}


def _hits(blobs: dict[str, bytes], needles: dict[str, bytes]) -> list[str]:
    return [f"{name} in {where}" for where, data in blobs.items() for name, n in needles.items() if n in data]


@pytest.fixture
def leak_run(start_proxy, certs, cloud, local, tmp_path, request):
    content = getattr(request, "param", "none")
    port = free_port()
    proxy = start_proxy(_config(cloud, port, content), env={"EU_A_KEY": "key-a", "EU_B_KEY": "key-b"})
    bundle = trust_bundle(proxy, certs)
    canaries = Canaries()
    statuses = _drive_every_path(proxy, bundle, cloud, local, canaries)
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10, trust_env=False).text
    proxy.stop()  # flush and sign the final checkpoint
    export = tmp_path / "export"
    exp = cli("audit", "export", "--config", str(proxy.config_path), "--out", str(export), cwd=proxy.workdir)
    assert exp.returncode == 0, exp.stdout + exp.stderr
    return proxy, canaries, statuses, metrics, export


def _paths_were_exercised(statuses: dict[str, int], cloud) -> None:
    assert statuses["allowed"] == 200 and statuses["allowed_stream"] == 200 and statuses["allowed_plain"] == 200
    assert statuses["rerouted"] == 200 and statuses["rerouted_key"] == 200
    assert statuses["denied"] == 403
    assert statuses["failed_over"] == 200
    assert statuses["errored"] >= 500
    assert statuses["malformed"] == 400
    assert statuses["anthropic"] == 200 and statuses["gemini"] == 200
    assert any(r.json().get("model") == "model-b" for r in cloud.requests if r.body)  # failover really happened
    assert any(r.path == "/v1/chat/completions" and r.sni == "api.openai.com" for r in cloud.requests)  # the cloud path, not only local


def test_canaries_never_reach_audit_export_logs_or_metrics(leak_run, cloud):
    proxy, canaries, statuses, metrics, export = leak_run
    _paths_were_exercised(statuses, cloud)
    needles = canaries.needles()
    confdir = set(proxy.confdir.rglob("*"))
    blobs = {str(p.relative_to(proxy.workdir)): b for p, b in _all_bytes_under(proxy.workdir, confdir).items()}
    assert any(k.startswith("audit/") for k in blobs) and any(k.endswith("govproxy.db") for k in blobs)
    blobs.update({f"export/{p.name}": b for p, b in _all_bytes_under(export).items()})
    blobs["proxy output"] = proxy.output.encode()
    blobs["/metrics"] = metrics.encode()
    assert "govproxy_requests_total" in metrics
    hits = _hits(blobs, needles)
    assert not hits, f"canaries leaked: {hits}"
    ver = cli("audit", "verify", str(export), "--pubkey", str(audit_pubkey(proxy)))
    assert ver.returncode == 0, ver.stdout + ver.stderr


@pytest.mark.parametrize("leak_run", ["encrypted"], indirect=True)
def test_encrypted_content_holds_canaries_only_inside_ciphertext(leak_run, cloud):
    proxy, canaries, statuses, metrics, export = leak_run
    _paths_were_exercised(statuses, cloud)
    needles = canaries.needles()
    confdir = set(proxy.confdir.rglob("*"))
    blobs = {str(p.relative_to(proxy.workdir)): b for p, b in _all_bytes_under(proxy.workdir, confdir).items()}
    blobs.update({f"export/{p.name}": b for p, b in _all_bytes_under(export).items()})
    blobs["proxy output"] = proxy.output.encode()
    blobs["/metrics"] = metrics.encode()
    assert not _hits(blobs, needles), _hits(blobs, needles)

    # PII-bearing requests keep no content at all (policy obligation audit_content=none for
    # confidential/critical); an internal request's original text is kept encrypted: recoverable
    # with the key store, and only with it
    seq = canaries.allowed_request_id  # `audit show` takes a seq or a request id
    assert seq
    plain = cli("audit", "show", seq, "--config", str(proxy.config_path), cwd=proxy.workdir)
    assert plain.returncode == 0, plain.stderr
    assert canaries.plain not in plain.stdout and '"encrypted"' in plain.stdout
    dec = cli("audit", "show", seq, "--config", str(proxy.config_path), "--decrypt", cwd=proxy.workdir)
    assert dec.returncode == 0, dec.stderr
    assert canaries.plain in dec.stdout
    # without the key store the same command cannot decrypt
    for p in audit_db(proxy).parent.glob("*content-keys*"):
        p.rename(p.with_name(p.name + ".moved"))
    nokeys = cli("audit", "show", seq, "--config", str(proxy.config_path), "--decrypt", cwd=proxy.workdir)
    assert canaries.plain not in nokeys.stdout and canaries.plain not in nokeys.stderr
