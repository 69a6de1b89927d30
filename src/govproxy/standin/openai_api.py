"""OpenAI wire format: chat completions, Responses, embeddings, models.

Also serves Azure OpenAI (same bodies under ``/openai/deployments/{d}/…``) and
OpenAI-compatible local servers (Ollama, vLLM): they share the chat schema. Field names
and SSE sequences follow OpenAI's API reference; the official ``openai`` SDK parsing
them is the test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from govproxy.standin.call import Call
from govproxy.standin.echo import (
    all_strings,
    chunk_text,
    dumps,
    embedding_vector,
    estimate_tokens,
    floats_to_base64,
    sse,
    text_of_content,
    tool_arguments_json,
    truncate_to_tokens,
    wants_tool_call,
)
from govproxy.standin.errors import Family, error_response, request_id_header
from govproxy.standin.http11 import Reply, Response, StreamingResponse, random_id

MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5", "text-embedding-3-small", "text-embedding-3-large")


def _json_headers() -> list[tuple[str, str]]:
    return [
        ("content-type", "application/json"),
        request_id_header(Family.OPENAI),
        ("openai-processing-ms", "1"),
        ("openai-version", "2020-10-01"),
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("x-ratelimit-reset-requests", "6ms"),
    ]


def _sse_headers() -> list[tuple[str, str]]:
    h = _json_headers()
    h[0] = ("content-type", "text/event-stream; charset=utf-8")
    return h + [("cache-control", "no-cache")]


def _stream(call: Call, chunks: Iterator[bytes] | list[bytes]) -> StreamingResponse:
    return StreamingResponse(
        status=200,
        headers=_sse_headers(),
        chunks=chunks,
        chunk_delay=call.options.chunk_delay,
    )


# ---------------------------------------------------------------- chat completions


def _last_chat_input(messages: list[Any]) -> str:
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") in ("user", "tool"):
            return text_of_content(msg.get("content"))
    return ""


def _first_tool_name(tools: Any) -> str | None:
    if not isinstance(tools, list):
        return None
    for tool in tools:
        if isinstance(tool, dict):
            fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                return str(fn["name"])
    return None


def _chat_usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


_SAFE = {"filtered": False, "severity": "safe"}


def _content_filter_results() -> dict[str, Any]:
    """Azure OpenAI's per-choice moderation annotation (all categories safe)."""
    return {"hate": dict(_SAFE), "self_harm": dict(_SAFE), "sexual": dict(_SAFE), "violence": dict(_SAFE)}


def _prompt_filter_results() -> list[dict[str, Any]]:
    results = _content_filter_results()
    results["jailbreak"] = {"filtered": False, "detected": False}
    return [{"prompt_index": 0, "content_filter_results": results}]


def chat_completions(call: Call) -> Reply:
    body = call.body
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error_response(Family.OPENAI, 400, "'messages' is a required property and must be a non-empty array")
    if not body.get("model"):
        return error_response(Family.OPENAI, 400, "you must provide a model parameter")
    model = call.model
    user_text = _last_chat_input(messages)
    tool_name = _first_tool_name(body.get("tools"))
    tool_call = tool_name is not None and wants_tool_call(user_text, True)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    reply, cut = truncate_to_tokens("" if tool_call else call.options.echo_prefix + user_text, limit, call.options.honour_max_tokens)
    args = tool_arguments_json(user_text) if tool_call else ""
    prompt_tokens = estimate_tokens(all_strings(messages))
    completion_tokens = estimate_tokens(args if tool_call else reply)
    cid = random_id("chatcmpl-", 29)
    call_id = random_id("call_", 24)
    created = int(time.time())
    finish = "tool_calls" if tool_call else "length" if cut else "stop"
    azure = "deployment" in call.path_params  # Azure adds content-filter annotations

    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": None if tool_call else reply, "refusal": None, "annotations": []}
        if tool_call:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": tool_name, "arguments": args}}
            ]
        choice: dict[str, Any] = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        out: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [choice],
            "usage": _chat_usage(prompt_tokens, completion_tokens),
            "service_tier": "default",
            "system_fingerprint": "fp_standin",
        }
        if azure:
            out["prompt_filter_results"] = _prompt_filter_results()
            choice["content_filter_results"] = _content_filter_results()
        return Response(200, _json_headers(), dumps(out))

    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        obj: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_standin",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if azure and delta.get("content"):
            obj["choices"][0]["content_filter_results"] = _content_filter_results()
        if include_usage:
            obj["usage"] = None
        return sse(obj)

    def events() -> Iterator[bytes]:
        if azure:  # Azure's first event: prompt annotations only, empty choices and ids
            yield sse(
                {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": _prompt_filter_results()}
            )
        if tool_call:
            yield chunk(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"index": 0, "id": call_id, "type": "function", "function": {"name": tool_name, "arguments": ""}}
                    ],
                    "refusal": None,
                }
            )
            for piece in chunk_text(args, call.options.chunk_size):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        else:
            yield chunk({"role": "assistant", "content": "", "refusal": None})
            for piece in chunk_text(reply, call.options.chunk_size):
                if piece:
                    yield chunk({"content": piece})
        yield chunk({}, finish)
        if include_usage:
            yield sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "service_tier": "default",
                    "system_fingerprint": "fp_standin",
                    "choices": [],
                    "usage": _chat_usage(prompt_tokens, completion_tokens),
                }
            )
        yield b"data: [DONE]\n\n"

    return _stream(call, events())


# ---------------------------------------------------------------- legacy completions


def completions(call: Call) -> Reply:
    prompt = call.body.get("prompt", "")
    text = prompt if isinstance(prompt, str) else " ".join(p for p in prompt if isinstance(p, str)) if isinstance(prompt, list) else ""
    reply = call.options.echo_prefix + text
    p, c = estimate_tokens(text), estimate_tokens(reply)
    cid = random_id("cmpl-", 29)
    created = int(time.time())
    if not call.body.get("stream"):
        out = {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": call.model,
            "choices": [{"text": reply, "index": 0, "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
        }
        return Response(200, _json_headers(), dumps(out))

    def events() -> Iterator[bytes]:
        pieces = chunk_text(reply, call.options.chunk_size)
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            yield sse(
                {
                    "id": cid,
                    "object": "text_completion",
                    "created": created,
                    "model": call.model,
                    "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": "stop" if last else None}],
                }
            )
        yield b"data: [DONE]\n\n"

    return _stream(call, events())


# ---------------------------------------------------------------- Responses API


def _last_responses_input(inp: Any) -> str:
    if isinstance(inp, str):
        return inp
    if isinstance(inp, list):
        for item in reversed(inp):
            if not isinstance(item, dict):
                continue
            if item.get("type") == "function_call_output":
                out = item.get("output")
                return out if isinstance(out, str) else text_of_content(out)
            if item.get("role") == "user" or (item.get("type") == "message" and item.get("role") == "user"):
                return text_of_content(item.get("content"))
    return ""


def _first_function_tool(tools: Any) -> str | None:
    if not isinstance(tools, list):
        return None
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("name"), str):
            return str(tool["name"])
    return None


def responses(call: Call) -> Reply:
    body = call.body
    if not body.get("model"):
        return error_response(Family.OPENAI, 400, "Missing required parameter: 'model'.")
    if "input" not in body and "previous_response_id" not in body:
        return error_response(Family.OPENAI, 400, "Missing required parameter: 'input'.")
    model = call.model
    user_text = _last_responses_input(body.get("input"))
    tool_name = _first_function_tool(body.get("tools"))
    tool_call = tool_name is not None and wants_tool_call(user_text, True)
    reply, cut = truncate_to_tokens(
        "" if tool_call else call.options.echo_prefix + user_text, body.get("max_output_tokens"), call.options.honour_max_tokens
    )
    final_status = "incomplete" if cut else "completed"
    args = tool_arguments_json(user_text) if tool_call else ""
    in_tokens = estimate_tokens(all_strings([body.get("instructions"), body.get("input")]))
    out_tokens = estimate_tokens(args if tool_call else reply)
    rid = random_id("resp_", 48)
    item_id = random_id("fc_" if tool_call else "msg_", 48)
    call_id = random_id("call_", 24)
    created = int(time.time())

    def envelope(status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "id": rid,
            "object": "response",
            "created_at": created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if cut and status == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": usage,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    usage = {
        "input_tokens": in_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": in_tokens + out_tokens,
    }
    text_part = {"type": "output_text", "text": reply, "annotations": [], "logprobs": []}
    if tool_call:
        done_item: dict[str, Any] = {
            "type": "function_call",
            "id": item_id,
            "call_id": call_id,
            "name": tool_name,
            "arguments": args,
            "status": "completed",
        }
    else:
        done_item = {
            "type": "message",
            "id": item_id,
            "status": "incomplete" if cut else "completed",
            "role": "assistant",
            "content": [text_part],
        }

    if not body.get("stream"):
        return Response(200, _json_headers(), dumps(envelope(final_status, [done_item], usage)))

    seq = 0

    def ev(obj: dict[str, Any]) -> bytes:
        nonlocal seq
        obj["sequence_number"] = seq
        seq += 1
        return sse(obj, event=obj["type"])

    def events() -> Iterator[bytes]:
        yield ev({"type": "response.created", "response": envelope("in_progress", [], None)})
        yield ev({"type": "response.in_progress", "response": envelope("in_progress", [], None)})
        if tool_call:
            yield ev(
                {
                    "type": "response.output_item.added",
                    "output_index": 0,
                    "item": {**done_item, "arguments": "", "status": "in_progress"},
                }
            )
            for piece in chunk_text(args, call.options.chunk_size):
                yield ev(
                    {
                        "type": "response.function_call_arguments.delta",
                        "item_id": item_id,
                        "output_index": 0,
                        "delta": piece,
                    }
                )
            yield ev(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item_id,
                    "output_index": 0,
                    "name": tool_name,
                    "arguments": args,
                }
            )
        else:
            yield ev(
                {
                    "type": "response.output_item.added",
                    "output_index": 0,
                    "item": {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []},
                }
            )
            yield ev(
                {
                    "type": "response.content_part.added",
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                }
            )
            for piece in chunk_text(reply, call.options.chunk_size):
                if piece:
                    yield ev(
                        {
                            "type": "response.output_text.delta",
                            "item_id": item_id,
                            "output_index": 0,
                            "content_index": 0,
                            "delta": piece,
                            "logprobs": [],
                        }
                    )
            yield ev(
                {
                    "type": "response.output_text.done",
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "text": reply,
                    "logprobs": [],
                }
            )
            yield ev(
                {
                    "type": "response.content_part.done",
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "part": text_part,
                }
            )
        yield ev({"type": "response.output_item.done", "output_index": 0, "item": done_item})
        final_event = "response.incomplete" if cut else "response.completed"
        yield ev({"type": final_event, "response": envelope(final_status, [done_item], usage)})

    return _stream(call, events())


# ---------------------------------------------------------------- embeddings and models


def embeddings(call: Call) -> Reply:
    inp = call.body.get("input")
    if isinstance(inp, str):
        texts = [inp]
    elif isinstance(inp, list) and inp and all(isinstance(x, str) for x in inp):
        texts = list(inp)
    elif isinstance(inp, list) and inp and all(isinstance(x, int) for x in inp):
        texts = [" ".join(map(str, inp))]  # one token array
    elif isinstance(inp, list) and inp and all(isinstance(x, list) for x in inp):
        texts = [" ".join(map(str, x)) for x in inp]
    else:
        return error_response(Family.OPENAI, 400, "'input' must be a string, an array of strings or token arrays")
    if not call.body.get("model"):
        return error_response(Family.OPENAI, 400, "you must provide a model parameter")
    dims = call.body.get("dimensions") or call.options.embedding_dimensions
    if not isinstance(dims, int) or dims < 1:
        return error_response(Family.OPENAI, 400, "'dimensions' must be a positive integer")
    b64 = call.body.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(texts):
        vec = embedding_vector(text, dims)
        data.append({"object": "embedding", "index": i, "embedding": floats_to_base64(vec) if b64 else vec})
    tokens = sum(estimate_tokens(t) for t in texts)
    out = {
        "object": "list",
        "data": data,
        "model": call.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Response(200, _json_headers(), dumps(out))


def list_models(call: Call) -> Reply:
    data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "system"} for m in MODELS]
    return Response(200, _json_headers(), dumps({"object": "list", "data": data}))


def retrieve_model(call: Call) -> Reply:
    name = call.path_params.get("model", "")
    return Response(
        200, _json_headers(), dumps({"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "system"})
    )
