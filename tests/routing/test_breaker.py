from __future__ import annotations

from govproxy.routing.breaker import Circuit, CircuitBreakers
from govproxy.routing.config import BreakerConfig
from govproxy.routing.store import StateStore

from .conftest import FakeClock


def _breakers(store: StateStore, clock: FakeClock, **kw: object) -> CircuitBreakers:
    cfg = BreakerConfig(**{"failures_to_open": 3, "cooldown_s": 10, **kw})  # type: ignore[arg-type]
    return CircuitBreakers(store, cfg, clock=clock)


def test_opens_after_consecutive_failures_only(store: StateStore, clock: FakeClock) -> None:
    b = _breakers(store, clock)
    b.record_failure("openai")
    b.record_failure("openai")
    b.record_success("openai")  # a success resets the count: failures must be consecutive
    b.record_failure("openai")
    b.record_failure("openai")
    assert b.health("openai").circuit is Circuit.CLOSED
    assert b.health("openai").consecutive_failures == 2
    assert b.record_failure("openai") is Circuit.OPEN
    h = b.health("openai")
    assert h.circuit is Circuit.OPEN and not h.healthy
    assert h.for_policy() == {"healthy": False, "circuit": "open", "consecutive_failures": 3, "retry_after_s": 0}
    assert not b.allow("openai").allowed
    assert b.health("anthropic").healthy  # per provider


def test_half_open_admits_one_probe_then_closes_on_success(store: StateStore, clock: FakeClock) -> None:
    b = _breakers(store, clock)
    for _ in range(3):
        b.record_failure("openai")
    clock.advance(9.9)
    assert not b.allow("openai").allowed
    clock.advance(0.2)
    assert b.health("openai").circuit is Circuit.HALF_OPEN
    first = b.allow("openai")
    assert first.allowed and first.probe
    second = b.allow("openai")
    assert not second.allowed and "probe" in second.reason
    b.record_success("openai")
    assert b.health("openai").circuit is Circuit.CLOSED
    assert b.allow("openai").allowed


def test_failed_probe_reopens_for_another_cooldown(store: StateStore, clock: FakeClock) -> None:
    b = _breakers(store, clock)
    for _ in range(3):
        b.record_failure("openai")
    clock.advance(11)
    assert b.allow("openai").probe
    assert b.record_failure("openai") is Circuit.OPEN
    clock.advance(5)
    assert not b.allow("openai").allowed
    clock.advance(6)
    assert b.allow("openai").allowed


def test_a_lost_probe_frees_its_slot_after_a_cooldown(store: StateStore, clock: FakeClock) -> None:
    b = _breakers(store, clock)
    for _ in range(3):
        b.record_failure("openai")
    clock.advance(11)
    assert b.allow("openai").probe  # this probe's instance dies and never reports
    assert not b.allow("openai").allowed
    clock.advance(11)
    assert b.allow("openai").probe


def test_several_probes_when_configured(store: StateStore, clock: FakeClock) -> None:
    b = _breakers(store, clock, half_open_probes=2)
    for _ in range(3):
        b.record_failure("openai")
    clock.advance(11)
    assert b.allow("openai").allowed and b.allow("openai").allowed
    assert not b.allow("openai").allowed


def test_retry_after_holds_traffic_back_without_opening(store: StateStore, clock: FakeClock) -> None:
    b = _breakers(store, clock)
    b.note_retry_after("openai", 3)
    adm = b.allow("openai")
    assert not adm.allowed and "retry after" in adm.reason
    h = b.health("openai")
    assert h.healthy and h.circuit is Circuit.CLOSED and h.retry_after_s == 3
    clock.advance(3.01)
    assert b.allow("openai").allowed


def test_state_changes_are_reported(store: StateStore, clock: FakeClock) -> None:
    seen: list[tuple[str, Circuit]] = []
    b = CircuitBreakers(store, BreakerConfig(failures_to_open=1, cooldown_s=1), clock=clock, on_change=lambda p, c: seen.append((p, c)))
    b.record_failure("openai")
    clock.advance(2)
    b.allow("openai")
    b.record_success("openai")
    assert [c for _, c in seen] == [Circuit.OPEN, Circuit.HALF_OPEN, Circuit.CLOSED]
