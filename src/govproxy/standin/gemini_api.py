"""Gemini (Generative Language API) wire format.

``models/{m}:generateContent`` returns one ``GenerateContentResponse``;
``:streamGenerateContent`` returns a series of them, framed as SSE (``data: …`` records)
with ``?alt=sse`` and as one incrementally written JSON array without it. Each record
carries a slice of text; the last one carries ``finishReason`` and ``usageMetadata``.
There is no ``[DONE]`` sentinel. Field names are the REST API's camelCase.
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
    tool_arguments,
    truncate_to_tokens,
    wants_tool_call,
)
from govproxy.standin.errors import Family, error_response, request_id_header
from govproxy.standin.http11 import Reply, Response, StreamingResponse, random_id

MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001", "text-embedding-004")


def _headers(content_type: str = "application/json; charset=UTF-8") -> list[tuple[str, str]]:
    return [("content-type", content_type), request_id_header(Family.GEMINI), ("vary", "Origin, X-Origin, Referer")]


def _parts_text(parts: Any) -> str:
    out: list[str] = []
    if isinstance(parts, list):
        for part in parts:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                out.append(part["text"])
            fr = part.get("functionResponse") or part.get("function_response")
            if isinstance(fr, dict):
                out.append(all_strings(fr.get("response")))
    return "\n".join(out)


def _last_user_text(contents: list[Any]) -> str:
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") in ("user", "function", "tool"):
            return _parts_text(content.get("parts"))
    return ""


def _first_function(tools: Any) -> str | None:
    if not isinstance(tools, list):
        return None
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        decls = tool.get("functionDeclarations") or tool.get("function_declarations") or []
        for decl in decls:
            if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                return str(decl["name"])
    return None


def _contents(call: Call) -> list[Any] | Response:
    contents = call.body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        return error_response(Family.GEMINI, 400, "* GenerateContentRequest.contents: contents is not specified")
    return contents


def _usage(prompt: int, candidates: int) -> dict[str, Any]:
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }


class _Plan:
    """What the echo model answers for one generateContent request."""

    def __init__(self, call: Call, contents: list[Any]) -> None:
        user_text = _last_user_text(contents)
        self.function = _first_function(call.body.get("tools"))
        self.tool_call = self.function is not None and wants_tool_call(user_text, True)
        config = call.body.get("generationConfig") or call.body.get("generation_config") or {}
        limit = config.get("maxOutputTokens", config.get("max_output_tokens")) if isinstance(config, dict) else None
        self.reply, self.cut = truncate_to_tokens(
            call.options.echo_prefix + user_text, limit, call.options.honour_max_tokens
        )
        self.tool_call = self.tool_call and not self.cut
        self.args = tool_arguments(user_text)
        system = call.body.get("systemInstruction") or call.body.get("system_instruction")
        self.prompt_tokens = estimate_tokens(all_strings([system, contents]))
        self.out_tokens = estimate_tokens(all_strings(self.args) if self.tool_call else self.reply)
        self.model = call.model
        self.response_id = random_id("", 22)

    def record(self, parts: list[dict[str, Any]], final: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        out: dict[str, Any] = {"candidates": [candidate]}
        if final:
            candidate["finishReason"] = "MAX_TOKENS" if self.cut else "STOP"
            out["usageMetadata"] = _usage(self.prompt_tokens, self.out_tokens)
        else:
            out["usageMetadata"] = {"promptTokenCount": self.prompt_tokens, "totalTokenCount": self.prompt_tokens}
        out["modelVersion"] = self.model
        out["responseId"] = self.response_id
        return out

    def full_parts(self) -> list[dict[str, Any]]:
        if self.tool_call:
            return [{"functionCall": {"name": self.function, "args": self.args}}]
        return [{"text": self.reply}]

    def stream_records(self, chunk_size: int) -> Iterator[dict[str, Any]]:
        if self.tool_call:
            yield self.record(self.full_parts(), final=True)
            return
        pieces = chunk_text(self.reply, chunk_size)
        for i, piece in enumerate(pieces):
            yield self.record([{"text": piece}], final=i == len(pieces) - 1)


def generate_content(call: Call) -> Reply:
    contents = _contents(call)
    if isinstance(contents, Response):
        return contents
    plan = _Plan(call, contents)
    return Response(200, _headers(), dumps(plan.record(plan.full_parts(), final=True)))


def stream_generate_content(call: Call) -> Reply:
    contents = _contents(call)
    if isinstance(contents, Response):
        return contents
    plan = _Plan(call, contents)
    records = plan.stream_records(call.options.chunk_size)
    if call.request.query_param("alt") == "sse":

        def sse_events() -> Iterator[bytes]:
            for rec in records:
                yield b"data: " + dumps(rec) + b"\r\n\r\n"

        return StreamingResponse(
            200,
            _headers("text/event-stream"),
            sse_events(),
            chunk_delay=call.options.chunk_delay,
        )

    def json_array() -> Iterator[bytes]:
        first = True
        for rec in records:
            yield (b"[" if first else b",\r\n") + dumps(rec)
            first = False
        yield b"]"

    return StreamingResponse(
        200,
        _headers(),
        json_array(),
        chunk_delay=call.options.chunk_delay,
    )


def _embed_text(req: Any) -> str | None:
    if not isinstance(req, dict):
        return None
    content = req.get("content")
    if not isinstance(content, dict):
        return None
    return _parts_text(content.get("parts"))


def _dims(call: Call, req: dict[str, Any]) -> int:
    d = req.get("outputDimensionality") or req.get("output_dimensionality")
    return d if isinstance(d, int) and d > 0 else call.options.embedding_dimensions


def embed_content(call: Call) -> Reply:
    text = _embed_text(call.body)
    if text is None:
        return error_response(Family.GEMINI, 400, "* EmbedContentRequest.content: content is not specified")
    return Response(200, _headers(), dumps({"embedding": {"values": embedding_vector(text, _dims(call, call.body))}}))


def batch_embed_contents(call: Call) -> Reply:
    reqs = call.body.get("requests")
    if not isinstance(reqs, list) or not reqs:
        return error_response(Family.GEMINI, 400, "* BatchEmbedContentsRequest.requests: requests is not specified")
    out = []
    for r in reqs:
        text = _embed_text(r)
        if text is None:
            return error_response(Family.GEMINI, 400, "* EmbedContentRequest.content: content is not specified")
        out.append({"values": embedding_vector(text, _dims(call, r))})
    return Response(200, _headers(), dumps({"embeddings": out}))


def count_tokens(call: Call) -> Reply:
    contents = call.body.get("contents")
    if contents is None and isinstance(call.body.get("generateContentRequest"), dict):
        contents = call.body["generateContentRequest"].get("contents")
    n = estimate_tokens(all_strings(contents or []))
    return Response(200, _headers(), dumps({"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]}))


def _model_info(name: str) -> dict[str, Any]:
    embed = "embed" in name
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": name,
        "description": "stand-in model",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["embedContent"] if embed else ["generateContent", "countTokens"],
    }


def list_models(call: Call) -> Reply:
    return Response(200, _headers(), dumps({"models": [_model_info(m) for m in MODELS]}))


def get_model(call: Call) -> Reply:
    return Response(200, _headers(), dumps(_model_info(call.path_params.get("model", ""))))
