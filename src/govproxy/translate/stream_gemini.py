"""Gemini ``streamGenerateContent?alt=sse``: decoder, encoder and same-format text rewriter.

Gemini sends each function call whole (name and complete ``args`` in one part), so the
encoder collects a tool block's argument fragments and emits the call at block end.
"""

from __future__ import annotations

import json
from typing import Any

from govproxy.models import ProviderKind
from govproxy.translate import ir
from govproxy.translate.common import args_to_dict, as_str, dump_args, first, new_id
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
from govproxy.translate.gemini import STOP_IN, STOP_OUT, read_usage, usage_body
from govproxy.translate.ir import Usage
from govproxy.translate.sse import SSEEvent, data_event, encode_raw
from govproxy.translate.transform import TextTransform, TransformFactory, map_strings


def _load(ev: SSEEvent) -> dict[str, Any]:
    try:
        obj = json.loads(ev.data or "")
    except ValueError:
        raise TranslationError("gemini stream: an event's data is not JSON") from None
    if (
        isinstance(obj, list) and len(obj) == 1
    ):  # tolerate a one-element array per event
        obj = obj[0]
    if not isinstance(obj, dict):
        raise TranslationError("gemini stream: an event's data is not an object")
    return obj


class GeminiDecoder:
    def __init__(self) -> None:
        self.usage: Usage | None = None
        self._started = False
        self._ended = False
        self._text_open = False
        self._index = -1
        self._saw_call = False
        self._stop: str | None = None

    def _close(self) -> list[Event]:
        if not self._text_open:
            return []
        self._text_open = False
        return [BlockStop(self._index)]

    def decode(self, ev: SSEEvent) -> list[Event]:
        if ev.data is None or self._ended:
            return []
        obj = _load(ev)
        out: list[Event] = []
        if isinstance(obj.get("error"), dict):
            self._ended = True
            category, message = read_error(
                int(obj["error"].get("code") or 500), obj, ProviderKind.GEMINI
            )
            return self._close() + [StreamError(category, message)]
        if not self._started:
            self._started = True
            out.append(
                Start(
                    str(obj.get("responseId") or new_id("chatcmpl-")),
                    obj.get("modelVersion"),
                )
            )
        meta = first(obj, "usageMetadata", "usage_metadata")
        if meta:
            self.usage = read_usage(meta)
        candidates = obj.get("candidates") or ()
        for cand in candidates:
            if cand.get("index", 0) != 0:
                continue
            for p in (cand.get("content") or {}).get("parts") or ():
                if p.get("thought"):
                    continue
                if p.get("text") and isinstance(p["text"], str):
                    if not self._text_open:
                        self._text_open = True
                        self._index += 1
                        out.append(BlockStart(self._index))
                    out.append(Delta(self._index, p["text"]))
                elif (fc := first(p, "functionCall", "function_call")) is not None:
                    out.extend(self._close())
                    self._saw_call = True
                    self._index += 1
                    out.append(
                        BlockStart(
                            self._index,
                            as_str(fc.get("id")) or new_id("call_"),
                            as_str(fc.get("name")),
                        )
                    )
                    out.append(Delta(self._index, dump_args(fc.get("args"))))
                    out.append(BlockStop(self._index))
            reason = first(cand, "finishReason", "finish_reason")
            if reason:
                self._stop = STOP_IN.get(reason, ir.STOP_END)
        if not candidates and (obj.get("promptFeedback") or {}).get("blockReason"):
            self._stop = ir.STOP_FILTER
        if self._stop is not None:
            out.extend(
                self.finish()
            )  # the finishing chunk also carries the final usage
        return out

    def finish(self) -> list[Event]:
        if self._ended:
            return []
        self._ended = True
        out = self._close()
        if not self._started:
            out.insert(0, Start(new_id("chatcmpl-"), None))
        stop = self._stop or ir.STOP_END
        if stop == ir.STOP_END and self._saw_call:
            stop = ir.STOP_TOOL
        out.append(End(stop, None, self.usage))
        return out


class GeminiEncoder:
    """Neutral events → one ``data: {candidates…}`` event per delta (``alt=sse`` framing)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._id = new_id("")
        self._calls: dict[int, tuple[str, list[str]]] = {}

    def _chunk(
        self,
        parts: list[dict[str, Any]],
        finish: str | None = None,
        usage: Usage | None = None,
    ) -> bytes:
        cand: dict[str, Any] = {
            "content": {"parts": parts, "role": "model"},
            "index": 0,
        }
        if finish:
            cand["finishReason"] = finish
        body: dict[str, Any] = {"candidates": [cand]}
        if usage is not None:
            body["usageMetadata"] = usage_body(usage)
        body["modelVersion"] = self.model
        body["responseId"] = self._id
        return data_event(body)

    def encode(self, e: Event) -> bytes:
        if isinstance(e, Delta):
            call = self._calls.get(e.index)
            if call is not None:
                call[1].append(e.text)
                return b""
            return self._chunk([{"text": e.text}])
        if isinstance(e, Start):
            self._id = e.id
            return b""
        if isinstance(e, BlockStart):
            if e.is_tool:
                self._calls[e.index] = (e.tool_name or "", [])
            return b""
        if isinstance(e, BlockStop):
            call = self._calls.pop(e.index, None)
            if call is None:
                return b""
            return self._chunk(
                [
                    {
                        "functionCall": {
                            "name": call[0],
                            "args": args_to_dict("".join(call[1])),
                        }
                    }
                ]
            )
        if isinstance(e, End):
            return self._chunk([{"text": ""}], STOP_OUT[e.stop], e.usage)
        _, body = write_error(e.category, e.message, 500, ProviderKind.GEMINI)
        return data_event(body)


class GeminiRewriter:
    """Same format upstream and client: text parts and function-call string arguments rewritten."""

    def __init__(
        self,
        factory: TransformFactory | None,
        args_factory: TransformFactory | None = None,
    ) -> None:
        # Gemini function-call arguments arrive as parsed values, not JSON text, so their
        # strings go through the plain text transform; ``args_factory`` is not needed.
        self.factory = factory
        self.usage: Usage | None = None
        self._chans: dict[int, TextTransform] = {}
        self._last: dict[str, Any] = {}

    def _whole(self, text: str) -> str:
        t = self.factory()  # type: ignore[misc]
        return t.feed(text) + t.flush()

    def rewrite(self, ev: SSEEvent) -> bytes:
        if ev.data is None:
            return encode_raw(ev)
        try:
            obj = json.loads(ev.data)
        except ValueError:
            return encode_raw(ev)
        if not isinstance(obj, dict):
            return encode_raw(ev)
        meta = first(obj, "usageMetadata", "usage_metadata")
        if meta:
            self.usage = read_usage(meta)
        if self.factory is None:
            return b""
        self._last = obj
        changed = False
        for pos, cand in enumerate(obj.get("candidates") or ()):
            ci = cand.get("index", pos)
            content = cand.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            last_text: dict[str, Any] | None = None
            for p in parts or ():
                if isinstance(p.get("text"), str) and not p.get("thought"):
                    t = self._chans.get(ci)
                    if t is None:
                        t = self._chans[ci] = self.factory()
                    new = t.feed(p["text"])
                    if new != p["text"]:
                        p["text"], changed = new, True
                    last_text = p
                fc = first(p, "functionCall", "function_call")
                if isinstance(fc, dict) and fc.get("args"):
                    new_args = map_strings(fc["args"], self._whole)
                    if new_args != fc["args"]:
                        fc["args"], changed = new_args, True
            if first(cand, "finishReason", "finish_reason") and ci in self._chans:
                rest = self._chans.pop(ci).flush()
                if rest:
                    changed = True
                    if last_text is not None:
                        last_text["text"] += rest
                    else:
                        if not isinstance(content, dict):
                            content = cand["content"] = {"role": "model", "parts": []}
                        content.setdefault("parts", []).append({"text": rest})
        return data_event(obj) if changed else encode_raw(ev)

    def finish(self) -> bytes:
        out = b""
        for ci, t in sorted(self._chans.items()):
            rest = t.flush()
            if rest:
                cand = {
                    "content": {"parts": [{"text": rest}], "role": "model"},
                    "index": ci,
                }
                out += data_event(
                    {
                        "candidates": [cand],
                        "modelVersion": self._last.get("modelVersion"),
                    }
                )
        self._chans.clear()
        return out
