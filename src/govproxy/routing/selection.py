"""Ranking the candidates the policy allowed, with a reason a human can read.

The ranker only orders: it never adds a provider the policy did not list, and it keeps
every listed provider that is configured (an open circuit goes last rather than away, so
the failover driver still knows it exists and ``explain`` can say why it was not used).

Each factor is scored in [0, 1] relative to the other candidates of the same request:
cost (cheapest = 1), observed p50 latency (fastest = 1), health (closed = 1, half-open
0.25, rate-limited 0.1, open 0) and configured quality (best = 1). The score is the
weighted mean, with weights from ``routing.weights``. Unknown facts (no price, no latency
sample yet) score a neutral 0.5 rather than winning or losing by ignorance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from govproxy.config import ProviderConfig
from govproxy.routing.breaker import Circuit, Health
from govproxy.routing.config import RoutingConfig
from govproxy.routing.cost import PriceTable, format_usd
from govproxy.routing.latency import LatencyTracker
from govproxy.routing.mapping import ModelMappingError, map_model

_NEUTRAL = 0.5
_HEALTH_SCORE = {Circuit.CLOSED: 1.0, Circuit.HALF_OPEN: 0.25, Circuit.OPEN: 0.0}


@dataclass(frozen=True, slots=True)
class RankedCandidate:
    name: str
    model: str
    score: float
    reason: str
    est_cost_usd_micro: int | None = None
    circuit: str = Circuit.CLOSED.value
    latency_p50_ms: int | None = None
    components: dict[str, float] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """JSON without floats (the audit log refuses them): the score in parts per million."""
        return {
            "name": self.name,
            "model": self.model,
            "score_ppm": round(self.score * 1_000_000),
            "reason": self.reason,
            "est_cost_usd_micro": self.est_cost_usd_micro,
            "circuit": self.circuit,
            "latency_p50_ms": self.latency_p50_ms,
        }


def _relative_low_is_good(values: dict[str, float | None]) -> dict[str, float]:
    known = [v for v in values.values() if v is not None]
    out: dict[str, float] = {}
    if not known:
        return {k: _NEUTRAL for k in values}
    best = min(known)
    for k, v in values.items():
        if v is None:
            out[k] = _NEUTRAL
        elif v <= best:
            out[k] = 1.0
        else:
            # Ratio with a small floor so a free candidate does not reduce all others to zero
            # (0 µUSD vs 10 µUSD is a real preference, not an infinite one).
            floor = max(best, max(known) * 0.01, 1e-9)
            out[k] = max(0.0, min(1.0, floor / v))
    return out


def rank_candidates(
    candidates: Sequence[str],
    *,
    providers: Mapping[str, ProviderConfig],
    requested_model: str | None,
    token_estimate: int,
    config: RoutingConfig,
    prices: PriceTable,
    health: Mapping[str, Health],
    latency: LatencyTracker,
    preferred: str | None = None,
) -> list[RankedCandidate]:
    """Order the policy-allowed ``candidates`` best first.

    ``preferred`` is the policy's chosen target; with ``routing.prefer_policy_target`` it
    goes first unless its circuit is open or it asked us to wait (Retry-After).
    Candidates that are not configured providers, or for which no model can be named, are
    left out (they could not be sent to), never replaced by something else.
    """
    names: list[str] = []
    models: dict[str, str] = {}
    for name in dict.fromkeys(candidates):
        cfg = providers.get(name)
        if cfg is None:
            continue
        try:
            models[name] = map_model(cfg, requested_model)
        except ModelMappingError:
            continue
        names.append(name)
    if not names:
        return []

    costs: dict[str, float | None] = {}
    cost_ints: dict[str, int | None] = {}
    for n in names:
        price = prices.lookup(n, models[n])
        if price.source == "unknown":
            costs[n] = cost_ints[n] = None
        else:
            c = price.cost_micro(token_estimate, config.expected_output_tokens)
            costs[n] = float(c)
            cost_ints[n] = c
    lat = {n: latency.p50(n) for n in names}
    cost_s = _relative_low_is_good(costs)
    lat_s = _relative_low_is_good(lat)
    qmax = max((providers[n].quality for n in names), default=0.0)
    w = config.weights
    wsum = w.cost + w.latency + w.health + w.quality

    ranked: list[tuple[tuple[int, int, float, int], RankedCandidate]] = []
    for idx, n in enumerate(names):
        h = health.get(n) or Health(True, Circuit.CLOSED, 0)
        hs = _HEALTH_SCORE[h.circuit]
        if h.retry_after_s > 0 and h.circuit is not Circuit.OPEN:
            hs = min(hs, 0.1)
        qs = providers[n].quality / qmax if qmax > 0 else 1.0
        comps = {"cost": cost_s[n], "latency": lat_s[n], "health": hs, "quality": qs}
        score = (w.cost * comps["cost"] + w.latency * comps["latency"] + w.health * hs + w.quality * qs) / wsum
        blocked = h.circuit is Circuit.OPEN or h.retry_after_s > 0
        is_pref = config.prefer_policy_target and preferred == n and not blocked
        reason = _reason(n, models[n], score, cost_ints[n], costs, lat[n], lat, h, providers[n].quality, qmax, is_pref)
        p50 = lat[n]
        p50_ms = None if p50 is None else round(p50 * 1000)
        cand = RankedCandidate(n, models[n], score, reason, cost_ints[n], h.circuit.value, p50_ms, comps)
        ranked.append(((1 if blocked else 0, 0 if is_pref else 1, -score, idx), cand))
    ranked.sort(key=lambda item: item[0])
    return [c for _, c in ranked]


def _reason(
    name: str,
    model: str,
    score: float,
    cost: int | None,
    costs: Mapping[str, float | None],
    p50: float | None,
    lats: Mapping[str, float | None],
    h: Health,
    quality: float,
    qmax: float,
    preferred: bool,
) -> str:
    parts = [f"{name}/{model} score {score:.2f}"]
    if cost is None:
        parts.append("price unknown")
    else:
        known = [c for c in costs.values() if c is not None]
        tag = " (cheapest)" if len(known) > 1 and cost <= min(known) else ""
        parts.append(f"est. cost {format_usd(cost)}{tag}")
    if p50 is None:
        parts.append("no latency samples yet")
    else:
        known_l = [v for v in lats.values() if v is not None]
        tag = " (fastest)" if len(known_l) > 1 and p50 <= min(known_l) else ""
        parts.append(f"p50 {p50 * 1000:.0f} ms{tag}")
    circuit = f"circuit {h.circuit.value}"
    if h.consecutive_failures and h.circuit is Circuit.CLOSED:
        circuit += f" ({h.consecutive_failures} recent failures)"
    parts.append(circuit)
    if h.retry_after_s > 0:
        parts.append(f"asked to retry after {h.retry_after_s} s")
    parts.append(f"quality {quality:g}/{qmax:g}")
    if preferred:
        parts.append("policy's chosen target")
    return ", ".join(parts)
