"""The ``policy:`` section of govproxy.yaml.

``path: null`` (the default) means the shipped policies: the repository's ``policies/``
when govproxy runs from a checkout (so editing them hot-reloads during development),
otherwise the identical copy packaged in ``govproxy/policy/default_policies`` (a test
keeps the two byte-identical), so an installed govproxy is governed out of the box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from govproxy.policy.schema import PolicyParams

PACKAGED_POLICIES = Path(__file__).resolve().parent / "default_policies"
# src/govproxy/policy/config.py -> repository root when running from a checkout
_REPO_POLICIES = Path(__file__).resolve().parents[3] / "policies"


def default_policy_dir() -> Path:
    """The shipped policy set: the checkout's ``policies/`` if present, else the packaged copy."""
    if (_REPO_POLICIES / "govproxy").is_dir():
        return _REPO_POLICIES
    return PACKAGED_POLICIES


class PolicyConfig(BaseModel):
    """How requests are decided. YAML key: ``policy``."""

    model_config = ConfigDict(extra="forbid")

    engine: Literal["embedded", "opa"] = "embedded"
    path: str | None = Field(default=None, description="policy directory; null = the shipped policies")
    opa_url: str = "http://127.0.0.1:8181"
    timeout_ms: float = Field(default=50.0, gt=0, description="per-decision deadline; past it the request fails closed")
    on_error: Literal["deny", "allow"] = Field(
        default="deny", description="on policy error, for non-critical known sensitivities only; critical always denies"
    )
    shadow: str | None = Field(default=None, description="candidate policy directory evaluated beside the active one")
    decision_path: str = Field(default="govproxy/decision", description="data path of the decision document")
    hot_reload: bool = Field(default=True, description="embedded: pick up changes to the policy directory")
    workers: int = Field(
        default=2, ge=1, le=32,
        description="embedded: policy worker processes deciding in parallel (plus one spare); "
                    "a slow cold decision then does not queue the others",
    )
    reload_interval_s: float = Field(default=1.0, gt=0)
    params: PolicyParams = Field(default_factory=PolicyParams)
    cache_ttl_s: float = Field(
        default=10.0, ge=0,
        description="reuse a decision for an identical input (ignoring env.time) for this long; 0 disables",
    )
    cache_size: int = Field(default=4096, ge=0)

    @field_validator("decision_path")
    @classmethod
    def _clean_path(cls, v: str) -> str:
        v = v.strip().strip("/")
        if not v or any(not part.isidentifier() for part in v.split("/")):
            raise ValueError("decision_path must be like 'govproxy/decision' (identifiers separated by '/')")
        return v

    def policy_dir(self) -> Path:
        return Path(self.path).expanduser() if self.path else default_policy_dir()

    def shadow_dir(self) -> Path | None:
        return Path(self.shadow).expanduser() if self.shadow else None

    @property
    def decision_ref(self) -> str:
        """The Rego reference of the decision, e.g. ``data.govproxy.decision``."""
        return "data." + self.decision_path.replace("/", ".")


def policy_config_from_settings(settings: Any) -> PolicyConfig:
    """Validate ``settings.policy`` (a plain mapping in the lead's Settings) into a PolicyConfig."""
    raw = getattr(settings, "policy", None) or {}
    if isinstance(raw, PolicyConfig):
        return raw
    return PolicyConfig.model_validate(raw)
