"""The official ``anthropic`` SDK talks to the stand-in as to api.anthropic.com (over TLS)."""

from __future__ import annotations

import json

import anthropic
import pytest

from govproxy.standin import StandinServer

from .clients import anthropic_client, raw_client

MODEL = "claude-sonnet-4-6"
USER = "Contact bob@example.org, phone +44 20 7946 0958"
TOOLS = [{"name": "lookup_contact", "description": "find a contact", "input_schema": {"type": "object", "properties": {}}}]


def test_message_echoes_last_user_text(server: StandinServer) -> None:
    client = anthropic_client(server)
    msg = client.messages.create(
        model=MODEL,
        max_tokens=256,
        system="be brief",
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": USER}]},
        ],
    )
    assert msg.type == "message" and msg.role == "assistant" and msg.model == MODEL
    assert msg.content[0].type == "text" and msg.content[0].text == "echo: " + USER  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == -(-len("echo: " + USER) // 4)
    assert msg.usage.input_tokens > 0
    sent = server.last_request()
    assert sent.path == "/v1/messages"
    # SDK 2.x sends the key as a bearer token; older ones as x-api-key: both are accepted.
    assert sent.header("x-api-key") == "sk-ant-test" or sent.header("authorization") == "Bearer sk-ant-test"
    assert sent.header("anthropic-version")


def test_raw_stream_follows_documented_event_sequence(server: StandinServer) -> None:
    server.configure(chunk_size=6)
    client = anthropic_client(server)
    events = list(client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": USER}], stream=True))
    types = [e.type for e in events]  # the SDK swallows "ping" (checked on the raw wire below)
    assert types[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert len(deltas) > 5
    assert all(d.delta.type == "text_delta" and len(d.delta.text) <= 6 for d in deltas)  # type: ignore[union-attr]
    assert "".join(d.delta.text for d in deltas) == "echo: " + USER  # type: ignore[union-attr]
    start = events[0]
    assert start.message.content == [] and start.message.usage.input_tokens > 0  # type: ignore[union-attr]
    delta = events[-2]
    assert delta.delta.stop_reason == "end_turn"  # type: ignore[union-attr]
    assert delta.usage.output_tokens == -(-len("echo: " + USER) // 4)  # type: ignore[union-attr]


def test_sse_lines_carry_event_names_matching_types(server: StandinServer) -> None:
    with raw_client(server) as c:
        r = c.post(
            "/v1/messages",
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
            json={"model": MODEL, "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert r.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in r.text.split("\n\n") if b.strip()]
    names = [b.split("\n")[0][7:] for b in blocks]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-1] == "message_stop"
    for block in blocks:
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        assert json.loads(data_line[6:])["type"] == event_line[7:]


def test_stream_helper_accumulates_text_and_usage(server: StandinServer) -> None:
    client = anthropic_client(server)
    with client.messages.stream(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "stream me"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: stream me"
    assert final.content[0].text == text  # type: ignore[union-attr]
    assert final.usage.output_tokens == -(-len(text) // 4)


def test_tool_use_block_non_stream(server: StandinServer) -> None:
    msg = anthropic_client(server).messages.create(
        model=MODEL, max_tokens=64, tools=TOOLS, messages=[{"role": "user", "content": "call tool for " + USER}]  # type: ignore[arg-type]
    )
    assert msg.stop_reason == "tool_use"
    tool = next(b for b in msg.content if b.type == "tool_use")
    assert tool.name == "lookup_contact"  # type: ignore[union-attr]
    assert tool.input == {"echo": "call tool for " + USER}  # type: ignore[union-attr]
    assert tool.id.startswith("toolu_")  # type: ignore[union-attr]


def test_tool_use_streams_input_json_deltas(server: StandinServer) -> None:
    server.configure(chunk_size=5)
    client = anthropic_client(server)
    with client.messages.stream(
        model=MODEL, max_tokens=64, tools=TOOLS, messages=[{"role": "user", "content": "call tool please"}]  # type: ignore[arg-type]
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    json_deltas = [e for e in events if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]  # type: ignore[union-attr]
    assert len(json_deltas) > 3
    starts = [e for e in events if e.type == "content_block_start"]
    assert [s.content_block.type for s in starts] == ["text", "tool_use"]  # type: ignore[union-attr]
    tool = final.content[-1]
    assert tool.type == "tool_use" and tool.input == {"echo": "call tool please"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"


def test_tool_result_is_echoed(server: StandinServer) -> None:
    msg = anthropic_client(server).messages.create(
        model=MODEL,
        max_tokens=64,
        messages=[
            {"role": "user", "content": "call tool"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "found 3"}]},
        ],
    )
    assert msg.content[0].text == "echo: found 3"  # type: ignore[union-attr]


def test_count_tokens_agrees_with_message_usage(server: StandinServer) -> None:
    client = anthropic_client(server)
    messages = [{"role": "user", "content": "x" * 40}]
    result = client.messages.count_tokens(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert result.input_tokens == 10
    assert client.messages.create(model=MODEL, max_tokens=8, messages=messages).usage.input_tokens == 10  # type: ignore[arg-type]
    assert server.requests[0].path == "/v1/messages/count_tokens"


def test_models_list_uses_anthropic_shape(server: StandinServer) -> None:
    page = anthropic_client(server).models.list()
    assert page.data and page.data[0].type == "model"


@pytest.mark.parametrize(
    ("status", "exc", "etype"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.InternalServerError, "overloaded_error"),
    ],
)
def test_injected_status_raises_the_sdk_error(
    server: StandinServer, status: int, exc: type[Exception], etype: str
) -> None:
    server.set_fault("status", status=status, path_prefix="/v1/messages", times=1)
    client = anthropic_client(server)
    with pytest.raises(exc) as info:
        client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}])
    err = info.value
    assert isinstance(err, anthropic.APIStatusError) and err.status_code == status
    assert err.body["error"]["type"] == etype  # type: ignore[index]
    assert err.response.headers["request-id"].startswith("req_")
    if status == 429:
        assert err.response.headers["retry-after"] == "1"
        assert err.response.headers["anthropic-ratelimit-requests-remaining"] == "0"


def test_missing_key_and_wrong_key(server: StandinServer) -> None:
    with raw_client(server) as c:
        r = c.post(
            "/v1/messages",
            headers={"anthropic-version": "2023-06-01"},
            json={"model": MODEL, "max_tokens": 8, "messages": []},
        )
    assert r.status_code == 401
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "authentication_error"
    server.configure(accepted_keys=["sk-ant-real"])
    with pytest.raises(anthropic.AuthenticationError):
        anthropic_client(server, api_key="sk-ant-wrong").messages.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )


def test_anthropic_version_header_is_required_unless_relaxed(server: StandinServer) -> None:
    body = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
    with raw_client(server) as c:
        missing = c.post("/v1/messages", headers={"x-api-key": "k"}, json=body)
        server.configure(strict_headers=False)
        relaxed = c.post("/v1/messages", headers={"x-api-key": "k"}, json=body)
    assert missing.status_code == 400
    assert missing.json()["error"] == {"type": "invalid_request_error", "message": "anthropic-version: header is required"}
    assert relaxed.status_code == 200


def test_missing_max_tokens_and_bad_json_are_invalid_request(server: StandinServer) -> None:
    with raw_client(server) as c:
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
        r1 = c.post("/v1/messages", headers=headers, json={"model": MODEL, "messages": []})
        r2 = c.post("/v1/messages", headers=headers, content=b"{not json")
        r3 = c.post("/v1/nope", headers=headers, json={})
    assert r1.status_code == 400 and "max_tokens" in r1.json()["error"]["message"]
    assert r2.status_code == 400 and r2.json()["error"]["type"] == "invalid_request_error"
    assert r3.status_code == 404 and r3.json()["error"]["type"] == "not_found_error"
