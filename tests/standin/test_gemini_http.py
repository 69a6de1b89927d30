"""Gemini endpoints, checked field by field with httpx (no official SDK installed)."""

from __future__ import annotations

import json

import httpx

from govproxy.standin import StandinServer

from .clients import raw_client

MODEL = "gemini-2.5-flash"
USER = "Summarise the file of Jane Doe, IBAN DE89370400440532013000"
BODY = {
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "contents": [
        {"role": "user", "parts": [{"text": "first"}]},
        {"role": "model", "parts": [{"text": "ok"}]},
        {"role": "user", "parts": [{"text": USER}]},
    ],
}
KEY = {"x-goog-api-key": "AIza-test"}


def _sse_records(text: str) -> list[dict]:
    records = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if block.strip():
            assert block.startswith("data: ")
            records.append(json.loads(block[6:]))
    return records


def test_generate_content_fields(server: StandinServer) -> None:
    with raw_client(server) as c:
        r = c.post(f"/v1beta/models/{MODEL}:generateContent", headers=KEY, json=BODY)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    data = r.json()
    cand = data["candidates"][0]
    assert cand["content"] == {"parts": [{"text": "echo: " + USER}], "role": "model"}
    assert cand["finishReason"] == "STOP" and cand["index"] == 0
    usage = data["usageMetadata"]
    assert usage["candidatesTokenCount"] == -(-len("echo: " + USER) // 4)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert data["modelVersion"] == MODEL and data["responseId"]
    assert server.last_request().header("x-goog-api-key") == "AIza-test"


def test_stream_generate_content_sse(server: StandinServer) -> None:
    server.configure(chunk_size=7)
    with raw_client(server) as c:
        r = c.post(f"/v1beta/models/{MODEL}:streamGenerateContent", params={"alt": "sse"}, headers=KEY, json=BODY)
    assert r.headers["content-type"].startswith("text/event-stream")
    records = _sse_records(r.text)
    assert len(records) > 5
    text = "".join(rec["candidates"][0]["content"]["parts"][0]["text"] for rec in records)
    assert text == "echo: " + USER
    assert "finishReason" not in records[0]["candidates"][0]
    assert records[-1]["candidates"][0]["finishReason"] == "STOP"
    assert records[-1]["usageMetadata"]["candidatesTokenCount"] == -(-len(text) // 4)
    assert "[DONE]" not in r.text


def test_stream_generate_content_json_array_without_alt(server: StandinServer) -> None:
    with raw_client(server) as c:
        with c.stream("POST", f"/v1beta/models/{MODEL}:streamGenerateContent", headers=KEY, json=BODY) as r:
            pieces = list(r.iter_raw())
    body = b"".join(pieces)
    assert body.startswith(b"[") and body.endswith(b"]")
    records = json.loads(body)
    assert len(records) > 3
    assert "".join(rec["candidates"][0]["content"]["parts"][0]["text"] for rec in records) == "echo: " + USER


def test_key_in_query_parameter_and_v1_path(server: StandinServer) -> None:
    with raw_client(server) as c:
        r = c.post(f"/v1/models/{MODEL}:generateContent", params={"key": "AIza-q"}, json=BODY)
    assert r.status_code == 200
    assert server.last_request().query_params["key"] == ["AIza-q"]


def test_function_call_when_tools_declared(server: StandinServer) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "call tool for Jane"}]}],
        "tools": [{"functionDeclarations": [{"name": "find_person", "parameters": {"type": "OBJECT"}}]}],
    }
    with raw_client(server) as c:
        r = c.post(f"/v1beta/models/{MODEL}:generateContent", headers=KEY, json=body)
        s = c.post(f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", headers=KEY, json=body)
    part = r.json()["candidates"][0]["content"]["parts"][0]
    assert part == {"functionCall": {"name": "find_person", "args": {"echo": "call tool for Jane"}}}
    assert _sse_records(s.text)[-1]["candidates"][0]["content"]["parts"][0]["functionCall"]["name"] == "find_person"


def test_function_response_is_echoed(server: StandinServer) -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "call tool"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"result": "42 found"}}}]},
        ]
    }
    with raw_client(server) as c:
        r = c.post(f"/v1beta/models/{MODEL}:generateContent", headers=KEY, json=body)
    assert r.json()["candidates"][0]["content"]["parts"][0]["text"] == "echo: 42 found"


def test_embed_content_and_batch(server: StandinServer) -> None:
    with raw_client(server) as c:
        one = c.post(
            "/v1beta/models/gemini-embedding-001:embedContent",
            headers=KEY,
            json={"content": {"parts": [{"text": "alpha"}]}, "outputDimensionality": 8},
        ).json()
        batch = c.post(
            "/v1beta/models/gemini-embedding-001:batchEmbedContents",
            headers=KEY,
            json={"requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}} for t in ("alpha", "beta")]},
        ).json()
    assert len(one["embedding"]["values"]) == 8
    assert [len(e["values"]) for e in batch["embeddings"]] == [16, 16]
    assert batch["embeddings"][0]["values"][:8] != batch["embeddings"][1]["values"][:8]


def test_count_tokens_and_models(server: StandinServer) -> None:
    with raw_client(server) as c:
        n = c.post(f"/v1beta/models/{MODEL}:countTokens", headers=KEY, json={"contents": BODY["contents"]}).json()
        models = c.get("/v1beta/models", headers=KEY).json()
        v1_models = c.get("/v1/models", params={"key": "AIza"}).json()
    assert n["totalTokens"] > 0
    assert any(m["name"] == f"models/{MODEL}" for m in models["models"])
    assert "models" in v1_models  # a Gemini key on /v1/models selects the Gemini shape


def test_errors_in_google_format(server: StandinServer) -> None:
    with raw_client(server) as c:
        no_key = c.post(f"/v1beta/models/{MODEL}:generateContent", json=BODY)
        bad_json = c.post(f"/v1beta/models/{MODEL}:generateContent", headers=KEY, content=b"{")
        no_contents = c.post(f"/v1beta/models/{MODEL}:generateContent", headers=KEY, json={})
        unknown = c.post("/v1beta/whatever", headers=KEY, json={})
        server.set_fault("status", status=429, model=MODEL, times=1)
        limited = c.post(f"/v1beta/models/{MODEL}:generateContent", headers=KEY, json=BODY)
        other_model = c.post("/v1beta/models/gemini-2.5-pro:generateContent", headers=KEY, json=BODY)
    assert no_key.status_code == 403 and no_key.json()["error"]["status"] == "PERMISSION_DENIED"
    assert bad_json.status_code == 400 and bad_json.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert no_contents.status_code == 400
    assert unknown.status_code == 404 and unknown.json()["error"]["status"] == "NOT_FOUND"
    assert limited.status_code == 429
    assert limited.json()["error"] == {"code": 429, "message": limited.json()["error"]["message"], "status": "RESOURCE_EXHAUSTED"}
    assert limited.headers["retry-after"] == "1"
    assert other_model.status_code == 200  # the fault matched one model only


def test_plain_http_server_serves_gemini_too(plain_server: StandinServer) -> None:
    r = httpx.post(f"{plain_server.url}/v1beta/models/{MODEL}:generateContent", headers=KEY, json=BODY, trust_env=False)
    assert r.json()["candidates"][0]["content"]["parts"][0]["text"] == "echo: " + USER
