"""Gemini generateContent ⇄ neutral shape.

Gemini has no tool-call ids (older models) and matches a ``functionResponse`` to its call
by function name, so reading assigns ids in order and writing looks the name up from the
assistant turn that made the call.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from typing import Any

from govproxy.translate import ir
from govproxy.translate.common import (
    append_message,
    args_to_dict,
    as_int,
    dump_args,
    first,
    new_id,
    require_dict,
)
from govproxy.translate.errors import TranslationError
from govproxy.translate.ir import (
    ChatRequest,
    ChatResponse,
    Media,
    Part,
    Role,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
)

STOP_IN = {
    "STOP": ir.STOP_END,
    "MAX_TOKENS": ir.STOP_LENGTH,
    "SAFETY": ir.STOP_FILTER,
    "RECITATION": ir.STOP_FILTER,
    "BLOCKLIST": ir.STOP_FILTER,
    "PROHIBITED_CONTENT": ir.STOP_FILTER,
    "SPII": ir.STOP_FILTER,
    "IMAGE_SAFETY": ir.STOP_FILTER,
}
STOP_OUT = {
    ir.STOP_END: "STOP",
    ir.STOP_SEQUENCE: "STOP",
    ir.STOP_TOOL: "STOP",
    ir.STOP_LENGTH: "MAX_TOKENS",
    ir.STOP_FILTER: "SAFETY",
}
SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator"
# The OpenAPI subset Gemini's Schema accepts; other JSON Schema keywords are rejected upstream.
_SCHEMA_KEYS = frozenset(
    {
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
        "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
        "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum",
    }
)  # fmt: skip


def gemini_schema(schema: Any) -> Any:
    """JSON Schema (OpenAI/Anthropic tools) → Gemini's Schema object."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "const":
            out["enum"] = [value]
        elif key == "type" and isinstance(value, list):
            kinds = [v for v in value if v != "null"]
            out["type"] = kinds[0] if kinds else "string"
            if "null" in value:
                out["nullable"] = True
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {k: gemini_schema(v) for k, v in value.items()}
        elif key == "items":
            out["items"] = gemini_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            out["anyOf"] = [gemini_schema(v) for v in value]
        elif key in _SCHEMA_KEYS:
            out[key] = value
    return out


# ----------------------------------------------------------------------------- requests


def _read_parts(parts: Any, where: str, calls: dict[str, deque[str]]) -> list[Part]:
    if not isinstance(parts, list):
        raise TranslationError(f"{where}: 'parts' must be a list")
    out: list[Part] = []
    for p in parts:
        if not isinstance(p, dict):
            raise TranslationError(f"{where}: parts must be objects")
        if p.get("thought"):
            continue
        if "text" in p:
            if p["text"]:
                out.append(p["text"])
        elif (inline := first(p, "inlineData", "inline_data")) is not None:
            out.append(
                Media(
                    first(inline, "mimeType", "mime_type")
                    or "application/octet-stream",
                    data=inline.get("data") or "",
                )
            )
        elif (fdata := first(p, "fileData", "file_data")) is not None:
            out.append(
                Media(
                    first(fdata, "mimeType", "mime_type") or "application/octet-stream",
                    url=first(fdata, "fileUri", "file_uri"),
                )
            )
        elif (fc := first(p, "functionCall", "function_call")) is not None:
            cid = fc.get("id") or new_id("call_")
            calls[fc.get("name") or ""].append(cid)
            out.append(ToolCall(cid, fc.get("name") or "", dump_args(fc.get("args"))))
        elif (fr := first(p, "functionResponse", "function_response")) is not None:
            name = fr.get("name") or ""
            pending = calls.get(name)
            cid = fr.get("id") or (pending.popleft() if pending else new_id("call_"))
            response = fr.get("response")
            if (
                isinstance(response, dict)
                and set(response) <= {"output", "error"}
                and len(response) == 1
            ):
                value = next(iter(response.values()))
                text = value if isinstance(value, str) else dump_args(value)
                out.append(
                    ToolResult(cid, [text], is_error="error" in response, name=name)
                )
            else:
                out.append(ToolResult(cid, [dump_args(response)], name=name))
        else:
            raise TranslationError(
                f"{where}: part kind {sorted(p)!r} cannot be translated"
            )
    return out


def read_request(body: Any) -> ChatRequest:
    body = require_dict(body, "gemini request")
    contents = body.get("contents")
    if not isinstance(contents, list):
        raise TranslationError("gemini request: 'contents' must be a list")
    req = ChatRequest()
    sys_inst = first(body, "systemInstruction", "system_instruction")
    if isinstance(sys_inst, dict):
        req.system.extend(
            p["text"]
            for p in sys_inst.get("parts") or ()
            if isinstance(p, dict) and p.get("text")
        )
    calls: dict[str, deque[str]] = defaultdict(deque)
    for i, c in enumerate(contents):
        where = f"gemini request: contents[{i}]"
        if not isinstance(c, dict):
            raise TranslationError(f"{where} must be an object")
        role: Role = "assistant" if c.get("role") == "model" else "user"
        append_message(req.messages, role, _read_parts(c.get("parts"), where, calls))
    for t in body.get("tools") or ():
        decls = first(t, "functionDeclarations", "function_declarations")
        if decls is None:
            raise TranslationError(
                f"gemini request: tool {sorted(t)!r} cannot be translated"
            )
        for d in decls:
            params = first(
                d, "parametersJsonSchema", "parameters_json_schema", "parameters"
            ) or {"type": "object", "properties": {}}
            req.tools.append(
                Tool(d.get("name") or "", d.get("description"), _lower_types(params))
            )
    tool_config = first(body, "toolConfig", "tool_config") or {}
    fcc = first(tool_config, "functionCallingConfig", "function_calling_config") or {}
    mode = fcc.get("mode")
    allowed = first(fcc, "allowedFunctionNames", "allowed_function_names") or []
    if mode == "ANY":
        if len(allowed) == 1:
            req.tool_choice, req.tool_choice_name = "tool", allowed[0]
        else:
            req.tool_choice = "required"
    elif mode == "NONE":
        req.tool_choice = "none"
    elif mode == "AUTO":
        req.tool_choice = "auto"
    gc = first(body, "generationConfig", "generation_config") or {}
    req.temperature = gc.get("temperature")
    req.top_p = first(gc, "topP", "top_p")
    req.top_k = first(gc, "topK", "top_k")
    req.max_tokens = first(gc, "maxOutputTokens", "max_output_tokens")
    req.stop = list(first(gc, "stopSequences", "stop_sequences") or ())
    req.seed = gc.get("seed")
    req.presence_penalty = first(gc, "presencePenalty", "presence_penalty")
    req.frequency_penalty = first(gc, "frequencyPenalty", "frequency_penalty")
    req.n = first(gc, "candidateCount", "candidate_count")
    if first(gc, "responseMimeType", "response_mime_type") == "application/json":
        req.json_mode = True
        schema = first(
            gc,
            "responseJsonSchema",
            "response_json_schema",
            "responseSchema",
            "response_schema",
        )
        req.json_schema = _lower_types(schema) if schema is not None else None
    return req


def _lower_types(schema: Any) -> Any:
    """Gemini schemas may spell types in upper case (``OBJECT``); JSON Schema wants lower case."""
    if isinstance(schema, dict):
        return {
            k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def _write_part(p: Part, names: dict[str, str]) -> dict[str, Any]:
    if isinstance(p, str):
        return {"text": p}
    if isinstance(p, Media):
        if p.data is not None:
            return {"inlineData": {"mimeType": p.media_type, "data": p.data}}
        return {"fileData": {"mimeType": p.media_type, "fileUri": p.url}}
    if isinstance(p, ToolCall):
        names[p.id] = p.name
        # Gemini 3 rejects replayed function calls without the thought signature it issued;
        # a call that came from another format has none, and this documented sentinel says so.
        return {
            "functionCall": {"name": p.name, "args": args_to_dict(p.arguments)},
            "thoughtSignature": SKIP_THOUGHT_SIGNATURE,
        }
    name = p.name or names.get(p.call_id)
    if not name:
        raise TranslationError(
            "gemini request: a tool result names no call made earlier in the conversation"
        )
    text = "".join(c for c in p.content if isinstance(c, str))
    try:
        value = json.loads(text) if text else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        value = {"error" if p.is_error else "output": text}
    return {"functionResponse": {"name": name, "response": value}}


def write_request(req: ChatRequest, model: str, stream: bool) -> dict[str, Any]:
    names: dict[str, str] = {}
    contents: list[dict[str, Any]] = []
    for m in req.messages:
        parts = [_write_part(p, names) for p in m.parts if p != ""]
        if parts:
            contents.append(
                {"role": "model" if m.role == "assistant" else "user", "parts": parts}
            )
    body: dict[str, Any] = {"contents": contents}
    if req.system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(req.system)}]}
    if req.tools:
        decls = []
        for t in req.tools:
            d: dict[str, Any] = {"name": t.name}
            if t.description:
                d["description"] = t.description
            schema = gemini_schema(t.parameters)
            if schema.get("properties"):
                d["parameters"] = schema
            decls.append(d)
        body["tools"] = [{"functionDeclarations": decls}]
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}.get(
            req.tool_choice or ""
        )
        if mode:
            fcc: dict[str, Any] = {"mode": mode}
            if req.tool_choice == "tool" and req.tool_choice_name:
                fcc["allowedFunctionNames"] = [req.tool_choice_name]
            body["toolConfig"] = {"functionCallingConfig": fcc}
    gc: dict[str, Any] = {}
    for key, value in (
        ("temperature", req.temperature),
        ("topP", req.top_p),
        ("topK", req.top_k),
        ("maxOutputTokens", req.max_tokens),
        ("seed", req.seed),
        ("presencePenalty", req.presence_penalty),
        ("frequencyPenalty", req.frequency_penalty),
        ("candidateCount", req.n),
    ):
        if value is not None:
            gc[key] = value
    if req.stop:
        gc["stopSequences"] = req.stop
    if req.json_mode:
        gc["responseMimeType"] = "application/json"
        if req.json_schema is not None:
            gc["responseSchema"] = gemini_schema(req.json_schema)
    if gc:
        body["generationConfig"] = gc
    return body


# ----------------------------------------------------------------------------- responses


def read_usage(meta: Any) -> Usage | None:
    if not isinstance(meta, dict):
        return None
    out = as_int(meta.get("candidatesTokenCount")) + int(
        meta.get("thoughtsTokenCount") or 0
    )
    return Usage(as_int(meta.get("promptTokenCount")), out)


def read_response(body: Any) -> ChatResponse:
    body = require_dict(body, "gemini response")
    candidates = body.get("candidates") or []
    parts: list[str | ToolCall] = []
    stop = ir.STOP_END
    if candidates:
        cand = candidates[0]
        for p in (cand.get("content") or {}).get("parts") or ():
            if p.get("thought"):
                continue
            if "text" in p:
                parts.append(p["text"])
            elif (fc := first(p, "functionCall", "function_call")) is not None:
                parts.append(
                    ToolCall(
                        fc.get("id") or new_id("call_"),
                        fc.get("name") or "",
                        dump_args(fc.get("args")),
                    )
                )
        stop = STOP_IN.get(
            first(cand, "finishReason", "finish_reason") or "STOP", ir.STOP_END
        )
        if stop == ir.STOP_END and any(isinstance(p, ToolCall) for p in parts):
            stop = ir.STOP_TOOL
    elif (body.get("promptFeedback") or {}).get("blockReason"):
        stop = ir.STOP_FILTER
    else:
        raise TranslationError("gemini response: no candidates")
    return ChatResponse(
        id=str(body.get("responseId") or new_id("chatcmpl-")),
        model=str(body.get("modelVersion") or ""),
        parts=parts,
        stop=stop,
        usage=read_usage(first(body, "usageMetadata", "usage_metadata")),
    )


def write_response(resp: ChatResponse, model: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for p in resp.parts:
        if isinstance(p, str):
            if p:
                parts.append({"text": p})
        else:
            parts.append(
                {"functionCall": {"name": p.name, "args": args_to_dict(p.arguments)}}
            )
    body: dict[str, Any] = {
        "candidates": [
            {
                "content": {"parts": parts, "role": "model"},
                "finishReason": STOP_OUT[resp.stop],
                "index": 0,
            }
        ],
        "modelVersion": model,
        "responseId": resp.id,
    }
    if resp.usage is not None:
        body["usageMetadata"] = usage_body(resp.usage)
    return body


def usage_body(u: Usage) -> dict[str, int]:
    return {
        "promptTokenCount": u.input_tokens,
        "candidatesTokenCount": u.output_tokens,
        "totalTokenCount": u.input_tokens + u.output_tokens,
    }
