"""Stream translation: every direction, arbitrary chunking, text transforms, early output."""

from __future__ import annotations

import json
import random

import pytest

from govproxy.models import ProviderKind as K
from govproxy.translate import StreamTranslator, Usage

from ._samples import (
    ANTHROPIC_STREAM,
    EXPECTED_TEXT_RAW,
    EXPECTED_TEXT_RESTORED,
    GEMINI_STREAM,
    OPENAI_STREAM,
    Restorer,
    anthropic_sse,
    events_of,
    normalised,
    openai_sse,
    summarise,
)

UPSTREAMS = {
    K.OPENAI: OPENAI_STREAM,
    K.ANTHROPIC: ANTHROPIC_STREAM,
    K.GEMINI: GEMINI_STREAM,
}
CLIENTS = [K.OPENAI, K.ANTHROPIC, K.GEMINI]
STOP = {"openai": "tool_calls", "anthropic": "tool_use", "gemini": "STOP"}


def run(
    upstream: K, client: K, data: bytes, pieces: list[bytes] | None = None, **kw
) -> tuple[bytes, StreamTranslator]:
    st = StreamTranslator(upstream, client, requested_model="the-model-asked-for", **kw)
    out = (
        b"".join(st.feed(p) for p in (pieces if pieces is not None else [data]))
        + st.finish()
    )
    return out, st


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("restore", [False, True], ids=["plain", "restore"])
def test_every_direction_delivers_text_tool_call_stop_and_usage(
    upstream: K, client: K, restore: bool
) -> None:
    out, st = run(
        upstream,
        client,
        UPSTREAMS[upstream],
        text_transform_factory=Restorer if restore else None,
        include_usage=True,
    )
    got = summarise(client.value, out)
    name = "Alice Martin" if restore else "<PERSON_1>"
    assert got["text"] == (EXPECTED_TEXT_RESTORED if restore else EXPECTED_TEXT_RAW)
    assert got["tools"] == [("get_weather", {"city": name})]
    assert got["stop"] == STOP[client.value]
    if not (client is K.ANTHROPIC and upstream is K.ANTHROPIC):
        # (passed-through Anthropic streams keep their own message_delta, which has no input count)
        assert got["usage"] == (31, 17)
    assert st.usage == Usage(31, 17)


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
@pytest.mark.parametrize("client", CLIENTS)
def test_output_is_identical_whatever_the_chunk_boundaries(
    upstream: K, client: K
) -> None:
    data = UPSTREAMS[upstream]
    whole, _ = run(upstream, client, data, text_transform_factory=Restorer)
    expected = normalised(whole)
    for cut in range(1, len(data)):
        out, _ = run(
            upstream,
            client,
            data,
            [data[:cut], data[cut:]],
            text_transform_factory=Restorer,
        )
        assert normalised(out) == expected, f"split at byte {cut}"
    bytewise, _ = run(
        upstream,
        client,
        data,
        [data[i : i + 1] for i in range(len(data))],
        text_transform_factory=Restorer,
    )
    assert normalised(bytewise) == expected


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_same_format_without_transform_passes_bytes_through_and_reads_usage(
    upstream: K,
) -> None:
    data = UPSTREAMS[upstream]
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, len(data)), 25))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    st = StreamTranslator(upstream, upstream, requested_model="m")
    outs = [st.feed(p) for p in pieces]
    assert outs == pieces, "each chunk is forwarded as soon as it arrives, unchanged"
    assert st.finish() == b""
    assert st.usage == Usage(31, 17)


def test_openai_compatible_upstream_to_openai_client_is_the_same_family() -> None:
    st = StreamTranslator(K.OPENAI_COMPATIBLE, K.AZURE_OPENAI, requested_model="m")
    assert st.feed(OPENAI_STREAM) == OPENAI_STREAM


def _without_text(value):
    if isinstance(value, dict):
        return {
            k: "~"
            if k in ("content", "text", "partial_json", "arguments", "args")
            else _without_text(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_without_text(v) for v in value]
    return value


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_same_format_with_transform_changes_only_text(upstream: K) -> None:
    data = UPSTREAMS[upstream]
    out, st = run(upstream, upstream, data, text_transform_factory=Restorer)
    before, after = events_of(data), events_of(out)
    got = summarise(upstream.value, out)
    assert got["text"] == EXPECTED_TEXT_RESTORED
    assert got["tools"] == [("get_weather", {"city": "Alice Martin"})]
    # Apart from the text fields, every event is forwarded unchanged.
    assert len(after) == len(before)
    assert _without_text(after) == _without_text(before)
    assert st.usage == Usage(31, 17)


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
@pytest.mark.parametrize("client", CLIENTS)
def test_first_text_is_emitted_as_soon_as_its_event_is_complete(
    upstream: K, client: K
) -> None:
    data = UPSTREAMS[upstream]
    marker = b"Hello <PER"
    end_of_first_text_event = (
        data.index(b"\n", data.index(b"\n", data.index(marker)) + 1) + 1
    )
    st = StreamTranslator(
        upstream, client, requested_model="m", text_transform_factory=Restorer
    )
    out = st.feed(data[:end_of_first_text_event])
    # "Hello " goes out at once; only the possible placeholder start "<PER" is held by the transform.
    assert b"Hello " in out
    if upstream is not client:
        # One byte short of the blank line the event is incomplete: nothing of it may be sent.
        st2 = StreamTranslator(upstream, client, requested_model="m")
        assert b"Hello" not in st2.feed(data[: end_of_first_text_event - 1])


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
@pytest.mark.parametrize("client", CLIENTS)
def test_held_back_text_is_flushed_before_the_block_closes(
    upstream: K, client: K
) -> None:
    # The text ends with something that looks like the start of a placeholder: the
    # transform holds it, and must give it back before the client sees the stop.
    data = UPSTREAMS[upstream].replace(b"Paris is \\u00e9.", b"Paris is <UNFIN")
    out, _ = run(upstream, client, data, text_transform_factory=Restorer)
    got = summarise(client.value, out)
    assert got["text"] == "Hello Alice Martin, the weather in Paris is <UNFIN"
    events = events_of(out)
    flat = [json.dumps(d) for _, d in events]
    unfin = next(i for i, s in enumerate(flat) if "<UNFIN" in s or "\\u003cUNFIN" in s)
    if client is K.ANTHROPIC:
        stop_at = next(
            i
            for i, (n, d) in enumerate(events)
            if n == "content_block_stop" and d["index"] == 0
        )
        assert unfin < stop_at
    if client is K.OPENAI:
        finish_at = next(
            i
            for i, (_, d) in enumerate(events)
            if isinstance(d, dict) and d["choices"] and d["choices"][0]["finish_reason"]
        )
        assert unfin <= finish_at


def test_same_format_openai_flushes_held_text_into_the_finish_chunk() -> None:
    data = openai_sse(
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {"content": "see <PERSON_"}, "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
    )  # fmt: skip
    out, _ = run(K.OPENAI, K.OPENAI, data, text_transform_factory=Restorer)
    got = summarise("openai", out)
    assert got["text"] == "see <PERSON_" and got["stop"] == "length"


def test_openai_client_gets_usage_chunk_only_when_asked() -> None:
    out, _ = run(K.ANTHROPIC, K.OPENAI, ANTHROPIC_STREAM)
    chunks = [d for _, d in events_of(out) if isinstance(d, dict)]
    assert all(c["choices"] for c in chunks), (
        "no choices-less chunk unless include_usage"
    )
    out, _ = run(K.ANTHROPIC, K.OPENAI, ANTHROPIC_STREAM, include_usage=True)
    usage_chunk = next(
        c for _, c in events_of(out) if isinstance(c, dict) and not c["choices"]
    )
    assert usage_chunk["usage"]["total_tokens"] == 48


def test_translated_stream_reports_the_requested_model_and_upstream_id() -> None:
    out, _ = run(K.ANTHROPIC, K.OPENAI, ANTHROPIC_STREAM)
    chunks = [d for _, d in events_of(out) if isinstance(d, dict)]
    assert {c["model"] for c in chunks} == {"the-model-asked-for"}
    assert {c["id"] for c in chunks} == {"msg_01XFDUDYJgAACzvnptvVoYEL"}


def test_anthropic_thinking_blocks_are_dropped_and_indices_stay_dense() -> None:
    data = anthropic_sse(
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
         "model": "c", "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "secret plan"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "answer"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    )  # fmt: skip
    out, st = run(K.ANTHROPIC, K.GEMINI, data)
    assert b"secret" not in out
    assert summarise("gemini", out)["text"] == "answer"
    assert summarise("gemini", out)["stop"] == "STOP"
    out, _ = run(K.ANTHROPIC, K.OPENAI, data)
    assert summarise("openai", out) == {
        "text": "answer",
        "tools": [],
        "stop": "stop",
        "usage": None,
    }
    assert st.usage == Usage(5, 9)


def test_upstream_error_event_becomes_the_clients_error_event() -> None:
    data = ANTHROPIC_STREAM.split(b"event: content_block_stop")[0] + anthropic_sse(
        {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }
    )
    out, _ = run(K.ANTHROPIC, K.OPENAI, data)
    last = events_of(out)[-1][1]
    assert (
        last["error"]["message"] == "Overloaded"
        and last["error"]["type"] == "server_error"
    )
    out, _ = run(K.ANTHROPIC, K.GEMINI, data)
    assert events_of(out)[-1][1]["error"]["status"] == "UNAVAILABLE"
    err = openai_sse(
        {
            "error": {
                "message": "Rate limit reached",
                "type": "rate_limit_error",
                "code": None,
            }
        },
        done=False,
    )
    out, _ = run(K.OPENAI, K.ANTHROPIC, err)
    name, body = events_of(out)[-1]
    assert name == "error" and body["error"]["message"] == "Rate limit reached"


def test_stream_cut_short_still_closes_the_client_stream() -> None:
    data = ANTHROPIC_STREAM[: ANTHROPIC_STREAM.index(b"event: content_block_stop")]
    out, _ = run(K.ANTHROPIC, K.OPENAI, data)
    assert events_of(out)[-1] == (None, "[DONE]")
    out, _ = run(
        K.OPENAI,
        K.ANTHROPIC,
        OPENAI_STREAM[: OPENAI_STREAM.index(b'"finish_reason": "tool_calls"') - 200],
    )
    names = [n for n, _ in events_of(out)]
    assert names[-1] == "message_stop" and names.count(
        "content_block_start"
    ) == names.count("content_block_stop")


def test_parallel_openai_tool_calls_become_separate_blocks() -> None:
    def chunk(tc: list, finish: str | None = None) -> dict:
        return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"tool_calls": tc} if tc else {}, "finish_reason": finish}]}  # fmt: skip

    data = openai_sse(
        chunk(
            [
                {
                    "index": 0,
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "f", "arguments": ""},
                }
            ]
        ),
        chunk([{"index": 0, "function": {"arguments": '{"x": 1}'}}]),
        chunk(
            [
                {
                    "index": 1,
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "g", "arguments": '{"y"'},
                }
            ]
        ),
        chunk([{"index": 1, "function": {"arguments": ": 2}"}}]),
        chunk([], "tool_calls"),
    )
    for client in (K.ANTHROPIC, K.GEMINI):
        out, _ = run(K.OPENAI, client, data)
        assert summarise(client.value, out)["tools"] == [
            ("f", {"x": 1}),
            ("g", {"y": 2}),
        ]


def test_crlf_framing_and_comments_from_upstream() -> None:
    data = b": keep-alive\r\n\r\n" + OPENAI_STREAM.replace(b"\n", b"\r\n")
    out, _ = run(K.OPENAI, K.ANTHROPIC, data)
    assert summarise("anthropic", out)["text"] == EXPECTED_TEXT_RAW


def test_gemini_prompt_blocked_maps_to_content_filter() -> None:
    data = b'data: {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}}\r\n\r\n'
    out, _ = run(K.GEMINI, K.OPENAI, data)
    assert summarise("openai", out)["stop"] == "content_filter"
    out, _ = run(K.GEMINI, K.ANTHROPIC, data)
    assert summarise("anthropic", out)["stop"] == "refusal"


def test_usage_requested_on_the_clients_behalf_is_read_then_stripped() -> None:
    from govproxy.translate import request_stream_usage, wants_stream_usage

    body = {"model": "gpt-4o", "messages": [], "stream": True}
    forced = request_stream_usage(body, K.OPENAI_COMPATIBLE)
    assert (
        forced["stream_options"] == {"include_usage": True}
        and "stream_options" not in body
    )
    assert request_stream_usage({"model": "m", "messages": []}, K.OPENAI) == {
        "model": "m",
        "messages": [],
    }
    st = StreamTranslator(
        K.OPENAI_COMPATIBLE,
        K.OPENAI,
        requested_model="m",
        include_usage=wants_stream_usage(body),
    )
    out = (
        b"".join(
            st.feed(OPENAI_STREAM[i : i + 50]) for i in range(0, len(OPENAI_STREAM), 50)
        )
        + st.finish()
    )
    chunks = [d for _, d in events_of(out) if isinstance(d, dict)]
    assert chunks and all(c["choices"] for c in chunks), (
        "the client never asked for the usage chunk"
    )
    assert events_of(out)[-1] == (None, "[DONE]")
    assert summarise("openai", out)["text"] == EXPECTED_TEXT_RAW
    assert st.usage == Usage(31, 17), "the router still learns the usage"


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
@pytest.mark.parametrize("client", CLIENTS)
def test_real_dlp_restorer_keeps_tool_arguments_valid_json(
    upstream: K, client: K
) -> None:
    """With the DLP vault's restorer: a value with quotes restored inside tool-call
    arguments (JSON text) is escaped there, and plain in the message text."""
    from govproxy.dlp import PseudonymVault, StreamRestorer

    vault = PseudonymVault()
    value = 'Alice "Al" Martin'
    ph = vault.placeholder_for("PERSON", value)
    data = (
        UPSTREAMS[upstream]
        .replace(b"<PER", ph[:4].encode())
        .replace(b"SON_1>", ph[4:].encode())
    )
    out, _ = run(
        upstream,
        client,
        data,
        [data[i : i + 9] for i in range(0, len(data), 9)],
        text_transform_factory=lambda: StreamRestorer(vault),
        arguments_transform_factory=lambda: StreamRestorer(vault, json_escape=True),
    )
    got = summarise(client.value, out)
    assert got["text"] == f"Hello {value}, the weather in Paris is é."
    assert got["tools"] == [("get_weather", {"city": value})]


def test_same_format_openai_restores_each_choice_separately() -> None:
    def chunk(ci: int, text: str | None, finish: str | None = None) -> dict:
        delta = {"content": text} if text is not None else {}
        return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": ci, "delta": delta, "finish_reason": finish}]}  # fmt: skip

    data = openai_sse(
        chunk(0, "A: <PER"),
        chunk(1, "B: <PERSON"),
        chunk(0, "SON_1>!"),
        chunk(1, "_1>?"),
        chunk(0, None, "stop"),
        chunk(1, None, "stop"),
    )
    out, _ = run(K.OPENAI, K.OPENAI, data, text_transform_factory=Restorer)
    texts: dict[int, str] = {}
    for _, d in events_of(out):
        if isinstance(d, dict):
            for ch in d["choices"]:
                texts[ch["index"]] = texts.get(ch["index"], "") + (
                    ch["delta"].get("content") or ""
                )
    assert texts == {0: "A: Alice Martin!", 1: "B: Alice Martin?"}


def test_gemini_json_array_stream_passes_through_unbuffered() -> None:
    """Gemini without alt=sse streams a JSON array; it is forwarded as it comes."""
    pieces = [
        b"[{",
        b'"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}\r\n',
        b',\r\n{"candidates": []}]',
    ]
    st = StreamTranslator(
        K.GEMINI, K.GEMINI, requested_model="g", text_transform_factory=Restorer
    )
    assert [st.feed(p) for p in pieces] == pieces
    assert st.finish() == b""
