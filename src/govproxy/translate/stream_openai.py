"""OpenAI Chat Completions SSE: decoder, encoder and same-format text rewriter."""

from __future__ import annotations

import json
import time
from typing import Any

from govproxy.models import ProviderKind
from govproxy.translate import ir
from govproxy.translate.common import as_str, new_id
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
from govproxy.translate.openai_chat import (
    STOP_IN,
    STOP_OUT,
    args_text,
    read_usage,
    usage_body,
)
from govproxy.translate.sse import SSEEvent, data_event, encode_raw
from govproxy.translate.transform import TextTransform, TransformFactory

DONE = b"data: [DONE]\n\n"


def _load(ev: SSEEvent) -> dict[str, Any]:
    try:
        obj = json.loads(ev.data or "")
    except ValueError:
        raise TranslationError("openai stream: an event's data is not JSON") from None
    if not isinstance(obj, dict):
        raise TranslationError("openai stream: an event's data is not an object")
    return obj


class OpenAIDecoder:
    """Chunks → neutral events. Only choice 0 is translated (the other formats have one)."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self._started = False
        self._ended = False
        self._open: Any = None  # key of the open block: "text" or ("tool", n)
        self._index = -1
        self._tools: dict[Any, tuple[str, str]] = {}
        self._stop: str | None = None

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        return [BlockStop(self._index)]

    def _open_block(
        self, key: Any, tool_id: str | None = None, name: str | None = None
    ) -> list[Event]:
        out = self._close()
        self._open = key
        self._index += 1
        out.append(BlockStart(self._index, tool_id, name))
        return out

    def decode(self, ev: SSEEvent) -> list[Event]:
        if ev.data is None or self._ended:
            return []
        if ev.data.strip() == "[DONE]":
            return self.finish()
        obj = _load(ev)
        out: list[Event] = []
        if obj.get("error") and not obj.get("choices"):
            category, message = read_error(500, obj, ProviderKind.OPENAI)
            out.extend(self._close())
            self._ended = True
            out.append(StreamError(category, message))
            return out
        if not self._started:
            self._started = True
            out.append(
                Start(str(obj.get("id") or new_id("chatcmpl-")), obj.get("model"))
            )
        if obj.get("usage"):
            self.usage = read_usage(obj["usage"])
        for ch in obj.get("choices") or ():
            if ch.get("index", 0) != 0:
                continue
            delta = ch.get("delta") or {}
            text = delta.get("content")
            if text and isinstance(text, str):
                if self._open != "text":
                    out.extend(self._open_block("text"))
                out.append(Delta(self._index, text))
            for j, tc in enumerate(delta.get("tool_calls") or ()):
                key = ("tool", tc.get("index", j))
                fn = tc.get("function") or {}
                if self._open != key:
                    known = self._tools.get(key)
                    tid = as_str(tc.get("id")) or (
                        known[0] if known else new_id("call_")
                    )
                    name = as_str(fn.get("name")) or (known[1] if known else "")
                    self._tools[key] = (tid, name)
                    out.extend(self._open_block(key, tid, name))
                args = args_text(fn.get("arguments"))
                if args:
                    out.append(Delta(self._index, args))
            reason = ch.get("finish_reason")
            if reason:
                self._stop = STOP_IN.get(reason, ir.STOP_END)
                out.extend(self._close())
        return out

    def finish(self) -> list[Event]:
        if self._ended:
            return []
        self._ended = True
        out = self._close()
        if not self._started:
            out.insert(0, Start(new_id("chatcmpl-"), None))
        out.append(End(self._stop or ir.STOP_END, None, self.usage))
        return out


class OpenAIEncoder:
    """Neutral events → ``data: {chunk}`` lines ending with ``data: [DONE]``."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self._id: str | None = None
        self._created = int(time.time())
        self._tools: dict[int, int] = {}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return data_event(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "delta": delta,
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
            }
        )

    def _ensure_started(self) -> bytes:
        if self._id is not None:
            return b""
        return self.encode(Start(new_id("chatcmpl-"), None))

    def encode(self, e: Event) -> bytes:
        if isinstance(e, Delta):
            k = self._tools.get(e.index)
            if k is None:
                return self._chunk({"content": e.text})
            return self._chunk(
                {"tool_calls": [{"index": k, "function": {"arguments": e.text}}]}
            )
        if isinstance(e, Start):
            if self._id is not None:
                return b""
            self._id = e.id
            return self._chunk({"role": "assistant", "content": ""})
        if isinstance(e, BlockStart):
            head = self._ensure_started()
            if not e.is_tool:
                return head
            k = self._tools[e.index] = len(self._tools)
            call = {
                "index": k,
                "id": e.tool_id,
                "type": "function",
                "function": {"name": e.tool_name, "arguments": ""},
            }
            return head + self._chunk({"tool_calls": [call]})
        if isinstance(e, BlockStop):
            return b""
        if isinstance(e, End):
            stop = e.stop
            if stop == ir.STOP_END and self._tools:
                stop = ir.STOP_TOOL
            out = self._ensure_started() + self._chunk({}, STOP_OUT[stop])
            if self.include_usage and e.usage is not None:
                out += data_event(
                    {
                        "id": self._id,
                        "object": "chat.completion.chunk",
                        "created": self._created,
                        "model": self.model,
                        "choices": [],
                        "usage": usage_body(e.usage),
                    }
                )
            return out + DONE
        # StreamError: the SDK raises APIError on a data event carrying "error".
        _, body = write_error(e.category, e.message, 500, ProviderKind.OPENAI)
        return data_event(body)


class OpenAIRewriter:
    """Same format upstream and client: only text deltas change, every other byte passes through.

    ``strip_usage`` drops the usage-only final chunk, for when the proxy asked the upstream
    for usage (:func:`request_stream_usage`) on behalf of a client that did not.
    """

    def __init__(
        self,
        factory: TransformFactory | None,
        args_factory: TransformFactory | None = None,
        strip_usage: bool = False,
    ) -> None:
        self.factory = factory
        self.args_factory = args_factory or factory
        self.strip_usage = strip_usage
        self.usage: Usage | None = None
        self._chans: dict[tuple[Any, ...], TextTransform] = {}
        self._last: dict[str, Any] = {}

    def _feed(self, key: tuple[Any, ...], text: str) -> str:
        t = self._chans.get(key)
        if t is None:
            make = self.factory if key[1] == "c" else self.args_factory
            t = self._chans[key] = make()  # type: ignore[misc]
        return t.feed(text)

    def _flush_choice(self, ci: Any, delta: dict[str, Any]) -> bool:
        changed = False
        for key in [k for k in self._chans if k[0] == ci]:
            rest = self._chans.pop(key).flush()
            if not rest:
                continue
            changed = True
            if key[1] == "c":
                delta["content"] = (delta.get("content") or "") + rest
            else:
                calls = delta.setdefault("tool_calls", [])
                for tc in calls:
                    if tc.get("index") == key[2]:
                        fn = tc.setdefault("function", {})
                        fn["arguments"] = (fn.get("arguments") or "") + rest
                        break
                else:
                    calls.append({"index": key[2], "function": {"arguments": rest}})
        return changed

    def rewrite(self, ev: SSEEvent) -> bytes:
        if ev.data is None:
            return encode_raw(ev)
        if ev.data.strip() == "[DONE]":
            return self._flush_all() + encode_raw(ev)
        try:
            obj = json.loads(ev.data)
        except ValueError:
            return encode_raw(ev)
        if not isinstance(obj, dict):
            return encode_raw(ev)
        if obj.get("usage"):
            self.usage = read_usage(obj["usage"])
            if self.strip_usage and not obj.get("choices"):
                return b""
        if self.factory is None:
            return encode_raw(ev)
        self._last = obj
        changed = False
        for ch in obj.get("choices") or ():
            ci = ch.get("index", 0)
            delta = ch.get("delta")
            if not isinstance(delta, dict):
                delta = {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                new = self._feed((ci, "c"), text)
                if new != text:
                    delta["content"], changed = new, True
            for j, tc in enumerate(delta.get("tool_calls") or ()):
                fn = tc.get("function") or {}
                args = fn.get("arguments")
                if isinstance(args, str) and args:
                    new = self._feed((ci, "t", tc.get("index", j)), args)
                    if new != args:
                        fn["arguments"], changed = new, True
            if ch.get("finish_reason") and self._flush_choice(ci, delta):
                ch["delta"], changed = delta, True
        return data_event(obj) if changed else encode_raw(ev)

    def _flush_all(self) -> bytes:
        if not self._chans:
            return b""
        out = b""
        for ci in sorted({k[0] for k in self._chans}):
            delta: dict[str, Any] = {}
            if self._flush_choice(ci, delta):
                out += data_event(
                    {
                        "id": self._last.get("id"),
                        "object": "chat.completion.chunk",
                        "created": self._last.get("created", int(time.time())),
                        "model": self._last.get("model"),
                        "choices": [
                            {
                                "index": ci,
                                "delta": delta,
                                "logprobs": None,
                                "finish_reason": None,
                            }
                        ],
                    }
                )
        return out

    def finish(self) -> bytes:
        return self._flush_all() if self.factory is not None else b""
