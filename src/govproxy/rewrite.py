"""Where a request goes once the policy has chosen a target, and with whose credentials.

The caller's API key is only ever forwarded to the provider it was meant for. A rerouted
request carries the target's own key (``providers.<name>.api_key_env``), or none for a
local model, so a key for one vendor never reaches another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from govproxy.config import ProviderConfig
from govproxy.models import EndpointKind, ProviderKind
from govproxy.providers.registry import base_url_authority
from govproxy.translate import TranslationError, translate_request
from govproxy.translate.kinds import family

AUTH_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
CHAT_ENDPOINTS = frozenset({EndpointKind.CHAT, EndpointKind.MESSAGES, EndpointKind.GENERATE_CONTENT})


class RerouteError(Exception):
    """The request cannot be expressed for the chosen target (the reason is safe to show)."""


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    kind: ProviderKind
    model: str | None
    scheme: str
    host: str
    port: int
    path: str
    body: dict[str, Any] | None  # None = keep the (possibly redacted) original body
    set_headers: tuple[tuple[str, str], ...]
    remove_headers: tuple[str, ...]
    translated: bool


def target_credentials(cfg: ProviderConfig) -> dict[str, str]:
    """Auth headers for calls govproxy makes to ``cfg`` on its own account."""
    key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
    if not key:
        return {}
    if cfg.kind == ProviderKind.ANTHROPIC:
        return {"x-api-key": key}
    if cfg.kind == ProviderKind.GEMINI:
        return {"x-goog-api-key": key}
    if cfg.kind == ProviderKind.AZURE_OPENAI:
        return {"api-key": key}
    return {"authorization": f"Bearer {key}"}


def has_credentials(cfg: ProviderConfig) -> bool:
    """Can govproxy send to this provider without the caller's key? (local models need none)."""
    return cfg.local or bool(cfg.api_key_env and os.environ.get(cfg.api_key_env))


def _strip_key_param(path: str) -> str:
    base, sep, query = path.partition("?")
    if not sep:
        return path
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "key"]
    return base + ("?" + urlencode(kept) if kept else "")


def plan_target(
    *,
    requested_provider: str,
    requested_cfg: ProviderConfig,
    target_provider: str,
    target_cfg: ProviderConfig,
    target_model: str | None,
    endpoint: EndpointKind,
    original_path: str,
    original_host: str,
    original_port: int,
    original_scheme: str,
    body: dict[str, Any] | None,
    stream: bool,
) -> Target:
    """Destination, path, body and auth for sending this request to ``target_provider``."""
    if target_provider == requested_provider:
        same_model = target_model is None or body is None or body.get("model") in (None, target_model)
        new_body = None
        if not same_model and body is not None and "model" in body:
            new_body = {**body, "model": target_model}
        return Target(
            requested_provider, requested_cfg.kind, target_model, original_scheme, original_host, original_port,
            original_path, new_body, (), (), False,
        )
    if not target_cfg.base_url:
        raise RerouteError(f"provider {target_provider!r} has no base_url to send to")
    scheme, host, port, base_path = base_url_authority(target_cfg.base_url)
    src_kind, dst_kind = requested_cfg.kind, target_cfg.kind
    headers: dict[str, str] = dict(target_credentials(target_cfg))
    model = target_model or (body or {}).get("model") or ""
    try:
        same_family = family(src_kind) is family(dst_kind)
    except TranslationError:
        same_family = src_kind == dst_kind
    if same_family and endpoint not in CHAT_ENDPOINTS | {EndpointKind.UNKNOWN}:
        # Embeddings, responses … within one wire format: keep the path below the base URL.
        _, _, _, src_base = base_url_authority(requested_cfg.base_url or "")
        suffix = original_path[len(src_base):] if src_base and original_path.startswith(src_base) else original_path
        new_body = {**body, "model": model} if body is not None and "model" in body else body
        path, translated = base_path + _strip_key_param(suffix), False
    elif endpoint in CHAT_ENDPOINTS and body is not None:
        try:
            tr = translate_request(body, src_kind, dst_kind, target_model=model, stream=stream)
        except TranslationError as exc:
            raise RerouteError(f"cannot translate this request for {target_provider}: {exc}") from None
        new_body, path, translated = tr.body, base_path + tr.path, not same_family
        headers.update(tr.extra_headers)
    else:
        raise RerouteError(f"{endpoint.value} requests cannot be rerouted from {src_kind.value} to {dst_kind.value}")
    return Target(
        target_provider, dst_kind, model or None, scheme, host, port, path, new_body,
        tuple(headers.items()), tuple(h for h in AUTH_HEADERS if h not in headers), translated,
    )
