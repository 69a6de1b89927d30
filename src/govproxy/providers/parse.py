"""Parse a provider's HTTP request into the normalised :class:`LLMRequest`.

One function per API family extracts the texts the model will read, each with a JSON
pointer so redaction can rewrite exactly those strings. Parsing never raises on bad
input: a body we cannot read is still governed, with ``parse_error`` saying why, because
an unparseable request to an LLM host is exactly what an attacker would send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from govproxy.models import (
    EndpointKind,
    Identity,
    LLMRequest,
    ProviderKind,
    TextRole,
    TextSegment,
)

_GEMINI_PATH = re.compile(r"/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")
_AZURE_DEPLOYMENT = re.compile(r"/openai/deployments/(?P<deployment>[^/]+)/")
_IMAGE_TYPES = frozenset({"image_url", "image", "input_image", "input_audio", "audio", "file", "input_file", "document"})


def _ptr(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class _Collector:
    """Accumulates segments and non-text part counts while walking a body."""

    def __init__(self) -> None:
        self.segments: list[TextSegment] = []
        self.images = 0

    def add(self, role: TextRole, text: Any, *pointer: str | int) -> None:
        if isinstance(text, str) and text:
            self.segments.append(TextSegment(role=role, text=text, pointer=_ptr(*pointer)))

    def add_leaves(self, role: TextRole, value: Any, *pointer: str | int) -> None:
        """Every string leaf of a structured value (tool inputs, function-call args as objects)."""
        for leaf_ptr, leaf in _string_leaves(value, pointer):
            self.segments.append(TextSegment(role=role, text=leaf, pointer=_ptr(*leaf_ptr)))


def _string_leaves(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        if value:
            yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _string_leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _string_leaves(v, (*path, i))


def _role(name: Any) -> TextRole:
    return {
        "system": TextRole.SYSTEM,
        "developer": TextRole.SYSTEM,
        "assistant": TextRole.ASSISTANT,
        "model": TextRole.ASSISTANT,
        "tool": TextRole.TOOL,
        "function": TextRole.TOOL,
    }.get(str(name), TextRole.USER)


# --- OpenAI family --------------------------------------------------------------------------


def _openai_content(c: _Collector, role: TextRole, content: Any, *base: str | int) -> None:
    if isinstance(content, str):
        c.add(role, content, *base)
    elif isinstance(content, dict):
        # A shape we do not know: scan every string in it rather than let it pass unseen.
        c.add_leaves(role, content, *base)
    elif isinstance(content, list):
        for i, part in enumerate(content):
            if isinstance(part, str):
                c.add(role, part, *base, i)
            elif isinstance(part, dict):
                ptype = part.get("type")
                if ptype in _IMAGE_TYPES:
                    c.images += 1
                for key in ("text", "refusal", "output"):
                    if isinstance(part.get(key), str):
                        c.add(role, part[key], *base, i, key)


def _list(value: Any) -> list[Any]:
    """A field that should be a list; anything else (a number, a string, an object) is no items."""
    return value if isinstance(value, list) else []


def _openai_chat(body: dict[str, Any], c: _Collector) -> None:
    for i, msg in enumerate(_list(body.get("messages"))):
        if not isinstance(msg, dict):
            continue
        role = _role(msg.get("role"))
        _openai_content(c, role, msg.get("content"), "messages", i, "content")
        for j, call in enumerate(_list(msg.get("tool_calls"))):
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                c.add(TextRole.TOOL_CALL, fn.get("arguments"), "messages", i, "tool_calls", j, "function", "arguments")
        fc = msg.get("function_call")
        if isinstance(fc, dict):
            c.add(TextRole.TOOL_CALL, fc.get("arguments"), "messages", i, "function_call", "arguments")


def _openai_responses(body: dict[str, Any], c: _Collector) -> None:
    c.add(TextRole.SYSTEM, body.get("instructions"), "instructions")
    items = body.get("input")
    if isinstance(items, str):
        c.add(TextRole.USER, items, "input")
        return
    for i, item in enumerate(_list(items)):
        if not isinstance(item, dict):
            continue
        itype = item.get("type", "message")
        if itype == "message" or "role" in item:
            _openai_content(c, _role(item.get("role")), item.get("content"), "input", i, "content")
        elif itype == "function_call":
            c.add(TextRole.TOOL_CALL, item.get("arguments"), "input", i, "arguments")
        elif itype in ("function_call_output", "custom_tool_call_output"):
            out = item.get("output")
            if isinstance(out, str):
                c.add(TextRole.TOOL, out, "input", i, "output")
            else:
                _openai_content(c, TextRole.TOOL, out, "input", i, "output")


def _openai_input_list(body: dict[str, Any], key: str, c: _Collector) -> None:
    value = body.get(key)
    if isinstance(value, str):
        c.add(TextRole.INPUT, value, key)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            c.add(TextRole.INPUT, v, key, i)  # token-id arrays are skipped: they are not text


def _openai_endpoint(path: str) -> EndpointKind:
    if path.endswith("/chat/completions"):
        return EndpointKind.CHAT
    if path.endswith("/responses"):
        return EndpointKind.RESPONSES
    if path.endswith("/embeddings"):
        return EndpointKind.EMBEDDINGS
    if path.endswith("/completions"):
        return EndpointKind.COMPLETIONS
    if "/models" in path:
        return EndpointKind.MODELS
    return EndpointKind.UNKNOWN


# --- Anthropic ------------------------------------------------------------------------------


def _anthropic_blocks(c: _Collector, role: TextRole, content: Any, *base: str | int) -> None:
    if isinstance(content, str):
        c.add(role, content, *base)
        return
    if isinstance(content, dict):
        c.add_leaves(role, content, *base)  # unknown shape: scanned, not skipped
        return
    if not isinstance(content, list):
        return
    for i, block in enumerate(content):
        if not isinstance(block, dict):
            continue
        btype = block.get("type")
        if btype == "text":
            c.add(role, block.get("text"), *base, i, "text")
        elif btype == "tool_use":
            c.add_leaves(TextRole.TOOL_CALL, block.get("input"), *base, i, "input")
        elif btype == "tool_result":
            _anthropic_blocks(c, TextRole.TOOL, block.get("content"), *base, i, "content")
        elif btype in _IMAGE_TYPES:
            c.images += 1


def _anthropic(body: dict[str, Any], c: _Collector) -> None:
    _anthropic_blocks(c, TextRole.SYSTEM, body.get("system"), "system")
    for i, msg in enumerate(_list(body.get("messages"))):
        if isinstance(msg, dict):
            _anthropic_blocks(c, _role(msg.get("role")), msg.get("content"), "messages", i, "content")


def _anthropic_endpoint(path: str) -> EndpointKind:
    if path.endswith("/messages/count_tokens"):
        return EndpointKind.COUNT_TOKENS
    if path.endswith("/messages"):
        return EndpointKind.MESSAGES
    if path.endswith("/complete"):
        return EndpointKind.COMPLETIONS
    if "/models" in path:
        return EndpointKind.MODELS
    return EndpointKind.UNKNOWN


# --- Gemini ---------------------------------------------------------------------------------


def _gemini_parts(c: _Collector, role: TextRole, content: Any, *base: str | int) -> None:
    if not isinstance(content, dict):
        return
    for i, part in enumerate(_list(content.get("parts"))):
        if not isinstance(part, dict):
            continue
        if "text" in part:
            c.add(role, part.get("text"), *base, "parts", i, "text")
        elif "functionCall" in part:
            c.add_leaves(TextRole.TOOL_CALL, (part["functionCall"] or {}).get("args"), *base, "parts", i, "functionCall", "args")
        elif "functionResponse" in part:
            c.add_leaves(TextRole.TOOL, (part["functionResponse"] or {}).get("response"), *base, "parts", i, "functionResponse", "response")
        elif "inlineData" in part or "fileData" in part:
            c.images += 1


def _gemini(body: dict[str, Any], c: _Collector) -> None:
    system = body.get("systemInstruction") or body.get("system_instruction")
    key = "systemInstruction" if "systemInstruction" in body else "system_instruction"
    _gemini_parts(c, TextRole.SYSTEM, system, key)
    for i, content in enumerate(_list(body.get("contents"))):
        if isinstance(content, dict):
            _gemini_parts(c, _role(content.get("role", "user")), content, "contents", i)
    if isinstance(body.get("content"), dict):  # embedContent
        _gemini_parts(c, TextRole.INPUT, body["content"], "content")
    for i, req in enumerate(_list(body.get("requests"))):  # batchEmbedContents
        if isinstance(req, dict) and isinstance(req.get("content"), dict):
            _gemini_parts(c, TextRole.INPUT, req["content"], "requests", i, "content")


def _gemini_endpoint(path: str) -> tuple[EndpointKind, str | None, bool]:
    m = _GEMINI_PATH.search(path)
    if not m:
        return (EndpointKind.MODELS if "/models" in path else EndpointKind.UNKNOWN), None, False
    method = m.group("method")
    model = unquote(m.group("model"))
    if method in ("generateContent", "streamGenerateContent"):
        return EndpointKind.GENERATE_CONTENT, model, method == "streamGenerateContent"
    if method in ("embedContent", "batchEmbedContents"):
        return EndpointKind.EMBED_CONTENT, model, False
    if method == "countTokens":
        return EndpointKind.COUNT_TOKENS, model, False
    return EndpointKind.UNKNOWN, model, False


# --- Cohere ---------------------------------------------------------------------------------


def _cohere(body: dict[str, Any], c: _Collector) -> None:
    c.add(TextRole.SYSTEM, body.get("preamble"), "preamble")
    c.add(TextRole.USER, body.get("message"), "message")  # v1 chat
    for i, msg in enumerate(_list(body.get("chat_history"))):
        if isinstance(msg, dict):
            c.add(_role(str(msg.get("role", "")).lower()), msg.get("message"), "chat_history", i, "message")
    _openai_chat(body, c)  # v2 chat uses OpenAI-like messages
    _openai_input_list(body, "texts", c)  # embed


# --- entry point ----------------------------------------------------------------------------


_LIST_FIELDS = {
    EndpointKind.CHAT: ("messages",),
    EndpointKind.MESSAGES: ("messages",),
    EndpointKind.COUNT_TOKENS: ("messages",),
    EndpointKind.GENERATE_CONTENT: ("contents",),
}


def _shape_error(endpoint: EndpointKind, obj: dict[str, Any]) -> str | None:
    """The few structural rules every provider enforces too: say so before anything leaves."""
    for field in _LIST_FIELDS.get(endpoint, ()):
        if field in obj and not isinstance(obj[field], list):
            return f"'{field}' must be an array, got {type(obj[field]).__name__}"
    if endpoint == EndpointKind.RESPONSES and "input" in obj and not isinstance(obj["input"], str | list):
        return f"'input' must be a string or an array, got {type(obj['input']).__name__}"
    return None


def estimate_tokens(segments: tuple[TextSegment, ...] | list[TextSegment]) -> int:
    """A cheap, provider-neutral estimate (≈4 characters a token plus per-message overhead).

    Good enough for budgets and policy thresholds; real usage from responses replaces it.
    """
    chars = sum(len(s.text) for s in segments)
    return (chars + 3) // 4 + 4 * len(segments)


def decode_json_body(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Decode a JSON object body, returning (obj, None) or (None, reason)."""
    if not body:
        return None, "empty body"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"body is not UTF-8 (byte {exc.start})"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, "malformed JSON: nested too deeply"
    if not isinstance(obj, dict):
        return None, f"JSON body must be an object, got {type(obj).__name__}"
    return obj, None


def parse_request(
    *,
    provider: str,
    kind: ProviderKind,
    method: str,
    scheme: str,
    host: str,
    port: int,
    path: str,
    body: bytes,
    identity: Identity,
    content_type: str | None = None,
    query: dict[str, str] | None = None,
) -> tuple[LLMRequest, dict[str, Any] | None]:
    """Normalise one request; returns the LLMRequest and the decoded JSON body (if any)."""
    path_only = path.split("?", 1)[0]
    query = query or {}
    model: str | None = None
    stream = False
    c = _Collector()
    if kind == ProviderKind.ANTHROPIC:
        endpoint = _anthropic_endpoint(path_only)
    elif kind == ProviderKind.GEMINI:
        endpoint, model, stream = _gemini_endpoint(path_only)
    elif kind == ProviderKind.COHERE:
        endpoint = EndpointKind.COHERE_CHAT if path_only.endswith("/chat") else (
            EndpointKind.EMBEDDINGS if path_only.endswith("/embed") else EndpointKind.UNKNOWN
        )
    else:
        endpoint = _openai_endpoint(path_only)
        if kind == ProviderKind.AZURE_OPENAI and (m := _AZURE_DEPLOYMENT.search(path_only)):
            model = unquote(m.group("deployment"))

    obj: dict[str, Any] | None = None
    parse_error: str | None = None
    carries_body = method.upper() not in ("GET", "HEAD", "DELETE", "OPTIONS")
    if carries_body:
        if content_type and "json" not in content_type.lower():
            parse_error = f"unexpected content type {content_type.split(';')[0].strip()!r}; JSON expected"
        obj, decode_error = decode_json_body(body)
        if obj is None:
            parse_error = parse_error or decode_error
        elif (shape := _shape_error(endpoint, obj)) is not None:
            parse_error = shape
            obj = None
        else:
            parse_error = None  # the body is JSON after all: govern it by its content
            if kind == ProviderKind.ANTHROPIC:
                _anthropic(obj, c)
            elif kind == ProviderKind.GEMINI:
                _gemini(obj, c)
            elif kind == ProviderKind.COHERE:
                _cohere(obj, c)
            elif endpoint == EndpointKind.RESPONSES:
                _openai_responses(obj, c)
            elif endpoint == EndpointKind.EMBEDDINGS:
                _openai_input_list(obj, "input", c)
            elif endpoint == EndpointKind.COMPLETIONS:
                _openai_input_list(obj, "prompt", c)
            else:
                _openai_chat(obj, c)
                if endpoint == EndpointKind.UNKNOWN:
                    # Unknown path on a known host: still scan every string we can find.
                    c.segments.clear()
                    c.add_leaves(TextRole.INPUT, obj)
            if isinstance(obj.get("model"), str):
                model = model or obj["model"]
            if obj.get("stream") is True:
                stream = True
    if kind == ProviderKind.GEMINI and query.get("alt") == "sse":
        stream = True
    segments = tuple(c.segments)
    request = LLMRequest(
        provider=provider,
        provider_kind=kind,
        endpoint=endpoint,
        method=method.upper(),
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        model=model,
        stream=stream,
        texts=segments,
        images=c.images,
        token_estimate=estimate_tokens(segments),
        identity=identity,
        parse_error=parse_error,
    )
    return request, obj
