"""Request translation: field by field in every direction, round trips, and refusals."""

from __future__ import annotations

import copy

import pytest

from govproxy.models import ProviderKind as K
from govproxy.translate import TranslationError, translate_request

from ._samples import WEATHER_TOOL_SCHEMA

IMG = "iVBORw0KGgo="

OPENAI_REQ = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {
            "role": "developer",
            "content": [{"type": "text", "text": "Answer in French."}],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture, and the weather?"},
                {
                    "type": "image_url",
                    "image_url": {
                        "url": f"data:image/png;base64,{IMG}",
                        "detail": "low",
                    },
                },
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city":"Paris"}',
                    },
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Lyon"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {
            "role": "tool",
            "tool_call_id": "call_2",
            "content": [{"type": "text", "text": "21C"}],
        },
        {"role": "user", "content": "Thanks"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather",
                "parameters": WEATHER_TOOL_SCHEMA,
            },
        }
    ],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False,
    "temperature": 0.3,
    "top_p": 0.9,
    "max_completion_tokens": 300,
    "stop": ["\n\n"],
    "seed": 7,
    "user": "user-42",
}

ANTHROPIC_REQ = {
    "model": "claude-test",
    "max_tokens": 256,
    "system": [{"type": "text", "text": "You are terse."}],
    "messages": [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": IMG,
                    },
                },
                {"type": "text", "text": "Weather?"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [{"type": "text", "text": "18C"}],
                    "is_error": False,
                },
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ],
    "tools": [
        {
            "name": "get_weather",
            "description": "Weather",
            "input_schema": WEATHER_TOOL_SCHEMA,
        }
    ],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    "temperature": 0.5,
    "top_k": 40,
    "stop_sequences": ["END"],
    "metadata": {"user_id": "u-1"},
    "stream": True,
}

GEMINI_REQ = {
    "systemInstruction": {"parts": [{"text": "You are terse."}]},
    "contents": [
        {"role": "user", "parts": [{"text": "Weather?"}, {"inlineData": {"mimeType": "image/png", "data": IMG}}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}}]},
    ],
    "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]}],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    "generationConfig": {"temperature": 0.2, "topP": 0.8, "topK": 20, "maxOutputTokens": 128, "stopSequences": ["END"], "candidateCount": 1},
}  # fmt: skip


def test_openai_to_anthropic_fields() -> None:
    tr = translate_request(
        OPENAI_REQ, K.OPENAI, K.ANTHROPIC, target_model="claude-x", stream=False
    )
    b = tr.body
    assert tr.path == "/v1/messages"
    assert tr.extra_headers["anthropic-version"] == "2023-06-01"
    assert b["model"] == "claude-x" and b["max_tokens"] == 300
    assert b["system"] == "You are terse.\n\nAnswer in French."
    assert [m["role"] for m in b["messages"]] == ["user", "assistant", "user"]
    user0 = b["messages"][0]["content"]
    assert user0[0] == {
        "type": "text",
        "text": "What is in this picture, and the weather?",
    }
    assert user0[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": IMG},
    }
    assistant = b["messages"][1]["content"]
    assert assistant[0] == {"type": "text", "text": "Checking."}
    assert assistant[1] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    results = b["messages"][2]["content"]
    # both tool results, first, then the user's text, in one user turn
    assert results[0] == {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "content": "18C",
    }
    assert results[1] == {
        "type": "tool_result",
        "tool_use_id": "call_2",
        "content": "21C",
    }
    assert results[2] == {"type": "text", "text": "Thanks"}
    assert b["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather",
            "input_schema": WEATHER_TOOL_SCHEMA,
        }
    ]
    assert b["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
    assert (b["temperature"], b["top_p"], b["stop_sequences"]) == (0.3, 0.9, ["\n\n"])
    assert b["metadata"] == {"user_id": "user-42"}
    assert "stream" not in b and "seed" not in b


def test_openai_to_gemini_fields() -> None:
    tr = translate_request(
        OPENAI_REQ, K.OPENAI, K.GEMINI, target_model="gemini-2.0-flash", stream=True
    )
    b = tr.body
    assert tr.path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    assert "model" not in b and "stream" not in b
    assert b["systemInstruction"] == {
        "parts": [{"text": "You are terse.\n\nAnswer in French."}]
    }
    assert [c["role"] for c in b["contents"]] == ["user", "model", "user"]
    assert b["contents"][0]["parts"][1] == {
        "inlineData": {"mimeType": "image/png", "data": IMG}
    }
    # Replayed calls carry Gemini's documented "no signature" sentinel (Gemini 3 requires one).
    sig = "skip_thought_signature_validator"
    assert b["contents"][1]["parts"] == [
        {"text": "Checking."},
        {
            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
            "thoughtSignature": sig,
        },
        {
            "functionCall": {"name": "get_weather", "args": {"city": "Lyon"}},
            "thoughtSignature": sig,
        },
    ]
    assert b["contents"][2]["parts"][:2] == [
        {"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}},
        {"functionResponse": {"name": "get_weather", "response": {"output": "21C"}}},
    ]
    decl = b["tools"][0]["functionDeclarations"][0]
    # JSON Schema keywords Gemini rejects are dropped; nullable unions become nullable
    assert decl["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}, "unit": {"type": "string", "nullable": True, "enum": ["c", "f"]}},
        "required": ["city"],
    }  # fmt: skip
    assert b["toolConfig"] == {
        "functionCallingConfig": {
            "mode": "ANY",
            "allowedFunctionNames": ["get_weather"],
        }
    }
    assert b["generationConfig"] == {
        "temperature": 0.3, "topP": 0.9, "maxOutputTokens": 300, "seed": 7, "stopSequences": ["\n\n"],
    }  # fmt: skip


def test_anthropic_to_openai_fields() -> None:
    tr = translate_request(
        ANTHROPIC_REQ, K.ANTHROPIC, K.OPENAI, target_model="gpt-4o-mini", stream=True
    )
    b = tr.body
    assert tr.path == "/chat/completions"
    assert b["messages"][0] == {"role": "system", "content": "You are terse."}
    assert b["messages"][1]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMG}"}},
        {"type": "text", "text": "Weather?"},
    ]
    assert b["messages"][2] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "toolu_01",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert b["messages"][3] == {
        "role": "tool",
        "tool_call_id": "toolu_01",
        "content": "18C",
    }
    assert b["messages"][4] == {"role": "user", "content": "And tomorrow?"}
    assert b["tool_choice"] == "required" and b["parallel_tool_calls"] is False
    assert (
        b["max_completion_tokens"] == 256
        and b["stop"] == ["END"]
        and b["user"] == "u-1"
    )
    assert b["stream"] is True and b["stream_options"] == {"include_usage": True}
    assert "top_k" not in b, "OpenAI has no top_k"
    assert "thinking" not in str(b)


def test_anthropic_to_openai_compatible_uses_max_tokens() -> None:
    b = translate_request(
        ANTHROPIC_REQ,
        K.ANTHROPIC,
        K.OPENAI_COMPATIBLE,
        target_model="llama3.1:8b",
        stream=False,
    ).body
    assert b["max_tokens"] == 256 and "max_completion_tokens" not in b
    assert "stream" not in b


def test_gemini_to_openai_links_function_response_to_generated_call_id() -> None:
    b = translate_request(
        GEMINI_REQ, K.GEMINI, K.OPENAI, target_model="gpt-4o", stream=False
    ).body
    call = b["messages"][2]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert b["messages"][3] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": "18C",
    }
    assert b["tools"][0]["function"]["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    assert b["tool_choice"] == "auto"
    assert (b["temperature"], b["top_p"], b["max_completion_tokens"], b["n"]) == (
        0.2,
        0.8,
        128,
        1,
    )


def test_gemini_to_anthropic() -> None:
    b = translate_request(
        GEMINI_REQ, K.GEMINI, K.ANTHROPIC, target_model="claude-x", stream=True
    ).body
    assert b["system"] == "You are terse." and b["stream"] is True and b["top_k"] == 20
    tool_use = b["messages"][1]["content"][0]
    assert b["messages"][2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": tool_use["id"],
        "content": "18C",
    }


def test_anthropic_temperature_is_clamped_and_max_tokens_defaulted() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 1.7,
    }
    b = translate_request(
        body,
        K.OPENAI,
        K.ANTHROPIC,
        target_model="c",
        stream=False,
        default_max_tokens=1000,
    ).body
    assert b["temperature"] == 1.0 and b["max_tokens"] == 1000


@pytest.mark.parametrize(
    "src,body",
    [(K.OPENAI, OPENAI_REQ), (K.ANTHROPIC, ANTHROPIC_REQ), (K.GEMINI, GEMINI_REQ)],
)
@pytest.mark.parametrize("via", [K.OPENAI, K.ANTHROPIC, K.GEMINI])
def test_round_trip_keeps_the_conversation(src: K, body: dict, via: K) -> None:
    """src → via → src keeps roles, texts, images, tool names/arguments and results."""
    original = copy.deepcopy(body)
    there = translate_request(body, src, via, target_model="t", stream=False).body
    back = translate_request(there, via, src, target_model="m", stream=False).body
    assert body == original, "translation never mutates its input"
    again = translate_request(back, src, via, target_model="t", stream=False).body
    if src is via:
        return
    # A second pass through the same pair is a fixed point (ids aside).
    assert _strip_ids(again) == _strip_ids(there)


def _strip_ids(v):
    if isinstance(v, dict):
        return {
            k: _strip_ids(x)
            for k, x in v.items()
            if k not in ("id", "tool_call_id", "tool_use_id")
        }
    if isinstance(v, list):
        return [_strip_ids(x) for x in v]
    return v


def test_same_family_keeps_vendor_fields_and_swaps_model() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "logit_bias": {"50256": -100},
        "max_completion_tokens": 9,
    }
    tr = translate_request(
        body, K.OPENAI, K.OPENAI_COMPATIBLE, target_model="llama3.1:8b", stream=False
    )
    assert tr.body == {
        "model": "llama3.1:8b",
        "messages": body["messages"],
        "logit_bias": {"50256": -100},
        "max_tokens": 9,
    }
    tr = translate_request(
        body, K.OPENAI, K.AZURE_OPENAI, target_model="my-deploy", stream=False
    )
    assert (
        tr.path
        == "/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21"
    )


@pytest.mark.parametrize(
    "src,dst,body,needle",
    [
        (K.OPENAI, K.ANTHROPIC, {"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}, "n > 1"),
        (K.OPENAI, K.ANTHROPIC, {"model": "m", "messages": "hi"}, "'messages' must be a list"),
        (K.OPENAI, K.GEMINI, {"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "unknown role"),
        (K.OPENAI, K.GEMINI, {"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input_audio"),
        (K.ANTHROPIC, K.OPENAI, {"model": "m", "max_tokens": 1, "messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "server tool"),
        (K.GEMINI, K.OPENAI, {"contents": [], "tools": [{"googleSearch": {}}]}, "cannot be translated"),
        (K.GEMINI, K.OPENAI, {"contents": [{"role": "user", "parts": [{"functionResponse": {"response": {}}}]}]}, None),
        (K.OPENAI, K.COHERE, {"model": "m", "messages": []}, "provider kind"),
        (K.OPENAI, K.GEMINI, ["not", "a", "dict"], "JSON object"),
    ],
)  # fmt: skip
def test_untranslatable_requests_raise_a_clear_error(
    src: K, dst: K, body, needle: str | None
) -> None:
    if needle is None:  # a tool result whose call cannot be found
        body = {
            "model": "m",
            "messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}],
        }
        with pytest.raises(TranslationError, match="names no call"):
            translate_request(body, K.OPENAI, K.GEMINI, target_model="g", stream=False)
        return
    with pytest.raises(TranslationError, match=needle):
        translate_request(body, src, dst, target_model="t", stream=False)


def test_error_messages_do_not_echo_prompt_content() -> None:
    secret = "my IBAN is DE89370400440532013000"
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": [{"type": "input_audio", "text": secret}]}
        ],
    }
    with pytest.raises(TranslationError) as info:
        translate_request(body, K.OPENAI, K.ANTHROPIC, target_model="c", stream=False)
    assert secret not in str(info.value)


def test_remote_image_urls_and_documents() -> None:
    body = {
        "model": "m",
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.test/cat.png?x=1"},
                    },
                    {
                        "type": "file",
                        "file": {
                            "file_data": "data:application/pdf;base64,JVBERi0=",
                            "filename": "a.pdf",
                        },
                    },
                ],
            }
        ],
    }
    a = translate_request(
        body, K.OPENAI, K.ANTHROPIC, target_model="c", stream=False
    ).body["messages"][0]["content"]
    assert a[0] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.test/cat.png?x=1"},
    }
    assert a[1] == {
        "type": "document",
        "source": {
            "type": "base64",
            "media_type": "application/pdf",
            "data": "JVBERi0=",
        },
    }
    g = translate_request(
        body, K.OPENAI, K.GEMINI, target_model="g", stream=False
    ).body["contents"][0]["parts"]
    assert g[0] == {
        "fileData": {
            "mimeType": "image/png",
            "fileUri": "https://example.test/cat.png?x=1",
        }
    }
    assert g[1] == {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}


def test_non_url_safe_tool_ids_are_mapped_consistently_for_anthropic() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call:1/a",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call:1/a", "content": "ok"},
        ],
    }
    msgs = translate_request(
        body, K.OPENAI, K.ANTHROPIC, target_model="c", stream=False
    ).body["messages"]
    assert (
        msgs[1]["content"][0]["id"]
        == msgs[2]["content"][0]["tool_use_id"]
        == "call_1_a"
    )


def test_json_mode_to_anthropic_becomes_an_instruction() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "ok?"},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": schema},
        },
    }
    b = translate_request(
        body, K.OPENAI, K.ANTHROPIC, target_model="c", stream=False
    ).body
    assert b["system"].startswith(
        "Be terse.\n\nRespond with a single JSON object and nothing else."
    )
    assert '{"type":"object","properties":{"ok":{"type":"boolean"}}}' in b["system"]
    g = translate_request(body, K.OPENAI, K.GEMINI, target_model="g", stream=False).body
    assert g["generationConfig"]["responseMimeType"] == "application/json"
    assert g["generationConfig"]["responseSchema"] == schema


@pytest.mark.parametrize(
    "kind,model,stream,path",
    [
        (K.OPENAI, "gpt-4o", True, "/chat/completions"),
        (K.OPENAI_COMPATIBLE, "llama3.1:8b", False, "/chat/completions"),
        (K.AZURE_OPENAI, "prod gpt4o", False, "/openai/deployments/prod%20gpt4o/chat/completions?api-version=2024-10-21"),
        (K.ANTHROPIC, "claude-x", True, "/v1/messages"),
        (K.GEMINI, "gemini-2.0-flash", False, "/v1beta/models/gemini-2.0-flash:generateContent"),
        (K.GEMINI, "models/gemini-2.0-flash", True, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"),
    ],
)  # fmt: skip
def test_endpoint_paths_follow_the_base_url_convention(
    kind: K, model: str, stream: bool, path: str
) -> None:
    from govproxy.translate import endpoint_path

    assert endpoint_path(kind, model, stream) == path


def test_same_format_gemini_keeps_body_and_builds_path_from_target_model() -> None:
    tr = translate_request(
        GEMINI_REQ, K.GEMINI, K.GEMINI, target_model="gemini-2.5-pro", stream=True
    )
    assert tr.body == GEMINI_REQ
    assert tr.path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"


def test_anthropic_tool_result_with_image_to_openai_keeps_the_image_in_a_user_turn() -> (
    None
):
    body = {
        "model": "c",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "screenshot please"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_9", "name": "shot", "input": {}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_9",
                        "content": [
                            {"type": "text", "text": "here"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": IMG,
                                },
                            },
                        ],
                    }
                ],
            },
        ],
    }
    msgs = translate_request(
        body, K.ANTHROPIC, K.OPENAI, target_model="gpt-4o", stream=False
    ).body["messages"]
    assert msgs[2] == {"role": "tool", "tool_call_id": "toolu_9", "content": "here"}
    assert msgs[3] == {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMG}"}}
        ],
    }
