"""The shipped policies, decided through the real embedded engine (isolated regopy worker)."""

from __future__ import annotations

from govproxy.policy import PolicyDecider
from tests.policy.helpers import make_input

EU = {"tenants": {"eu": {"residency": ["eu"]}}}


def test_plain_public_request_goes_where_asked(shipped_decider: PolicyDecider) -> None:
    d = shipped_decider.decide_sync(make_input())
    assert d.allow and d.route is None and d.error is None
    assert d.engine == "embedded" and d.bundle_hash.startswith("sha256:")
    assert all(c.provider != "openai" for c in d.candidates)


def test_critical_goes_to_the_local_provider_only(shipped_decider: PolicyDecider) -> None:
    d = shipped_decider.decide_sync(make_input(sensitivity="critical", findings={"PRIVATE_KEY": 1}))
    assert d.allow
    assert d.route is not None and d.route.provider == "local"
    assert "govproxy.sensitivity" in d.rules_fired
    assert all(c.provider == "local" for c in d.candidates)


def test_critical_without_local_provider_is_denied_naming_the_policy(shipped_decider: PolicyDecider) -> None:
    raw = {"providers": {"local": {"local": False, "region": "us"}}}
    d = shipped_decider.decide_sync(make_input(raw, sensitivity="critical", findings={"PRIVATE_KEY": 1}))
    assert not d.allow and d.status == 403
    assert d.denied_by is not None and d.denied_by.rule == "govproxy.sensitivity"
    assert d.denied_by.code == "sensitivity" and d.route is None and d.candidates == []


def test_eu_tenant_is_rerouted_to_an_eu_provider(shipped_decider: PolicyDecider) -> None:
    d = shipped_decider.decide_sync(make_input(EU, tenant="eu"))
    assert d.allow and d.route is not None and d.route.provider == "mistral"
    assert "govproxy.residency" in d.rules_fired


def test_eu_tenant_without_eu_provider_gets_451(shipped_decider: PolicyDecider) -> None:
    raw = {**EU, "providers_replace": True, "providers": {
        "openai": {"kind": "openai", "hosts": ["api.openai.com"], "region": "us"},
        "groq": {"kind": "openai-compatible", "hosts": ["api.groq.com"], "region": "us"},
    }}
    d = shipped_decider.decide_sync(make_input(raw, tenant="eu"))
    assert not d.allow and d.status == 451
    assert {r.code for r in d.deny} == {"residency"}


def test_confidential_is_pseudonymised(shipped_decider: PolicyDecider) -> None:
    d = shipped_decider.decide_sync(make_input(sensitivity="confidential", findings={"EMAIL": 2, "IBAN": 1}))
    assert d.allow and d.route is None
    assert d.redact == {"EMAIL": "pseudonymise", "IBAN": "pseudonymise"}
    assert d.obligations.audit_content == "none"


def test_tenant_provider_and_model_lists(shipped_decider: PolicyDecider) -> None:
    raw = {"tenants": {"t": {"deny_providers": ["openai"]}, "m": {"allow_models": ["gpt-4o-mini"]}}}
    d = shipped_decider.decide_sync(make_input(raw, tenant="t"))
    assert not d.allow and d.denied_by and d.denied_by.code == "provider_not_allowed" and d.status == 403
    d = shipped_decider.decide_sync(make_input(raw, tenant="m"))
    assert not d.allow and d.denied_by and d.denied_by.code == "model_not_allowed"


def test_exhausted_tenant_budget_denies(shipped_decider: PolicyDecider) -> None:
    pin = make_input()
    pin = pin.model_copy(update={"budget": pin.budget.model_copy(update={
        "tenant": pin.budget.tenant.model_copy(update={"exhausted": True})})})
    d = shipped_decider.decide_sync(pin)
    assert not d.allow and d.denied_by and d.denied_by.code == "budget"


def test_unhealthy_local_provider_means_critical_is_denied(shipped_decider: PolicyDecider) -> None:
    from govproxy.config import settings_from_dict
    from govproxy.policy import build_policy_input
    from tests.policy.helpers import make_request

    pin = build_policy_input(make_request(), sensitivity="critical", finding_counts={"PRIVATE_KEY": 1},
                             categories={"secret"}, dlp_error=False, settings=settings_from_dict({}),
                             provider_health={"local": {"healthy": False, "circuit": "open"}})
    d = shipped_decider.decide_sync(pin)
    assert not d.allow and d.denied_by and d.denied_by.code == "sensitivity"


def test_async_decide_matches_sync(shipped_decider: PolicyDecider) -> None:
    import asyncio

    pin = make_input(EU, tenant="eu", sensitivity="internal", findings={"PERSON": 1})
    a = asyncio.run(shipped_decider.decide(pin))
    s = shipped_decider.decide_sync(pin)
    assert a.model_dump() == s.model_dump()
    assert a.route is not None and a.route.provider == "mistral" and a.redact == {"PERSON": "pseudonymise"}


def test_identical_inputs_reuse_the_decision_but_not_across_bundles_or_ttl0() -> None:
    from datetime import UTC, datetime

    from govproxy.policy import PolicyConfig, PolicyDecider
    from tests.policy.helpers import POLICIES

    decider = PolicyDecider(PolicyConfig(path=str(POLICIES), hot_reload=False, timeout_ms=5000))
    uncached = PolicyDecider(PolicyConfig(path=str(POLICIES), hot_reload=False, timeout_ms=5000, cache_ttl_s=0))
    try:
        first = make_input(sensitivity="critical", findings={"PRIVATE_KEY": 1})
        later = first.model_copy(update={"env": first.env.model_copy(update={"time": datetime.now(UTC).isoformat()})})
        a = decider.decide_sync(first)
        b = decider.decide_sync(later)
        assert a == b and decider.counters["cache_hits"] == 1
        b.route = None  # a caller mutating its copy must not poison the cache
        assert decider.decide_sync(first).route is not None
        other = make_input(sensitivity="public")
        assert decider.decide_sync(other).route is None and decider.counters["cache_hits"] == 2
        uncached.decide_sync(first)
        uncached.decide_sync(first)
        assert uncached.counters["cache_hits"] == 0
    finally:
        decider.close()
        uncached.close()


def test_cache_ignores_only_the_fields_the_policy_set_declares_unread(shipped_decider: PolicyDecider) -> None:
    ignore = shipped_decider.engine.cache_ignore  # type: ignore[attr-defined]
    assert "request.token_estimate" in ignore and "env.time" in ignore and "request.model" not in ignore
    shipped_decider.clear_cache()
    before = shipped_decider.counters["cache_hits"]
    a = make_input(sensitivity="internal", findings={"EMAIL": 1})
    b = a.model_copy(update={
        "request": a.request.model_copy(update={"token_estimate": 9999}),
        "caller": a.caller.model_copy(update={"source": "127.0.0.1:60001"}),
    })
    other_model = make_input(sensitivity="internal", findings={"EMAIL": 1}, model="gpt-4o-mini")
    shipped_decider.decide_sync(a)
    shipped_decider.decide_sync(b)
    assert shipped_decider.counters["cache_hits"] == before + 1
    shipped_decider.decide_sync(other_model)
    assert shipped_decider.counters["cache_hits"] == before + 1


def test_concurrent_async_decisions_each_get_their_own_answer() -> None:
    import asyncio

    from govproxy.policy import PolicyConfig, PolicyDecider
    from tests.policy.helpers import POLICIES

    decider = PolicyDecider(PolicyConfig(path=str(POLICIES), hot_reload=False, timeout_ms=5000, cache_ttl_s=0))
    try:
        inputs = [make_input(EU, sensitivity=s, tenant=t) for s in ("public", "critical", "internal")
                  for t in ("default", "eu")]
        expected = [decider.decide_sync(p).model_dump() for p in inputs]

        async def burst() -> list[dict]:
            results = await asyncio.gather(*[decider.decide(inputs[i % len(inputs)]) for i in range(30)])
            return [r.model_dump() for r in results]

        got = asyncio.run(burst())
        assert all(g == expected[i % len(inputs)] for i, g in enumerate(got))
        assert len({(e["allow"], str(e["route"])) for e in expected}) >= 3  # the inputs really differ
    finally:
        decider.close()
