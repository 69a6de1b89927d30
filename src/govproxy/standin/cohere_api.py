"""Cohere v2 wire format: ``/v2/chat`` (stream and not) and ``/v2/embed``.

Streaming is SSE with typed events: ``message-start``, ``content-start``,
``content-delta``…, ``content-end`` (or ``tool-plan-delta`` and ``tool-call-start`` /
``-delta`` / ``-end`` for tool calls) and ``message-end`` carrying ``finish_reason`` and
usage. Finish reasons are upper-case (``COMPLETE``, ``TOOL_CALL``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from govproxy.standin.call import Call
from govproxy.standin.echo import (
    all_strings,
    chunk_text,
    dumps,
    embedding_vector,
    estimate_tokens,
    sse,
    text_of_content,
    tool_arguments_json,
    truncate_to_tokens,
    wants_tool_call,
)
from govproxy.standin.errors import Family, error_response, request_id_header
from govproxy.standin.http11 import Reply, Response, StreamingResponse, random_id


def _headers(content_type: str = "application/json") -> list[tuple[str, str]]:
    return [("content-type", content_type), request_id_header(Family.COHERE), ("num_tokens", "0")]


def _last_input(messages: list[Any]) -> str:
    for msg in reversed(messages):
        if not isinstance(msg, dict):
            continue
        if msg.get("role") == "user":
            return text_of_content(msg.get("content"))
        if msg.get("role") == "tool":
            content = msg.get("content")
            return content if isinstance(content, str) else all_strings(content)
    return ""


def _first_tool(tools: Any) -> str | None:
    if isinstance(tools, list):
        for tool in tools:
            fn = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                return str(fn["name"])
    return None


def _usage(inp: int, out: int) -> dict[str, Any]:
    return {
        "billed_units": {"input_tokens": inp, "output_tokens": out},
        "tokens": {"input_tokens": inp, "output_tokens": out},
    }


def chat(call: Call) -> Reply:
    body = call.body
    messages = body.get("messages")
    if not body.get("model"):
        return error_response(Family.COHERE, 400, "invalid request: model must be provided")
    if not isinstance(messages, list) or not messages:
        return error_response(Family.COHERE, 400, "invalid request: messages must not be empty")
    user_text = _last_input(messages)
    tool_name = _first_tool(body.get("tools"))
    tool_call = tool_name is not None and wants_tool_call(user_text, True)
    reply, cut = truncate_to_tokens(call.options.echo_prefix + user_text, body.get("max_tokens"), call.options.honour_max_tokens)
    tool_call = tool_call and not cut
    args = tool_arguments_json(user_text) if tool_call else ""
    in_tokens = estimate_tokens(all_strings(messages))
    out_tokens = estimate_tokens(reply + args)
    mid = random_id("", 32)
    call_id = random_id("", 16)
    finish = "TOOL_CALL" if tool_call else "MAX_TOKENS" if cut else "COMPLETE"
    tool_calls = [{"id": call_id, "type": "function", "function": {"name": tool_name, "arguments": args}}]

    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant"}
        if tool_call:
            message["tool_plan"] = reply
            message["tool_calls"] = tool_calls
        else:
            message["content"] = [{"type": "text", "text": reply}]
        out = {"id": mid, "message": message, "finish_reason": finish, "usage": _usage(in_tokens, out_tokens)}
        return Response(200, _headers(), dumps(out))

    def ev(obj: dict[str, Any]) -> bytes:
        return sse(obj, event=obj["type"])

    def events() -> Iterator[bytes]:
        yield ev(
            {
                "id": mid,
                "type": "message-start",
                "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}},
            }
        )
        if tool_call:
            for piece in chunk_text(reply, call.options.chunk_size):
                yield ev({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}})
            yield ev(
                {
                    "type": "tool-call-start",
                    "index": 0,
                    "delta": {"message": {"tool_calls": {**tool_calls[0], "function": {"name": tool_name, "arguments": ""}}}},
                }
            )
            for piece in chunk_text(args, call.options.chunk_size):
                yield ev(
                    {"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}}
                )
            yield ev({"type": "tool-call-end", "index": 0})
        else:
            yield ev({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}})
            for piece in chunk_text(reply, call.options.chunk_size):
                yield ev({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}})
            yield ev({"type": "content-end", "index": 0})
        yield ev({"type": "message-end", "delta": {"finish_reason": finish, "usage": _usage(in_tokens, out_tokens)}})

    return StreamingResponse(
        200,
        _headers("text/event-stream"),
        events(),
        chunk_delay=call.options.chunk_delay,
    )


def embed(call: Call) -> Reply:
    texts = call.body.get("texts")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts) or not texts:
        return error_response(Family.COHERE, 400, "invalid request: texts must be a non-empty list of strings")
    if not call.body.get("model"):
        return error_response(Family.COHERE, 400, "invalid request: model must be provided")
    dims = call.body.get("output_dimension") or call.options.embedding_dimensions
    types = call.body.get("embedding_types") or ["float"]
    vectors = [embedding_vector(t, int(dims)) for t in texts]
    embeddings: dict[str, Any] = {}
    for t in types:
        if t == "float":
            embeddings["float"] = vectors
        elif t == "int8":
            embeddings["int8"] = [[max(-128, min(127, round(v * 127))) for v in vec] for vec in vectors]
    tokens = sum(estimate_tokens(t) for t in texts)
    out = {
        "id": random_id("", 32),
        "response_type": "embeddings_by_type",
        "embeddings": embeddings,
        "texts": texts,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
    }
    return Response(200, _headers(), dumps(out))
