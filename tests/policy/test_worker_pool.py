"""The embedded engine's worker pool: parallel decisions, same isolation and reload semantics."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from govproxy.policy import PolicyConfig, PolicyDecider
from govproxy.policy.schema import Decision
from tests.policy.helpers import make_input, write_policy

# "slow" enumerates a large range (a few hundred ms of rego-cpp); anything else is instant.
# `version` tells which policy set decided.
SLOW = '''
default decision := {{"allow": true, "explanation": ["{version}"]}}

decision := {{"allow": count([i | some i in numbers.range(1, {size}); i % 7 == 0]) > 0, "explanation": ["{version}"]}} if {{
	input.request.model == "slow"
}}
'''


def _decider(tmp_path: Path, workers: int, size: int = 150_000, version: str = "v1") -> PolicyDecider:
    write_policy(tmp_path, SLOW.format(size=size, version=version))
    decider = PolicyDecider(PolicyConfig(path=str(tmp_path), hot_reload=False, timeout_ms=30_000,
                                         cache_ttl_s=0, workers=workers))
    deadline = time.monotonic() + 30
    while not decider.engine.ready():  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "pool never filled"
        time.sleep(0.02)
    return decider


async def _slow_then_fast(decider: PolicyDecider) -> list[str]:
    """Start a slow decision, then a fast one; return the order in which they finished."""
    finished: list[str] = []

    async def run(model: str) -> Decision:
        d = await decider.decide(make_input(model=model))
        finished.append(model)
        return d

    slow = asyncio.create_task(run("slow"))
    await asyncio.sleep(0.05)  # the slow call holds its worker
    fast = asyncio.create_task(run("gpt-4o"))
    results = await asyncio.gather(slow, fast)
    assert all(d.allow and d.error is None for d in results)
    return finished


def test_a_slow_decision_does_not_queue_the_next_with_two_workers(tmp_path: Path) -> None:
    decider = _decider(tmp_path, workers=2)
    try:
        assert len({p for p in decider.engine.pool_pids()}) == 2  # type: ignore[attr-defined]
        assert asyncio.run(_slow_then_fast(decider)) == ["gpt-4o", "slow"]
    finally:
        decider.close()


def test_with_one_worker_the_fast_decision_waits(tmp_path: Path) -> None:
    """The control: the same traffic through one worker is serialised."""
    decider = _decider(tmp_path, workers=1)
    try:
        assert asyncio.run(_slow_then_fast(decider)) == ["slow", "gpt-4o"]
    finally:
        decider.close()


def test_crash_in_one_slot_uses_the_spare_and_the_pool_refills(tmp_path: Path) -> None:
    import signal

    decider = _decider(tmp_path, workers=2)
    try:
        engine = decider.engine
        first, spare = engine.worker_pids()  # type: ignore[attr-defined]
        second = engine.pool_pids()[1]  # type: ignore[attr-defined]

        async def crash_during_call() -> Decision:
            task = asyncio.create_task(decider.decide(make_input(model="slow", sensitivity="critical")))
            await asyncio.sleep(0.1)
            assert first is not None
            os.kill(first, signal.SIGKILL)
            return await task

        d = asyncio.run(crash_during_call())
        assert not d.allow and d.error is not None and d.error.startswith("crash")
        assert engine.pool_pids() == [spare, second]  # type: ignore[attr-defined]
        assert decider.metrics()["engine_worker_restarts"] == 1
        good = decider.decide_sync(make_input(model="gpt-4o"))
        assert good.allow and good.error is None
        deadline = time.monotonic() + 30
        while not engine.ready():  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "no new spare"
            time.sleep(0.02)
        assert first not in engine.pool_pids() and engine.worker_pids()[1] not in (first, spare, second)  # type: ignore[attr-defined]
    finally:
        decider.close()


def test_reload_while_a_call_is_in_flight(tmp_path: Path) -> None:
    """The call in flight finishes on the old set; the next uses the new one; the old worker dies."""
    decider = _decider(tmp_path, workers=2, size=400_000)  # ~2 s: outlasts the reload
    try:
        engine = decider.engine

        async def scenario() -> tuple[Decision, Decision, int | None]:
            slow = asyncio.create_task(decider.decide(make_input(model="slow")))
            await asyncio.sleep(0.1)
            busy_pid = engine.worker_pids()[0]  # type: ignore[attr-defined]
            write_policy(tmp_path, SLOW.format(size=10, version="v2"))
            result = await asyncio.get_running_loop().run_in_executor(None, engine.reload)  # type: ignore[attr-defined]
            assert result.ok and result.changed
            after = await decider.decide(make_input(model="gpt-4o"))
            return await slow, after, busy_pid

        old_call, new_call, busy_pid = asyncio.run(scenario())
        assert old_call.allow and old_call.explanation == ["v1"]
        assert new_call.allow and new_call.explanation == ["v2"]
        assert busy_pid is not None and busy_pid not in engine.pool_pids()  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while True:  # killed once its call returned
            try:
                os.kill(busy_pid, 0)
            except ProcessLookupError:
                break
            try:
                os.waitpid(busy_pid, os.WNOHANG)
            except ChildProcessError:
                break
            assert time.monotonic() < deadline, "old worker still running"
            time.sleep(0.02)
    finally:
        decider.close()


def test_synchronous_callers_in_threads_share_the_pool(tmp_path: Path) -> None:
    import threading

    decider = _decider(tmp_path, workers=2)
    try:
        finished: list[str] = []

        def run(model: str) -> None:
            d = decider.decide_sync(make_input(model=model))
            assert d.allow and d.error is None
            finished.append(model)

        slow = threading.Thread(target=run, args=("slow",))
        slow.start()
        time.sleep(0.05)
        run("gpt-4o")
        slow.join(timeout=30)
        assert finished == ["gpt-4o", "slow"]
        # Three threads on two workers: the third waits for a slot instead of failing.
        threads = [threading.Thread(target=run, args=(m,)) for m in ("slow", "slow", "gpt-4o")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(finished) == 5
    finally:
        decider.close()
