from __future__ import annotations

from govproxy.config import settings_from_dict
from govproxy.routing.breaker import Circuit, Health
from govproxy.routing.config import RoutingConfig, ScoreWeights
from govproxy.routing.cost import PriceTable
from govproxy.routing.latency import LatencyTracker
from govproxy.routing.selection import rank_candidates

SETTINGS = settings_from_dict(
    {
        "providers": {
            "openai": {"prices": {"gpt-4o": {"input": 2.5, "output": 10}}},
            "cheap": {
                "kind": "openai-compatible",
                "base_url": "http://127.0.0.1:9/v1",
                "prices": {"*": {"input": 0.1, "output": 0.2}},
                "models": {"default": "small"},
                "quality": 0.5,
            },
            "local": {"models": {"map": {"gpt-4o": "llama3.1:8b"}}},
        }
    }
)
PRICES = PriceTable(SETTINGS.providers)


def _rank(candidates, *, health=None, latency=None, preferred=None, weights=None, model="gpt-4o"):  # type: ignore[no-untyped-def]
    cfg = RoutingConfig(weights=weights or ScoreWeights())
    return rank_candidates(
        candidates,
        providers=SETTINGS.providers,
        requested_model=model,
        token_estimate=1000,
        config=cfg,
        prices=PRICES,
        health=health or {},
        latency=latency or LatencyTracker(),
        preferred=preferred,
    )


def test_only_policy_allowed_candidates_are_ranked() -> None:
    ranked = _rank(["openai", "cheap"])
    assert {c.name for c in ranked} == {"openai", "cheap"}  # "local" exists but was not allowed
    assert _rank([]) == []
    assert [c.name for c in _rank(["nonexistent", "openai"])] == ["openai"]


def test_models_are_mapped_per_target() -> None:
    models = {c.name: c.model for c in _rank(["openai", "cheap", "local"])}
    assert models == {"openai": "gpt-4o", "cheap": "small", "local": "llama3.1:8b"}


def test_cost_weight_prefers_the_cheaper_target() -> None:
    ranked = _rank(["openai", "cheap"], weights=ScoreWeights(cost=1, latency=0, health=0, quality=0))
    assert [c.name for c in ranked] == ["cheap", "openai"]
    assert "(cheapest)" in ranked[0].reason
    assert ranked[0].est_cost_usd_micro is not None and ranked[0].est_cost_usd_micro < ranked[1].est_cost_usd_micro  # type: ignore[operator]


def test_quality_weight_prefers_the_better_target() -> None:
    ranked = _rank(["cheap", "openai"], weights=ScoreWeights(cost=0, latency=0, health=0, quality=1))
    assert [c.name for c in ranked] == ["openai", "cheap"]
    assert "quality 0.5/1" in ranked[1].reason


def test_latency_window_prefers_the_faster_target() -> None:
    lat = LatencyTracker()
    for _ in range(5):
        lat.observe("openai", 0.9)
        lat.observe("cheap", 0.1)
    ranked = _rank(["openai", "cheap"], latency=lat, weights=ScoreWeights(cost=0, latency=1, health=0, quality=0))
    assert [c.name for c in ranked] == ["cheap", "openai"]
    assert ranked[0].latency_p50_ms == 100 and "(fastest)" in ranked[0].reason


def test_open_circuit_goes_last_but_stays_listed() -> None:
    health = {"cheap": Health(False, Circuit.OPEN, 5)}
    ranked = _rank(["cheap", "openai"], health=health, weights=ScoreWeights(cost=10, latency=0, health=0, quality=0))
    assert [c.name for c in ranked] == ["openai", "cheap"]
    assert "circuit open" in ranked[1].reason


def test_policy_target_first_unless_blocked() -> None:
    w = ScoreWeights(cost=1, latency=0, health=0, quality=0)
    assert _rank(["openai", "cheap"], preferred="openai", weights=w)[0].name == "openai"
    assert "policy's chosen target" in _rank(["openai", "cheap"], preferred="openai", weights=w)[0].reason
    limited = {"openai": Health(True, Circuit.CLOSED, 0, retry_after_s=5)}
    assert _rank(["openai", "cheap"], preferred="openai", weights=w, health=limited)[0].name == "cheap"


def test_record_has_no_floats() -> None:
    rec = _rank(["openai", "cheap"])[0].to_record()
    assert not any(isinstance(v, float) for v in rec.values())
    assert 0 <= rec["score_ppm"] <= 1_000_000
