"""Parsing each API family into the normalised request: texts, pointers, model, stream."""

from __future__ import annotations

import json

import pytest

from govproxy.models import EndpointKind, Identity, ProviderKind, TextRole
from govproxy.providers.parse import parse_request


def parse(kind: ProviderKind, path: str, body: object, *, raw: bytes | None = None, ctype: str | None = "application/json", query=None):
    data = raw if raw is not None else json.dumps(body).encode()
    req, obj = parse_request(
        provider="p", kind=kind, method="POST", scheme="https", host="h", port=443, path=path,
        body=data, identity=Identity(tenant="t"), content_type=ctype, query=query,
    )
    return req, obj


def resolve(obj: object, pointer: str) -> object:
    for part in pointer.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]  # type: ignore[index]
    return obj


def test_openai_chat_all_text_locations_have_correct_pointers():
    body = {
        "model": "gpt-4o",
        "stream": True,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"q\": \"x\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "result text"},
        ],
    }
    req, obj = parse(ProviderKind.OPENAI, "/v1/chat/completions", body)
    assert req.endpoint == EndpointKind.CHAT and req.model == "gpt-4o" and req.stream
    assert [(s.role, s.text) for s in req.texts] == [
        (TextRole.SYSTEM, "be brief"),
        (TextRole.USER, "hello"),
        (TextRole.TOOL_CALL, '{"q": "x"}'),
        (TextRole.TOOL, "result text"),
    ]
    for seg in req.texts:
        assert resolve(obj, seg.pointer) == seg.text
    assert req.images == 1  # counted, not scanned: the base64 is not among the texts
    assert req.token_estimate > 0


def test_openai_responses_api():
    body = {"model": "gpt-4.1", "instructions": "sys", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "hi there"}]},
        {"type": "function_call", "call_id": "1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "1", "output": "tool said"},
    ]}
    req, obj = parse(ProviderKind.OPENAI, "/v1/responses", body)
    assert req.endpoint == EndpointKind.RESPONSES
    assert [s.text for s in req.texts] == ["sys", "hi there", "{}", "tool said"]
    for seg in req.texts:
        assert resolve(obj, seg.pointer) == seg.text
    req2, _ = parse(ProviderKind.OPENAI, "/v1/responses", {"model": "m", "input": "plain"})
    assert [s.text for s in req2.texts] == ["plain"]


def test_embeddings_string_and_list_inputs_token_arrays_skipped():
    req, _ = parse(ProviderKind.OPENAI, "/v1/embeddings", {"model": "e", "input": ["a b", "c"]})
    assert req.endpoint == EndpointKind.EMBEDDINGS and [s.text for s in req.texts] == ["a b", "c"]
    req, _ = parse(ProviderKind.OPENAI, "/v1/embeddings", {"model": "e", "input": [[1, 2, 3]]})
    assert req.texts == ()


def test_anthropic_messages_system_blocks_tool_use_and_results():
    body = {
        "model": "claude-sonnet-4-5", "max_tokens": 10,
        "system": [{"type": "text", "text": "sys prompt"}],
        "messages": [
            {"role": "user", "content": "question"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "lookup", "input": {"email": "a@b.c", "n": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "found"}]},
                                         {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
        ],
    }
    req, obj = parse(ProviderKind.ANTHROPIC, "/v1/messages", body)
    assert req.endpoint == EndpointKind.MESSAGES and req.model == "claude-sonnet-4-5" and not req.stream
    assert [(s.role, s.text) for s in req.texts] == [
        (TextRole.SYSTEM, "sys prompt"), (TextRole.USER, "question"), (TextRole.TOOL_CALL, "a@b.c"), (TextRole.TOOL, "found"),
    ]
    for seg in req.texts:
        assert resolve(obj, seg.pointer) == seg.text
    assert req.images == 1


def test_gemini_model_and_stream_from_path_and_query():
    body = {"systemInstruction": {"parts": [{"text": "sys"}]}, "contents": [{"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "AA"}}]}]}
    req, obj = parse(ProviderKind.GEMINI, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", body, query={"alt": "sse"})
    assert req.endpoint == EndpointKind.GENERATE_CONTENT and req.model == "gemini-2.5-flash" and req.stream
    assert [s.text for s in req.texts] == ["sys", "hi"] and req.images == 1
    for seg in req.texts:
        assert resolve(obj, seg.pointer) == seg.text
    req, _ = parse(ProviderKind.GEMINI, "/v1beta/models/gemini-2.5-flash:generateContent", body)
    assert not req.stream


def test_azure_deployment_is_the_model():
    req, _ = parse(ProviderKind.AZURE_OPENAI, "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21", {"messages": [{"role": "user", "content": "x"}]})
    assert req.model == "my-gpt" and req.endpoint == EndpointKind.CHAT


def test_unknown_path_on_known_host_is_still_recognised_and_scanned():
    req, _ = parse(ProviderKind.OPENAI, "/v1/some/new/api", {"model": "m", "prompt_like": {"deep": ["secret text"]}})
    assert req.endpoint == EndpointKind.UNKNOWN
    assert [s.text for s in req.texts] == ["m", "secret text"]


@pytest.mark.parametrize(
    ("raw", "ctype", "needle"),
    [
        (b"{not json", "application/json", "malformed JSON"),
        (b"", "application/json", "empty body"),
        (b"\xff\xfe{}", "application/json", "not UTF-8"),
        (b"[1,2]", "application/json", "must be an object"),
        (b"hello", "text/plain", "unexpected content type"),
        (b'{"model": "m", "messages": 5}', "application/json", "'messages' must be an array"),
        (b'{"model": "m", "messages": {"role": "user"}}', "application/json", "'messages' must be an array"),
        (b"[" * 100000 + b"]" * 100000, "application/json", "JSON"),
    ],
)
def test_bad_bodies_are_reported_not_raised(raw, ctype, needle):
    req, obj = parse(ProviderKind.OPENAI, "/v1/chat/completions", None, raw=raw, ctype=ctype)
    assert obj is None and req.parse_error and needle in req.parse_error


def test_json_with_wrong_content_type_is_still_governed():
    req, obj = parse(ProviderKind.OPENAI, "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]}, ctype="text/plain")
    assert obj is not None and req.parse_error is None and [s.text for s in req.texts] == ["x"]


def test_unknown_content_shapes_are_scanned_not_skipped():
    req, obj = parse(ProviderKind.OPENAI, "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": {"odd": {"x": "mail a@b.example"}}}]})
    assert [s.text for s in req.texts] == ["mail a@b.example"]
    assert resolve(obj, req.texts[0].pointer) == "mail a@b.example"
    req, _ = parse(ProviderKind.ANTHROPIC, "/v1/messages", {"model": "m", "messages": [{"role": "user", "content": {"text": "hidden"}}]})
    assert [s.text for s in req.texts] == ["hidden"]
