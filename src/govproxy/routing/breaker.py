"""Circuit breakers per provider, fed by real outcomes, optionally shared through Redis.

closed ──N consecutive failures──► open ──cool-down──► half-open ──probe ok──► closed
                                    ▲                       │
                                    └──────probe fails──────┘

The state of each provider is one small JSON document in the state store, changed only by
atomic read-modify-write, so every instance sharing the store sees one circuit. The hot
path (a closed circuit, a success on a closed circuit) only reads.

A provider's ``Retry-After`` is kept in the same document: the provider asked every
client of ours to wait, not just the request that was told.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from govproxy.routing.config import BreakerConfig
from govproxy.routing.store import JsonDoc, StateStore


class Circuit(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    circuit: Circuit
    probe: bool = False
    reason: str = ""
    retry_after_s: float = 0.0  # when refused because the provider asked us to wait


@dataclass(frozen=True, slots=True)
class Health:
    """The policy's view of a provider: ``healthy`` is false only while the circuit is open."""

    healthy: bool
    circuit: Circuit
    consecutive_failures: int
    retry_after_s: int = 0

    def for_policy(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "circuit": self.circuit.value,
            "consecutive_failures": self.consecutive_failures,
            "retry_after_s": self.retry_after_s,
        }


def _key(provider: str) -> str:
    return f"circuit:{provider}"


_TTL_S = 7 * 86400.0  # an idle provider's record simply expires back to "closed"


class CircuitBreakers:
    def __init__(
        self,
        store: StateStore,
        config: BreakerConfig,
        *,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[str, Circuit], None] | None = None,
    ) -> None:
        self._store = store
        self._cfg = config
        self._clock = clock
        self._notify = on_change
        self._last_seen: dict[str, Circuit] = {}

    def _on_change(self, provider: str, circuit: Circuit) -> None:
        """Tell the listener (metrics) when this instance learns of a different state."""
        if self._notify is not None and self._last_seen.get(provider) is not circuit:
            self._last_seen[provider] = circuit
            self._notify(provider, circuit)

    # -- reading -------------------------------------------------------------------------
    def _view(self, doc: JsonDoc | None, now: float) -> tuple[Circuit, int, float]:
        """(circuit as it stands now, consecutive failures, seconds of Retry-After left)."""
        if not doc:
            return Circuit.CLOSED, 0, 0.0
        circuit = Circuit(doc.get("state", "closed"))
        if circuit is Circuit.OPEN and now >= doc.get("opened_at", 0.0) + self._cfg.cooldown_s:
            circuit = Circuit.HALF_OPEN
        retry_left = max(0.0, float(doc.get("retry_until", 0.0)) - now)
        return circuit, int(doc.get("failures", 0)), retry_left

    def health(self, provider: str) -> Health:
        return self.health_many([provider])[provider]

    def health_many(self, providers: Iterable[str]) -> dict[str, Health]:
        names = list(dict.fromkeys(providers))
        docs = self._store.get_json_many([_key(p) for p in names])
        now = self._clock()
        out = {}
        for p in names:
            circuit, failures, retry_left = self._view(docs[_key(p)], now)
            self._on_change(p, circuit)
            out[p] = Health(circuit is not Circuit.OPEN, circuit, failures, int(retry_left + 0.999))
        return out

    # -- admission -----------------------------------------------------------------------
    def allow(self, provider: str) -> Admission:
        """May one request go to ``provider`` now? Takes a probe slot when half-open."""
        now = self._clock()
        doc = self._store.get_json(_key(provider))
        circuit, _, retry_left = self._view(doc, now)
        if retry_left > 0:
            return Admission(
                False, circuit, reason=f"provider asked to retry after {retry_left:.1f} s", retry_after_s=retry_left
            )
        if circuit is Circuit.CLOSED:
            return Admission(True, circuit)
        if circuit is Circuit.OPEN:
            left = doc["opened_at"] + self._cfg.cooldown_s - now  # type: ignore[index]
            return Admission(False, circuit, reason=f"circuit open, probing in {left:.1f} s")
        verdict: list[Admission] = []

        def take_probe(cur: JsonDoc | None) -> JsonDoc | None:
            verdict.clear()
            t = self._clock()
            circ, _, _ = self._view(cur, t)
            if circ is not Circuit.HALF_OPEN:  # another instance closed or re-opened it meanwhile
                verdict.append(Admission(circ is Circuit.CLOSED, circ, reason="" if circ is Circuit.CLOSED else "circuit open"))
                return None
            doc2 = dict(cur or {})
            probes = int(doc2.get("probes", 0)) if doc2.get("state") == Circuit.HALF_OPEN else 0
            # A probe that never reported back (its instance died) frees its slot after a cool-down.
            if probes >= self._cfg.half_open_probes and t - float(doc2.get("probe_started", 0.0)) > self._cfg.cooldown_s:
                probes = 0
            if probes >= self._cfg.half_open_probes:
                verdict.append(Admission(False, circ, reason="half-open, probe already in flight"))
                return None
            doc2.update(state=Circuit.HALF_OPEN.value, probes=probes + 1, probe_started=t)
            verdict.append(Admission(True, circ, probe=True, reason="half-open probe"))
            return doc2

        self._store.update_json(_key(provider), take_probe, _TTL_S)
        self._on_change(provider, verdict[-1].circuit)
        return verdict[-1]

    # -- outcomes ------------------------------------------------------------------------
    def record_success(self, provider: str) -> None:
        doc = self._store.get_json(_key(provider))
        if not doc or (doc.get("state") == Circuit.CLOSED and not doc.get("failures")):
            return  # hot path: nothing to change

        def close(cur: JsonDoc | None) -> JsonDoc | None:
            if not cur or (cur.get("state") == Circuit.CLOSED and not cur.get("failures")):
                return None
            keep = {"retry_until": cur["retry_until"]} if "retry_until" in cur else {}
            return {"state": Circuit.CLOSED.value, "failures": 0, **keep}

        self._store.update_json(_key(provider), close, _TTL_S)
        self._on_change(provider, Circuit.CLOSED)

    def record_failure(self, provider: str) -> Circuit:
        """Count a failure; returns the circuit afterwards."""
        result: list[Circuit] = []

        def fail(cur: JsonDoc | None) -> JsonDoc | None:
            t = self._clock()
            doc = dict(cur or {})
            circuit, failures, _ = self._view(cur, t)
            failures += 1
            doc["failures"] = failures
            if circuit is Circuit.HALF_OPEN or (circuit is Circuit.CLOSED and failures >= self._cfg.failures_to_open):
                doc.update(state=Circuit.OPEN.value, opened_at=t, probes=0)
                result.append(Circuit.OPEN)
            else:
                doc.setdefault("state", Circuit.CLOSED.value)
                result.append(Circuit(doc["state"]))
            return doc

        self._store.update_json(_key(provider), fail, _TTL_S)
        self._on_change(provider, result[-1])
        return result[-1]

    def note_retry_after(self, provider: str, seconds: float) -> None:
        """Remember a provider's Retry-After so no instance sends to it before then."""
        if seconds <= 0:
            return
        until = self._clock() + seconds

        def mark(cur: JsonDoc | None) -> JsonDoc | None:
            doc = dict(cur or {"state": Circuit.CLOSED.value, "failures": 0})
            if float(doc.get("retry_until", 0.0)) >= until:
                return None
            doc["retry_until"] = until
            return doc

        self._store.update_json(_key(provider), mark, _TTL_S)
