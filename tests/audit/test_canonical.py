"""Record rules: what may be recorded, and which bytes count as canonical."""

from __future__ import annotations

import json

import pytest
import rfc8785

from govproxy.audit.canonical import NonCanonical, check_payload, parse_canonical
from govproxy.audit.errors import RecordRejected


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"cost": 0.25}, "payload.cost"),
        ({"usage": {"tokens": 2**60}}, "payload.usage.tokens"),
        ({"headers": {"Authorization": "x"}}, "payload.headers.Authorization"),
        ({"x-api-key": "x"}, "payload.x-api-key"),
        ({"api_key": "x"}, "payload.api_key"),
        ({"when": object()}, "payload.when"),
        ({1: "int key"}, "payload"),
        ({"text": "lone \ud800 surrogate"}, "payload"),
    ],
)
def test_rejected_payloads_name_the_path_not_the_value(bad, where):
    with pytest.raises(RecordRejected) as info:
        check_payload(bad)
    assert where in str(info.value)
    assert "sk-proj-ABCDEFGH" not in str(info.value) and "abcdef" not in str(info.value)


def test_credential_shaped_text_is_removed_not_recorded():
    from govproxy.audit.canonical import canonical_payload

    data = canonical_payload(
        {
            "error": "401: Incorrect API key provided: sk-proj-ABCDEFGHIJKLMNOPQRSTUV",
            "list": ["ok", "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "Basic plan"],
            "google": "key=AIzaSyA-1234567890abcdefghijklmnopqrstu",
        }
    )
    assert (
        b"sk-proj-ABCDEF" not in data
        and b"eyJhbGci" not in data
        and b"AIzaSyA" not in data
    )
    assert data.count(b"[credential removed]") == 3 and b"Basic plan" in data
    assert data == rfc8785.dumps(json.loads(data))


def test_accepted_payload_kinds():
    check_payload(
        {"a": [1, -(2**53 - 1), True, None, "text", {"b": "c"}], "cost_micro_usd": 1234}
    )


def test_canonical_bytes_round_trip():
    value = {"b": [1, "é", {"z": None, "a": True}], "a": "\u0001x", "\u00e9": 2}
    data = rfc8785.dumps(value)
    assert parse_canonical(data) == value


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}',  # whitespace
        b'{"b":1,"a":2}',  # key order
        b'{"a":1,"a":1}',  # duplicate keys
        b'{"a":"\\u0061"}',  # unnecessary escape
        b'{"a":"\\/"}',  # escaped solidus
        b'{"a":12345678901234567890}',  # huge integer
        b'{"a":1.0}',  # float
        b'{"a":1e2}',
        b'{"a":NaN}',
        b'{"a":"\xff"}',  # invalid UTF-8
        b'{"a":1}\n',  # trailing newline
        b'{"a":"\\ud800"}',  # lone surrogate
    ],
)
def test_noncanonical_bytes_are_refused(data):
    with pytest.raises(NonCanonical):
        parse_canonical(data)


def test_fast_path_agrees_with_rfc8785_on_records(store):
    import sqlite3

    conn = sqlite3.connect(store.db)
    for (body,) in conn.execute("SELECT body FROM records"):
        assert rfc8785.dumps(json.loads(body)) == body
        assert parse_canonical(body)["v"] == 1


def _random_value(rng, depth=0):
    import random as _r  # noqa: F401

    alphabet = [
        "a",
        "Z",
        "0",
        " ",
        '"',
        "\\",
        "\n",
        "\t",
        "\x01",
        "\x1f",
        "\x7f",
        "é",
        "€",
        "\u2028",
        "😀",
        "\ufeff",
        "/",
    ]
    pick = rng.random()
    if depth > 3 or pick < 0.3:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
    if pick < 0.45:
        return rng.randint(-(2**53 - 1), 2**53 - 1)
    if pick < 0.5:
        return rng.choice([True, False, None])
    if pick < 0.7:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["a", "b", "A", "_", "a_b", "z9", 'key"q', "tab\tkey", ""]
    return {
        rng.choice(keys): _random_value(rng, depth + 1)
        for _ in range(rng.randint(0, 5))
    }


def test_fast_encoder_matches_rfc8785_on_generated_payloads():
    import random

    from govproxy.audit.canonical import canonical

    rng = random.Random(7)
    for _ in range(3000):
        value = {"p": _random_value(rng)}
        assert canonical(value) == rfc8785.dumps(value)
    # non-ASCII keys take the rfc8785 path (UTF-16 key order differs from code points)
    tricky = {"\U0001f600": 1, "\ufb01": 2, "a": 3}
    assert canonical(tricky) == rfc8785.dumps(tricky)


def test_nesting_deeper_than_the_fast_encoder_allows_still_encodes_canonically():
    """The fast C encoder refuses very deep nesting; such payloads take the slower path
    and produce the same RFC 8785 bytes instead of being refused."""
    from govproxy.audit.canonical import canonical_payload

    value: object = "leaf"
    for i in range(300):
        value = {"k": value} if i % 2 else [value]
    payload = {"deep": value}
    assert canonical_payload(payload) == rfc8785.dumps(payload)
