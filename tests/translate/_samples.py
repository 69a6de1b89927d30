"""Realistic wire-format samples (shapes as documented in each provider's API reference) and test helpers."""

from __future__ import annotations

import json
import re
from typing import Any

from govproxy.translate.sse import SSEParser

WEATHER_TOOL_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": ["string", "null"], "enum": ["c", "f"]},
    },
    "required": ["city"],
    "additionalProperties": False,
}


def openai_sse(*chunks: dict[str, Any], done: bool = True, crlf: bool = False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    out = "".join(f"data: {json.dumps(c)}{nl}{nl}" for c in chunks)
    if done:
        out += f"data: [DONE]{nl}{nl}"
    return out.encode()


def _oc(
    delta: dict[str, Any] | None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-AbC123",
        "object": "chat.completion.chunk",
        "created": 1732000000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_1",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    chunk.update(extra)
    return chunk


# Text, then one tool call streamed in fragments, then the include_usage chunk.
OPENAI_STREAM = openai_sse(
    _oc({"role": "assistant", "content": "", "refusal": None}),
    _oc({"content": "Hello <PER"}),
    _oc({"content": "SON_1>, the weather in "}),
    _oc({"content": "Paris is é."}),
    _oc(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_Xy1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    _oc({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    _oc({"tool_calls": [{"index": 0, "function": {"arguments": ' "<PERSON_1>"}'}}]}),
    _oc({}, "tool_calls"),
    _oc(None, usage={"prompt_tokens": 31, "completion_tokens": 17, "total_tokens": 48}),
)


def anthropic_sse(*events: dict[str, Any], crlf: bool = False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    return "".join(
        f"event: {e['type']}{nl}data: {json.dumps(e)}{nl}{nl}" for e in events
    ).encode()


ANTHROPIC_STREAM = anthropic_sse(
    {
        "type": "message_start",
        "message": {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-5-20250929",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 31, "output_tokens": 1},
        },
    },
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    },
    {"type": "ping"},
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "Hello <PER"},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "SON_1>, the weather in "},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "Paris is é."},
    },
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {
            "type": "tool_use",
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "input": {},
        },
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": ""},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"city":'},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": ' "<PERSON_1>"}'},
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 17},
    },
    {"type": "message_stop"},
)


def gemini_sse(*chunks: dict[str, Any]) -> bytes:
    # Gemini frames alt=sse events with CRLF.
    return "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()


def _gc(
    parts: list[dict[str, Any]],
    finish: str | None = None,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    chunk: dict[str, Any] = {"candidates": [cand]}
    chunk["usageMetadata"] = usage or {"promptTokenCount": 31, "totalTokenCount": 31}
    chunk["modelVersion"] = "gemini-2.0-flash"
    chunk["responseId"] = "Ab3xZ9vGKq"
    return chunk


GEMINI_STREAM = gemini_sse(
    _gc([{"text": "Hello <PER"}]),
    _gc([{"text": "SON_1>, the weather in "}]),
    _gc([{"text": "Paris is é."}]),
    _gc(
        [{"functionCall": {"name": "get_weather", "args": {"city": "<PERSON_1>"}}}],
        "STOP",
        {"promptTokenCount": 31, "candidatesTokenCount": 17, "totalTokenCount": 48},
    ),
)

EXPECTED_TEXT_RAW = "Hello <PERSON_1>, the weather in Paris is é."
EXPECTED_TEXT_RESTORED = "Hello Alice Martin, the weather in Paris is é."


class Restorer:
    """A streaming placeholder restorer like the DLP vault's: holds back a possibly partial ``<...``."""

    PATTERN = re.compile(r"<[A-Z]+_\d+>")

    def __init__(self, mapping: dict[str, str] | None = None) -> None:
        self.mapping = (
            mapping if mapping is not None else {"<PERSON_1>": "Alice Martin"}
        )
        self.held = ""
        self.flushed = False

    def feed(self, text: str) -> str:
        text = self.held + text
        cut = text.rfind("<")
        if cut != -1 and ">" not in text[cut:]:
            self.held, text = text[cut:], text[:cut]
        else:
            self.held = ""
        return self.PATTERN.sub(
            lambda m: self.mapping.get(m.group(0), m.group(0)), text
        )

    def flush(self) -> str:
        self.flushed = True
        held, self.held = self.held, ""
        return held


def events_of(data: bytes) -> list[tuple[str | None, Any]]:
    """Parse SSE bytes into (event name, JSON-or-text data) pairs, with an independent simple parser."""
    out = []
    text = data.decode().replace("\r\n", "\n")
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name = None
        datas = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                datas.append(line[5:].lstrip(" "))
        payload = "\n".join(datas)
        try:
            out.append((name, json.loads(payload)))
        except ValueError:
            out.append((name, payload))
    return out


_VOLATILE = {"id", "created", "responseId"}


def normalised(data: bytes) -> list[tuple[str | None, Any]]:
    """Events with generated ids/timestamps blanked, for comparing two runs."""

    def scrub(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ("*" if k in _VOLATILE else scrub(x)) for k, x in v.items()}
        if isinstance(v, list):
            return [scrub(x) for x in v]
        return v

    return [(n, scrub(d)) for n, d in events_of(data)]


def reparse(data: bytes) -> int:
    """How many events our own parser finds (sanity check that output is well-framed)."""
    p = SSEParser()
    return len(p.feed(data)) + len(p.finish())


def summarise(fam: str, data: bytes) -> dict[str, Any]:
    """What a client of format ``fam`` would assemble from the SSE bytes, checking the framing rules
    its SDK relies on (independent of the translator's own decoders)."""
    events = events_of(data)
    text = ""
    tools: dict[int, dict[str, Any]] = {}
    stop = None
    usage = None
    if fam == "openai":
        assert events[-1] == (None, "[DONE]"), "an OpenAI stream ends with data: [DONE]"
        for _, d in events[:-1]:
            assert isinstance(d, dict) and d["object"] == "chat.completion.chunk"
            if d.get("usage"):
                usage = (d["usage"]["prompt_tokens"], d["usage"]["completion_tokens"])
            for ch in d["choices"]:
                delta = ch["delta"]
                text += delta.get("content") or ""
                for tc in delta.get("tool_calls") or ():
                    slot = tools.setdefault(
                        tc["index"], {"name": "", "args": "", "id": None}
                    )
                    slot["id"] = tc.get("id") or slot["id"]
                    slot["name"] += (tc.get("function") or {}).get("name") or ""
                    slot["args"] += (tc.get("function") or {}).get("arguments") or ""
                stop = ch["finish_reason"] or stop
    elif fam == "anthropic":
        names = [n for n, _ in events]
        assert names[0] == "message_start" and names[-1] == "message_stop"
        assert all(n == d["type"] for n, d in events), "event name matches data.type"
        open_blocks: set[int] = set()
        for n, d in events:
            if n == "content_block_start":
                assert d["index"] not in open_blocks
                open_blocks.add(d["index"])
                cb = d["content_block"]
                if cb["type"] == "tool_use":
                    tools[d["index"]] = {"name": cb["name"], "args": "", "id": cb["id"]}
                else:
                    text += cb["text"]
            elif n == "content_block_delta":
                assert d["index"] in open_blocks, "delta only inside an open block"
                if d["delta"]["type"] == "text_delta":
                    text += d["delta"]["text"]
                else:
                    tools[d["index"]]["args"] += d["delta"]["partial_json"]
            elif n == "content_block_stop":
                open_blocks.remove(d["index"])
            elif n == "message_delta":
                assert not open_blocks, "all blocks closed before message_delta"
                stop = d["delta"]["stop_reason"]
                usage = (d["usage"].get("input_tokens"), d["usage"]["output_tokens"])
            elif n == "message_start":
                usage = (d["message"]["usage"]["input_tokens"], None)
    else:
        for _, d in events:
            assert isinstance(d, dict)
            for cand in d.get("candidates") or ():
                for p in (cand.get("content") or {}).get("parts") or ():
                    if "text" in p:
                        text += p["text"]
                    if "functionCall" in p:
                        tools[len(tools)] = {
                            "name": p["functionCall"]["name"],
                            "args": json.dumps(p["functionCall"]["args"]),
                            "id": None,
                        }
                stop = cand.get("finishReason") or stop
            if d.get("usageMetadata") and "candidatesTokenCount" in d["usageMetadata"]:
                usage = (
                    d["usageMetadata"]["promptTokenCount"],
                    d["usageMetadata"]["candidatesTokenCount"],
                )
    return {
        "text": text,
        "tools": [
            (t["name"], json.loads(t["args"]) if t["args"] else {})
            for _, t in sorted(tools.items())
        ],
        "stop": stop,
        "usage": usage,
    }
