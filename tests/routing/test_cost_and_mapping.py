from __future__ import annotations

import pytest

from govproxy.config import ModelMapping, ProviderConfig, settings_from_dict
from govproxy.models import ProviderKind
from govproxy.routing.cost import PriceTable, Usage, cost_usd, estimate_tokens, format_usd, usage_or_estimate
from govproxy.routing.mapping import ModelMappingError, map_model


def _providers(**extra: dict) -> dict[str, ProviderConfig]:
    return settings_from_dict({"providers": extra}).providers


def test_configured_price_wins_over_builtin_and_cost_is_integer_micro_usd() -> None:
    providers = _providers(openai={"prices": {"gpt-4o": {"input": 5.0, "output": 15.0}}})
    table = PriceTable(providers)
    cost = cost_usd(table, "openai", "gpt-4o", 1000, 500)
    # 1000 * $5/M + 500 * $15/M = $0.005 + $0.0075 = $0.0125
    assert cost.usd_micro == 12_500
    assert isinstance(cost.usd_micro, int)
    assert cost.price_source == "config"
    assert not cost.estimated


def test_builtin_price_uses_longest_prefix() -> None:
    table = PriceTable(_providers())
    mini = table.lookup("openai", "gpt-4o-mini-2024-07-18")
    full = table.lookup("openai", "gpt-4o-2024-08-06")
    assert mini.source == full.source == "builtin"
    assert mini.input_micro_per_mtok < full.input_micro_per_mtok
    # $0.15 / M input → 1M tokens cost 150,000 µUSD
    assert mini.cost_micro(1_000_000, 0) == 150_000


def test_star_fallback_and_builtin_switch() -> None:
    providers = _providers(openai={"prices": {"*": {"input": 1, "output": 2}}})
    assert PriceTable(providers).lookup("openai", "gpt-4o").source == "builtin"
    assert PriceTable(providers).lookup("openai", "some-new-model").source == "config-fallback"
    off = PriceTable(providers, builtin=False)
    assert off.lookup("openai", "gpt-4o").source == "config-fallback"
    assert off.cost_usd_micro("openai", "gpt-4o", 1_000_000, 1_000_000) == 3_000_000


def test_local_is_free_and_unknown_is_flagged() -> None:
    table = PriceTable(_providers())
    assert table.lookup("local", "llama3.1:8b").source == "local"
    assert table.cost_usd_micro("local", "llama3.1:8b", 10_000, 10_000) == 0
    unknown = cost_usd(table, "mistral", "mistral-large-latest", 100, 100)
    assert unknown.price_source == "unknown"
    assert unknown.estimated  # a zero we cannot vouch for is marked


def test_rounding_is_half_up_over_the_whole_request() -> None:
    providers = _providers(openai={"prices": {"tiny": {"input": 0.5, "output": 0}}})
    table = PriceTable(providers)
    assert table.cost_usd_micro("openai", "tiny", 1, 0) == 1  # 0.5 µUSD rounds up
    assert table.cost_usd_micro("openai", "tiny", 3, 0) == 2  # 1.5 → 2


def test_token_estimate_is_marked() -> None:
    assert estimate_tokens(0) == 0
    assert estimate_tokens(4000) == 1000
    assert estimate_tokens(1) == 1
    cost = cost_usd(PriceTable(_providers()), "openai", "gpt-4o", estimate_tokens(400), 10, estimated=True)
    assert cost.estimated and cost.usage.estimated


def test_reported_usage_wins_over_the_estimate() -> None:
    assert usage_or_estimate((12, 34), input_token_estimate=999, output_chars=999) == Usage(12, 34, False)
    assert usage_or_estimate(None, input_token_estimate=100, output_chars=40) == Usage(100, 10, True)


def test_format_usd() -> None:
    assert format_usd(12_500) == "$0.012500"
    assert format_usd(3_000_001) == "$3.000001"


def test_model_mapping_order() -> None:
    cfg = ProviderConfig(
        kind=ProviderKind.OPENAI_COMPATIBLE,
        models=ModelMapping(default="llama3.1:8b", map={"gpt-4o": "qwen2.5:14b", "claude-*": "mistral:7b"}),
    )
    assert map_model(cfg, "gpt-4o") == "qwen2.5:14b"
    assert map_model(cfg, "claude-3-5-sonnet") == "mistral:7b"
    assert map_model(cfg, "gpt-4o-mini") == "llama3.1:8b"
    assert map_model(cfg, None) == "llama3.1:8b"


def test_model_mapping_without_default_keeps_the_model() -> None:
    cfg = ProviderConfig(kind=ProviderKind.OPENAI)
    assert map_model(cfg, "gpt-4o") == "gpt-4o"
    with pytest.raises(ModelMappingError):
        map_model(cfg, None)
