"""The incremental SSE parser against the framing rules of the SSE specification."""

from __future__ import annotations

import pytest

from govproxy.translate.sse import SSEParser


def parse_all(
    data: bytes, step: int | None = None
) -> list[tuple[str | None, str | None]]:
    p = SSEParser()
    events = []
    if step is None:
        events += p.feed(data)
    else:
        for i in range(0, len(data), step):
            events += p.feed(data[i : i + step])
    events += p.finish()
    return [(e.event, e.data) for e in events]


SAMPLE = (
    b": this is a comment\n\n"
    b'event: content_block_delta\ndata: {"a": 1}\n\n'
    b"data: line one\ndata: line two\n\n"
    b"data:no-space\r\n\r\n"
    b"id: 5\nretry: 100\ndata:  two spaces\n\n"
    b"data: caf\xc3\xa9 \xe2\x82\xac\r\r"
    b"event: x\ndata\n\n"
)
EXPECTED = [
    (None, None),
    ("content_block_delta", '{"a": 1}'),
    (None, "line one\nline two"),
    (None, "no-space"),
    (None, " two spaces"),
    (None, "café €"),
    ("x", ""),
]


@pytest.mark.parametrize("step", [None, 1, 2, 3, 5, 64])
def test_framing_rules_hold_for_any_chunk_size(step: int | None) -> None:
    assert parse_all(SAMPLE, step) == EXPECTED


def test_every_two_way_split() -> None:
    for cut in range(1, len(SAMPLE)):
        p = SSEParser()
        events = p.feed(SAMPLE[:cut]) + p.feed(SAMPLE[cut:]) + p.finish()
        assert [(e.event, e.data) for e in events] == EXPECTED, cut


def test_event_is_dispatched_on_its_blank_line_not_before() -> None:
    p = SSEParser()
    assert p.feed(b"data: hello\n") == []
    (ev,) = p.feed(b"\n")
    assert ev.data == "hello"


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    p = SSEParser()
    assert p.feed(b"data: a\r") == []
    assert p.feed(b"\n") == []
    (ev,) = p.feed(b"\r\n")
    assert ev.data == "a"
    assert p.finish() == []


def test_unterminated_final_event_is_delivered_at_finish() -> None:
    p = SSEParser()
    assert p.feed(b"data: [DONE]") == []
    (ev,) = p.finish()
    assert ev.data == "[DONE]"


def test_raw_lines_are_kept_for_verbatim_passthrough() -> None:
    p = SSEParser()
    (ev,) = p.feed(b'event: ping\r\ndata: {"type": "ping"}\r\n\r\n')
    assert ev.raw == ["event: ping", 'data: {"type": "ping"}']
