"""Pseudonym restore for OpenAI Responses API streams.

The chat translator knows chat-completions events; the Responses API streams typed events
(``response.output_text.delta`` …) instead. Text deltas of each channel (output item ×
content part, or a function call's arguments) go through their own
:class:`~govproxy.dlp.StreamRestorer`, so a placeholder split across events is restored;
whatever a channel still holds when its ``.done`` event arrives is sent as one more delta
just before it. ``.done`` events and the final ``response.completed`` object carry whole
texts and are restored as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from govproxy.dlp import PseudonymVault, StreamRestorer

_TEXT_DELTA = {"response.output_text.delta", "response.refusal.delta", "response.reasoning_summary_text.delta"}
_ARGS_DELTA = {"response.function_call_arguments.delta", "response.custom_tool_call_input.delta"}
_DONE = {
    "response.output_text.done": "response.output_text.delta",
    "response.refusal.done": "response.refusal.delta",
    "response.reasoning_summary_text.done": "response.reasoning_summary_text.delta",
    "response.function_call_arguments.done": "response.function_call_arguments.delta",
    "response.custom_tool_call_input.done": "response.custom_tool_call_input.delta",
}


class ResponsesStreamRestorer:
    def __init__(self, vault: PseudonymVault) -> None:
        self._vault = vault
        self._buf = bytearray()
        self._channels: dict[tuple[Any, ...], StreamRestorer] = {}
        self._usage: tuple[int, int] | None = None

    def usage(self) -> tuple[int, int] | None:
        return self._usage

    def feed(self, chunk: bytes) -> bytes:
        self._buf += chunk
        out = bytearray()
        while True:
            i = self._buf.find(b"\n\n")
            j = self._buf.find(b"\r\n\r\n")
            if i < 0 and j < 0:
                break
            if j >= 0 and (i < 0 or j < i):
                event, rest = bytes(self._buf[:j]), j + 4
            else:
                event, rest = bytes(self._buf[:i]), i + 2
            del self._buf[:rest]
            out += self._event(event.replace(b"\r\n", b"\n"))
        return bytes(out)

    def finish(self) -> bytes:
        rest = bytes(self._buf)
        self._buf.clear()
        out = self._event(rest) if rest.strip() else b""
        return out

    # --- one event ------------------------------------------------------------------------

    def _event(self, raw: bytes) -> bytes:
        lines = raw.split(b"\n")
        data_lines = [ln[5:].lstrip() for ln in lines if ln.startswith(b"data:")]
        if not data_lines:
            return raw + b"\n\n"
        try:
            obj = json.loads(b"\n".join(data_lines))
        except ValueError:
            return raw + b"\n\n"
        if not isinstance(obj, dict):
            return raw + b"\n\n"
        etype = obj.get("type", "")
        prefix = b""
        if etype in _TEXT_DELTA or etype in _ARGS_DELTA:
            ch = self._channel(obj, json_escape=etype in _ARGS_DELTA)
            obj["delta"] = ch.feed(obj.get("delta") or "")
        elif etype in _DONE:
            ch = self._channels.pop(self._key(obj), None)
            held = ch.flush() if ch is not None else ""
            if held:
                extra = {k: v for k, v in obj.items() if k not in ("text", "arguments", "input", "refusal")}
                extra["type"] = _DONE[etype]
                extra["delta"] = self._vault.restore_text(held)
                prefix = _encode(_DONE[etype], extra)
            obj = self._vault.restore_json(obj)
        else:
            obj = self._vault.restore_json(obj)
            if etype == "response.completed":
                usage = (obj.get("response") or {}).get("usage") or {}
                if isinstance(usage.get("input_tokens"), int):
                    self._usage = (usage["input_tokens"], int(usage.get("output_tokens") or 0))
        event_name = next((ln[6:].strip() for ln in lines if ln.startswith(b"event:")), None)
        return prefix + _encode(event_name.decode() if event_name else None, obj)

    @staticmethod
    def _key(obj: dict[str, Any]) -> tuple[Any, ...]:
        return (obj.get("item_id"), obj.get("output_index"), obj.get("content_index"), obj.get("summary_index"))

    def _channel(self, obj: dict[str, Any], *, json_escape: bool) -> StreamRestorer:
        key = self._key(obj)
        ch = self._channels.get(key)
        if ch is None:
            ch = self._channels[key] = StreamRestorer(self._vault, json_escape=json_escape)
        return ch


def _encode(event: str | None, obj: dict[str, Any]) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
