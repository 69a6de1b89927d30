"""YAML configuration → validated settings.

Everything an operator can set lives here as pydantic models, so a typo is an error that
names the key and the file instead of a silently ignored option. Subsystems (DLP, policy,
audit, routing) own their own section models; this module composes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from govproxy.models import ProviderKind


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Budget(Strict):
    daily_usd: float | None = None
    monthly_usd: float | None = None
    daily_tokens: int | None = None
    monthly_tokens: int | None = None


class ModelPrice(Strict):
    """USD per million tokens."""

    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)


class ModelMapping(Strict):
    default: str | None = Field(default=None, description="model used when the requested one has no mapping")
    map: dict[str, str] = Field(default_factory=dict)


class ProviderConfig(Strict):
    kind: ProviderKind
    base_url: str | None = Field(default=None, description="where requests for this provider are sent")
    hosts: list[str] = Field(default_factory=list, description="hostnames (or *.suffix) recognised as this provider")
    region: str = "global"
    local: bool = False
    api_key_env: str | None = Field(default=None, description="env var holding the key used when traffic is rerouted here")
    models: ModelMapping = Field(default_factory=ModelMapping)
    prices: dict[str, ModelPrice] = Field(default_factory=dict, description="per model; key '*' is the fallback")
    budget: Budget | None = None
    quality: float = Field(default=1.0, description="relative quality weight used when scoring candidates")


class TenantConfig(Strict):
    token: str | None = Field(default=None, description="proxy-auth password for this tenant")
    residency: list[str] | None = Field(default=None, description="allowed provider regions; None = any")
    allow_providers: list[str] | None = None
    deny_providers: list[str] = Field(default_factory=list)
    allow_models: list[str] | None = None
    deny_models: list[str] = Field(default_factory=list)
    budget: Budget | None = None


class GatewayConfig(Strict):
    """A plain-HTTP reverse-proxy listener in front of one provider (for apps that cannot trust a CA)."""

    listen_port: int
    provider: str
    listen_host: str = "127.0.0.1"


class ProxyConfig(Strict):
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    confdir: str = "~/.govproxy"
    require_auth: bool = Field(default=False, description="demand proxy authentication (407 without it)")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, description="larger LLM request bodies are refused with 413")
    resolve: dict[str, str] = Field(
        default_factory=dict,
        description="'host:port' -> 'ip:port' pins for upstream connections (split-horizon egress, testing)",
    )
    intercept_unknown_hosts: bool = Field(default=False, description="TLS-intercept non-LLM hosts too (debugging)")
    failover: bool = Field(
        default=False,
        description="retry a request on the policy's other allowed candidates (connect errors, timeouts, 429, 5xx); "
        "off: each request goes to its one chosen target, byte-exact",
    )


def _default_providers() -> dict[str, ProviderConfig]:
    def p(kind: ProviderKind, base_url: str, hosts: list[str], region: str = "us", **kw: Any) -> ProviderConfig:
        return ProviderConfig(kind=kind, base_url=base_url, hosts=hosts, region=region, **kw)

    K = ProviderKind

    def m(default: str) -> ModelMapping:
        # Used only when govproxy reroutes *to* this provider: the app's model name rarely
        # exists at another vendor. Calls the app addresses here directly keep their model.
        return ModelMapping(default=default)

    return {
        "openai": p(K.OPENAI, "https://api.openai.com/v1", ["api.openai.com"], api_key_env="OPENAI_API_KEY", models=m("gpt-4o")),
        "anthropic": p(
            K.ANTHROPIC, "https://api.anthropic.com", ["api.anthropic.com"], api_key_env="ANTHROPIC_API_KEY", models=m("claude-sonnet-4-5")
        ),
        "gemini": p(
            K.GEMINI,
            "https://generativelanguage.googleapis.com",
            ["generativelanguage.googleapis.com"],
            api_key_env="GEMINI_API_KEY",
            models=m("gemini-2.5-flash"),
        ),
        "azure-openai": p(K.AZURE_OPENAI, "", ["*.openai.azure.com"], api_key_env="AZURE_OPENAI_API_KEY"),
        "mistral": p(
            K.OPENAI_COMPATIBLE, "https://api.mistral.ai/v1", ["api.mistral.ai"], region="eu", api_key_env="MISTRAL_API_KEY",
            models=m("mistral-large-latest"),
        ),
        "cohere": p(K.COHERE, "https://api.cohere.com", ["api.cohere.com", "api.cohere.ai"], api_key_env="COHERE_API_KEY"),
        "groq": p(
            K.OPENAI_COMPATIBLE, "https://api.groq.com/openai/v1", ["api.groq.com"], api_key_env="GROQ_API_KEY", models=m("llama-3.3-70b-versatile")
        ),
        "together": p(
            K.OPENAI_COMPATIBLE, "https://api.together.xyz/v1", ["api.together.xyz", "api.together.ai"], api_key_env="TOGETHER_API_KEY",
            models=m("meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        ),
        "deepseek": p(
            K.OPENAI_COMPATIBLE, "https://api.deepseek.com", ["api.deepseek.com"], region="cn", api_key_env="DEEPSEEK_API_KEY", models=m("deepseek-chat")
        ),
        "openrouter": p(
            K.OPENAI_COMPATIBLE, "https://openrouter.ai/api/v1", ["openrouter.ai"], api_key_env="OPENROUTER_API_KEY", models=m("openai/gpt-4o")
        ),
        "local": p(K.OPENAI_COMPATIBLE, "http://127.0.0.1:11434/v1", [], region="local", local=True, models=m("llama3.1:8b")),
    }


class Settings(Strict):
    """The whole configuration. Subsystem sections are validated by their own models."""

    proxy: ProxyConfig = Field(default_factory=ProxyConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=_default_providers)
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)
    gateways: list[GatewayConfig] = Field(default_factory=list)
    dlp: dict[str, Any] = Field(default_factory=dict)
    policy: dict[str, Any] = Field(default_factory=dict)
    audit: dict[str, Any] = Field(default_factory=dict)
    routing: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    state: dict[str, Any] = Field(default_factory=dict)
    providers_replace: bool = Field(
        default=False, description="when true, 'providers' replaces the built-in list instead of extending it"
    )

    @field_validator("gateways")
    @classmethod
    def _unique_ports(cls, v: list[GatewayConfig]) -> list[GatewayConfig]:
        ports = [g.listen_port for g in v]
        if len(ports) != len(set(ports)):
            raise ValueError("two gateways share a listen_port")
        return v


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the file and the key."""


def load_settings(path: str | Path | None) -> Settings:
    """Load settings from YAML, merging user providers over the built-in ones.

    ``path`` None means: ``govproxy.yaml`` in the working directory if present, else defaults.
    """
    if path is None:
        candidate = Path("govproxy.yaml")
        if not candidate.exists():
            return Settings()
        path = candidate
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(raw).__name__}")
    return settings_from_dict(raw, source=str(path))


def settings_from_dict(raw: dict[str, Any], source: str = "<config>") -> Settings:
    raw = dict(raw)
    if not raw.get("providers_replace"):
        merged: dict[str, Any] = {k: v.model_dump(mode="json") for k, v in _default_providers().items()}
        for name, body in (raw.get("providers") or {}).items():
            if isinstance(body, dict) and name in merged:
                merged[name] = {**merged[name], **body}
            else:
                merged[name] = body
        raw["providers"] = merged
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            lines.append(f"{source}: {loc}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    for gw in settings.gateways:
        if gw.provider not in settings.providers:
            raise ConfigError(f"{source}: gateways: unknown provider {gw.provider!r}")
    _validate_sections(settings, source)
    return settings


def _validate_sections(settings: Settings, source: str) -> None:
    """Validate each subsystem's section now, so a typo fails at load with file and key.

    The sections stay plain dicts on :class:`Settings` (each subsystem owns its model and
    builds it where it is used); this only makes their errors arrive early and alike.
    """
    from govproxy.audit.config import AuditConfig
    from govproxy.dlp.config import DlpConfig
    from govproxy.policy.config import PolicyConfig
    from govproxy.routing.config import load_routing_settings

    try:
        DlpConfig.from_section(settings.dlp, source)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    load_routing_settings(settings, source)  # raises ConfigError naming file and key
    for name, model in (("policy", PolicyConfig), ("audit", AuditConfig)):
        try:
            model.model_validate(getattr(settings, name))
        except ValidationError as exc:
            raise ConfigError(
                "\n".join(f"{source}: {name}.{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
            ) from None

