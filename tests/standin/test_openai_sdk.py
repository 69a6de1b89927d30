"""The official ``openai`` SDK talks to the stand-in as to api.openai.com (over TLS)."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from govproxy.standin import StandinServer

from .clients import ca_context, openai_client, raw_client

USER = "Please mail alice@example.com about invoice 42"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "send_mail",
            "description": "send an e-mail",
            "parameters": {"type": "object", "properties": {"echo": {"type": "string"}}},
        },
    }
]


def test_chat_completion_echoes_last_user_message_with_consistent_usage(server: StandinServer) -> None:
    client = openai_client(server)
    resp = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": USER}]},
        ],
    )
    assert resp.object == "chat.completion"
    assert resp.model == "gpt-4o"
    assert resp.choices[0].message.content == "echo: " + USER
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.completion_tokens == -(-len("echo: " + USER) // 4)
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    sent = server.last_request()
    assert sent.path == "/v1/chat/completions"
    assert sent.header("authorization") == "Bearer sk-test-key"
    assert sent.json()["messages"][-1]["content"][0]["text"] == USER


def test_chat_stream_splits_reply_into_several_chunks_and_ends_with_usage(server: StandinServer) -> None:
    server.configure(chunk_size=5)
    client = openai_client(server)
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": USER}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == "echo: " + USER
    assert all(len(p) <= 5 for p in pieces) and len(pieces) >= 10
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finals] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == -(-len("echo: " + USER) // 4)
    assert all(c.usage is None for c in chunks[:-1])


def test_chat_stream_without_include_usage_has_no_usage_chunk(server: StandinServer) -> None:
    client = openai_client(server)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert all(c.choices for c in chunks)
    with raw_client(server) as c:
        r = c.post(
            "/v1/chat/completions",
            headers={"authorization": "Bearer k"},
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        )
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.text.rstrip().endswith("data: [DONE]")
    assert '"usage"' not in r.text


def test_chat_tool_call_when_tools_given_and_user_asks(server: StandinServer) -> None:
    client = openai_client(server)
    resp = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "call tool for " + USER}], tools=TOOLS  # type: ignore[arg-type]
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.type == "function" and call.function.name == "send_mail"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"echo": "call tool for " + USER}  # type: ignore[union-attr]


def test_chat_without_trigger_phrase_answers_text_even_with_tools(server: StandinServer) -> None:
    resp = openai_client(server).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello"}], tools=TOOLS  # type: ignore[arg-type]
    )
    assert resp.choices[0].message.content == "echo: hello"
    assert not resp.choices[0].message.tool_calls


def test_chat_tool_call_streams_arguments_in_pieces(server: StandinServer) -> None:
    server.configure(chunk_size=4)
    client = openai_client(server)
    with client.chat.completions.stream(
        model="gpt-4o", messages=[{"role": "user", "content": "call tool now"}], tools=TOOLS  # type: ignore[arg-type]
    ) as stream:
        arg_events = [e for e in stream if e.type == "tool_calls.function.arguments.delta"]
        final = stream.get_final_completion()
    assert len(arg_events) > 3
    call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "send_mail"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"echo": "call tool now"}  # type: ignore[union-attr]
    assert final.choices[0].finish_reason == "tool_calls"


def test_tool_result_is_echoed(server: StandinServer) -> None:
    resp = openai_client(server).chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "user", "content": "call tool"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "result 7"},
        ],
    )
    assert resp.choices[0].message.content == "echo: result 7"


def test_responses_api_non_stream(server: StandinServer) -> None:
    resp = openai_client(server).responses.create(model="gpt-4.1", input=USER, instructions="be brief")
    assert resp.object == "response" and resp.status == "completed"
    assert resp.output_text == "echo: " + USER
    assert resp.usage is not None and resp.usage.output_tokens == -(-len("echo: " + USER) // 4)
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens


def test_responses_api_stream_event_sequence(server: StandinServer) -> None:
    server.configure(chunk_size=6)
    client = openai_client(server)
    events = list(
        client.responses.create(
            model="gpt-4.1", input=[{"role": "user", "content": [{"type": "input_text", "text": USER}]}], stream=True
        )
    )
    types = [e.type for e in events]
    assert types[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]  # type: ignore[union-attr]
    assert len(deltas) > 3 and "".join(deltas) == "echo: " + USER
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.output_text == "echo: " + USER  # type: ignore[union-attr]


def test_responses_stream_helper_accumulates_final_response(server: StandinServer) -> None:
    client = openai_client(server)
    with client.responses.stream(model="gpt-4.1", input="hello there") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == final.output_text == "echo: hello there"


def test_responses_function_call_stream_and_not(server: StandinServer) -> None:
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]
    client = openai_client(server)
    resp = client.responses.create(model="gpt-4.1", input="call tool please", tools=tools)  # type: ignore[arg-type]
    item = resp.output[0]
    assert item.type == "function_call" and item.name == "lookup"  # type: ignore[union-attr]
    assert json.loads(item.arguments) == {"echo": "call tool please"}  # type: ignore[union-attr]
    with client.responses.stream(model="gpt-4.1", input="call tool please", tools=tools) as stream:  # type: ignore[arg-type]
        deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 1
    assert json.loads("".join(deltas)) == {"echo": "call tool please"}
    assert final.output[0].type == "function_call"


def test_embeddings_float_and_base64_are_the_same_deterministic_vectors(server: StandinServer) -> None:
    client = openai_client(server)
    a = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"], encoding_format="float")
    b = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])  # SDK default: base64
    assert [d.index for d in a.data] == [0, 1]
    assert len(a.data[0].embedding) == 16
    assert a.data[0].embedding != a.data[1].embedding
    for x, y in zip(a.data, b.data, strict=True):
        assert x.embedding == pytest.approx(y.embedding, abs=1e-6)
    c = client.embeddings.create(model="text-embedding-3-small", input="alpha", dimensions=4, encoding_format="float")
    assert len(c.data[0].embedding) == 4
    assert a.usage.prompt_tokens == a.usage.total_tokens > 0


def test_models_list(server: StandinServer) -> None:
    ids = [m.id for m in openai_client(server).models.list()]
    assert "gpt-4o" in ids


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, openai.BadRequestError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_injected_status_raises_the_sdk_error(server: StandinServer, status: int, exc: type[Exception]) -> None:
    server.set_fault("status", status=status, times=1)
    client = openai_client(server)
    with pytest.raises(exc) as info:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    err = info.value
    assert isinstance(err, openai.APIStatusError) and err.status_code == status
    assert isinstance(err.body, dict) and "type" in err.body
    if status == 429:
        assert err.response.headers["retry-after"] == "1"
        assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
        assert err.code == "rate_limit_exceeded"
    # times=1: the next call succeeds
    assert client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}]).choices


def test_sdk_retries_on_429_honouring_retry_after(server: StandinServer) -> None:
    server.set_fault("status", status=429, retry_after=0.01, times=2)
    client = openai_client(server, max_retries=2)
    resp = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert resp.choices[0].message.content == "echo: x"
    assert len(server.requests) == 3
    assert [r.header("x-stainless-retry-count") for r in server.requests] == ["0", "1", "2"]


def test_missing_key_is_401_authentication_error(server: StandinServer) -> None:
    with raw_client(server) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"


def test_wrong_key_is_authentication_error_when_keys_are_pinned(server: StandinServer) -> None:
    server.configure(accepted_keys=["sk-the-real-one"])
    with pytest.raises(openai.AuthenticationError) as info:
        openai_client(server, api_key="sk-wrong-key-123").chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    assert "sk-wrong-key-123" not in str(info.value)  # masked, like the real API
    ok = openai_client(server, api_key="sk-the-real-one").chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}]
    )
    assert ok.choices[0].message.content == "echo: x"


def test_keys_not_required_when_configured(server: StandinServer) -> None:
    server.configure(require_api_key=False)
    with raw_client(server) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200


def test_malformed_json_is_400_in_openai_format(server: StandinServer) -> None:
    with raw_client(server) as c:
        r = c.post(
            "/v1/chat/completions",
            headers={"authorization": "Bearer k", "content-type": "application/json"},
            content=b'{"model": "gpt-4o", "messages": [',
        )
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_unknown_path_is_openai_404(server: StandinServer) -> None:
    with raw_client(server) as c:
        r = c.post("/v1/nonsense", headers={"authorization": "Bearer k"}, json={})
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "Invalid URL (POST /v1/nonsense)"
    with pytest.raises(openai.NotFoundError):
        openai_client(server).post("/nonsense", cast_to=httpx.Response, body={})


def test_azure_openai_deployment_path(server: StandinServer) -> None:
    client = openai.AzureOpenAI(
        azure_endpoint=server.url,
        api_key="azure-key",
        api_version="2024-10-21",
        http_client=httpx.Client(verify=ca_context(server)),
        max_retries=0,
    )
    resp = client.chat.completions.create(model="my-gpt4o-deployment", messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content == "echo: hi"
    assert resp.model == "my-gpt4o-deployment"
    sent = server.last_request()
    assert sent.path == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert sent.query_params["api-version"] == ["2024-10-21"]
    assert sent.header("api-key") == "azure-key"


def test_openai_compatible_local_model_over_plain_http(plain_server: StandinServer) -> None:
    client = openai_client(plain_server, api_key="ollama")
    assert plain_server.url.startswith("http://127.0.0.1:")
    stream = client.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "local hi"}], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "echo: local hi"
    assert plain_server.last_request().tls is False


def test_compatible_path_prefixes_are_served(server: StandinServer) -> None:
    """Groq (/openai/v1), OpenRouter (/api/v1) and DeepSeek (no /v1) base URLs all reach chat."""
    with raw_client(server) as c:
        for path in ("/openai/v1/chat/completions", "/api/v1/chat/completions", "/chat/completions"):
            r = c.post(
                path,
                headers={"authorization": "Bearer k"},
                json={"model": "m", "messages": [{"role": "user", "content": path}]},
            )
            assert r.status_code == 200, path
            assert r.json()["choices"][0]["message"]["content"] == "echo: " + path


def test_azure_annotations_and_empty_first_stream_chunk(server: StandinServer) -> None:
    """Azure prefixes streams with a choices-less prompt-filter chunk; parsers must cope."""
    client = openai.AzureOpenAI(
        azure_endpoint=server.url,
        api_key="azure-key",
        api_version="2024-10-21",
        http_client=httpx.Client(verify=ca_context(server)),
        max_retries=0,
    )
    resp = client.chat.completions.create(model="dep", messages=[{"role": "user", "content": "hi"}])
    raw = resp.model_dump()
    assert raw["prompt_filter_results"][0]["prompt_index"] == 0
    assert raw["choices"][0]["content_filter_results"]["hate"] == {"filtered": False, "severity": "safe"}
    chunks = list(client.chat.completions.create(model="dep", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert chunks[0].choices == [] and chunks[0].id == ""
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"
    plain = openai_client(server).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert "prompt_filter_results" not in plain.model_dump()  # only the Azure path shape adds them


def test_legacy_completions_stream_and_not(server: StandinServer) -> None:
    client = openai_client(server)
    resp = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="complete me")
    assert resp.choices[0].text == "echo: complete me" and resp.choices[0].finish_reason == "stop"
    pieces = [c.choices[0].text for c in client.completions.create(model="gpt-3.5-turbo-instruct", prompt="complete me", stream=True)]
    assert len(pieces) > 1 and "".join(pieces) == "echo: complete me"
