"""Shared builders for the policy tests: real settings, real requests, real engines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from govproxy.config import settings_from_dict
from govproxy.models import EndpointKind, Identity, LLMRequest, ProviderKind
from govproxy.policy import PolicyConfig, PolicyDecider, PolicyInput, build_policy_input

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"


def make_request(provider: str = "openai", kind: ProviderKind = ProviderKind.OPENAI, *, tenant: str = "default",
                 model: str = "gpt-4o", host: str = "api.openai.com") -> LLMRequest:
    return LLMRequest(provider=provider, provider_kind=kind, endpoint=EndpointKind.CHAT, method="POST",
                      scheme="https", host=host, port=443, path="/v1/chat/completions", model=model,
                      identity=Identity(tenant=tenant, authenticated=True))


def make_input(settings_raw: dict[str, Any] | None = None, *, sensitivity: str = "public",
               findings: dict[str, int] | None = None, dlp_error: bool = False, **req: Any) -> PolicyInput:
    settings = settings_from_dict(settings_raw or {})
    return build_policy_input(make_request(**req), sensitivity=sensitivity, finding_counts=findings or {},
                              categories=set(), dlp_error=dlp_error, settings=settings, mode="dry-run",
                              now=datetime(2026, 11, 22, 3, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def shipped_decider() -> Iterator[PolicyDecider]:
    decider = PolicyDecider(PolicyConfig(path=str(POLICIES), hot_reload=False, timeout_ms=2000))
    yield decider
    decider.close()


def write_policy(directory: Path, decision_body: str, name: str = "decision.rego") -> Path:
    (directory / "govproxy").mkdir(parents=True, exist_ok=True)
    path = directory / "govproxy" / name
    path.write_text("package govproxy\n\nimport rego.v1\n\n" + decision_body + "\n", encoding="utf-8")
    return path
