"""The contract between govproxy and the policies: what ``input`` holds, what a decision is.

Policy authors program against these shapes, and both engines (embedded regopy and a
real OPA server) see exactly the same JSON, so the models are versioned: a change that
could break a policy bumps ``INPUT_VERSION`` / ``DECISION_VERSION``. ``govproxy policy
schema`` prints their JSON Schema and ``policies/README.md`` documents them.

Nothing here ever carries prompt text or the matched values of a finding: a policy can
count what DLP found, never read it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

INPUT_VERSION: Literal[1] = 1
DECISION_VERSION: Literal[1] = 1

KNOWN_SENSITIVITIES = ("public", "internal", "confidential", "critical")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- input


class RequestInfo(_Model):
    provider: str = Field(description="configured provider name the app addressed, e.g. 'openai'")
    provider_kind: str = Field(description="wire format: openai, anthropic, gemini, openai-compatible, ...")
    endpoint: str = Field(description="chat, messages, embeddings, ... or 'unknown' for a path govproxy does not parse")
    host: str
    path: str
    method: str = "POST"
    model: str | None = None
    stream: bool = False
    token_estimate: int = 0
    images: int = Field(default=0, description="non-text parts (images, audio, files): counted, not scanned")
    parse_error: bool = Field(default=False, description="the body could not be parsed (content unseen by DLP)")


class DlpInfo(_Model):
    sensitivity: str = Field(description="public | internal | confidential | critical | unknown")
    finding_types: dict[str, int] = Field(default_factory=dict, description="entity type -> count; never values")
    categories: list[str] = Field(default_factory=list, description="finding categories present, sorted")
    errors: bool = Field(default=False, description="a detector failed: the content was not fully inspected")


class CallerInfo(_Model):
    tenant: str = "default"
    app: str | None = None
    source: str | None = Field(default=None, description="client address 'ip:port'")
    authenticated: bool = False


class TenantInfo(_Model):
    name: str = "default"
    known: bool = Field(default=False, description="the tenant is declared in config")
    residency: list[str] | None = Field(default=None, description="allowed provider regions; null = any")
    allow_providers: list[str] | None = None
    deny_providers: list[str] = Field(default_factory=list)
    allow_models: list[str] | None = None
    deny_models: list[str] = Field(default_factory=list)


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BudgetFlags(_Model):
    exhausted: bool = False
    warn: bool = False


class TenantBudget(BudgetFlags):
    used_usd: float | None = None
    limit_usd: float | None = None
    used_tokens: int | None = None
    limit_tokens: int | None = None


class ProviderCandidate(_Model):
    name: str
    kind: str
    region: str
    local: bool = False
    healthy: bool = True
    circuit: CircuitState = CircuitState.CLOSED
    compatible: bool = Field(
        default=True, description="govproxy can send this request to this provider (same or translatable wire format)"
    )
    model: str | None = Field(default=None, description="the model this provider would serve for the request")
    price_in: float = Field(default=0.0, ge=0, description="USD per million input tokens for that model")
    price_out: float = Field(default=0.0, ge=0, description="USD per million output tokens for that model")
    budget: BudgetFlags = Field(default_factory=BudgetFlags)


class BudgetInfo(_Model):
    tenant: TenantBudget = Field(default_factory=TenantBudget)


class EnvInfo(_Model):
    time: str = Field(description="RFC 3339 UTC time of the decision")
    mode: Literal["proxy", "gateway", "dry-run", "replay"] = "proxy"


class PolicyParams(_Model):
    """Operator switches that the shipped policies read (``policy.params`` in config)."""

    deny_unknown_endpoints: bool = Field(
        default=False, description="deny paths on a known provider host that govproxy does not parse"
    )
    deny_unknown_providers: bool = Field(
        default=False, description="deny requests whose provider is not among the configured candidates"
    )
    budget_action: Literal["deny", "downgrade"] = Field(
        default="deny", description="tenant budget exhausted: deny, or downgrade to a free local provider"
    )
    audit_content: Literal["none", "redacted", "encrypted"] = Field(
        default="redacted", description="what the audit record keeps of public/internal requests"
    )


class PolicyInput(_Model):
    """``input`` as every policy sees it (version 1)."""

    version: Literal[1] = INPUT_VERSION
    request: RequestInfo
    dlp: DlpInfo
    caller: CallerInfo = Field(default_factory=CallerInfo)
    tenant: TenantInfo = Field(default_factory=TenantInfo)
    providers: list[ProviderCandidate] = Field(default_factory=list)
    budget: BudgetInfo = Field(default_factory=BudgetInfo)
    env: EnvInfo
    params: PolicyParams = Field(default_factory=PolicyParams)


# --------------------------------------------------------------------------- decision

DENY_STATUS = {"residency": 451}


class DenyReason(_Model):
    code: str = Field(description="sensitivity | residency | provider_not_allowed | model_not_allowed | budget | ...")
    rule: str = Field(description="the policy rule that denied, e.g. 'govproxy.residency'")
    message: str


class Route(_Model):
    provider: str
    model: str | None = None


RedactAction = Literal["mask", "hash", "pseudonymise", "allow"]


class Obligations(_Model):
    model_config = ConfigDict(extra="allow")

    audit_content: Literal["none", "redacted", "encrypted"] = "none"


class Decision(_Model):
    """What the policy decided, validated; engines and the fail-closed path fill the last fields."""

    version: Literal[1] = DECISION_VERSION
    allow: bool
    deny: list[DenyReason] = Field(default_factory=list)
    status: int | None = Field(default=None, description="HTTP status for a denial: 403, or 451 for residency")
    route: Route | None = Field(default=None, description="null = send where the app asked")
    candidates: list[Route] = Field(
        default_factory=list, description="ordered allowed alternatives for failover; never one the policy excluded"
    )
    redact: dict[str, RedactAction] = Field(default_factory=dict, description="entity type -> action")
    obligations: Obligations = Field(default_factory=Obligations)
    rules_fired: list[str] = Field(default_factory=list)
    explanation: list[str] = Field(default_factory=list)
    error: str | None = Field(default=None, description="set when this decision was produced by the fail-closed path")
    engine: str = ""
    bundle_hash: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Decision:
        if self.allow and self.deny:
            raise ValueError("a decision cannot both allow and carry deny reasons")
        if not self.allow:
            if not self.deny:
                raise ValueError("a denial must carry at least one reason")
            if self.status is None:
                codes = {d.code for d in self.deny}
                self.status = 451 if codes == {"residency"} else 403
            elif not 400 <= self.status <= 599:
                raise ValueError("a denial's status must be an HTTP error status (4xx/5xx)")
        elif self.status is not None and self.status >= 400:
            raise ValueError("an allowing decision cannot carry an error status")
        return self

    @property
    def denied_by(self) -> DenyReason | None:
        """The reason the lead's error body names (the first one the policy gave)."""
        return self.deny[0] if self.deny else None


def schemas() -> dict[str, Any]:
    """JSON Schemas of input and decision, as printed by ``govproxy policy schema``."""
    return {
        "input": PolicyInput.model_json_schema(),
        "decision": Decision.model_json_schema(),
    }
