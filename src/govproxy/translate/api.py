"""The public entry points: requests, responses, errors and usage across formats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from govproxy.models import ProviderKind
from govproxy.translate import anthropic_messages, gemini, openai_chat
from govproxy.translate.anthropic_messages import DEFAULT_MAX_TOKENS
from govproxy.translate.common import first, malformed, require_dict
from govproxy.translate.ir import ChatRequest, ChatResponse
from govproxy.translate.kinds import Family, endpoint_path, family, protocol_headers


@dataclass(frozen=True, slots=True)
class TranslatedRequest:
    """What to send: ``body`` as JSON to ``base_url.rstrip('/') + path`` with ``extra_headers``
    (protocol headers only; the router adds the target's credentials)."""

    body: dict[str, Any]
    path: str
    extra_headers: dict[str, str] = field(default_factory=dict)


def _read_request(body: Any, fam: Family) -> ChatRequest:
    if fam is Family.OPENAI:
        return openai_chat.read_request(body)
    if fam is Family.ANTHROPIC:
        return anthropic_messages.read_request(body)
    return gemini.read_request(body)


def translate_request(
    body: dict[str, Any],
    src: ProviderKind,
    dst: ProviderKind,
    *,
    target_model: str,
    stream: bool,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
) -> TranslatedRequest:
    """A chat request in the caller's format (``src``) → the target's (``dst``).

    Within one family (OpenAI ⇄ Azure ⇄ OpenAI-compatible, or same format) the body is
    kept as is apart from the model name, so vendor extensions survive. Raises
    :class:`TranslationError` for bodies the target cannot express (e.g. ``n > 1`` to
    Anthropic, server-side tools); the router may then try another candidate.
    """
    body = require_dict(body, f"{src} request")
    sf, df = family(src), family(dst)
    if sf is df:
        out = dict(body)
        if df is not Family.GEMINI:
            out["model"] = target_model
        if (
            dst is ProviderKind.OPENAI_COMPATIBLE
            and "max_completion_tokens" in out
            and "max_tokens" not in out
        ):
            out["max_tokens"] = out.pop("max_completion_tokens")
        if stream and df is not Family.GEMINI:
            out["stream"] = True
    else:
        with malformed(f"{src} request"):
            req = _read_request(body, sf)
            if df is Family.OPENAI:
                out = openai_chat.write_request(
                    req, target_model, stream, ProviderKind(dst)
                )
            elif df is Family.ANTHROPIC:
                out = anthropic_messages.write_request(
                    req, target_model, stream, default_max_tokens
                )
            else:
                out = gemini.write_request(req, target_model, stream)
    return TranslatedRequest(
        out,
        endpoint_path(ProviderKind(dst), target_model, stream),
        protocol_headers(ProviderKind(dst)),
    )


def _read_response(body: Any, fam: Family) -> ChatResponse:
    if fam is Family.OPENAI:
        return openai_chat.read_response(body)
    if fam is Family.ANTHROPIC:
        return anthropic_messages.read_response(body)
    return gemini.read_response(body)


def translate_response(
    body: dict[str, Any], src: ProviderKind, dst: ProviderKind, *, requested_model: str
) -> dict[str, Any]:
    """A successful upstream (``src``-format) response → the caller's (``dst``) format.

    The caller sees the model name it asked for. Within one family the body is returned
    unchanged (vendor fields kept).
    """
    sf, df = family(src), family(dst)
    if sf is df:
        return body
    with malformed(f"{src} response"):
        resp = _read_response(body, sf)
        if df is Family.OPENAI:
            return openai_chat.write_response(resp, requested_model)
        if df is Family.ANTHROPIC:
            return anthropic_messages.write_response(resp, requested_model)
        return gemini.write_response(resp, requested_model)


def extract_usage(body_or_event: Any, kind: ProviderKind) -> tuple[int, int] | None:
    """(input_tokens, output_tokens) from a response body or a stream event's JSON, if it carries usage.

    Stream events: OpenAI's final ``include_usage`` chunk, Anthropic's ``message_start``
    (input only; output 0) and ``message_delta`` (output; input when the API sends it,
    else 0 — prefer :attr:`StreamTranslator.usage`, which combines them), Gemini's
    ``usageMetadata``. Input counts include cached tokens.
    """
    if not isinstance(body_or_event, dict):
        return None
    try:
        return _extract_usage(body_or_event, kind)
    except (AttributeError, TypeError, ValueError):
        return None  # usage is best effort: a shape we do not know is no usage


def _extract_usage(
    body_or_event: dict[str, Any], kind: ProviderKind
) -> tuple[int, int] | None:
    fam = family(kind)
    if fam is Family.OPENAI:
        u = openai_chat.read_usage(body_or_event.get("usage"))
    elif fam is Family.ANTHROPIC:
        if body_or_event.get("type") == "message_start":
            u = anthropic_messages.read_usage(
                (body_or_event.get("message") or {}).get("usage")
            )
        else:
            u = anthropic_messages.read_usage(body_or_event.get("usage"))
    else:
        u = gemini.read_usage(first(body_or_event, "usageMetadata", "usage_metadata"))
    return None if u is None else (u.input_tokens, u.output_tokens)
