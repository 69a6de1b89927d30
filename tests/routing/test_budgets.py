from __future__ import annotations

from pathlib import Path

import pytest

from govproxy.config import settings_from_dict
from govproxy.routing.budgets import BudgetExceeded, BudgetTracker
from govproxy.routing.cost import Usage
from govproxy.routing.store import SQLiteStateStore, StateStore

from .conftest import FakeClock

DAY = 86400.0


def _tracker(store: StateStore, clock: FakeClock, **budgets: dict) -> BudgetTracker:
    settings = settings_from_dict(
        {
            "tenants": {"acme": {"budget": budgets.get("acme", {})}, "free": {}},
            "providers": {"openai": {"budget": budgets.get("openai")}} if "openai" in budgets else {},
        }
    )
    return BudgetTracker(store, providers=settings.providers, tenants=settings.tenants, clock=clock)


def test_usage_accumulates_and_warns_at_80_then_exhausts_at_100(store: StateStore, clock: FakeClock) -> None:
    t = _tracker(store, clock, acme={"daily_usd": 1.0, "daily_tokens": 1000})
    t.record("acme", "openai", Usage(300, 100), 700_000)  # $0.70, 400 tokens
    s = t.state("acme", "openai")
    assert not s.warn and not s.exhausted
    assert s.tenant.windows["daily_usd"].used == 700_000
    assert s.tenant.windows["daily_usd"].limit == 1_000_000
    assert s.tenant.windows["daily_tokens"].used == 400

    t.record("acme", "openai", Usage(50, 50), 100_000)  # $0.80 → warn
    s = t.state("acme", "openai")
    assert s.warn and not s.exhausted
    assert s.tenant.windows["daily_usd"].percent == 80

    t.record("acme", "anthropic", Usage(100, 0), 200_000)  # tenant spend counts across providers
    s = t.state("acme", "openai")
    assert s.exhausted and s.tenant.exhausted
    assert not s.provider.exhausted
    assert s.for_policy()["exhausted"] is True


def test_tenants_do_not_share_counters(store: StateStore, clock: FakeClock) -> None:
    t = _tracker(store, clock, acme={"daily_tokens": 100})
    t.record("acme", "openai", Usage(100, 0), 0)
    assert t.state("acme", "openai").exhausted
    assert not t.state("free", "openai").exhausted
    assert t.state("free", "openai").tenant.windows["daily_tokens"].used == 0


def test_provider_budget_applies_to_every_tenant(store: StateStore, clock: FakeClock) -> None:
    t = _tracker(store, clock, openai={"monthly_usd": 2.0})
    t.record("acme", "openai", Usage(1, 1), 1_000_000)
    t.record("free", "openai", Usage(1, 1), 1_000_000)
    states = t.states("free", ["openai", "anthropic"])
    assert states["openai"].exhausted and states["openai"].provider.exhausted
    assert not states["anthropic"].exhausted


def test_a_new_day_resets_daily_but_not_monthly(store: StateStore, clock: FakeClock) -> None:
    t = _tracker(store, clock, acme={"daily_tokens": 100, "monthly_tokens": 150})
    t.record("acme", "openai", Usage(100, 0), 0)
    assert t.state("acme", "openai").exhausted
    clock.advance(DAY)
    s = t.state("acme", "openai")
    assert s.tenant.windows["daily_tokens"].used == 0
    assert s.tenant.windows["monthly_tokens"].used == 100
    assert not s.exhausted
    t.record("acme", "openai", Usage(50, 0), 0)
    s = t.state("acme", "openai")
    assert s.tenant.windows["monthly_tokens"].exhausted and s.exhausted
    clock.advance(31 * DAY)  # 2026-02-01: a new month
    assert not t.state("acme", "openai").exhausted


def test_reserve_refuses_past_the_limit_and_settle_corrects(store: StateStore, clock: FakeClock) -> None:
    t = _tracker(store, clock, acme={"daily_usd": 1.0})
    r1 = t.reserve("acme", "openai", est_tokens=100, est_usd_micro=600_000)
    with pytest.raises(BudgetExceeded) as err:
        t.reserve("acme", "openai", est_tokens=100, est_usd_micro=600_000)
    assert err.value.scope == "tenant" and err.value.window == "daily_usd"
    # Nothing was taken by the refused reservation.
    assert t.state("acme", "openai").tenant.windows["daily_usd"].used == 600_000
    t.settle(r1, Usage(10, 10), 100_000)  # it was cheaper than estimated
    assert t.state("acme", "openai").tenant.windows["daily_usd"].used == 100_000
    r2 = t.reserve("acme", "openai", est_tokens=100, est_usd_micro=600_000)
    t.settle(r2, None, 0)  # never sent: refunded
    s = t.state("acme", "openai")
    assert s.tenant.windows["daily_usd"].used == 100_000
    assert s.tenant.windows["daily_tokens"].used == 20


def test_zero_budget_is_exhausted_from_the_start(store: StateStore, clock: FakeClock) -> None:
    t = _tracker(store, clock, acme={"daily_usd": 0})
    assert t.state("acme", "openai").exhausted


def test_budget_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state.sqlite3"
    first = SQLiteStateStore(path, clock=clock)
    _tracker(first, clock, acme={"daily_usd": 1.0}).record("acme", "openai", Usage(1, 1), 900_000)
    first.close()
    second = SQLiteStateStore(path, clock=clock)
    s = _tracker(second, clock, acme={"daily_usd": 1.0}).state("acme", "openai")
    second.close()
    assert s.tenant.windows["daily_usd"].used == 900_000 and s.warn


def test_negative_cost_is_rejected(store: StateStore, clock: FakeClock) -> None:
    with pytest.raises(ValueError):
        _tracker(store, clock).record("acme", "openai", Usage(1, 1), -5)


def test_reservations_survive_a_redis_script_cache_flush(redis_url: str, clock: FakeClock) -> None:
    import redis

    from govproxy.routing.store import RedisStateStore

    store = RedisStateStore(redis_url, clock=clock)
    t = _tracker(store, clock, acme={"daily_tokens": 10})
    t.reserve("acme", "openai", est_tokens=4, est_usd_micro=0)
    redis.Redis.from_url(redis_url).script_flush()  # as after a Redis restart
    t.reserve("acme", "openai", est_tokens=4, est_usd_micro=0)
    with pytest.raises(BudgetExceeded):
        t.reserve("acme", "openai", est_tokens=4, est_usd_micro=0)
    store.close()


def test_router_reserve_and_settle_use_prices_and_refund(tmp_path: Path) -> None:
    from govproxy.routing import Router

    router = Router(
        settings_from_dict(
            {
                "tenants": {"acme": {"budget": {"daily_usd": 0.01}}},
                "providers": {"openai": {"prices": {"gpt-4o": {"input": 2.5, "output": 10}}}},
                "routing": {"expected_output_tokens": 100},
                "state": {"path": str(tmp_path / "s.sqlite3")},
            }
        )
    )
    # 1000 in + 100 expected out at $2.50/$10 per M = 2500 + 1000 = 3500 µUSD
    r = router.reserve_budget(tenant="acme", provider="openai", model="gpt-4o", token_estimate=1000)
    assert r.usd_micro == 3500
    r2 = router.reserve_budget(tenant="acme", provider="openai", model="gpt-4o", token_estimate=1000)
    with pytest.raises(BudgetExceeded):  # a third would pass $0.01
        router.reserve_budget(tenant="acme", provider="openai", model="gpt-4o", token_estimate=1000)
    cost = router.settle_budget(r, model="gpt-4o", usage=Usage(1000, 10), request_id="q1")
    assert cost is not None and cost.usd_micro == 2600
    assert router.settle_budget(r2, model="gpt-4o", usage=None) is None
    used = router.budget_state("acme", "openai").tenant.windows["daily_usd"].used
    assert used == 2600
    assert router.explanation("q1")["usage"]["cost_usd_micro"] == 2600  # type: ignore[index]
    router.close()
