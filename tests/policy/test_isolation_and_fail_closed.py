"""A policy that crashes or hangs the engine costs one request (denied), never the process."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from govproxy.policy import PolicyConfig, PolicyDecider
from tests.policy.helpers import make_input, write_policy

# "boom" makes rego-cpp recurse through a backtracking regex on a 100 KB string (segfault);
# "spin" makes it enumerate a huge range (hang). Anything else is allowed.
TRAPS = '''
big := concat("", [x | some i in numbers.range(1, 100000); x := "a"])

default decision := {"allow": true}

decision := {"allow": regex.match(`^(a|aa)+$`, concat("", [big, "b"]))} if input.request.model == "boom"

decision := {"allow": count([i | some i in numbers.range(1, 1000000000); i % 7 == 0]) > 0} if input.request.model == "spin"
'''


def _wait_ready(decider: PolicyDecider) -> None:
    deadline = time.monotonic() + 20
    while not decider.engine.ready():  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "spare worker never became ready"
        time.sleep(0.02)


def _decider(tmp_path: Path, **kw: object) -> PolicyDecider:
    write_policy(tmp_path, TRAPS)
    cfg = PolicyConfig(path=str(tmp_path), hot_reload=False, timeout_ms=kw.pop("timeout_ms", 300), **kw)  # type: ignore[arg-type]
    decider = PolicyDecider(cfg)
    _wait_ready(decider)
    return decider


def test_engine_segfault_denies_that_request_and_the_next_is_decided(tmp_path: Path) -> None:
    decider = _decider(tmp_path, timeout_ms=10_000)  # building the 100 KB string takes a while on a busy box
    try:
        active_pid, _ = decider.engine.worker_pids()  # type: ignore[attr-defined]
        d = decider.decide_sync(make_input(model="boom"))
        assert not d.allow and d.denied_by and d.denied_by.code == "policy_error"
        assert d.error is not None and d.error.startswith("crash")
        assert decider.counters["error_crash"] == 1
        good = decider.decide_sync(make_input(model="gpt-4o"))
        assert good.allow and good.error is None
        assert decider.engine.worker_pids()[0] != active_pid  # type: ignore[attr-defined]
        assert decider.metrics()["engine_worker_restarts"] == 1
        assert os.getpid() > 0  # still here: the crash happened in the worker
    finally:
        decider.close()


def test_engine_hang_times_out_fails_closed_and_recovers(tmp_path: Path) -> None:
    decider = _decider(tmp_path, timeout_ms=200)
    try:
        started = time.monotonic()
        d = asyncio.run(decider.decide(make_input(model="spin", sensitivity="public")))
        assert time.monotonic() - started < 5
        assert not d.allow and d.error is not None and d.error.startswith("timeout")
        assert decider.counters["error_timeout"] == 1
        good = asyncio.run(decider.decide(make_input(model="gpt-4o")))
        assert good.allow and good.error is None
    finally:
        decider.close()


def test_cancelled_async_decision_kills_the_busy_worker_and_the_next_is_decided(tmp_path: Path) -> None:
    """A caller that gives up mid-call must not leave a reply in the pipe for the next call."""
    decider = _decider(tmp_path, timeout_ms=10_000)
    try:
        busy_pid, _ = decider.engine.worker_pids()  # type: ignore[attr-defined]

        async def give_up() -> None:
            task = asyncio.create_task(decider.decide(make_input(model="spin")))
            await asyncio.sleep(0.2)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

        asyncio.run(give_up())
        good = asyncio.run(decider.decide(make_input(model="gpt-4o")))
        assert good.allow and good.error is None
        assert decider.engine.worker_pids()[0] != busy_pid  # type: ignore[attr-defined]
    finally:
        decider.close()


def test_on_error_allow_never_applies_to_critical_or_unknown(tmp_path: Path) -> None:
    write_policy(tmp_path, 'decision := {"allow": true, "unexpected_field": 1}')  # malformed decision
    decider = PolicyDecider(PolicyConfig(path=str(tmp_path), hot_reload=False, on_error="allow", timeout_ms=2000))
    try:
        internal = decider.decide_sync(make_input(sensitivity="internal", findings={"EMAIL": 1}))
        assert internal.allow and internal.error and internal.error.startswith("malformed")
        assert internal.redact == {"EMAIL": "pseudonymise"}
        critical = decider.decide_sync(make_input(sensitivity="critical", findings={"PRIVATE_KEY": 1}))
        assert not critical.allow and critical.status == 403
        unknown = decider.decide_sync(make_input(sensitivity="public", dlp_error=True))
        assert not unknown.allow
        assert decider.counters["error_malformed"] == 3 and decider.counters["fail_open"] == 1
    finally:
        decider.close()


def test_undefined_decision_is_denied_by_default(tmp_path: Path) -> None:
    write_policy(tmp_path, 'decision := {"allow": true} if input.request.model == "never"')
    decider = PolicyDecider(PolicyConfig(path=str(tmp_path), hot_reload=False, timeout_ms=2000))
    try:
        d = decider.decide_sync(make_input(sensitivity="public"))
        assert not d.allow and d.error and d.error.startswith("undefined")
    finally:
        decider.close()


def test_invalid_rego_at_startup_blocks_everything(tmp_path: Path) -> None:
    write_policy(tmp_path, "decision := {")
    decider = PolicyDecider(PolicyConfig(path=str(tmp_path), hot_reload=False, on_error="allow"))
    try:
        issues = decider.engine.load_issues  # type: ignore[attr-defined]
        assert issues and issues[0].file and issues[0].file.endswith("decision.rego") and issues[0].line
        d = decider.decide_sync(make_input(sensitivity="critical"))
        assert not d.allow and d.error and d.error.startswith("unavailable")
    finally:
        decider.close()


def test_policy_routing_to_an_unconfigured_provider_is_malformed(tmp_path: Path) -> None:
    write_policy(tmp_path, 'decision := {"allow": true, "route": {"provider": "evil", "model": null}}')
    decider = PolicyDecider(PolicyConfig(path=str(tmp_path), hot_reload=False, timeout_ms=2000))
    try:
        d = decider.decide_sync(make_input(sensitivity="internal"))
        assert not d.allow and d.error and "unconfigured provider" in d.error
    finally:
        decider.close()


def test_set_that_only_fails_when_evaluated_is_rejected_at_load(tmp_path: Path) -> None:
    # rego-cpp builds this fine and reports the unknown function only when evaluating.
    write_policy(tmp_path, 'decision := {"allow": no_such_function(input.request.model)}')
    decider = PolicyDecider(PolicyConfig(path=str(tmp_path), hot_reload=False))
    try:
        issues = decider.engine.load_issues  # type: ignore[attr-defined]
        assert issues and "no_such_function" in str(issues[0])
        assert not decider.decide_sync(make_input(sensitivity="public")).allow
    finally:
        decider.close()


def test_worker_killed_while_idle_costs_no_request(tmp_path: Path) -> None:
    import signal

    decider = _decider(tmp_path, timeout_ms=5000)
    try:
        active_pid, _ = decider.engine.worker_pids()  # type: ignore[attr-defined]
        assert active_pid is not None
        os.kill(active_pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while decider.engine._active.proc.poll() is None:  # type: ignore[attr-defined]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        d = decider.decide_sync(make_input(model="gpt-4o"))
        assert d.allow and d.error is None
    finally:
        decider.close()
