"""The text-transform seam (used to restore DLP pseudonyms in responses).

A streaming transform may hold text back (a placeholder split across deltas) and must
give it up on ``flush``; the translator runs one instance per text channel and flushes it
at that channel's end, before the block or choice closes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from govproxy.models import ProviderKind
from govproxy.translate.common import first
from govproxy.translate.kinds import Family, family


class TextTransform(Protocol):
    def feed(self, text: str) -> str: ...

    def flush(self) -> str: ...


TransformFactory = Callable[[], TextTransform]


def map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """Apply ``fn`` to every string leaf (values only, never keys) of a JSON value."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [map_strings(v, fn) for v in value]
    return value


def _map_arguments(arguments: str, fn: Callable[[str], str]) -> str:
    """Tool arguments are JSON text: rewrite string values, so a restored value is JSON-escaped."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return fn(arguments)
    return json.dumps(map_strings(parsed, fn), ensure_ascii=False)


def transform_json_response(
    body: dict[str, Any], kind: ProviderKind, fn: Callable[[str], str]
) -> dict[str, Any]:
    """Rewrite the text a non-streaming response carries (content and tool-call arguments) in place.

    Returns ``body`` for convenience. Metadata (ids, model, usage) is left alone.
    """
    fam = family(kind)
    if fam is Family.OPENAI:
        for ch in body.get("choices") or ():
            msg = ch.get("message") or {}
            content = msg.get("content")
            if isinstance(content, str):
                msg["content"] = fn(content)
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        part["text"] = fn(part["text"])
            for tc in msg.get("tool_calls") or ():
                f = tc.get("function") or {}
                if isinstance(f.get("arguments"), str):
                    f["arguments"] = _map_arguments(f["arguments"], fn)
    elif fam is Family.ANTHROPIC:
        for block in body.get("content") or ():
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                block["text"] = fn(block["text"])
            elif block.get("type") == "tool_use" and "input" in block:
                block["input"] = map_strings(block["input"], fn)
    else:
        for cand in body.get("candidates") or ():
            for part in (cand.get("content") or {}).get("parts") or ():
                if isinstance(part.get("text"), str) and not part.get("thought"):
                    part["text"] = fn(part["text"])
                fc = first(part, "functionCall", "function_call")
                if isinstance(fc, dict) and "args" in fc:
                    fc["args"] = map_strings(fc["args"], fn)
    return body


def whole_string(factory: TransformFactory) -> Callable[[str], str]:
    """A one-shot ``fn`` from a streaming factory (feed everything, then flush)."""

    def fn(text: str) -> str:
        t = factory()
        return t.feed(text) + t.flush()

    return fn
