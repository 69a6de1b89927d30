"""Anthropic Messages ⇄ neutral shape."""

from __future__ import annotations

import re
from typing import Any

from govproxy.translate import ir
from govproxy.translate.common import (
    append_message,
    args_to_dict,
    as_int,
    dump_args,
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

DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; other formats may omit it.

STOP_IN = {
    "end_turn": ir.STOP_END,
    "max_tokens": ir.STOP_LENGTH,
    "stop_sequence": ir.STOP_SEQUENCE,
    "tool_use": ir.STOP_TOOL,
    "pause_turn": ir.STOP_END,
    "refusal": ir.STOP_FILTER,
    "model_context_window_exceeded": ir.STOP_LENGTH,
}
STOP_OUT = {
    ir.STOP_END: "end_turn",
    ir.STOP_LENGTH: "max_tokens",
    ir.STOP_SEQUENCE: "stop_sequence",
    ir.STOP_TOOL: "tool_use",
    ir.STOP_FILTER: "refusal",
}
_SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def json_instruction(schema: dict[str, Any] | None) -> str:
    """Anthropic has no JSON response mode; the request's intent is carried as an instruction."""
    text = "Respond with a single JSON object and nothing else."
    if schema is not None:
        text += " It must validate against this JSON Schema: " + dump_args(schema)
    return text


def tool_id(raw: str) -> str:
    """Anthropic insists on ``^[a-zA-Z0-9_-]+$`` ids; other vendors' ids are mapped deterministically
    (the same id maps the same way in the tool_use and its tool_result)."""
    if not raw:
        return new_id("toolu_")
    return _BAD_ID_CHARS.sub("_", raw)


# ----------------------------------------------------------------------------- requests


def _media(block: dict[str, Any], where: str) -> Media:
    src = block.get("source") or {}
    stype = src.get("type")
    if stype == "base64":
        return Media(
            src.get("media_type") or "application/octet-stream",
            data=src.get("data") or "",
        )
    if stype == "url":
        url = src.get("url") or ""
        return Media(
            "application/pdf" if block.get("type") == "document" else "image/jpeg",
            url=url,
        )
    raise TranslationError(
        f"{where}: {block.get('type')} source type {stype!r} cannot be translated"
    )


def _blocks(content: Any, where: str) -> list[Part]:
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        raise TranslationError(f"{where}: content must be a string or a list of blocks")
    out: list[Part] = []
    for b in content:
        if not isinstance(b, dict):
            raise TranslationError(f"{where}: content blocks must be objects")
        btype = b.get("type")
        if btype == "text":
            if b.get("text"):
                out.append(b["text"])
        elif btype in ("image", "document"):
            src = b.get("source") or {}
            if btype == "document" and src.get("type") == "text":
                out.append(src.get("data") or "")
            else:
                out.append(_media(b, where))
        elif btype == "tool_use":
            out.append(
                ToolCall(
                    b.get("id") or new_id("toolu_"),
                    b.get("name") or "",
                    dump_args(b.get("input")),
                )
            )
        elif btype == "tool_result":
            inner = b.get("content")
            parts = (
                [p for p in _blocks(inner, where) if isinstance(p, (str, Media))]
                if inner is not None
                else []
            )
            out.append(
                ToolResult(
                    b.get("tool_use_id") or "", parts, is_error=bool(b.get("is_error"))
                )
            )
        elif btype in _SKIPPED_BLOCKS:
            continue  # signed reasoning is only valid when replayed to Anthropic itself
        else:
            raise TranslationError(
                f"{where}: content block type {btype!r} cannot be translated"
            )
    return out


def read_request(body: Any) -> ChatRequest:
    body = require_dict(body, "anthropic request")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise TranslationError("anthropic request: 'messages' must be a list")
    req = ChatRequest()
    system = body.get("system")
    if isinstance(system, str):
        if system:
            req.system.append(system)
    elif isinstance(system, list):
        req.system.extend(
            b.get("text", "")
            for b in system
            if isinstance(b, dict) and b.get("type") == "text"
        )
    for i, m in enumerate(messages):
        where = f"anthropic request: messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise TranslationError(f"{where}: role must be 'user' or 'assistant'")
        append_message(req.messages, m["role"], _blocks(m.get("content"), where))
    for t in body.get("tools") or ():
        if t.get("type") not in (None, "custom"):
            raise TranslationError(
                f"anthropic request: server tool {t.get('type')!r} cannot be translated"
            )
        req.tools.append(
            Tool(
                t.get("name") or "",
                t.get("description"),
                t.get("input_schema") or {"type": "object"},
            )
        )
    tc = body.get("tool_choice")
    if isinstance(tc, dict):
        ctype = tc.get("type")
        req.tool_choice = {
            "auto": "auto",
            "any": "required",
            "none": "none",
            "tool": "tool",
        }.get(str(ctype))
        req.tool_choice_name = tc.get("name")
        if tc.get("disable_parallel_tool_use") is not None:
            req.parallel_tool_calls = not tc["disable_parallel_tool_use"]
    req.temperature = body.get("temperature")
    req.top_p = body.get("top_p")
    req.top_k = body.get("top_k")
    req.max_tokens = body.get("max_tokens")
    req.stop = list(body.get("stop_sequences") or ())
    meta = body.get("metadata")
    if isinstance(meta, dict):
        req.user = meta.get("user_id")
    return req


def _media_block(m: Media) -> dict[str, Any]:
    btype = "image" if m.media_type.startswith("image/") else "document"
    if m.data is not None:
        return {
            "type": btype,
            "source": {"type": "base64", "media_type": m.media_type, "data": m.data},
        }
    return {"type": btype, "source": {"type": "url", "url": m.url}}


def _out_blocks(parts: list[Part]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    results = [p for p in parts if isinstance(p, ToolResult)]
    # Anthropic wants tool_result blocks first in their user turn.
    for p in results + [p for p in parts if not isinstance(p, ToolResult)]:
        if isinstance(p, str):
            if p:
                blocks.append({"type": "text", "text": p})
        elif isinstance(p, Media):
            blocks.append(_media_block(p))
        elif isinstance(p, ToolCall):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": tool_id(p.id),
                    "name": p.name,
                    "input": args_to_dict(p.arguments),
                }
            )
        else:
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": tool_id(p.call_id),
            }
            if all(isinstance(c, str) for c in p.content):
                block["content"] = "".join(p.content)  # type: ignore[arg-type]
            else:
                block["content"] = [
                    {"type": "text", "text": c}
                    if isinstance(c, str)
                    else _media_block(c)
                    for c in p.content
                ]
            if p.is_error:
                block["is_error"] = True
            blocks.append(block)
    return blocks


def write_request(
    req: ChatRequest,
    model: str,
    stream: bool,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
) -> dict[str, Any]:
    if req.n is not None and req.n > 1:
        raise TranslationError("anthropic cannot return several choices (n > 1)")
    messages: list[dict[str, Any]] = []
    for m in req.messages:
        blocks = _out_blocks(m.parts)
        if not blocks:
            continue
        if messages and messages[-1]["role"] == m.role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": m.role, "content": blocks})
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": req.max_tokens or default_max_tokens,
        "messages": messages,
    }
    system = list(req.system)
    if req.json_mode:
        system.append(json_instruction(req.json_schema))
    if system:
        body["system"] = "\n\n".join(system)
    if req.tools:
        body["tools"] = [
            {
                "name": t.name,
                **({"description": t.description} if t.description else {}),
                "input_schema": t.parameters
                if t.parameters.get("type") == "object"
                else {"type": "object", **t.parameters},
            }
            for t in req.tools
        ]
        choices: dict[str, dict[str, Any]] = {
            "required": {"type": "any"},
            "tool": {"type": "tool", "name": req.tool_choice_name},
            "none": {"type": "none"},
            "auto": {"type": "auto"},
        }
        choice = choices.get(req.tool_choice or "")
        if req.parallel_tool_calls is False and (
            choice is None or choice["type"] != "none"
        ):
            choice = choice or {"type": "auto"}
            choice["disable_parallel_tool_use"] = True
        if choice is not None:
            body["tool_choice"] = choice
    if req.temperature is not None:
        body["temperature"] = min(
            float(req.temperature), 1.0
        )  # Anthropic's range is 0..1, OpenAI's 0..2
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.top_k is not None:
        body["top_k"] = req.top_k
    if req.stop:
        body["stop_sequences"] = req.stop
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if stream:
        body["stream"] = True
    return body


# ----------------------------------------------------------------------------- responses


def read_usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    inp = (
        as_int(usage.get("input_tokens"))
        + as_int(usage.get("cache_creation_input_tokens"))
        + as_int(usage.get("cache_read_input_tokens"))
    )
    return Usage(inp, as_int(usage.get("output_tokens")))


def read_response(body: Any) -> ChatResponse:
    body = require_dict(body, "anthropic response")
    content = body.get("content")
    if not isinstance(content, list):
        raise TranslationError("anthropic response: 'content' must be a list")
    parts: list[str | ToolCall] = []
    for b in content:
        if not isinstance(b, dict):
            continue
        if b.get("type") == "text":
            parts.append(b.get("text") or "")
        elif b.get("type") == "tool_use":
            parts.append(
                ToolCall(
                    b.get("id") or new_id("toolu_"),
                    b.get("name") or "",
                    dump_args(b.get("input")),
                )
            )
    return ChatResponse(
        id=str(body.get("id") or new_id("msg_")),
        model=str(body.get("model") or ""),
        parts=parts,
        stop=STOP_IN.get(body.get("stop_reason") or "end_turn", ir.STOP_END),
        stop_sequence=body.get("stop_sequence"),
        usage=read_usage(body.get("usage")),
    )


def write_response(resp: ChatResponse, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for p in resp.parts:
        if isinstance(p, str):
            if p:
                content.append({"type": "text", "text": p})
        else:
            content.append(
                {
                    "type": "tool_use",
                    "id": tool_id(p.id),
                    "name": p.name,
                    "input": args_to_dict(p.arguments),
                }
            )
    usage = resp.usage or Usage(0, 0)
    return {
        "id": resp.id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_OUT[resp.stop],
        "stop_sequence": resp.stop_sequence if resp.stop == ir.STOP_SEQUENCE else None,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
        },
    }
