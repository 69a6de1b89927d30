"""Settings for routing, shared state and metrics (YAML keys ``routing``, ``state``, ``metrics``).

``govproxy.config.Settings`` keeps these sections as plain mappings so that each subsystem
owns its schema; :func:`load_routing_settings` validates them here and reports errors with
the dotted key, the same way the top-level loader does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from govproxy.config import ConfigError, Settings

_FAILOVER_TOKENS = {"connect_error", "timeout", "5xx", "4xx"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScoreWeights(_Strict):
    """Relative weight of each factor in a candidate's score (0 switches a factor off)."""

    cost: float = Field(default=1.0, ge=0)
    latency: float = Field(default=1.0, ge=0)
    health: float = Field(default=2.0, ge=0)
    quality: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> ScoreWeights:
        if self.cost + self.latency + self.health + self.quality <= 0:
            raise ValueError("at least one score weight must be positive")
        return self


class BreakerConfig(_Strict):
    failures_to_open: int = Field(default=5, ge=1, description="consecutive failures that open the circuit")
    cooldown_s: float = Field(default=30.0, gt=0, description="time an open circuit rejects traffic before probing")
    half_open_probes: int = Field(default=1, ge=1, description="concurrent probe requests allowed while half-open")
    count_429: bool = Field(
        default=False, description="count 429 as a breaker failure (off: rate limiting is not ill health)"
    )


class FailoverConfig(_Strict):
    max_attempts: int = Field(default=3, ge=1, description="attempts per request across all candidates")
    attempt_timeout_s: float = Field(default=30.0, gt=0, description="limit for one attempt to deliver headers")
    failover_on: list[str | int] = Field(
        default_factory=lambda: list[str | int](["connect_error", "timeout", "429", "5xx"]),
        description="outcomes that move on to the next candidate: connect_error, timeout, 4xx, 5xx or a status",
    )
    retry_backoff_s: float = Field(default=0.2, ge=0, description="pause before retrying a target that gave no Retry-After")

    @field_validator("failover_on")
    @classmethod
    def _known_tokens(cls, v: list[str | int]) -> list[str | int]:
        out: list[str | int] = []
        for item in v:
            token = str(item).strip().lower()
            if token in _FAILOVER_TOKENS:
                out.append(token)
                continue
            if token.isdigit() and 400 <= int(token) <= 599:
                out.append(token)
                continue
            raise ValueError(f"unknown failover trigger {item!r} (use connect_error, timeout, 4xx, 5xx or a status 400-599)")
        return out

    def fails_over_on_status(self, status: int) -> bool:
        return str(status) in self.failover_on or (f"{status // 100}xx" in self.failover_on and status >= 400)


class RoutingConfig(_Strict):
    """YAML key ``routing``."""

    weights: ScoreWeights = Field(default_factory=ScoreWeights)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    failover: FailoverConfig = Field(default_factory=FailoverConfig)
    retry_after_cap_s: float = Field(
        default=10.0, ge=0, description="longest Retry-After honoured by waiting; longer ones skip the target"
    )
    prefer_policy_target: bool = Field(
        default=True, description="rank the policy's chosen target first while its circuit is not open"
    )
    latency_window: int = Field(default=100, ge=1, description="samples kept per provider for observed latency")
    latency_window_s: float = Field(default=300.0, gt=0, description="samples older than this are ignored")
    expected_output_tokens: int = Field(
        default=256, ge=0, description="output tokens assumed when estimating a candidate's cost before sending"
    )
    builtin_prices: bool = Field(default=True, description="use the approximate built-in list prices when config has none")
    explain_ttl_days: float = Field(default=30.0, gt=0, description="how long routing explanations are kept")


class StateConfig(_Strict):
    """YAML key ``state``: where budgets, circuit state and explanations live."""

    backend: Literal["sqlite", "redis"] = "sqlite"
    path: str = Field(default="~/.govproxy/state.sqlite3", description="SQLite file (backend sqlite)")
    redis_url: str | None = Field(default=None, description="e.g. redis://127.0.0.1:6379/0 (backend redis)")
    redis_url_env: str | None = Field(
        default=None, description="env var holding the Redis URL, so a password need not sit in the YAML"
    )
    key_prefix: str = Field(default="govproxy:", description="namespace for keys in a shared Redis")
    usage_flush_ms: int = Field(
        default=100,
        ge=0,
        le=60_000,
        description="usage counters are added in memory and written at most this often (0: every request)",
    )

    @model_validator(mode="after")
    def _redis_needs_url(self) -> StateConfig:
        if self.backend == "redis" and not (self.redis_url or self.redis_url_env):
            raise ValueError("backend 'redis' needs redis_url or redis_url_env")
        return self

    def resolved_redis_url(self) -> str:
        """The Redis URL, read from ``redis_url_env`` when that is set."""
        if self.redis_url_env:
            value = os.environ.get(self.redis_url_env)
            if not value:
                raise ConfigError(f"state.redis_url_env: environment variable {self.redis_url_env} is not set")
            return value
        if not self.redis_url:
            raise ConfigError("state: backend 'redis' needs redis_url or redis_url_env")
        return self.redis_url

    def sqlite_path(self) -> Path:
        return Path(self.path).expanduser()


class MetricsConfig(_Strict):
    """YAML key ``metrics``; present means enabled (opt-in), bound to loopback unless told otherwise."""

    enabled: bool = True
    port: int = Field(default=9464, ge=0, le=65535)
    host: str = "127.0.0.1"


class RoutingSettings(_Strict):
    routing: RoutingConfig
    state: StateConfig
    metrics: MetricsConfig | None


def _validate(model: type[BaseModel], raw: Any, key: str, source: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {key}: must be a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join([key, *(str(x) for x in err["loc"])])
            lines.append(f"{source}: {loc}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


def load_routing_settings(settings: Settings, source: str = "<config>") -> RoutingSettings:
    """Validate the ``routing``, ``state`` and ``metrics`` sections of loaded settings."""
    routing = _validate(RoutingConfig, settings.routing, "routing", source)
    state = _validate(StateConfig, settings.state, "state", source)
    metrics: MetricsConfig | None = None
    if settings.metrics:
        metrics = _validate(MetricsConfig, settings.metrics, "metrics", source)
        if not metrics.enabled:
            metrics = None
    return RoutingSettings(routing=routing, state=state, metrics=metrics)
