"""Anthropic Messages wire format: ``/v1/messages`` (stream and not), ``count_tokens``, models.

The streaming sequence is the documented one: ``message_start``, then per content block
``content_block_start`` / ``content_block_delta``… / ``content_block_stop`` (with a
``ping`` after the first start), ``message_delta`` carrying the stop reason and output
usage, and ``message_stop``. Each SSE event has both an ``event:`` name and a ``type``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from govproxy.standin.call import Call
from govproxy.standin.echo import (
    all_strings,
    chunk_text,
    dumps,
    estimate_tokens,
    sse,
    text_of_content,
    tool_arguments,
    tool_arguments_json,
    truncate_to_tokens,
    wants_tool_call,
)
from govproxy.standin.errors import Family, error_response, request_id_header
from govproxy.standin.http11 import Reply, Response, StreamingResponse, random_id

MODELS = ("claude-sonnet-4-5", "claude-opus-4-1", "claude-3-5-haiku-latest")


def _headers(content_type: str = "application/json") -> list[tuple[str, str]]:
    return [
        ("content-type", content_type),
        request_id_header(Family.ANTHROPIC),
        ("anthropic-organization-id", "00000000-0000-0000-0000-000000000000"),
        ("anthropic-ratelimit-requests-limit", "4000"),
        ("anthropic-ratelimit-requests-remaining", "3999"),
    ]


def _last_user_text(messages: list[Any]) -> str:
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return text_of_content(msg.get("content"))
    return ""


def _first_tool_name(tools: Any) -> str | None:
    if isinstance(tools, list):
        for tool in tools:
            if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                return str(tool["name"])
    return None


def _validate(body: dict[str, Any], need_max_tokens: bool = True) -> str | None:
    if not body.get("model"):
        return "model: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "messages: Field required"
    if need_max_tokens and not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    return None


def _input_tokens(body: dict[str, Any]) -> int:
    return estimate_tokens(all_strings([body.get("system"), body.get("messages"), body.get("tools")]))


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def messages(call: Call) -> Reply:
    body = call.body
    problem = _validate(body)
    if problem:
        return error_response(Family.ANTHROPIC, 400, problem)
    user_text = _last_user_text(body["messages"])
    tool_name = _first_tool_name(body.get("tools"))
    tool_call = tool_name is not None and wants_tool_call(user_text, True)
    reply, cut = truncate_to_tokens(call.options.echo_prefix + user_text, body.get("max_tokens"), call.options.honour_max_tokens)
    tool_call = tool_call and not cut  # a reply cut short never reaches its tool call
    args_json = tool_arguments_json(user_text) if tool_call else ""
    in_tokens = _input_tokens(body)
    out_tokens = estimate_tokens(reply + args_json)
    mid = random_id("msg_01", 22)
    tool_id = random_id("toolu_01", 22)
    stop_reason = "tool_use" if tool_call else "max_tokens" if cut else "end_turn"

    text_block = {"type": "text", "text": reply}
    blocks: list[dict[str, Any]] = [text_block]
    if tool_call:
        blocks.append({"type": "tool_use", "id": tool_id, "name": tool_name, "input": tool_arguments(user_text)})

    if not body.get("stream"):
        out = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": _usage(in_tokens, out_tokens),
        }
        return Response(200, _headers(), dumps(out))

    def ev(obj: dict[str, Any]) -> bytes:
        return sse(obj, event=obj["type"])

    def events() -> Iterator[bytes]:
        yield ev(
            {
                "type": "message_start",
                "message": {
                    "id": mid,
                    "type": "message",
                    "role": "assistant",
                    "model": call.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": _usage(in_tokens, 1),
                },
            }
        )
        yield ev({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        yield ev({"type": "ping"})
        for piece in chunk_text(reply, call.options.chunk_size):
            yield ev({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})
        yield ev({"type": "content_block_stop", "index": 0})
        if tool_call:
            yield ev(
                {
                    "type": "content_block_start",
                    "index": 1,
                    "content_block": {"type": "tool_use", "id": tool_id, "name": tool_name, "input": {}},
                }
            )
            for piece in chunk_text(args_json, call.options.chunk_size):
                yield ev(
                    {
                        "type": "content_block_delta",
                        "index": 1,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    }
                )
            yield ev({"type": "content_block_stop", "index": 1})
        yield ev(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": out_tokens},
            }
        )
        yield ev({"type": "message_stop"})

    return StreamingResponse(
        status=200,
        headers=_headers("text/event-stream; charset=utf-8") + [("cache-control", "no-cache")],
        chunks=events(),
        chunk_delay=call.options.chunk_delay,
    )


def count_tokens(call: Call) -> Reply:
    problem = _validate(call.body, need_max_tokens=False)
    if problem:
        return error_response(Family.ANTHROPIC, 400, problem)
    return Response(200, _headers(), dumps({"input_tokens": _input_tokens(call.body)}))


def _model_info(name: str) -> dict[str, Any]:
    return {"type": "model", "id": name, "display_name": name.replace("-", " ").title(), "created_at": "2025-01-01T00:00:00Z"}


def retrieve_model(call: Call) -> Reply:
    return Response(200, _headers(), dumps(_model_info(call.path_params.get("model", ""))))


def list_models(call: Call) -> Reply:
    data = [_model_info(m) for m in MODELS]
    out = {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
    return Response(200, _headers(), dumps(out))

