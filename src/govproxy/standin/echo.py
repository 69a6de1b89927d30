"""The stand-in's deterministic "model": echo the last user message back.

Tests need to know exactly what the provider received and see it come back through the
proxy (where pseudonyms must be restored), so the reply is a pure function of the
request. Streaming splits it into fixed-size character chunks so placeholders such as
``[EMAIL_1]`` straddle event boundaries, the case a naive restorer gets wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass, field, fields
from typing import Any

ECHO_PREFIX = "echo: "
TOOL_TRIGGER = "call tool"


@dataclass
class EchoOptions:
    """Per-server knobs; changeable at run time (``POST /_standin/config``)."""

    chunk_size: int = 8
    chunk_delay: float = 0.0
    require_api_key: bool = True
    echo_prefix: str = ECHO_PREFIX
    embedding_dimensions: int = 16
    accepted_keys: list[str] | None = field(default=None)  # None: any non-empty key is valid
    honour_max_tokens: bool = False  # cut replies at the request's output-token limit, with that stop reason
    strict_headers: bool = True  # demand headers the real API demands (anthropic-version)
    latency: float = 0.0  # seconds before every provider response's first byte (realistic upstream delay)
    gzip: bool = False  # gzip non-streaming JSON responses when the client accepts it, as CDNs in front of providers do

    def restore(self, other: EchoOptions) -> None:
        """Copy every knob from ``other`` in place (the running server holds this object)."""
        for f in fields(self):
            value = getattr(other, f.name)
            setattr(self, f.name, list(value) if isinstance(value, list) else value)


def estimate_tokens(text: str) -> int:
    """Roughly chars/4, at least 1: plausible and, above all, consistent across endpoints."""
    return max(1, math.ceil(len(text) / 4))


def chunk_text(text: str, size: int) -> list[str]:
    """Split into pieces of ``size`` characters (at least one piece, possibly empty)."""
    size = max(1, size)
    if not text:
        return [""]
    return [text[i : i + size] for i in range(0, len(text), size)]


def truncate_to_tokens(text: str, max_tokens: object, honour: bool) -> tuple[str, bool]:
    """``text`` cut to ``max_tokens`` (at chars/4) when honoured and exceeded; and whether it was cut."""
    if not honour or not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return text, False
    if estimate_tokens(text) <= max_tokens:
        return text, False
    return text[: max_tokens * 4], True


def wants_tool_call(last_user_text: str, has_tools: bool) -> bool:
    """The deterministic rule for producing a tool call: tools offered and the user asks."""
    return has_tools and TOOL_TRIGGER in last_user_text.lower()


def tool_arguments(last_user_text: str) -> dict[str, Any]:
    """Tool-call arguments echo the user text, so pseudonym restoration in arguments is testable."""
    return {"echo": last_user_text}


def tool_arguments_json(last_user_text: str) -> str:
    return json.dumps(tool_arguments(last_user_text), ensure_ascii=False)


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector derived from the text (same text -> same vector)."""
    dimensions = max(1, dimensions)
    raw = b""
    counter = 0
    while len(raw) < dimensions * 4:
        raw += hashlib.sha256(counter.to_bytes(4, "big") + text.encode("utf-8")).digest()
        counter += 1
    ints = struct.unpack(f"<{dimensions}i", raw[: dimensions * 4])
    vec = [i / 2**31 for i in ints]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [round(v / norm, 6) for v in vec]


def floats_to_base64(values: list[float]) -> str:
    """The OpenAI ``encoding_format: base64`` encoding: little-endian float32 array."""
    import base64

    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event; ``data`` is JSON-encoded unless already a string."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def text_of_content(content: Any, text_types: tuple[str, ...] = ("text", "input_text", "output_text")) -> str:
    """Concatenate the text of a content field that is a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out: list[str] = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                if part.get("type") in text_types and isinstance(part.get("text"), str):
                    out.append(part["text"])
                elif part.get("type") == "tool_result":
                    out.append(text_of_content(part.get("content", "")))
        return "\n".join(out)
    return ""


_STRUCTURAL_KEYS = frozenset(
    {"role", "type", "id", "tool_use_id", "tool_call_id", "call_id", "cache_control", "mimeType", "mime_type"}
)


def all_strings(obj: Any) -> str:
    """Every string the model would read in a JSON document (not roles, types or ids), joined.

    The basis of prompt token estimates, so the same prompt costs the same on every endpoint.
    """
    out: list[str] = []

    def walk(o: Any) -> None:
        if isinstance(o, str):
            out.append(o)
        elif isinstance(o, dict):
            for k, v in o.items():
                if k not in _STRUCTURAL_KEYS:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(obj)
    return " ".join(out)
