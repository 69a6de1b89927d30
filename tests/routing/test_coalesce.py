"""Batched usage counters: the same sums as written through, read-your-writes, nothing lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from govproxy.config import settings_from_dict
from govproxy.routing import Router
from govproxy.routing.coalesce import CoalescingStore
from govproxy.routing.cost import Usage
from govproxy.routing.store import CounterDelta, SQLiteStateStore, StateStoreError

DAY = 86400.0


def _wait_for(fn, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.02)
    return False


def test_batched_sums_equal_write_through_and_reach_other_readers(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = CoalescingStore(SQLiteStateStore(path), flush_interval_s=0.05)
    other = SQLiteStateStore(path)  # another process's view of the same file
    try:
        for i in range(500):
            store.incr_counters([CounterDelta("t:a", 3, 10 + i % 7, DAY), CounterDelta("t:b", 1, 2, DAY)])
        want_a = (1500, sum(10 + i % 7 for i in range(500)))
        # This process reads its own writes at once, pending or not.
        assert store.get_counters(["t:a", "t:b", "t:none"]) == {"t:a": want_a, "t:b": (500, 1000), "t:none": (0, 0)}
        # Another reader sees them once a batch is written.
        assert _wait_for(lambda: other.get_counters(["t:a"])["t:a"] == want_a)
        assert other.get_counters(["t:b"]) == {"t:b": (500, 1000)}
        # And the sum is not counted twice once it is stored.
        assert store.get_counters(["t:a"]) == {"t:a": want_a}
    finally:
        store.close()
        other.close()


def test_close_writes_what_is_pending(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = CoalescingStore(SQLiteStateStore(path), flush_interval_s=60.0)  # never on its own in this test
    store.incr_counters([CounterDelta("k", 7, 70, DAY)])
    store.close()
    reopened = SQLiteStateStore(path)
    try:
        assert reopened.get_counters(["k"]) == {"k": (7, 70)}
    finally:
        reopened.close()
    with pytest.raises(StateStoreError):
        store.incr_counters([CounterDelta("k", 1, 1, DAY)])


def test_reserve_checks_against_pending_usage(tmp_path: Path) -> None:
    store = CoalescingStore(SQLiteStateStore(tmp_path / "s.sqlite3"), flush_interval_s=60.0)
    try:
        store.incr_counters([CounterDelta("budget", 900, 0, DAY)])
        # A limit of 1000 with 900 already used (still pending) leaves no room for 200.
        assert store.reserve([CounterDelta("budget", 200, 0, DAY, limit_usd_micro=1000)]) == "budget"
        assert store.reserve([CounterDelta("budget", 100, 0, DAY, limit_usd_micro=1000)]) is None
        assert store.get_counters(["budget"]) == {"budget": (1000, 0)}
    finally:
        store.close()


class _FlakyStore(SQLiteStateStore):
    """A real SQLite store whose first counter write fails, like a locked or unreachable store."""

    failures = 1

    def incr_counters(self, deltas):  # type: ignore[no-untyped-def]
        if self.failures:
            self.failures -= 1
            raise StateStoreError("database is locked")
        super().incr_counters(deltas)


def test_a_failed_write_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = CoalescingStore(_FlakyStore(path), flush_interval_s=60.0)
    try:
        store.incr_counters([CounterDelta("k", 5, 50, DAY)])
        with pytest.raises(StateStoreError):
            store.flush()
        store.incr_counters([CounterDelta("k", 1, 1, DAY)])
        store.flush()
        assert store.inner.get_counters(["k"]) == {"k": (6, 51)}
    finally:
        store.close()


def test_router_batches_usage_by_default_and_budgets_see_it_at_once(tmp_path: Path) -> None:
    settings = settings_from_dict({
        "state": {"path": str(tmp_path / "state.sqlite3")},
        "tenants": {"t": {"budget": {"daily_tokens": 1000}}},
    })
    router = Router(settings)
    try:
        assert isinstance(router.store, CoalescingStore)
        router.record_usage(tenant="t", provider="openai", model="gpt-4o-mini", usage=Usage(900, 150))
        state = router.budgets.state("t", "openai")
        assert state.exhausted, "the tenant's own usage must count before the batch is written"
    finally:
        router.close()
    write_through = Router(settings_from_dict({"state": {"path": str(tmp_path / "s2.sqlite3"), "usage_flush_ms": 0}}))
    try:
        assert isinstance(write_through.store, SQLiteStateStore)
    finally:
        write_through.close()
