"""Build the policy ``input`` from the pipeline's objects.

The pipeline owns the request, the DLP verdict and the settings; routing owns health
and budgets. This function is the one place that flattens them into the versioned
``PolicyInput``, so policies never depend on internal Python shapes. It copies counts
and types out of DLP, never text or matched values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from govproxy.policy.config import policy_config_from_settings
from govproxy.policy.schema import (
    KNOWN_SENSITIVITIES,
    BudgetFlags,
    BudgetInfo,
    CallerInfo,
    CircuitState,
    DlpInfo,
    EnvInfo,
    PolicyInput,
    PolicyParams,
    ProviderCandidate,
    RequestInfo,
    TenantBudget,
    TenantInfo,
)

OPENAI_FAMILY = frozenset({"openai", "azure-openai", "openai-compatible"})


def same_family(a: str, b: str) -> bool:
    """Default wire-format compatibility: identical kinds, or any two OpenAI-shaped kinds."""
    return a == b or (a in OPENAI_FAMILY and b in OPENAI_FAMILY)


class BudgetState(BaseModel):
    """What the routing/budget subsystem knows at decision time."""

    model_config = ConfigDict(extra="forbid")

    tenant: TenantBudget = Field(default_factory=TenantBudget)
    providers: dict[str, BudgetFlags] = Field(default_factory=dict)


def _get(obj: Any, name: str, default: Any) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _model_for(provider_name: str, cfg: Any, request_provider: str, model: str | None) -> str | None:
    if provider_name == request_provider:
        return model
    mapping = cfg.models
    if model is not None and model in mapping.map:
        return mapping.map[model]
    return mapping.default or model


def _prices(cfg: Any, model: str | None) -> tuple[float, float]:
    price = cfg.prices.get(model or "") or cfg.prices.get("*")
    return (price.input, price.output) if price is not None else (0.0, 0.0)


def _rfc3339(now: datetime) -> str:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_policy_input(
    request: Any,
    *,
    sensitivity: str,
    finding_counts: Mapping[str, int],
    categories: Iterable[str],
    dlp_error: bool,
    settings: Any,
    provider_health: Mapping[str, Any] | None = None,
    budget_state: BudgetState | Mapping[str, Any] | None = None,
    mode: str = "proxy",
    now: datetime | None = None,
    params: PolicyParams | None = None,
    compatible: Callable[[str, str], bool] = same_family,
) -> PolicyInput:
    """Flatten an ``LLMRequest`` + DLP result + settings into ``PolicyInput``.

    ``provider_health`` maps provider name to anything with ``healthy`` and ``circuit``
    (attributes or keys); missing means healthy and closed. ``budget_state`` defaults to
    nothing exhausted. ``compatible(request_kind, provider_kind)`` says whether govproxy
    can send this request to a provider of that kind (pass the translator's answer);
    ``input.providers`` lists the requested provider and every compatible one.
    """
    sensitivity = sensitivity if sensitivity in KNOWN_SENSITIVITIES else "unknown"
    identity = request.identity
    tenant_name = identity.tenant
    tenant_cfg = settings.tenants.get(tenant_name)
    if params is None:
        params = policy_config_from_settings(settings).params
    if budget_state is None:
        budget = BudgetState()
    elif isinstance(budget_state, BudgetState):
        budget = budget_state
    else:
        budget = BudgetState.model_validate(budget_state)

    kind = str(request.provider_kind)
    providers = []
    for name, cfg in settings.providers.items():
        is_requested = name == request.provider
        if not is_requested and not compatible(kind, str(cfg.kind)):
            continue  # a provider this request cannot be sent to is no candidate (and costs eval time)
        health = (provider_health or {}).get(name)
        model = _model_for(name, cfg, request.provider, request.model)
        price_in, price_out = _prices(cfg, model)
        providers.append(
            ProviderCandidate(
                name=name,
                kind=str(cfg.kind),
                region=cfg.region,
                local=cfg.local,
                healthy=bool(_get(health, "healthy", True)),
                circuit=CircuitState(str(_get(health, "circuit", "closed"))),
                compatible=True,
                model=model,
                price_in=price_in,
                price_out=price_out,
                budget=budget.providers.get(name, BudgetFlags()),
            )
        )

    return PolicyInput(
        request=RequestInfo(
            provider=request.provider,
            provider_kind=kind,
            endpoint=str(request.endpoint),
            host=request.host,
            path=request.path,
            method=request.method,
            model=request.model,
            stream=request.stream,
            token_estimate=request.token_estimate,
            images=request.images,
            parse_error=request.parse_error is not None,
        ),
        dlp=DlpInfo(
            sensitivity=sensitivity,
            finding_types={str(k): int(v) for k, v in sorted(finding_counts.items())},
            categories=sorted(set(categories)),
            errors=dlp_error,
        ),
        caller=CallerInfo(
            tenant=tenant_name, app=identity.app, source=identity.source, authenticated=identity.authenticated
        ),
        tenant=TenantInfo(
            name=tenant_name,
            known=tenant_cfg is not None,
            residency=tenant_cfg.residency if tenant_cfg else None,
            allow_providers=tenant_cfg.allow_providers if tenant_cfg else None,
            deny_providers=list(tenant_cfg.deny_providers) if tenant_cfg else [],
            allow_models=tenant_cfg.allow_models if tenant_cfg else None,
            deny_models=list(tenant_cfg.deny_models) if tenant_cfg else [],
        ),
        providers=providers,
        budget=BudgetInfo(tenant=budget.tenant),
        env=EnvInfo(time=_rfc3339(now or datetime.now(UTC)), mode=mode),  # type: ignore[arg-type]
        params=params,
    )


def sample_policy_input() -> PolicyInput:
    """A realistic input (default providers, an internal chat request) used to smoke-test a
    policy set: rego-cpp reports some mistakes (an unknown function) only when evaluating."""
    from govproxy.config import Settings
    from govproxy.models import EndpointKind, Identity, LLMRequest, ProviderKind

    req = LLMRequest(provider="openai", provider_kind=ProviderKind.OPENAI, endpoint=EndpointKind.CHAT,
                     method="POST", scheme="https", host="api.openai.com", port=443,
                     path="/v1/chat/completions", model="gpt-4o-mini", identity=Identity())
    return build_policy_input(req, sensitivity="internal", finding_counts={"EMAIL": 1}, categories={"pii"},
                              dlp_error=False, settings=Settings(), mode="dry-run",
                              now=datetime(2026, 1, 1, tzinfo=UTC))
