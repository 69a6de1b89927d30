"""Anthropic Messages SSE: decoder, encoder and same-format text rewriter."""

from __future__ import annotations

import json
from typing import Any

from govproxy.models import ProviderKind
from govproxy.translate import ir
from govproxy.translate.anthropic_messages import STOP_IN, STOP_OUT, read_usage, tool_id
from govproxy.translate.common import as_int, as_str, dump_args, new_id
from govproxy.translate.errors import TranslationError
from govproxy.translate.errors_map import read_error, write_error
from govproxy.translate.events import (
    BlockStart,
    BlockStop,
    Delta,
    End,
    Event,
    Start,
    StreamError,
)
from govproxy.translate.ir import Usage
from govproxy.translate.sse import SSEEvent, encode_raw, named_event
from govproxy.translate.transform import TextTransform, TransformFactory


def _load(ev: SSEEvent) -> dict[str, Any]:
    try:
        obj = json.loads(ev.data or "")
    except ValueError:
        raise TranslationError(
            "anthropic stream: an event's data is not JSON"
        ) from None
    if not isinstance(obj, dict):
        raise TranslationError("anthropic stream: an event's data is not an object")
    return obj


class _UsageTracker:
    """Input tokens arrive in message_start, output (and sometimes input again) in message_delta."""

    def __init__(self) -> None:
        self.usage: Usage | None = None

    def track(self, etype: str | None, obj: dict[str, Any]) -> None:
        if etype == "message_start":
            self.usage = read_usage((obj.get("message") or {}).get("usage")) or Usage(
                0, 0
            )
        elif etype == "message_delta" and isinstance(obj.get("usage"), dict):
            u = obj["usage"]
            current = self.usage or Usage(0, 0)
            if u.get("input_tokens") is not None:
                current.input_tokens = read_usage(u).input_tokens  # type: ignore[union-attr]
            if u.get("output_tokens") is not None:
                current.output_tokens = as_int(u["output_tokens"])
            self.usage = current


class AnthropicDecoder(_UsageTracker):
    def __init__(self) -> None:
        super().__init__()
        self._map: dict[int, int] = {}
        self._next = 0
        self._stop = ir.STOP_END
        self._stop_seq: str | None = None
        self._ended = False
        self._started = False

    def decode(self, ev: SSEEvent) -> list[Event]:
        if ev.data is None or self._ended:
            return []
        obj = _load(ev)
        etype = obj.get("type") or ev.event
        self.track(etype, obj)
        if etype == "content_block_delta":
            n = self._map.get(obj.get("index", -1))
            if n is None:
                return []
            d = obj.get("delta") or {}
            if d.get("type") == "text_delta" and as_str(d.get("text")):
                return [Delta(n, d["text"])]
            if d.get("type") == "input_json_delta" and as_str(d.get("partial_json")):
                return [Delta(n, d["partial_json"])]
            return []
        if etype == "content_block_start":
            cb = obj.get("content_block") or {}
            ctype = cb.get("type")
            if ctype not in ("text", "tool_use"):
                return []  # thinking and server-tool blocks have no counterpart elsewhere
            n = self._map[obj.get("index", -1)] = self._next
            self._next += 1
            if ctype == "text":
                started: list[Event] = [BlockStart(n)]
                return started + (
                    [Delta(n, cb["text"])] if as_str(cb.get("text")) else []
                )
            out: list[Event] = [
                BlockStart(
                    n, as_str(cb.get("id")) or new_id("toolu_"), as_str(cb.get("name"))
                )
            ]
            if cb.get("input"):
                out.append(Delta(n, dump_args(cb["input"])))
            return out
        if etype == "content_block_stop":
            n = self._map.pop(obj.get("index", -1), None)
            return [] if n is None else [BlockStop(n)]
        if etype == "message_start":
            self._started = True
            msg = obj.get("message") or {}
            u = self.usage
            return [
                Start(
                    str(msg.get("id") or new_id("msg_")),
                    msg.get("model"),
                    u.input_tokens if u else None,
                )
            ]
        if etype == "message_delta":
            d = obj.get("delta") or {}
            if d.get("stop_reason"):
                self._stop = STOP_IN.get(d["stop_reason"], ir.STOP_END)
            self._stop_seq = d.get("stop_sequence")
            return []
        if etype == "message_stop":
            return self.finish()
        if etype == "error":
            self._ended = True
            category, message = read_error(500, obj, ProviderKind.ANTHROPIC)
            stops: list[Event] = [BlockStop(n) for n in self._map.values()]
            return stops + [StreamError(category, message)]
        return []  # ping and future event types

    def finish(self) -> list[Event]:
        if self._ended:
            return []
        self._ended = True
        out: list[Event] = [BlockStop(n) for n in self._map.values()]
        self._map.clear()
        if not self._started:
            out.insert(0, Start(new_id("msg_"), None))
        out.append(End(self._stop, self._stop_seq, self.usage))
        return out


class AnthropicEncoder:
    """Neutral events → message_start, ping, content_block_start/delta/stop…, message_delta, message_stop."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._started = False
        self._map: dict[int, int] = {}
        self._tools: set[int] = set()
        self._next = 0

    def _start(self, e: Start) -> bytes:
        self._started = True
        message: dict[str, Any] = {
            "id": e.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": e.input_tokens or 0, "output_tokens": 0},
        }
        return named_event(
            "message_start", {"type": "message_start", "message": message}
        ) + named_event("ping", {"type": "ping"})

    def _ensure_started(self) -> bytes:
        return b"" if self._started else self._start(Start(new_id("msg_"), None))

    def encode(self, e: Event) -> bytes:
        if isinstance(e, Delta):
            i = self._map.get(e.index)
            if i is None:
                return b""
            if i in self._tools:
                delta = {"type": "input_json_delta", "partial_json": e.text}
            else:
                delta = {"type": "text_delta", "text": e.text}
            return named_event(
                "content_block_delta",
                {"type": "content_block_delta", "index": i, "delta": delta},
            )
        if isinstance(e, Start):
            return b"" if self._started else self._start(e)
        if isinstance(e, BlockStart):
            head = self._ensure_started()
            i = self._map[e.index] = self._next
            self._next += 1
            if e.is_tool:
                self._tools.add(i)
                block: dict[str, Any] = {
                    "type": "tool_use",
                    "id": tool_id(e.tool_id or ""),
                    "name": e.tool_name,
                    "input": {},
                }
            else:
                block = {"type": "text", "text": ""}
            return head + named_event(
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": block},
            )
        if isinstance(e, BlockStop):
            i = self._map.pop(e.index, None)
            if i is None:
                return b""
            return named_event(
                "content_block_stop", {"type": "content_block_stop", "index": i}
            )
        if isinstance(e, End):
            stop = e.stop
            if stop == ir.STOP_END and self._tools:
                stop = ir.STOP_TOOL
            usage: dict[str, int] = {
                "output_tokens": e.usage.output_tokens if e.usage else 0
            }
            if e.usage is not None:
                usage["input_tokens"] = e.usage.input_tokens
            closing: dict[str, str | None] = {
                "stop_reason": STOP_OUT[stop],
                "stop_sequence": e.stop_sequence if stop == ir.STOP_SEQUENCE else None,
            }
            return (
                self._ensure_started()
                + named_event(
                    "message_delta",
                    {"type": "message_delta", "delta": closing, "usage": usage},
                )
                + named_event("message_stop", {"type": "message_stop"})
            )
        _, body = write_error(e.category, e.message, 500, ProviderKind.ANTHROPIC)
        return named_event("error", body)


class AnthropicRewriter(_UsageTracker):
    """Same format upstream and client: text and tool-input deltas rewritten, the rest verbatim."""

    def __init__(
        self,
        factory: TransformFactory | None,
        args_factory: TransformFactory | None = None,
    ) -> None:
        super().__init__()
        self.factory = factory
        self.args_factory = args_factory or factory
        self._chans: dict[int, tuple[TextTransform, str]] = {}

    def rewrite(self, ev: SSEEvent) -> bytes:
        if ev.data is None:
            return encode_raw(ev)
        try:
            obj = json.loads(ev.data)
        except ValueError:
            return encode_raw(ev)
        if not isinstance(obj, dict):
            return encode_raw(ev)
        etype = obj.get("type") or ev.event
        self.track(etype, obj)
        if self.factory is None:
            return b""
        if etype == "content_block_delta":
            chan = self._chans.get(obj.get("index", -1))
            d = obj.get("delta") or {}
            field = {"text_delta": "text", "input_json_delta": "partial_json"}.get(
                d.get("type") or ""
            )
            if chan is None or field is None or not isinstance(d.get(field), str):
                return encode_raw(ev)
            new = chan[0].feed(d[field])
            if new == d[field]:
                return encode_raw(ev)
            d[field] = new
            return named_event(ev.event or etype, obj)
        if etype == "content_block_start":
            cb = obj.get("content_block") or {}
            if cb.get("type") == "text":
                t = self.factory()
                self._chans[obj.get("index", -1)] = (t, "text_delta")
                if cb.get("text"):
                    new = t.feed(cb["text"])
                    if new != cb["text"]:
                        cb["text"] = new
                        return named_event(ev.event or etype, obj)
            elif cb.get("type") == "tool_use":
                self._chans[obj.get("index", -1)] = (
                    self.args_factory(),  # type: ignore[misc]
                    "input_json_delta",
                )
            return encode_raw(ev)
        if etype == "content_block_stop":
            idx = obj.get("index", -1)
            return self._flush(idx) + encode_raw(ev)
        if etype in ("message_stop", "error"):
            return b"".join(self._flush(i) for i in list(self._chans)) + encode_raw(ev)
        return encode_raw(ev)

    def _flush(self, idx: int) -> bytes:
        chan = self._chans.pop(idx, None)
        if chan is None:
            return b""
        rest = chan[0].flush()
        if not rest:
            return b""
        field = "text" if chan[1] == "text_delta" else "partial_json"
        delta = {"type": chan[1], field: rest}
        return named_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": idx, "delta": delta},
        )

    def finish(self) -> bytes:
        return b"".join(self._flush(i) for i in list(self._chans))
