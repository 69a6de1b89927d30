"""Two govproxy processes share one budget and one circuit through a real redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from govproxy.config import settings_from_dict
from govproxy.routing import Router

WORKER = Path(__file__).with_name("redis_worker.py")


def _both(redis_url: str, action: str, n: int) -> list[dict]:
    start_at = time.time() + 1.5  # both interpreters are up and importing by then
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), redis_url, str(start_at), action, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _local_view(redis_url: str) -> Router:
    return Router(
        settings_from_dict(
            {
                "tenants": {"acme": {"budget": {"daily_tokens": 150}}},
                "state": {"backend": "redis", "redis_url": redis_url, "key_prefix": "shared:"},
                "routing": {"breaker": {"failures_to_open": 3, "cooldown_s": 3}},
            }
        )
    )


def test_concurrent_usage_from_two_processes_adds_up_exactly(redis_url: str) -> None:
    results = _both(redis_url, "record", 100)
    router = _local_view(redis_url)
    state = router.budget_state("acme", "openai")
    router.close()
    assert state.tenant.windows["daily_tokens"].used == 200  # no lost updates
    assert state.provider.windows["daily_tokens"].used == 200
    assert state.exhausted  # 200 ≥ 150, and every instance sees it
    assert all(r["exhausted"] for r in results)


def test_two_processes_never_both_take_the_last_of_a_budget(redis_url: str) -> None:
    results = _both(redis_url, "reserve", 100)
    assert sum(r["won"] for r in results) == 150  # exactly the limit, never more
    router = _local_view(redis_url)
    assert router.budget_state("acme", "openai").tenant.windows["daily_tokens"].used == 150
    router.close()


def test_circuit_opened_by_one_process_is_open_for_the_other(redis_url: str) -> None:
    _both(redis_url, "fail", 2)  # 2 + 2 failures ≥ 3 to open, counted across processes
    router = _local_view(redis_url)
    assert router.health("openai").circuit == "open"
    assert not router.breakers.allow("openai").allowed
    deadline = time.monotonic() + 10
    while router.health("openai").circuit != "half_open" and time.monotonic() < deadline:
        time.sleep(0.05)  # the 3 s cool-down
    results = _both(redis_url, "probe", 0)
    assert sorted(r["probe"] for r in results) == [False, True]  # exactly one half-open probe fleet-wide
    router.breakers.record_success("openai")
    assert router.health("openai").circuit == "closed"
    router.close()


def test_unreachable_redis_is_a_clear_error_without_the_password() -> None:
    import pytest

    from govproxy.routing.store import StateStoreError

    from .conftest import free_port

    with pytest.raises(StateStoreError) as err:
        _local_view(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    assert "hunter2" not in str(err.value)


def test_redis_url_can_come_from_the_environment(redis_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from govproxy.config import ConfigError

    settings = settings_from_dict({"state": {"backend": "redis", "redis_url_env": "GOVPROXY_TEST_REDIS"}})
    with pytest.raises(ConfigError, match="GOVPROXY_TEST_REDIS is not set"):
        Router(settings)
    monkeypatch.setenv("GOVPROXY_TEST_REDIS", redis_url)
    router = Router(settings)
    router.breakers.record_failure("openai")
    assert router.health("openai").consecutive_failures == 1
    router.close()
