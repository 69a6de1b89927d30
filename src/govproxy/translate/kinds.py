"""Wire-format families and where each family's endpoint lives relative to a base URL.

Path convention (the lead's ``ProviderConfig.base_url`` values follow it):

* OpenAI-family base URLs **include** the API version segment, as every OpenAI-compatible
  server documents them: ``https://api.openai.com/v1``, ``http://127.0.0.1:11434/v1``
  (Ollama), ``http://host:8000/v1`` (vLLM, llama.cpp). The translated path is then
  ``/chat/completions``.
* Azure OpenAI base URLs are the resource root ``https://NAME.openai.azure.com``; the
  path carries the deployment (= target model) and ``api-version``.
* Anthropic and Gemini base URLs are the bare host (``https://api.anthropic.com``,
  ``https://generativelanguage.googleapis.com``); the path carries ``/v1`` or ``/v1beta``.

So the upstream URL is always ``base_url.rstrip('/') + path``.
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import quote

from govproxy.models import ProviderKind
from govproxy.translate.errors import TranslationError

AZURE_API_VERSION = "2024-10-21"
ANTHROPIC_VERSION = "2023-06-01"


class Family(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


_FAMILY = {
    ProviderKind.OPENAI: Family.OPENAI,
    ProviderKind.AZURE_OPENAI: Family.OPENAI,
    ProviderKind.OPENAI_COMPATIBLE: Family.OPENAI,
    ProviderKind.ANTHROPIC: Family.ANTHROPIC,
    ProviderKind.GEMINI: Family.GEMINI,
}


def family(kind: ProviderKind | str) -> Family:
    try:
        return _FAMILY[ProviderKind(kind)]
    except (KeyError, ValueError):
        raise TranslationError(
            f"no chat translation for provider kind {kind!r}"
        ) from None


def endpoint_path(kind: ProviderKind, model: str, stream: bool) -> str:
    """The chat endpoint's path relative to the provider's base URL (see module docstring)."""
    kind = ProviderKind(kind)
    if kind is ProviderKind.AZURE_OPENAI:
        return f"/openai/deployments/{quote(model, safe='')}/chat/completions?api-version={AZURE_API_VERSION}"
    fam = family(kind)
    if fam is Family.OPENAI:
        return "/chat/completions"
    if fam is Family.ANTHROPIC:
        return "/v1/messages"
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    model = model.removeprefix("models/")
    return f"/v1beta/models/{quote(model, safe='.-_')}:{method}"


def protocol_headers(kind: ProviderKind) -> dict[str, str]:
    """Headers the target API requires besides auth (auth is the router's job)."""
    if family(kind) is Family.ANTHROPIC:
        return {
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
        }
    return {"content-type": "application/json"}
