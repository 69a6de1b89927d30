"""Which hosts count as LLM APIs, and config validation with useful errors."""

from __future__ import annotations

import base64

import pytest

from govproxy.config import ConfigError, Settings, load_settings, settings_from_dict
from govproxy.identity import check_proxy_auth
from govproxy.providers.registry import ProviderRegistry


@pytest.mark.parametrize(
    ("host", "port", "name"),
    [
        ("api.openai.com", 443, "openai"),
        ("API.OpenAI.com.", 443, "openai"),
        ("api.anthropic.com", 443, "anthropic"),
        ("generativelanguage.googleapis.com", 443, "gemini"),
        ("myres.openai.azure.com", 443, "azure-openai"),
        ("api.mistral.ai", 443, "mistral"),
        ("api.cohere.com", 443, "cohere"),
        ("api.cohere.ai", 443, "cohere"),
        ("api.groq.com", 443, "groq"),
        ("api.together.xyz", 443, "together"),
        ("api.deepseek.com", 443, "deepseek"),
        ("openrouter.ai", 443, "openrouter"),
        ("127.0.0.1", 11434, "local"),
    ],
)
def test_known_llm_endpoints_out_of_the_box(host, port, name):
    match = ProviderRegistry(Settings().providers).match(host, port)
    assert match is not None and match.name == name


@pytest.mark.parametrize(("host", "port"), [("example.com", 443), ("openai.azure.com.evil.com", 443), ("api.openai.com", 8443), ("127.0.0.1", 11435), ("evilapi.openai.com", 443)])
def test_other_hosts_are_not_llm(host, port):
    assert ProviderRegistry(Settings().providers).match(host, port) is None


def test_config_adds_providers_and_overrides_defaults(tmp_path):
    cfg = tmp_path / "govproxy.yaml"
    cfg.write_text(
        "providers:\n  vllm: {kind: openai-compatible, base_url: 'http://10.0.0.5:8000/v1', region: eu, local: true}\n"
        "  openai: {region: us-east}\n"
    )
    s = load_settings(cfg)
    assert s.providers["vllm"].local and s.providers["openai"].region == "us-east"
    assert s.providers["openai"].hosts == ["api.openai.com"]  # merged, not replaced
    assert ProviderRegistry(s.providers).match("10.0.0.5", 8000).name == "vllm"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("providers:\n  x: {kind: nope}\n", "providers.x.kind"),
        ("proxy: {listen_port: 'abc'}\n", "proxy.listen_port"),
        ("proxy: {unknown_key: 1}\n", "proxy.unknown_key"),
        ("- a list\n", "top level must be a mapping"),
        ("proxy: [unclosed\n", "invalid YAML"),
        ("gateways: [{listen_port: 4000, provider: nobody}]\n", "unknown provider"),
        ("dlp: {default_action: shred}\n", "dlp.default_action"),
        ("policy: {engine: magic}\n", "policy.engine"),
        ("audit: {content: everything}\n", "audit.content"),
        ("routing: {breaker: {failures_to_open: 0}}\n", "routing.breaker.failures_to_open"),
        ("state: {backend: mongo}\n", "state.backend"),
    ],
)
def test_invalid_config_names_file_and_key(tmp_path, text, needle):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert needle in str(err.value) and str(cfg) in str(err.value)


def _basic(user: str, pw: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_proxy_auth_accepts_only_the_right_token():
    s = settings_from_dict({"tenants": {"acme": {"token": "s3cret"}, "open": {}}})
    assert check_proxy_auth(_basic("acme", "s3cret"), s).tenant == "acme"
    for header in [None, "", _basic("acme", "wrong"), _basic("ghost", "s3cret"), _basic("open", ""), "Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()]:
        assert not check_proxy_auth(header, s).ok, header
