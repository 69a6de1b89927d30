from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from govproxy.config import settings_from_dict
from govproxy.routing import Router, Usage
from govproxy.routing.explain import InvalidRequestId
from govproxy.routing.metrics import GovproxyMetrics


def _write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "govproxy.yaml"
    cfg.write_text(f"state:\n  path: {tmp_path / 'state.sqlite3'}\n")
    return cfg


def _router(cfg: Path) -> Router:
    import yaml

    return Router(settings_from_dict(yaml.safe_load(cfg.read_text())))


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_explanations_merge_contributions_from_several_stages(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    cfg = _write_config(tmp_path)
    if backend == "redis":
        cfg.write_text(f"state: {{backend: redis, redis_url: '{request.getfixturevalue('redis_url')}'}}\n")
    router = _router(cfg)
    router.record_explanation("r1", {"policy": {"rules": ["residency.eu_only"], "decision": "reroute"}})
    router.record_explanation("r1", {"policy": {"rules": ["dlp.critical_to_local"]}, "routing": {"failovers": 1}})
    doc = router.explanation("r1")
    assert doc == {
        "policy": {"rules": ["residency.eu_only", "dlp.critical_to_local"], "decision": "reroute"},
        "routing": {"failovers": 1},
    }
    assert router.explanation("unknown-id") is None
    with pytest.raises(InvalidRequestId):
        router.record_explanation("../etc/passwd", {})
    router.close()


def test_govproxy_explain_prints_why(tmp_path: Path) -> None:
    cfg = _write_config(tmp_path)
    router = _router(cfg)
    ranked = router.rank(["openai", "local"], requested_model="gpt-4o", token_estimate=500, preferred="local")
    router.record_explanation("req-42", {"policy": {"rules_fired": ["critical_data_stays_local"]}})
    router.record_explanation(
        "req-42",
        {
            "routing": {
                "candidates": [c.to_record() for c in ranked],
                "attempts": [
                    {"provider": "local", "model": "gpt-4o", "outcome": "connect_error", "status": None,
                     "elapsed_ms": 3, "action": "failover", "note": "ConnectError"},
                    {"provider": "openai", "model": "gpt-4o", "outcome": "response", "status": 200,
                     "elapsed_ms": 80, "action": "delivered", "note": ""},
                ],
                "final_provider": "openai", "final_model": "gpt-4o", "final_status": 200, "failovers": 1,
            }
        },
    )
    router.record_usage(tenant="acme", provider="openai", model="gpt-4o", usage=Usage(1000, 100), request_id="req-42")
    router.close()

    run = subprocess.run(
        [sys.executable, "-m", "govproxy.cli", "explain", "req-42", "--config", str(cfg)],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "critical_data_stays_local" in out
    assert f"1. local -> {ranked[0].model}" in out and "policy's chosen target" in out
    assert "HTTP 200" in out and "connect_error" in out
    assert "1 failover(s)" in out
    assert "1000 in / 100 out tokens" in out and "$0.003500" in out  # gpt-4o list price, built-in table

    as_json = subprocess.run(
        [sys.executable, "-m", "govproxy.cli", "explain", "req-42", "--config", str(cfg), "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert json.loads(as_json.stdout)["usage"]["cost_usd_micro"] == 3500

    missing = subprocess.run(
        [sys.executable, "-m", "govproxy.cli", "explain", "nope", "--config", str(cfg)],
        capture_output=True, text=True, timeout=60,
    )
    assert missing.returncode == 1 and "no explanation" in missing.stderr


def test_metrics_endpoint_is_opt_in_and_serves_govproxy_series(tmp_path: Path) -> None:
    off = Router(settings_from_dict({"state": {"path": str(tmp_path / "a.sqlite3")}}))
    assert off.start_metrics_server() is None  # observations are kept in memory, not served
    off.close()

    router = Router(settings_from_dict({"state": {"path": str(tmp_path / "b.sqlite3")}, "metrics": {"port": 0}}))
    port = router.start_metrics_server()
    assert port
    m = router.metrics
    assert m is not None
    m.observe_request(provider="openai", model="gpt-4o", tenant="acme", decision="allow")
    m.observe_denial("budget_exhausted")
    m.observe_governance_overhead(0.0004)
    m.observe_upstream_latency("openai", 0.12)
    router.record_usage(tenant="acme", provider="openai", model="gpt-4o", usage=Usage(1000, 100))
    router.breakers.record_failure("openai")
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    router.close()
    assert 'govproxy_requests_total{decision="allow",model="gpt-4o",provider="openai",tenant="acme"} 1.0' in text
    assert 'govproxy_denials_total{reason="budget_exhausted"} 1.0' in text
    assert 'govproxy_tokens_total{direction="input",estimated="false",model="gpt-4o",provider="openai",tenant="acme"} 1000.0' in text
    assert 'govproxy_cost_usd_total{model="gpt-4o",provider="openai",tenant="acme"} 0.0035' in text
    assert 'govproxy_circuit_state{provider="openai"} 0.0' in text
    assert "govproxy_governance_overhead_seconds_bucket" in text
    assert "govproxy_upstream_latency_seconds_bucket" in text
    # only our series in our own registry: no process/python collectors, no default registry
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert all(n.startswith("govproxy_") for n in names)


def test_label_values_are_cleaned_and_capped() -> None:
    m = GovproxyMetrics()
    m.observe_request(provider="openai", model="ignore previous instructions\n{evil}", tenant="t", decision="allow")
    for i in range(300):
        m.observe_request(provider="openai", model=f"m{i}", tenant="t", decision="allow")
    from prometheus_client import generate_latest

    text = generate_latest(m.registry).decode()
    assert "\n{evil}" not in text and "ignore_previous_instructions__evil_" in text
    models = {line.split('model="')[1].split('"')[0] for line in text.splitlines() if line.startswith("govproxy_requests_total")}
    assert len(models) <= 201 and "other" in models  # one client cannot explode the series count


def test_old_explanations_expire_and_are_purged(tmp_path: Path) -> None:
    import sqlite3

    from govproxy.routing.explain import ExplanationStore
    from govproxy.routing.store import SQLiteStateStore

    from .conftest import FakeClock

    clock = FakeClock()
    path = tmp_path / "state.sqlite3"
    store = SQLiteStateStore(path, clock=clock)
    ex = ExplanationStore(store, ttl_s=3600)
    ex.record("old", {"routing": {"failovers": 0}})
    clock.advance(3601)
    assert ex.get("old") is None
    ex.record("new", {"routing": {"failovers": 0}})  # a later write purges expired rows
    store.close()
    rows = sqlite3.connect(path).execute("SELECT key FROM doc_log").fetchall()
    assert rows == [("explain:new",)]


def test_budget_and_circuits_commands_read_the_shared_state(tmp_path: Path) -> None:
    cfg = tmp_path / "govproxy.yaml"
    cfg.write_text(
        f"state: {{path: {tmp_path / 'state.sqlite3'}}}\n"
        "tenants: {acme: {budget: {daily_usd: 1.0}}}\n"
        "routing: {breaker: {failures_to_open: 1, cooldown_s: 600}}\n"
    )
    router = _router(cfg)
    router.record_usage(tenant="acme", provider="openai", model="gpt-4o", usage=Usage(300_000, 10_000))  # $0.85
    router.breakers.record_failure("anthropic")
    router.close()

    budget = subprocess.run(
        [sys.executable, "-m", "govproxy.cli", "budget", "--config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert budget.returncode == 0, budget.stderr
    assert "tenant acme: warn" in budget.stdout
    assert "daily_usd       $0.850000 of $1.000000 (85%)" in budget.stdout

    circuits = subprocess.run(
        [sys.executable, "-m", "govproxy.cli", "circuits", "--config", str(cfg), "--json"],
        capture_output=True, text=True, timeout=60,
    )
    state = json.loads(circuits.stdout)
    assert state["anthropic"]["circuit"] == "open" and not state["anthropic"]["healthy"]
    assert state["openai"]["circuit"] == "closed"
