"""What the translator produces parses with the official SDKs, over a real loopback socket."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from govproxy.models import ProviderKind as K
from govproxy.translate import TranslatedRequest

from ._gateway import Gateway
from ._samples import (
    ANTHROPIC_STREAM,
    EXPECTED_TEXT_RESTORED,
    GEMINI_STREAM,
    OPENAI_STREAM,
    Restorer,
    anthropic_sse,
)

WEATHER_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WEATHER_ANTHROPIC = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}

UPSTREAM_JSON = {
    K.ANTHROPIC: {
        "id": "msg_01A",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [
            {"type": "text", "text": "Let me check."},
            {
                "type": "tool_use",
                "id": "toolu_01B",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 10},
    },
    K.OPENAI_COMPATIBLE: {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 1732000000,
        "model": "llama3.1:8b",
        "system_fingerprint": "fp_ollama",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Let me check.",
                    "tool_calls": [
                        {
                            "id": "call_7",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"city":"Paris"}',
                            },
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
    },
    K.GEMINI: {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "Let me check."},
                        {
                            "functionCall": {
                                "name": "get_weather",
                                "args": {"city": "Paris"},
                            }
                        },
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 20,
            "candidatesTokenCount": 10,
            "totalTokenCount": 30,
        },
        "modelVersion": "gemini-2.0-flash",
        "responseId": "resp-1",
    },
}
UPSTREAM_SSE = {
    K.ANTHROPIC: ANTHROPIC_STREAM,
    K.OPENAI_COMPATIBLE: OPENAI_STREAM,
    K.GEMINI: GEMINI_STREAM,
}


def canned(kind: K, stream_body: bytes | None = None):
    def answer(tr: TranslatedRequest) -> tuple[int, bytes]:
        if tr.body.get("stream") or "streamGenerateContent" in tr.path:
            return 200, stream_body if stream_body is not None else UPSTREAM_SSE[kind]
        return 200, json.dumps(UPSTREAM_JSON[kind]).encode()

    return answer


def oai(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gw.url + "/v1", api_key="sk-test", max_retries=0, timeout=10
    )


def anth(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=gw.url, api_key="sk-ant-test", max_retries=0, timeout=10
    )


OPENAI_TARGETS = [K.ANTHROPIC, K.GEMINI]
ANTHROPIC_TARGETS = [K.OPENAI_COMPATIBLE, K.GEMINI]


@pytest.mark.parametrize("upstream", OPENAI_TARGETS)
def test_openai_sdk_non_streaming_with_tool_call(upstream: K) -> None:
    with Gateway(K.OPENAI, upstream, canned(upstream)) as gw:
        resp = oai(gw).chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
            ],
            tools=[WEATHER_OPENAI],
            max_tokens=50,
        )
    msg = resp.choices[0].message
    assert resp.model == "gpt-4o"
    assert msg.content == "Let me check."
    assert msg.tool_calls and msg.tool_calls[0].function.name == "get_weather"
    assert json.loads(msg.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.usage and (
        resp.usage.prompt_tokens,
        resp.usage.completion_tokens,
        resp.usage.total_tokens,
    ) == (20, 10, 30)
    sent = gw.seen[0]
    if upstream is K.ANTHROPIC:
        assert (
            sent.path == "/v1/messages"
            and sent.body["system"] == "Be brief."
            and sent.body["max_tokens"] == 50
        )
        assert sent.body["tools"][0]["input_schema"]["required"] == ["city"]
    else:
        assert sent.path == "/v1beta/models/upstream-model:generateContent"
        assert sent.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


@pytest.mark.parametrize("upstream", OPENAI_TARGETS + [K.OPENAI_COMPATIBLE])
def test_openai_sdk_streaming_with_tool_call_and_restore(upstream: K) -> None:
    with Gateway(K.OPENAI, upstream, canned(upstream), transform=Restorer) as gw:
        client = oai(gw)
        with client.chat.completions.stream(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Weather for <PERSON_1>?"}],
            tools=[WEATHER_OPENAI],
            stream_options={"include_usage": True},
        ) as stream:
            deltas = [e.delta for e in stream if e.type == "content.delta"]
            final = stream.get_final_completion()
    msg = final.choices[0].message
    assert "".join(deltas) == EXPECTED_TEXT_RESTORED
    assert msg.content == EXPECTED_TEXT_RESTORED
    assert msg.tool_calls[0].function.name == "get_weather"
    assert json.loads(msg.tool_calls[0].function.arguments) == {"city": "Alice Martin"}
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None and final.usage.completion_tokens == 17


def test_openai_sdk_raw_stream_without_usage_option() -> None:
    with Gateway(K.OPENAI, K.ANTHROPIC, canned(K.ANTHROPIC)) as gw:
        chunks = list(
            oai(gw).chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
            )
        )
    assert all(len(c.choices) == 1 for c in chunks)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks)
        == "Hello <PERSON_1>, the weather in Paris is é."
    )
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert gw.seen[0].body["stream"] is True


@pytest.mark.parametrize("upstream", ANTHROPIC_TARGETS)
def test_anthropic_sdk_non_streaming_with_tool_use(upstream: K) -> None:
    with Gateway(K.ANTHROPIC, upstream, canned(upstream)) as gw:
        msg = anth(gw).messages.create(
            model="claude-test",
            max_tokens=64,
            system="Be brief.",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_ANTHROPIC],
        )
    assert msg.model == "claude-test"
    assert [b.type for b in msg.content] == ["text", "tool_use"]
    assert msg.content[0].text == "Let me check."
    tool = msg.content[1]
    assert tool.name == "get_weather" and tool.input == {"city": "Paris"} and tool.id
    assert msg.stop_reason == "tool_use"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (20, 10)
    sent = gw.seen[0]
    if upstream is K.OPENAI_COMPATIBLE:
        assert sent.path == "/chat/completions"
        assert sent.body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent.body["max_tokens"] == 64


@pytest.mark.parametrize("upstream", ANTHROPIC_TARGETS)
def test_anthropic_sdk_streaming_with_tool_use_and_restore(upstream: K) -> None:
    with (
        Gateway(K.ANTHROPIC, upstream, canned(upstream), transform=Restorer) as gw,
        anth(gw).messages.stream(
            model="claude-test",
            max_tokens=64,
            messages=[{"role": "user", "content": "Weather for <PERSON_1>?"}],
            tools=[WEATHER_ANTHROPIC],
        ) as stream,
    ):
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == EXPECTED_TEXT_RESTORED
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"city": "Alice Martin"}
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == 17 and final.usage.input_tokens == 31
    assert final.model == "claude-test"


def test_anthropic_sdk_same_format_stream_restores_placeholders() -> None:
    with (
        Gateway(
            K.ANTHROPIC, K.ANTHROPIC, canned(K.ANTHROPIC), transform=Restorer
        ) as gw,
        anth(gw).messages.stream(
            model="claude-test",
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
        ) as stream,
    ):
        final = stream.get_final_message()
    assert final.content[0].text == EXPECTED_TEXT_RESTORED
    assert final.content[1].input == {"city": "Alice Martin"}


def test_tool_result_turn_round_trips_through_translation() -> None:
    """The second turn (tool result) sent by the openai SDK reaches Anthropic as a tool_result."""
    with Gateway(K.OPENAI, K.ANTHROPIC, canned(K.ANTHROPIC)) as gw:
        client = oai(gw)
        first = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_OPENAI],
        )
        call = first.choices[0].message.tool_calls[0]
        client.chat.completions.create(
            model="gpt-4o",
            tools=[WEATHER_OPENAI],
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                first.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "18°C, sunny"},
            ],
        )
    msgs = gw.seen[1].body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    tool_use = next(b for b in msgs[1]["content"] if b["type"] == "tool_use")
    tool_result = msgs[2]["content"][0]
    assert tool_use["id"] == tool_result["tool_use_id"] == "toolu_01B"
    assert tool_result["content"] == "18°C, sunny"


def test_tool_result_turn_to_gemini_names_the_function() -> None:
    with Gateway(K.ANTHROPIC, K.GEMINI, canned(K.GEMINI)) as gw:
        client = anth(gw)
        first = client.messages.create(
            model="claude-test",
            max_tokens=64,
            messages=[{"role": "user", "content": "Paris?"}],
            tools=[WEATHER_ANTHROPIC],
        )
        tool = first.content[1]
        client.messages.create(
            model="claude-test",
            max_tokens=64,
            tools=[WEATHER_ANTHROPIC],
            messages=[
                {"role": "user", "content": "Paris?"},
                {
                    "role": "assistant",
                    "content": [b.model_dump() for b in first.content],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": tool.id,
                            "content": "18°C",
                        }
                    ],
                },
            ],
        )
    contents = gw.seen[1].body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[2]["parts"][0] == {
        "functionResponse": {"name": "get_weather", "response": {"output": "18°C"}}
    }


@pytest.mark.parametrize(
    ("upstream", "status", "body", "exc"),
    [
        (
            K.ANTHROPIC,
            429,
            {
                "type": "error",
                "error": {"type": "rate_limit_error", "message": "slow down"},
            },
            openai.RateLimitError,
        ),
        (
            K.ANTHROPIC,
            529,
            {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
            openai.InternalServerError,
        ),
        (
            K.GEMINI,
            400,
            {
                "error": {
                    "code": 400,
                    "message": "bad field",
                    "status": "INVALID_ARGUMENT",
                }
            },
            openai.BadRequestError,
        ),
        (
            K.GEMINI,
            403,
            {
                "error": {
                    "code": 403,
                    "message": "no access",
                    "status": "PERMISSION_DENIED",
                }
            },
            openai.PermissionDeniedError,
        ),
    ],
)
def test_upstream_errors_raise_the_openai_sdks_exception(
    upstream: K, status: int, body: dict, exc: type
) -> None:
    with (
        Gateway(
            K.OPENAI, upstream, lambda tr: (status, json.dumps(body).encode())
        ) as gw,
        pytest.raises(exc) as info,
    ):
        oai(gw).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    assert body["error"]["message"] in str(info.value)


@pytest.mark.parametrize(
    ("status", "body", "exc", "etype"),
    [
        (401, {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}}, anthropic.AuthenticationError, "authentication_error"),
        (429, {"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"}}, anthropic.RateLimitError, "rate_limit_error"),
        (500, {"error": "model crashed"}, anthropic.InternalServerError, "api_error"),
    ],
)  # fmt: skip
def test_upstream_errors_raise_the_anthropic_sdks_exception(
    status: int, body: dict, exc: type, etype: str
) -> None:
    with (
        Gateway(
            K.ANTHROPIC,
            K.OPENAI_COMPATIBLE,
            lambda tr: (status, json.dumps(body).encode()),
        ) as gw,
        pytest.raises(exc) as info,
    ):
        anth(gw).messages.create(
            model="claude-test",
            max_tokens=8,
            messages=[{"role": "user", "content": "hi"}],
        )
    assert info.value.body["error"]["type"] == etype  # type: ignore[index]


def test_error_event_mid_stream_raises_in_the_openai_sdk() -> None:
    broken = ANTHROPIC_STREAM.split(b"event: content_block_stop")[0] + anthropic_sse(
        {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }
    )
    with Gateway(K.OPENAI, K.ANTHROPIC, canned(K.ANTHROPIC, broken)) as gw:
        stream = oai(gw).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises(openai.APIError, match="Overloaded"):
            for _ in stream:
                pass


def test_error_event_mid_stream_raises_in_the_anthropic_sdk() -> None:
    broken = OPENAI_STREAM.split(
        b'data: {"id": "chatcmpl-AbC123", "object": "chat.completion.chunk", "created": 1732000000, "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1", "choices": [{"index": 0, "delta": {"tool_calls"'
    )[0]
    broken += b'data: {"error": {"message": "context overflow", "type": "invalid_request_error"}}\n\n'
    with (
        Gateway(
            K.ANTHROPIC, K.OPENAI_COMPATIBLE, canned(K.OPENAI_COMPATIBLE, broken)
        ) as gw,
        pytest.raises(anthropic.APIStatusError, match="context overflow"),
        anth(gw).messages.stream(
            model="c", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        ) as s,
    ):
        s.get_final_message()


def test_anthropic_sdk_plain_text_stream_cut_by_max_tokens_from_gemini() -> None:
    sse = b"".join(
        b"data: " + json.dumps(c).encode() + b"\r\n\r\n"
        for c in [
            {"candidates": [{"content": {"parts": [{"text": "Once upon"}], "role": "model"}, "index": 0}], "modelVersion": "g"},
            {
                "candidates": [{"content": {"parts": [{"text": " a time"}], "role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}],
                "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7},
                "modelVersion": "g",
            },
        ]
    )  # fmt: skip
    with (
        Gateway(K.ANTHROPIC, K.GEMINI, canned(K.GEMINI, sse)) as gw,
        anth(gw).messages.stream(
            model="claude-test",
            max_tokens=3,
            messages=[{"role": "user", "content": "story"}],
        ) as s,
    ):
        final = s.get_final_message()
    assert [b.type for b in final.content] == ["text"] and final.content[
        0
    ].text == "Once upon a time"
    assert final.stop_reason == "max_tokens"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, 3)
    assert gw.seen[0].body["generationConfig"]["maxOutputTokens"] == 3
