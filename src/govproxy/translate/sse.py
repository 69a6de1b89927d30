"""Incremental Server-Sent Events parsing and encoding.

Upstream bytes arrive split at arbitrary boundaries (mid-line, mid-UTF-8 character,
between ``\\r`` and ``\\n``), so the parser keeps the unfinished tail and dispatches an
event only on its blank line — never earlier, never later — which is what lets the
translator emit the first token as soon as the first complete event is in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class SSEEvent:
    """One dispatched event. ``raw`` keeps the original lines so unchanged events pass through verbatim."""

    event: str | None
    data: str | None
    raw: list[str]

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


class SSEParser:
    """Feed bytes, get complete events. Comment-only blocks come back with ``data is None``."""

    __slots__ = ("_buf", "_lines")

    def __init__(self) -> None:
        self._buf = b""
        self._lines: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not chunk:
            return []
        buf = self._buf + chunk if self._buf else chunk
        parts = buf.splitlines(keepends=True)
        tail = parts[-1]
        # An unterminated last line, or a lone "\r" that may be the first half of "\r\n", waits.
        if not tail.endswith((b"\n", b"\r")) or tail.endswith(b"\r"):
            self._buf = parts.pop()
        else:
            self._buf = b""
        events: list[SSEEvent] = []
        lines = self._lines
        for part in parts:
            line = part.rstrip(b"\r\n").decode("utf-8", "replace")
            if line:
                lines.append(line)
            elif lines:
                events.append(_dispatch(lines))
                lines = self._lines = []
        return events

    def finish(self) -> list[SSEEvent]:
        """End of stream: a final event without its blank line is still delivered."""
        if self._buf:
            line = self._buf.rstrip(b"\r\n").decode("utf-8", "replace")
            self._buf = b""
            if line:
                self._lines.append(line)
        if self._lines:
            lines, self._lines = self._lines, []
            return [_dispatch(lines)]
        return []


def _dispatch(lines: list[str]) -> SSEEvent:
    event: str | None = None
    data: list[str] | None = None
    for line in lines:
        if line[0] == ":":
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            if data is None:
                data = [value]
            else:
                data.append(value)
        elif name == "event":
            event = value
    return SSEEvent(event, "\n".join(data) if data is not None else None, lines)


def encode_raw(ev: SSEEvent) -> bytes:
    return ("\n".join(ev.raw) + "\n\n").encode()


_DUMP = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(obj: Any) -> str:
    """Compact JSON as the providers send it (non-ASCII kept as UTF-8)."""
    return _DUMP(obj)


def data_event(obj: Any) -> bytes:
    return b"data: " + _DUMP(obj).encode() + b"\n\n"


def named_event(name: str, obj: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _DUMP(obj).encode() + b"\n\n"
