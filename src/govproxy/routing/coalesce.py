"""Usage counters added in memory and written to the shared state store in batches.

Every finished request adds its tokens and cost to four counters (tenant and provider,
day and month). Written through, that is one SQLite transaction (or Redis round trip) per
request on the proxy's event loop, the largest single cost after a response. Budgets are
post-paid and read through a short cache anyway, so the sums can travel in batches:
:class:`CoalescingStore` keeps pending deltas in memory and a background thread writes them
at most every ``flush_interval_s``.

What stays exact:
- nothing is lost on a clean shutdown (``close`` flushes) and the sums are the same as
  written through: deltas to one key are added, never replaced;
- this process reads its own writes: ``get_counters`` adds what is still pending;
- ``reserve`` (strict budgets, atomic in the store) flushes first, so a reservation is
  checked against everything this process has recorded.

What a batch costs: another instance sharing the store sees this one's usage up to
``flush_interval_s`` late, and a ``kill -9`` loses at most that window of counter updates
(the audit trail's outcome records still hold every request's usage).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from govproxy.routing.store import CounterDelta, JsonDoc, StateStore, StateStoreError, Updater

log = logging.getLogger("govproxy.routing")


class CoalescingStore:
    """A :class:`StateStore` whose counter increments are batched; everything else passes through."""

    def __init__(self, inner: StateStore, *, flush_interval_s: float = 0.1) -> None:
        if flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be positive (use the store directly to write through)")
        self.inner = inner
        self.flush_interval_s = flush_interval_s
        self._lock = threading.Lock()
        # key -> [usd_micro, tokens, ttl_s]; ttl is the longest asked for that key.
        self._pending: dict[str, list[float]] = {}
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="govproxy-usage-flush", daemon=True)
        self._thread.start()

    # -- counters --------------------------------------------------------------------------
    def incr_counters(self, deltas: Iterable[CounterDelta]) -> None:
        with self._lock:
            if self._stop:
                raise StateStoreError("state store is closed")
            for d in deltas:
                cur = self._pending.get(d.key)
                if cur is None:
                    self._pending[d.key] = [d.usd_micro, d.tokens, d.ttl_s]
                else:
                    cur[0] += d.usd_micro
                    cur[1] += d.tokens
                    cur[2] = max(cur[2], d.ttl_s)
        self._wake.set()

    def get_counters(self, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
        wanted = list(keys)
        stored = self.inner.get_counters(wanted)
        with self._lock:
            for k in wanted:
                p = self._pending.get(k)
                if p is not None:
                    usd, tokens = stored.get(k, (0, 0))
                    stored[k] = (usd + int(p[0]), tokens + int(p[1]))
        return stored

    def reserve(self, deltas: Iterable[CounterDelta]) -> str | None:
        self.flush()
        return self.inner.reserve(deltas)

    def flush(self) -> None:
        """Write what is pending now (on the caller's thread). Raises if the store fails."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return
        items = [CounterDelta(k, int(v[0]), int(v[1]), v[2]) for k, v in batch.items()]
        try:
            self.inner.incr_counters(items)
        except Exception:
            # Put the sums back so a passing store outage loses nothing.
            with self._lock:
                for d in items:
                    cur = self._pending.setdefault(d.key, [0, 0, d.ttl_s])
                    cur[0] += d.usd_micro
                    cur[1] += d.tokens
                    cur[2] = max(cur[2], d.ttl_s)
            raise

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stop:
                return
            # Let a batch gather, then write it; a failure is retried on the next round.
            self._wake.clear()
            self._closing.wait(self.flush_interval_s)
            try:
                self.flush()
            except Exception as exc:
                log.warning("govproxy: usage counters not yet written (%s); retrying", type(exc).__name__)
                self._wake.set()

    # -- everything else passes through ----------------------------------------------------
    def get_json(self, key: str) -> JsonDoc | None:
        return self.inner.get_json(key)

    def get_json_many(self, keys: Iterable[str]) -> dict[str, JsonDoc | None]:
        return self.inner.get_json_many(keys)

    def update_json(self, key: str, fn: Updater, ttl_s: float | None = None) -> JsonDoc | None:
        return self.inner.update_json(key, fn, ttl_s)

    def append_doc(self, key: str, doc: JsonDoc, ttl_s: float) -> None:
        self.inner.append_doc(key, doc, ttl_s)

    def get_docs(self, key: str) -> list[JsonDoc]:
        return self.inner.get_docs(key)

    def close(self) -> None:
        with self._lock:
            already = self._stop
            self._stop = True
        if already:
            return
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout=5)
        try:
            self.flush()
        except Exception as exc:
            log.error("govproxy: usage counters lost at shutdown: %s", type(exc).__name__)
        self.inner.close()
