"""Gemini-format output parsed by the official google-genai SDK (skipped when it is not installed)."""

from __future__ import annotations

import json

import pytest

from govproxy.models import ProviderKind as K

from ._gateway import Gateway
from ._samples import EXPECTED_TEXT_RESTORED, Restorer
from .test_sdk_parse import canned

genai = pytest.importorskip("google.genai", reason="google-genai SDK not installed")
types = pytest.importorskip("google.genai.types")

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}},
        "required": ["city"],
    },
}


def client(gw: Gateway):  # type: ignore[no-untyped-def]
    return genai.Client(
        api_key="test-key", http_options=types.HttpOptions(base_url=gw.url)
    )


@pytest.fixture
def keep():  # type: ignore[no-untyped-def]
    """The SDK closes its HTTP client when the Client object is collected: hold it for the test."""
    made: list = []

    def make(gw: Gateway):  # type: ignore[no-untyped-def]
        made.append(client(gw))
        return made[-1]

    yield make
    made.clear()


def config():  # type: ignore[no-untyped-def]
    return types.GenerateContentConfig(
        system_instruction="Be brief.",
        tools=[
            types.Tool(function_declarations=[types.FunctionDeclaration(**WEATHER)])
        ],
        max_output_tokens=64,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


@pytest.mark.parametrize("upstream", [K.ANTHROPIC, K.OPENAI_COMPATIBLE])
def test_gemini_sdk_non_streaming_with_function_call(upstream: K, keep) -> None:
    with Gateway(K.GEMINI, upstream, canned(upstream)) as gw:
        resp = keep(gw).models.generate_content(
            model="gemini-2.0-flash", contents="Weather in Paris?", config=config()
        )
    assert resp.text == "Let me check."
    call = resp.function_calls[0]
    assert call.name == "get_weather" and call.args == {"city": "Paris"}
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    usage = resp.usage_metadata
    assert (
        usage.prompt_token_count,
        usage.candidates_token_count,
        usage.total_token_count,
    ) == (20, 10, 30)
    sent = gw.seen[0].body
    if upstream is K.ANTHROPIC:
        assert sent["system"] == "Be brief." and sent["max_tokens"] == 64
        assert sent["tools"][0]["input_schema"]["properties"] == {
            "city": {"type": "string"}
        }
    else:
        assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("upstream", [K.ANTHROPIC, K.OPENAI_COMPATIBLE])
def test_gemini_sdk_streaming_with_function_call_and_restore(upstream: K, keep) -> None:
    with Gateway(K.GEMINI, upstream, canned(upstream), transform=Restorer) as gw:
        chunks = list(
            keep(gw).models.generate_content_stream(
                model="gemini-2.0-flash", contents="Weather?", config=config()
            )
        )
    text = "".join(
        c.text or ""
        for c in chunks
        if c.candidates and c.candidates[0].content and c.candidates[0].content.parts
    )
    assert text == EXPECTED_TEXT_RESTORED
    calls = [fc for c in chunks for fc in (c.function_calls or [])]
    assert [(fc.name, fc.args) for fc in calls] == [
        ("get_weather", {"city": "Alice Martin"})
    ]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count == 17
    assert "streamGenerateContent" not in gw.seen[0].path


def test_gemini_sdk_function_response_turn_reaches_openai_as_tool_message() -> None:
    with Gateway(K.GEMINI, K.OPENAI_COMPATIBLE, canned(K.OPENAI_COMPATIBLE)) as gw:
        c = client(gw)
        first = c.models.generate_content(
            model="gemini-2.0-flash", contents="Weather in Paris?", config=config()
        )
        history = [
            types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
            first.candidates[0].content,
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(
                        name="get_weather", response={"output": "18C"}
                    )
                ],
            ),
        ]
        c.models.generate_content(
            model="gemini-2.0-flash", contents=history, config=config()
        )
    msgs = gw.seen[1].body["messages"]
    call = msgs[2]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert msgs[3] == {"role": "tool", "tool_call_id": call["id"], "content": "18C"}


def test_gemini_sdk_error_translated_from_anthropic(keep) -> None:
    body = {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }
    with (
        Gateway(
            K.GEMINI, K.ANTHROPIC, lambda tr: (429, json.dumps(body).encode())
        ) as gw,
        pytest.raises(genai.errors.ClientError) as info,
    ):
        keep(gw).models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert (
        info.value.code == 429
        and info.value.status == "RESOURCE_EXHAUSTED"
        and "slow down" in str(info.value)
    )
