"""Opt-in max-token truncation: each provider's own "stopped at the limit" signal."""

from __future__ import annotations

from govproxy.standin import StandinServer

from .clients import anthropic_client, openai_client, raw_client

LONG = "x" * 200  # reply "echo: " + 200 chars = 52 tokens


def test_off_by_default_the_full_echo_comes_back(server: StandinServer) -> None:
    resp = openai_client(server).chat.completions.create(model="m", max_tokens=5, messages=[{"role": "user", "content": LONG}])
    assert resp.choices[0].message.content == "echo: " + LONG and resp.choices[0].finish_reason == "stop"


def test_openai_chat_and_responses(server: StandinServer) -> None:
    server.configure(honour_max_tokens=True)
    client = openai_client(server)
    chat = client.chat.completions.create(model="m", max_completion_tokens=5, messages=[{"role": "user", "content": LONG}])
    assert chat.choices[0].message.content == ("echo: " + LONG)[:20]
    assert chat.choices[0].finish_reason == "length" and chat.usage is not None and chat.usage.completion_tokens == 5
    stream = list(client.chat.completions.create(model="m", max_tokens=5, stream=True, messages=[{"role": "user", "content": LONG}]))
    assert [c.choices[0].finish_reason for c in stream if c.choices[0].finish_reason] == ["length"]
    resp = client.responses.create(model="m", input=LONG, max_output_tokens=16)
    assert resp.status == "incomplete" and resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens" and len(resp.output_text) == 64
    events = [e.type for e in client.responses.create(model="m", input=LONG, max_output_tokens=16, stream=True)]
    assert events[-1] == "response.incomplete"
    short = client.chat.completions.create(model="m", max_tokens=500, messages=[{"role": "user", "content": "hi"}])
    assert short.choices[0].finish_reason == "stop"


def test_anthropic(server: StandinServer) -> None:
    server.configure(honour_max_tokens=True)
    client = anthropic_client(server)
    msg = client.messages.create(model="c", max_tokens=3, messages=[{"role": "user", "content": LONG}])
    assert msg.stop_reason == "max_tokens" and msg.content[0].text == "echo: xxxxxx"  # type: ignore[union-attr]
    with client.messages.stream(model="c", max_tokens=3, messages=[{"role": "user", "content": LONG}]) as s:
        final = s.get_final_message()
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 3


def test_gemini_and_cohere(server: StandinServer) -> None:
    server.configure(honour_max_tokens=True)
    with raw_client(server) as c:
        g = c.post(
            "/v1beta/models/g:generateContent",
            headers={"x-goog-api-key": "k"},
            json={"contents": [{"parts": [{"text": LONG}]}], "generationConfig": {"maxOutputTokens": 4}},
        ).json()
        co = c.post(
            "/v2/chat",
            headers={"authorization": "Bearer k"},
            json={"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": LONG}]},
        ).json()
    assert g["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert len(g["candidates"][0]["content"]["parts"][0]["text"]) == 16
    assert g["usageMetadata"]["candidatesTokenCount"] == 4
    assert co["finish_reason"] == "MAX_TOKENS" and len(co["message"]["content"][0]["text"]) == 16
