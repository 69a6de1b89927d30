"""Malformed bodies and events: a clear TranslationError or a skipped event, never a crash."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from govproxy.models import ProviderKind as K
from govproxy.translate import (
    StreamTranslator,
    TranslationError,
    extract_usage,
    translate_request,
    translate_response,
)

from ._samples import (
    ANTHROPIC_STREAM,
    GEMINI_STREAM,
    OPENAI_STREAM,
    Restorer,
    events_of,
)
from .test_requests import ANTHROPIC_REQ, GEMINI_REQ, OPENAI_REQ
from .test_responses import RESPONSES

JUNK: list[Any] = [None, 0, -1, 3.5, "", "x", [], [1, "a"], {}, {"type": "weird"}, True]


def _paths(v: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, (*prefix, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, (*prefix, i))
    return out


def _mutated(body: Any, rng: random.Random) -> Any:
    body = copy.deepcopy(body)
    path = rng.choice(_paths(body)[1:])
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = rng.choice(JUNK)
    return body


@pytest.mark.parametrize(
    "src,body",
    [(K.OPENAI, OPENAI_REQ), (K.ANTHROPIC, ANTHROPIC_REQ), (K.GEMINI, GEMINI_REQ)],
)
def test_mutated_requests_raise_only_translation_errors(src: K, body: dict) -> None:
    rng = random.Random(f"req-{src}")
    for _ in range(300):
        bad = _mutated(body, rng)
        for dst in (K.OPENAI, K.ANTHROPIC, K.GEMINI):
            try:
                translate_request(bad, src, dst, target_model="t", stream=False)
            except TranslationError:
                pass


@pytest.mark.parametrize("src", list(RESPONSES))
def test_mutated_responses_raise_only_translation_errors(src: K) -> None:
    rng = random.Random(f"resp-{src}")
    for _ in range(300):
        bad = _mutated(RESPONSES[src], rng)
        assert extract_usage(bad, src) is None or isinstance(
            extract_usage(bad, src), tuple
        )
        for dst in (K.OPENAI, K.ANTHROPIC, K.GEMINI):
            try:
                translate_response(bad, src, dst, requested_model="m")
            except TranslationError:
                pass


@pytest.mark.parametrize(
    "upstream,data",
    [
        (K.OPENAI, OPENAI_STREAM),
        (K.ANTHROPIC, ANTHROPIC_STREAM),
        (K.GEMINI, GEMINI_STREAM),
    ],
)
def test_mutated_stream_events_are_skipped_not_fatal(upstream: K, data: bytes) -> None:
    rng = random.Random(f"stream-{upstream}")
    events = [d for _, d in events_of(data)]
    for _ in range(60):
        i = rng.randrange(len(events))
        mutated = list(events)
        if isinstance(mutated[i], dict) and rng.random() < 0.8:
            mutated[i] = _mutated(mutated[i], rng)
        else:
            mutated[i] = rng.choice(["{not json", "[1,2", "null", '"s"', "42"])
        blob = b"".join(
            b"data: " + (e if isinstance(e, str) else json.dumps(e)).encode() + b"\n\n"
            for e in mutated
        )
        for client in (K.OPENAI, K.ANTHROPIC, K.GEMINI):
            for factory in (None, Restorer):
                st = StreamTranslator(
                    upstream,
                    client,
                    requested_model="m",
                    text_transform_factory=factory,
                )
                out = st.feed(blob) + st.finish()
                assert isinstance(out, bytes)
