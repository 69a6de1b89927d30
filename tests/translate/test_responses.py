"""Non-streaming responses, errors, usage extraction and the JSON text-transform seam."""

from __future__ import annotations

import copy
import json

import pytest

from govproxy.models import ProviderKind as K
from govproxy.translate import (
    extract_usage,
    transform_json_response,
    translate_error,
    translate_response,
)

from .test_sdk_parse import UPSTREAM_JSON

OPENAI_RESP = UPSTREAM_JSON[K.OPENAI_COMPATIBLE]
ANTHROPIC_RESP = UPSTREAM_JSON[K.ANTHROPIC]
GEMINI_RESP = UPSTREAM_JSON[K.GEMINI]
RESPONSES = {K.OPENAI: OPENAI_RESP, K.ANTHROPIC: ANTHROPIC_RESP, K.GEMINI: GEMINI_RESP}


def _assemble(
    kind: K, body: dict
) -> tuple[str, list[tuple[str, dict]], str, tuple[int, int]]:
    if kind is K.OPENAI:
        msg = body["choices"][0]["message"]
        tools = [
            (t["function"]["name"], json.loads(t["function"]["arguments"]))
            for t in msg.get("tool_calls") or ()
        ]
        u = body["usage"]
        return (
            msg["content"] or "",
            tools,
            body["choices"][0]["finish_reason"],
            (u["prompt_tokens"], u["completion_tokens"]),
        )
    if kind is K.ANTHROPIC:
        text = "".join(b["text"] for b in body["content"] if b["type"] == "text")
        tools = [
            (b["name"], b["input"]) for b in body["content"] if b["type"] == "tool_use"
        ]
        u = body["usage"]
        return text, tools, body["stop_reason"], (u["input_tokens"], u["output_tokens"])
    parts = body["candidates"][0]["content"]["parts"]
    text = "".join(p.get("text", "") for p in parts)
    tools = [
        (p["functionCall"]["name"], p["functionCall"]["args"])
        for p in parts
        if "functionCall" in p
    ]
    u = body["usageMetadata"]
    return (
        text,
        tools,
        body["candidates"][0]["finishReason"],
        (u["promptTokenCount"], u["candidatesTokenCount"]),
    )


STOPS = {K.OPENAI: "tool_calls", K.ANTHROPIC: "tool_use", K.GEMINI: "STOP"}


@pytest.mark.parametrize("src", list(RESPONSES))
@pytest.mark.parametrize("dst", list(RESPONSES))
def test_response_translation_keeps_text_tools_stop_and_usage(src: K, dst: K) -> None:
    original = copy.deepcopy(RESPONSES[src])
    out = translate_response(RESPONSES[src], src, dst, requested_model="asked-model")
    assert RESPONSES[src] == original, "input not mutated"
    text, tools, stop, usage = _assemble(dst, out)
    assert text == "Let me check."
    assert tools == [("get_weather", {"city": "Paris"})]
    assert stop == STOPS[dst]
    assert usage == (20, 10)
    if src is not dst:
        model_field = {
            K.OPENAI: "model",
            K.ANTHROPIC: "model",
            K.GEMINI: "modelVersion",
        }[dst]
        assert out[model_field] == "asked-model"


def test_openai_response_shape_for_the_sdk() -> None:
    out = translate_response(
        ANTHROPIC_RESP, K.ANTHROPIC, K.OPENAI, requested_model="gpt-4o"
    )
    assert out["object"] == "chat.completion" and isinstance(out["created"], int)
    assert out["usage"]["total_tokens"] == 30
    call = out["choices"][0]["message"]["tool_calls"][0]
    assert call["id"] == "toolu_01B" and call["type"] == "function"


@pytest.mark.parametrize(
    "anthropic_stop,openai_stop,gemini_stop",
    [("end_turn", "stop", "STOP"), ("max_tokens", "length", "MAX_TOKENS"), ("stop_sequence", "stop", "STOP"), ("refusal", "content_filter", "SAFETY")],
)  # fmt: skip
def test_stop_reason_mapping(
    anthropic_stop: str, openai_stop: str, gemini_stop: str
) -> None:
    body = {
        **ANTHROPIC_RESP,
        "content": [{"type": "text", "text": "x"}],
        "stop_reason": anthropic_stop,
        "stop_sequence": "END" if anthropic_stop == "stop_sequence" else None,
    }
    assert (
        translate_response(body, K.ANTHROPIC, K.OPENAI, requested_model="m")["choices"][
            0
        ]["finish_reason"]
        == openai_stop
    )
    assert (
        translate_response(body, K.ANTHROPIC, K.GEMINI, requested_model="m")[
            "candidates"
        ][0]["finishReason"]
        == gemini_stop
    )
    back = translate_response(
        translate_response(body, K.ANTHROPIC, K.OPENAI, requested_model="m"),
        K.OPENAI,
        K.ANTHROPIC,
        requested_model="m",
    )
    assert back["stop_reason"] == (
        "end_turn" if anthropic_stop == "stop_sequence" else anthropic_stop
    )


def test_anthropic_cached_input_tokens_count_as_input() -> None:
    body = {
        **ANTHROPIC_RESP,
        "usage": {
            "input_tokens": 5,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 10,
            "output_tokens": 3,
        },
    }
    assert (
        translate_response(body, K.ANTHROPIC, K.OPENAI, requested_model="m")["usage"][
            "prompt_tokens"
        ]
        == 115
    )
    assert extract_usage(body, K.ANTHROPIC) == (115, 3)


def test_gemini_blocked_prompt_becomes_content_filter() -> None:
    body = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3},
    }
    out = translate_response(body, K.GEMINI, K.OPENAI, requested_model="m")
    assert (
        out["choices"][0]["finish_reason"] == "content_filter"
        and out["choices"][0]["message"]["content"] is None
    )


def test_gemini_thought_parts_are_not_shown() -> None:
    body = copy.deepcopy(GEMINI_RESP)
    body["candidates"][0]["content"]["parts"].insert(
        0, {"text": "private reasoning", "thought": True}
    )
    body["usageMetadata"]["thoughtsTokenCount"] = 5
    out = translate_response(body, K.GEMINI, K.ANTHROPIC, requested_model="m")
    assert "private" not in json.dumps(out)
    assert out["usage"]["output_tokens"] == 15, "thinking tokens are billed as output"


@pytest.mark.parametrize(
    "kind,body,expected",
    [
        (K.OPENAI, OPENAI_RESP, (20, 10)),
        (K.ANTHROPIC, ANTHROPIC_RESP, (20, 10)),
        (K.GEMINI, GEMINI_RESP, (20, 10)),
        (K.OPENAI, {"id": "c", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}}, (4, 2)),
        (K.OPENAI, {"id": "c", "choices": [{"delta": {"content": "x"}}]}, None),
        (K.ANTHROPIC, {"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}}, (9, 1)),
        (K.ANTHROPIC, {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 12}}, (0, 12)),
        (K.ANTHROPIC, {"type": "ping"}, None),
        (K.GEMINI, {"candidates": [], "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3}}, (7, 3)),
        (K.OPENAI_COMPATIBLE, "not json", None),
    ],
)  # fmt: skip
def test_extract_usage(kind: K, body, expected) -> None:
    assert extract_usage(body, kind) == expected


@pytest.mark.parametrize(
    "src,status,body,dst,want_status,check",
    [
        (K.ANTHROPIC, 529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, K.OPENAI, 503,
         lambda b: b["error"]["message"] == "Overloaded" and b["error"]["type"] == "server_error"),
        (K.ANTHROPIC, 529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, K.GEMINI, 503,
         lambda b: b["error"] == {"code": 503, "message": "Overloaded", "status": "UNAVAILABLE"}),
        (K.OPENAI, 429, {"error": {"message": "Rate limit reached", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}, K.ANTHROPIC, 429,
         lambda b: b == {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached"}}),
        (K.GEMINI, 400, {"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}}, K.OPENAI, 400,
         lambda b: b["error"]["type"] == "invalid_request_error" and b["error"]["message"] == "Invalid JSON payload"),
        (K.GEMINI, 429, {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}, K.ANTHROPIC, 429,
         lambda b: b["error"]["type"] == "rate_limit_error"),
        (K.OPENAI_COMPATIBLE, 500, {"error": "model not loaded"}, K.ANTHROPIC, 500,
         lambda b: b["error"] == {"type": "api_error", "message": "model not loaded"}),
        (K.OPENAI_COMPATIBLE, 502, "<html>bad gateway</html>", K.OPENAI, 502,
         lambda b: b["error"]["message"] == "upstream error (HTTP 502)"),
        (K.ANTHROPIC, 529, {"type": "error", "error": {"type": "overloaded_error", "message": "x"}}, K.ANTHROPIC, 529,
         lambda b: b["error"]["type"] == "overloaded_error"),
    ],
)  # fmt: skip
def test_translate_error(src, status, body, dst, want_status, check) -> None:
    got_status, got = translate_error(status, body, src, dst)
    assert got_status == want_status
    assert check(got), got


class _Counter:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, s: str) -> str:
        self.calls.append(s)
        return s.replace("<PERSON_1>", 'Alice "Al" Martin')


@pytest.mark.parametrize("kind", [K.OPENAI, K.ANTHROPIC, K.GEMINI])
def test_transform_json_response_rewrites_text_and_tool_arguments(kind: K) -> None:
    body = (
        translate_response(ANTHROPIC_RESP, K.ANTHROPIC, kind, requested_model="m")
        if kind is not K.ANTHROPIC
        else copy.deepcopy(ANTHROPIC_RESP)
    )
    text, tools, *_ = _assemble(kind, body)
    # put placeholders in the text and in a tool argument
    if kind is K.OPENAI:
        body["choices"][0]["message"]["content"] = "Hi <PERSON_1>"
        body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = (
            '{"city": "Paris", "who": "<PERSON_1>"}'
        )
    elif kind is K.ANTHROPIC:
        body["content"][0]["text"] = "Hi <PERSON_1>"
        body["content"][1]["input"]["who"] = "<PERSON_1>"
    else:
        body["candidates"][0]["content"]["parts"][0]["text"] = "Hi <PERSON_1>"
        body["candidates"][0]["content"]["parts"][1]["functionCall"]["args"]["who"] = (
            "<PERSON_1>"
        )
    fn = _Counter()
    out = transform_json_response(body, kind, fn)
    text, tools, *_ = _assemble(kind, out)
    assert text == 'Hi Alice "Al" Martin'
    # the restored value is a proper JSON string value (quotes escaped), not spliced text
    assert tools == [("get_weather", {"city": "Paris", "who": 'Alice "Al" Martin'})]
    assert "m" not in fn.calls and "get_weather" not in fn.calls, (
        "only content is transformed, not names or models"
    )


def test_compatible_server_sending_arguments_as_an_object_is_understood() -> None:
    body = copy.deepcopy(OPENAI_RESP)
    body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = {
        "city": "Paris"
    }
    out = translate_response(
        body, K.OPENAI_COMPATIBLE, K.ANTHROPIC, requested_model="c"
    )
    assert out["content"][1]["input"] == {"city": "Paris"}
