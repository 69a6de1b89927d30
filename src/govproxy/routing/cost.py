"""Prices, usage and cost in integer micro-USD.

The audit log forbids floats (canonical JSON must hash the same everywhere), so money is an
integer count of micro-USD from the moment a price is read. A price "per million tokens"
in USD is, conveniently, exactly micro-USD per token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from govproxy.config import ModelPrice, ProviderConfig
from govproxy.models import ProviderKind

MICRO = 1_000_000

# Approximate public list prices, USD per million tokens (input, output), as published by the
# vendors for standard (non-batch, non-cached, shortest-context) use. They are a convenience
# so costs are not zero out of the box; they drift, so any entry in a provider's ``prices``
# config wins, and ``routing.builtin_prices: false`` switches this table off entirely.
# Keys are model-name prefixes; the longest matching prefix applies.
BUILTIN_PRICES_APPROX: dict[ProviderKind, dict[str, tuple[str, str]]] = {
    ProviderKind.OPENAI: {
        "gpt-4o-mini": ("0.15", "0.60"),
        "gpt-4o": ("2.50", "10.00"),
        "gpt-4.1-nano": ("0.10", "0.40"),
        "gpt-4.1-mini": ("0.40", "1.60"),
        "gpt-4.1": ("2.00", "8.00"),
        "gpt-3.5-turbo": ("0.50", "1.50"),
        "o3-mini": ("1.10", "4.40"),
        "o4-mini": ("1.10", "4.40"),
        "text-embedding-3-small": ("0.02", "0"),
        "text-embedding-3-large": ("0.13", "0"),
    },
    ProviderKind.ANTHROPIC: {
        "claude-3-haiku": ("0.25", "1.25"),
        "claude-3-5-haiku": ("0.80", "4.00"),
        "claude-3-5-sonnet": ("3.00", "15.00"),
        "claude-3-7-sonnet": ("3.00", "15.00"),
        "claude-sonnet-4": ("3.00", "15.00"),
        "claude-3-opus": ("15.00", "75.00"),
        "claude-opus-4": ("15.00", "75.00"),
    },
    ProviderKind.GEMINI: {
        "gemini-2.0-flash-lite": ("0.075", "0.30"),
        "gemini-2.0-flash": ("0.10", "0.40"),
        "gemini-1.5-flash": ("0.075", "0.30"),
        "gemini-1.5-pro": ("1.25", "5.00"),
    },
}
BUILTIN_PRICES_APPROX[ProviderKind.AZURE_OPENAI] = BUILTIN_PRICES_APPROX[ProviderKind.OPENAI]

PriceSource = Literal["config", "builtin", "config-fallback", "local", "unknown"]


def _micro_per_token(usd_per_mtok: float | str) -> int:
    """USD per million tokens → integer micro-USD per million tokens (exact for sane inputs)."""
    value = Decimal(str(usd_per_mtok))
    if value < 0:
        raise ValueError("a price cannot be negative")
    return int((value * MICRO).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class Price:
    """Price in micro-USD per *million* tokens (integer, so six decimals of USD per Mtok survive)."""

    input_micro_per_mtok: int
    output_micro_per_mtok: int
    source: PriceSource

    @classmethod
    def from_model_price(cls, p: ModelPrice, source: PriceSource) -> Price:
        return cls(_micro_per_token(p.input), _micro_per_token(p.output), source)

    def cost_micro(self, input_tokens: int, output_tokens: int) -> int:
        """Cost in micro-USD, rounded half up once over the whole request."""
        total = input_tokens * self.input_micro_per_mtok + output_tokens * self.output_micro_per_mtok
        return (total + MICRO // 2) // MICRO


FREE = Price(0, 0, "local")
UNKNOWN = Price(0, 0, "unknown")


class PriceTable:
    """Looks up a provider's price for a model: config exact → built-in → config ``*`` → free/unknown."""

    def __init__(self, providers: dict[str, ProviderConfig], *, builtin: bool = True) -> None:
        self._providers = providers
        self._builtin = builtin
        self._cache: dict[tuple[str, str], Price] = {}

    def lookup(self, provider: str, model: str | None) -> Price:
        key = (provider, model or "")
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._resolve(provider, model or "")
        return hit

    def _resolve(self, provider: str, model: str) -> Price:
        cfg = self._providers.get(provider)
        if cfg is None:
            return UNKNOWN
        if model and model in cfg.prices:
            return Price.from_model_price(cfg.prices[model], "config")
        if self._builtin and model:
            table = BUILTIN_PRICES_APPROX.get(cfg.kind, {})
            best = max((p for p in table if model.startswith(p)), key=len, default=None)
            if best is not None:
                inp, out = table[best]
                return Price(_micro_per_token(inp), _micro_per_token(out), "builtin")
        if "*" in cfg.prices:
            return Price.from_model_price(cfg.prices["*"], "config-fallback")
        return FREE if cfg.local else UNKNOWN

    def cost_usd_micro(self, provider: str, model: str | None, input_tokens: int, output_tokens: int) -> int:
        return self.lookup(provider, model).cost_micro(input_tokens, output_tokens)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one request consumed; ``estimated`` when the response did not report them."""

    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Cost:
    usd_micro: int
    usage: Usage
    price_source: PriceSource

    @property
    def estimated(self) -> bool:
        return self.usage.estimated or self.price_source == "unknown"


def estimate_tokens(text_chars: int) -> int:
    """Rough token count for text of this many characters (≈4 characters per token in English).

    Used only when a response carries no usage; results are marked estimated.
    """
    return math.ceil(max(0, text_chars) / 4)


def usage_or_estimate(
    reported: tuple[int, int] | None, *, input_token_estimate: int, output_chars: int
) -> Usage:
    """The usage a response reported, or an estimate marked as such when it reported none.

    ``reported`` is what the translation layer's ``extract_usage`` returns (input, output);
    the estimate takes the request's token estimate and the length of the text produced.
    """
    if reported is not None:
        return Usage(int(reported[0]), int(reported[1]), estimated=False)
    return Usage(max(0, input_token_estimate), estimate_tokens(output_chars), estimated=True)


def cost_usd(
    table: PriceTable, provider: str, model: str | None, input_tokens: int, output_tokens: int, *, estimated: bool = False
) -> Cost:
    """Cost of one request; integer micro-USD (``Cost.usd_micro``), never a float."""
    price = table.lookup(provider, model)
    usage = Usage(input_tokens, output_tokens, estimated)
    return Cost(price.cost_micro(input_tokens, output_tokens), usage, price.source)


def format_usd(usd_micro: int) -> str:
    """Human-readable dollars for CLI output (not for records: those keep the integer)."""
    sign = "-" if usd_micro < 0 else ""
    whole, frac = divmod(abs(usd_micro), MICRO)
    return f"{sign}${whole}.{frac:06d}"
