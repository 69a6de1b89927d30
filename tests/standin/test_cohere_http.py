"""Cohere v2 chat and embed, checked field by field with httpx (no Cohere SDK installed)."""

from __future__ import annotations

import json

from govproxy.standin import StandinServer

from .clients import raw_client

AUTH = {"authorization": "Bearer co-key"}
USER = "Email carol@example.net the report"


def _events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.split("\n\n"):
        if block.strip():
            event_line, data_line = block.split("\n")
            out.append((event_line[7:], json.loads(data_line[6:])))
    return out


def test_chat_non_stream(server: StandinServer) -> None:
    with raw_client(server) as c:
        r = c.post("/v2/chat", headers=AUTH, json={"model": "command-a-03-2025", "messages": [{"role": "user", "content": USER}]})
    data = r.json()
    assert r.status_code == 200
    assert data["finish_reason"] == "COMPLETE"
    assert data["message"] == {"role": "assistant", "content": [{"type": "text", "text": "echo: " + USER}]}
    assert data["usage"]["tokens"]["output_tokens"] == -(-len("echo: " + USER) // 4)
    assert data["usage"]["billed_units"] == data["usage"]["tokens"]


def test_chat_stream_event_sequence(server: StandinServer) -> None:
    server.configure(chunk_size=5)
    with raw_client(server) as c:
        r = c.post(
            "/v2/chat",
            headers=AUTH,
            json={"model": "command-a-03-2025", "stream": True, "messages": [{"role": "user", "content": USER}]},
        )
    events = _events(r.text)
    names = [n for n, _ in events]
    assert names[:2] == ["message-start", "content-start"]
    assert names[-2:] == ["content-end", "message-end"]
    assert all(d["type"] == n for n, d in events)
    text = "".join(d["delta"]["message"]["content"]["text"] for n, d in events if n == "content-delta")
    assert text == "echo: " + USER and names.count("content-delta") > 5
    assert events[-1][1]["delta"]["finish_reason"] == "COMPLETE"


def test_chat_tool_call_stream_and_not(server: StandinServer) -> None:
    body = {
        "model": "command-a-03-2025",
        "messages": [{"role": "user", "content": "call tool now"}],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    }
    with raw_client(server) as c:
        plain = c.post("/v2/chat", headers=AUTH, json=body).json()
        streamed = c.post("/v2/chat", headers=AUTH, json={**body, "stream": True})
    assert plain["finish_reason"] == "TOOL_CALL"
    call = plain["message"]["tool_calls"][0]
    assert call["function"]["name"] == "lookup" and json.loads(call["function"]["arguments"]) == {"echo": "call tool now"}
    events = _events(streamed.text)
    args = "".join(d["delta"]["message"]["tool_calls"]["function"]["arguments"] for n, d in events if n == "tool-call-delta")
    assert json.loads(args) == {"echo": "call tool now"}
    assert events[-1][1]["delta"]["finish_reason"] == "TOOL_CALL"


def test_embed_and_errors(server: StandinServer) -> None:
    with raw_client(server) as c:
        emb = c.post(
            "/v2/embed",
            headers=AUTH,
            json={"model": "embed-v4.0", "texts": ["a", "b"], "input_type": "search_document", "embedding_types": ["float", "int8"]},
        ).json()
        no_key = c.post("/v2/chat", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
        server.set_fault("status", status=429, path_prefix="/v2/", times=1)
        limited = c.post("/v2/chat", headers=AUTH, json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert len(emb["embeddings"]["float"]) == 2 and len(emb["embeddings"]["int8"][0]) == 16
    assert emb["response_type"] == "embeddings_by_type"
    assert no_key.status_code == 401 and "message" in no_key.json()
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1" and limited.json()["message"]
