"""OpenAI Chat Completions (also Azure OpenAI and OpenAI-compatible servers) ⇄ neutral shape."""

from __future__ import annotations

import time
from typing import Any

from govproxy.models import ProviderKind
from govproxy.translate import ir
from govproxy.translate.common import (
    append_message,
    as_int,
    data_url,
    dump_args,
    media_from_url,
    new_id,
    require_dict,
)
from govproxy.translate.errors import TranslationError
from govproxy.translate.ir import (
    ChatRequest,
    ChatResponse,
    Media,
    Part,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
)

STOP_IN = {
    "stop": ir.STOP_END,
    "length": ir.STOP_LENGTH,
    "tool_calls": ir.STOP_TOOL,
    "function_call": ir.STOP_TOOL,
    "content_filter": ir.STOP_FILTER,
}
STOP_OUT = {
    ir.STOP_END: "stop",
    ir.STOP_SEQUENCE: "stop",
    ir.STOP_LENGTH: "length",
    ir.STOP_TOOL: "tool_calls",
    ir.STOP_FILTER: "content_filter",
}
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


# ----------------------------------------------------------------------------- requests


def args_text(value: Any) -> str:
    """Arguments are JSON text in OpenAI's format; some compatible servers send an object."""
    if isinstance(value, str):
        return value
    return "" if value is None else dump_args(value)


def _content_parts(content: Any, where: str) -> list[str | Media]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        raise TranslationError(f"{where}: content must be a string or a list of parts")
    out: list[str | Media] = []
    for part in content:
        if not isinstance(part, dict):
            raise TranslationError(f"{where}: content parts must be objects")
        ptype = part.get("type")
        if ptype == "text":
            if part.get("text"):
                out.append(part["text"])
        elif ptype == "refusal":
            if part.get("refusal"):
                out.append(part["refusal"])
        elif ptype == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise TranslationError(f"{where}: image_url part without a url")
            out.append(media_from_url(url))
        elif ptype == "file":
            f = part.get("file") or {}
            if not isinstance(f.get("file_data"), str):
                raise TranslationError(
                    f"{where}: only inline file_data file parts can be translated"
                )
            out.append(media_from_url(f["file_data"]))
        else:
            raise TranslationError(
                f"{where}: content part type {ptype!r} cannot be translated"
            )
    return out


def read_request(body: Any) -> ChatRequest:
    body = require_dict(body, "openai request")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise TranslationError("openai request: 'messages' must be a list")
    req = ChatRequest()
    for i, m in enumerate(messages):
        where = f"openai request: messages[{i}]"
        if not isinstance(m, dict):
            raise TranslationError(f"{where} must be an object")
        role = m.get("role")
        if role in ("system", "developer"):
            req.system.extend(
                p for p in _content_parts(m.get("content"), where) if isinstance(p, str)
            )
        elif role == "user":
            append_message(
                req.messages, "user", list(_content_parts(m.get("content"), where))
            )
        elif role == "assistant":
            parts: list[Part] = [
                p for p in _content_parts(m.get("content"), where) if isinstance(p, str)
            ]
            if m.get("refusal"):
                parts.append(m["refusal"])
            for tc in m.get("tool_calls") or ():
                fn = tc.get("function") or {}
                parts.append(
                    ToolCall(
                        tc.get("id") or new_id("call_"),
                        fn.get("name") or "",
                        args_text(fn.get("arguments")),
                    )
                )
            fc = m.get("function_call")
            if isinstance(fc, dict):
                parts.append(
                    ToolCall(
                        new_id("call_"),
                        fc.get("name") or "",
                        args_text(fc.get("arguments")),
                    )
                )
            append_message(req.messages, "assistant", parts)
        elif role == "tool":
            result = ToolResult(
                m.get("tool_call_id") or "",
                _content_parts(m.get("content"), where),
                name=m.get("name"),
            )
            append_message(req.messages, "user", [result])
        elif role == "function":  # legacy functions API: results are matched by name
            result = ToolResult(
                "", _content_parts(m.get("content"), where), name=m.get("name")
            )
            append_message(req.messages, "user", [result])
        else:
            raise TranslationError(f"{where}: unknown role {role!r}")
    for t in body.get("tools") or ():
        if t.get("type", "function") != "function":
            raise TranslationError(
                f"openai request: tool type {t.get('type')!r} cannot be translated"
            )
        fn = t.get("function") or {}
        req.tools.append(
            Tool(
                fn.get("name") or "",
                fn.get("description"),
                fn.get("parameters") or dict(_EMPTY_SCHEMA),
            )
        )
    for fn in body.get("functions") or ():
        req.tools.append(
            Tool(
                fn.get("name") or "",
                fn.get("description"),
                fn.get("parameters") or dict(_EMPTY_SCHEMA),
            )
        )
    choice = body.get("tool_choice", body.get("function_call"))
    if isinstance(choice, str):
        req.tool_choice = choice
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        req.tool_choice, req.tool_choice_name = "tool", name
    req.parallel_tool_calls = body.get("parallel_tool_calls")
    req.temperature = body.get("temperature")
    req.top_p = body.get("top_p")
    req.max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    stop = body.get("stop")
    req.stop = [stop] if isinstance(stop, str) else list(stop or ())
    req.seed = body.get("seed")
    req.presence_penalty = body.get("presence_penalty")
    req.frequency_penalty = body.get("frequency_penalty")
    req.n = body.get("n")
    req.user = body.get("user")
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_object":
            req.json_mode = True
        elif fmt.get("type") == "json_schema":
            req.json_mode = True
            req.json_schema = (fmt.get("json_schema") or {}).get("schema")
    return req


def _user_content(parts: list[str | Media]) -> str | list[dict[str, Any]]:
    if all(isinstance(p, str) for p in parts):
        return "".join(parts)  # type: ignore[arg-type]
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, str):
            out.append({"type": "text", "text": p})
        elif p.media_type.startswith("image/"):
            out.append({"type": "image_url", "image_url": {"url": data_url(p)}})
        elif p.data is not None:
            out.append({"type": "file", "file": {"file_data": data_url(p)}})
        else:
            raise TranslationError(
                "openai request: non-image media can only be sent inline"
            )
    return out


def write_request(
    req: ChatRequest, model: str, stream: bool, kind: ProviderKind
) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": "\n\n".join(req.system)})
    for m in req.messages:
        if m.role == "assistant":
            text = "".join(p for p in m.parts if isinstance(p, str))
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            calls = [
                {
                    "id": p.id,
                    "type": "function",
                    "function": {"name": p.name, "arguments": p.arguments or "{}"},
                }
                for p in m.parts
                if isinstance(p, ToolCall)
            ]
            if calls:
                msg["tool_calls"] = calls
            messages.append(msg)
            continue
        pending: list[str | Media] = []
        for p in m.parts:
            if isinstance(p, ToolResult):
                # Tool results must directly follow the assistant's tool calls, so they go first.
                content = "".join(c for c in p.content if isinstance(c, str))
                messages.append(
                    {"role": "tool", "tool_call_id": p.call_id, "content": content}
                )
                pending.extend(c for c in p.content if isinstance(c, Media))
            elif isinstance(p, (str, Media)):
                pending.append(p)
        if pending:
            messages.append({"role": "user", "content": _user_content(pending)})
    body: dict[str, Any] = {"model": model, "messages": messages}
    if req.tools:
        body["tools"] = [
            {"type": "function", "function": _function(t)} for t in req.tools
        ]
        if req.tool_choice == "tool":
            body["tool_choice"] = {
                "type": "function",
                "function": {"name": req.tool_choice_name},
            }
        elif req.tool_choice in ("auto", "none", "required"):
            body["tool_choice"] = req.tool_choice
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    for key, value in (
        ("temperature", req.temperature),
        ("top_p", req.top_p),
        ("seed", req.seed),
        ("presence_penalty", req.presence_penalty),
        ("frequency_penalty", req.frequency_penalty),
        ("n", req.n),
        ("user", req.user),
    ):
        if value is not None:
            body[key] = value
    if req.max_tokens is not None:
        # OpenAI deprecated max_tokens (reasoning models reject it); compatible servers know only max_tokens.
        key = (
            "max_tokens"
            if kind is ProviderKind.OPENAI_COMPATIBLE
            else "max_completion_tokens"
        )
        body[key] = req.max_tokens
    if req.stop:
        body["stop"] = req.stop
    if req.json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": req.json_schema},
        }
    elif req.json_mode:
        body["response_format"] = {"type": "json_object"}
    if stream:
        body["stream"] = True
        # Ask for the final usage chunk so the router can bill; the translator drops it
        # for clients that did not ask for it themselves.
        body["stream_options"] = {"include_usage": True}
    return body


def _function(t: Tool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": t.name}
    if t.description:
        fn["description"] = t.description
    fn["parameters"] = t.parameters
    return fn


# ----------------------------------------------------------------------------- responses


def read_usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    return Usage(
        as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens"))
    )


def read_response(body: Any) -> ChatResponse:
    body = require_dict(body, "openai response")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise TranslationError("openai response: no choices")
    choice = choices[0]
    msg = choice.get("message") or {}
    parts: list[str | ToolCall] = []
    content = msg.get("content")
    if isinstance(content, str) and content:
        parts.append(content)
    elif isinstance(content, list):
        parts.extend(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    if msg.get("refusal"):
        parts.append(msg["refusal"])
    for tc in msg.get("tool_calls") or ():
        fn = tc.get("function") or {}
        parts.append(
            ToolCall(
                tc.get("id") or new_id("call_"),
                fn.get("name") or "",
                args_text(fn.get("arguments")),
            )
        )
    fc = msg.get("function_call")
    if isinstance(fc, dict):
        parts.append(
            ToolCall(
                new_id("call_"), fc.get("name") or "", args_text(fc.get("arguments"))
            )
        )
    stop = STOP_IN.get(choice.get("finish_reason") or "stop", ir.STOP_END)
    return ChatResponse(
        id=str(body.get("id") or new_id("chatcmpl-")),
        model=str(body.get("model") or ""),
        parts=parts,
        stop=stop,
        usage=read_usage(body.get("usage")),
    )


def write_response(resp: ChatResponse, model: str) -> dict[str, Any]:
    text = "".join(p for p in resp.parts if isinstance(p, str))
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text or None,
        "refusal": None,
    }
    calls = [
        {
            "id": p.id,
            "type": "function",
            "function": {"name": p.name, "arguments": p.arguments or "{}"},
        }
        for p in resp.parts
        if isinstance(p, ToolCall)
    ]
    if calls:
        message["tool_calls"] = calls
    body: dict[str, Any] = {
        "id": resp.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": STOP_OUT[resp.stop],
            }
        ],
    }
    if resp.usage is not None:
        body["usage"] = usage_body(resp.usage)
    return body


def usage_body(u: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
    }
