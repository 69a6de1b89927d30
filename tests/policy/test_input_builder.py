"""The policy input carries facts about a request, never its content."""

from __future__ import annotations

import json

from govproxy.config import settings_from_dict
from govproxy.models import (
    EndpointKind,
    Identity,
    LLMRequest,
    ProviderKind,
    TextRole,
    TextSegment,
)
from govproxy.policy import PolicyInput, build_policy_input, schema
from govproxy.policy.schema import Decision

SECRET = "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA"
EMAIL = "jane.doe@example.com"


def _request(**kw: object) -> LLMRequest:
    base: dict[str, object] = {
        "provider": "anthropic", "provider_kind": ProviderKind.ANTHROPIC, "endpoint": EndpointKind.MESSAGES, "method": "POST",
        "scheme": "https", "host": "api.anthropic.com", "port": 443, "path": "/v1/messages", "model": "claude-sonnet-4",
        "texts": (TextSegment(role=TextRole.USER, text=f"key {SECRET} mail {EMAIL}", pointer="/messages/0/content"),),
        "token_estimate": 40, "identity": Identity(tenant="eu", app="app1", source="127.0.0.1:5000", authenticated=True),
    }
    base.update(kw)
    return LLMRequest(**base)  # type: ignore[arg-type]


def test_prompt_text_and_matched_values_never_reach_the_policy() -> None:
    settings = settings_from_dict({"tenants": {"eu": {"residency": ["eu"], "deny_models": ["x"]}}})
    pin = build_policy_input(_request(), sensitivity="critical", finding_counts={"PRIVATE_KEY": 1, "EMAIL": 1},
                             categories={"secret", "pii"}, dlp_error=False, settings=settings)
    raw = pin.model_dump_json()
    assert SECRET not in raw and EMAIL not in raw and "b3BlbnNzaC1rZXk" not in raw
    assert pin.dlp.finding_types == {"EMAIL": 1, "PRIVATE_KEY": 1}
    assert pin.tenant.residency == ["eu"] and pin.tenant.deny_models == ["x"] and pin.tenant.known


def test_candidates_are_compatible_providers_with_health_budget_and_mapped_models() -> None:
    settings = settings_from_dict({"providers": {
        "claude-eu": {"kind": "anthropic", "hosts": ["claude.eu.example"], "region": "eu",
                      "models": {"map": {"claude-sonnet-4": "claude-eu-sonnet"}},
                      "prices": {"claude-eu-sonnet": {"input": 3, "output": 15}}},
    }})
    pin = build_policy_input(_request(identity=Identity()), sensitivity="public", finding_counts={},
                             categories=(), dlp_error=True, settings=settings,
                             provider_health={"claude-eu": {"healthy": False, "circuit": "open"}},
                             budget_state={"providers": {"claude-eu": {"exhausted": True}}}, mode="gateway")
    names = [p.name for p in pin.providers]
    assert "anthropic" in names and "claude-eu" in names
    assert "openai" not in names  # a wire format this request cannot be sent in is no candidate
    eu = next(p for p in pin.providers if p.name == "claude-eu")
    assert (eu.healthy, eu.circuit.value, eu.budget.exhausted) == (False, "open", True)
    assert (eu.model, eu.price_in, eu.price_out) == ("claude-eu-sonnet", 3, 15)
    assert pin.dlp.errors and pin.env.mode == "gateway" and pin.env.time.endswith("Z")
    assert not pin.tenant.known


def test_translating_pipeline_can_widen_the_candidates() -> None:
    pin = build_policy_input(_request(), sensitivity="critical", finding_counts={}, categories=(), dlp_error=False,
                             settings=settings_from_dict({}), compatible=lambda a, b: True)
    assert "local" in [p.name for p in pin.providers]


def test_unknown_sensitivity_label_becomes_unknown() -> None:
    pin = build_policy_input(_request(), sensitivity="secret-ish", finding_counts={}, categories=(), dlp_error=False,
                             settings=settings_from_dict({}))
    assert pin.dlp.sensitivity == "unknown"


def test_schema_round_trips_and_rejects_inconsistent_decisions() -> None:
    doc = schema.schemas()
    assert doc["input"]["properties"]["version"]["const"] == 1
    pin = build_policy_input(_request(), sensitivity="public", finding_counts={}, categories=(), dlp_error=False,
                             settings=settings_from_dict({}))
    assert PolicyInput.model_validate(json.loads(pin.model_dump_json())) == pin
    for bad in ({"allow": False}, {"allow": True, "deny": [{"code": "x", "rule": "r", "message": "m"}]},
                {"allow": False, "status": 200, "deny": [{"code": "x", "rule": "r", "message": "m"}]}):
        try:
            Decision.model_validate(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")
