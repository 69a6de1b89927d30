"""Hot reload, shadow mode, and the OPA REST engine against a loopback Data API server."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from govproxy.policy import PolicyConfig, PolicyDecider
from govproxy.policy.rego import CompiledPolicy
from govproxy.policy.source import load_source
from tests.policy.helpers import POLICIES, make_input, write_policy

ALLOW = 'decision := {"allow": true}'
DENY = 'decision := {"allow": false, "deny": [{"code": "sensitivity", "rule": "test.v2", "message": "v2 says no"}]}'


def test_hot_reload_swaps_good_sets_and_rejects_bad_ones(tmp_path: Path) -> None:
    path = write_policy(tmp_path, ALLOW)
    decider = PolicyDecider(PolicyConfig(path=str(tmp_path), hot_reload=True, reload_interval_s=0.05, timeout_ms=2000))
    engine = decider.engine
    try:
        first_hash = decider.bundle_hash
        assert decider.decide_sync(make_input()).allow
        path.write_text(path.read_text().replace(ALLOW, DENY))
        deadline = time.monotonic() + 10
        while decider.bundle_hash == first_hash:
            assert time.monotonic() < deadline, "change was not picked up"
            time.sleep(0.05)
        d = decider.decide_sync(make_input())
        assert not d.allow and d.denied_by and d.denied_by.rule == "test.v2"
        good_hash = decider.bundle_hash
        path.write_text("package govproxy\n\nimport rego.v1\n\ndecision := {\n")  # broken
        deadline = time.monotonic() + 10
        while not engine.load_issues:  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "broken set was not noticed"
            time.sleep(0.05)
        issue = engine.load_issues[0]  # type: ignore[attr-defined]
        assert issue.file is not None and issue.file.endswith("decision.rego") and issue.line is not None
        assert decider.bundle_hash == good_hash
        assert not decider.decide_sync(make_input()).allow  # the previous (v2) set still decides
        assert decider.metrics()["engine_rejected_reloads"] == 1
    finally:
        decider.close()


def test_shadow_counts_disagreements_and_never_enforces(tmp_path: Path) -> None:
    active, shadow = tmp_path / "active", tmp_path / "shadow"
    write_policy(active, ALLOW)
    write_policy(shadow, DENY)
    decider = PolicyDecider(PolicyConfig(path=str(active), shadow=str(shadow), hot_reload=False, timeout_ms=2000))
    try:
        assert decider.decide_sync(make_input()).allow

        async def run() -> bool:
            d = await decider.decide(make_input())
            await decider.drain_shadow()
            return d.allow

        assert asyncio.run(run())
        assert decider.counters["shadow_evaluations"] == 2
        assert decider.counters["shadow_disagreements"] == 2
    finally:
        decider.close()


# --------------------------------------------------------------------------- OPA


class _DataAPI(BaseHTTPRequestHandler):
    """Speaks OPA's Data API: POST /v1/data/<path> {"input": ...} -> {"result": ...} or {}."""

    compiled: ClassVar[dict[str, CompiledPolicy]] = {}
    mode = "eval"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.mode == "error":
            return self._send(500, {"code": "internal_error", "message": "1 error occurred: eval_conflict_error"})
        if self.mode == "slow":
            time.sleep(1.0)
        if not self.path.startswith("/v1/data/"):
            return self._send(404, {"code": "resource_not_found", "message": "not found"})
        ref = "data." + self.path[len("/v1/data/"):].strip("/").replace("/", ".")
        compiled = self.compiled.get(ref)
        if compiled is None:
            compiled = self.compiled[ref] = CompiledPolicy(load_source(POLICIES).modules, {}, ref)
        result = compiled.evaluate(body.get("input"))
        if result.kind == "error":
            return self._send(500, {"code": "internal_error", "message": str(result.errors[0])})
        self._send(200, {"result": result.value} if result.kind == "value" else {})

    def _send(self, status: int, doc: dict) -> None:
        raw = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def opa_standin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DataAPI)
    _DataAPI.mode = "eval"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _opa_decider(url: str, **kw: object) -> PolicyDecider:
    return PolicyDecider(PolicyConfig(engine="opa", opa_url=url, path=str(POLICIES), **kw))  # type: ignore[arg-type]


def test_opa_engine_decides_like_embedded(opa_standin: str) -> None:
    decider = _opa_decider(opa_standin, timeout_ms=2000)
    try:
        d = decider.decide_sync(make_input(sensitivity="critical", findings={"PRIVATE_KEY": 1}))
        assert d.engine == "opa" and d.allow and d.route and d.route.provider == "local"
        a = asyncio.run(decider.decide(make_input({"tenants": {"eu": {"residency": ["eu"]}}}, tenant="eu")))
        assert a.allow and a.route and a.route.provider == "mistral"
        assert d.bundle_hash == load_source(POLICIES).bundle_hash
    finally:
        decider.close()


def test_opa_undefined_error_and_timeout_fail_closed(opa_standin: str) -> None:
    undefined = PolicyDecider(PolicyConfig(engine="opa", opa_url=opa_standin, decision_path="govproxy/nothing_here",
                                         timeout_ms=5000))
    try:
        d = undefined.decide_sync(make_input(sensitivity="internal"))
        assert not d.allow and d.error and d.error.startswith("undefined")
    finally:
        undefined.close()
    decider = _opa_decider(opa_standin, timeout_ms=5000)
    try:
        _DataAPI.mode = "error"
        d = decider.decide_sync(make_input(sensitivity="internal"))
        assert not d.allow and d.error and "internal_error" in d.error
    finally:
        decider.close()
    decider = _opa_decider(opa_standin, timeout_ms=100)
    try:
        _DataAPI.mode = "slow"
        d = decider.decide_sync(make_input(sensitivity="internal"))
        assert not d.allow and d.error and d.error.startswith("timeout")
    finally:
        decider.close()


def test_opa_down_blocks_critical_even_with_on_error_allow() -> None:
    decider = _opa_decider("http://127.0.0.1:9", on_error="allow", timeout_ms=200)
    try:
        d = decider.decide_sync(make_input(sensitivity="critical", findings={"PRIVATE_KEY": 1}))
        assert not d.allow and d.error and d.error.startswith("unavailable")
        assert decider.counters["error_unavailable"] == 1
    finally:
        decider.close()


@pytest.mark.skipif(shutil.which("opa") is None, reason="no 'opa' binary on PATH (OPA is not packaged for Debian/PyPI here)")
def test_real_opa_server_and_rego_tests(tmp_path: Path) -> None:
    opa = shutil.which("opa")
    assert opa
    tests = subprocess.run([opa, "test", str(POLICIES)], capture_output=True, text=True, timeout=120, check=False)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    proc = subprocess.Popen([opa, "run", "--server", "--addr", "127.0.0.1:18181", "--bundle", str(POLICIES)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        decider = _opa_decider("http://127.0.0.1:18181", timeout_ms=2000)
        deadline = time.monotonic() + 20
        while True:
            d = decider.decide_sync(make_input(sensitivity="critical", findings={"PRIVATE_KEY": 1}))
            if d.error is None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert d.allow and d.route and d.route.provider == "local", d
        decider.close()
    finally:
        proc.kill()
        proc.wait()
