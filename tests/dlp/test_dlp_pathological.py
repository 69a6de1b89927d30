"""Inputs built to make backtracking regexes blow up must be scanned in linear time.

Each case is ~100 KB of near-matches for one detector family. The assertions are on
behaviour (the scan returns, with the right findings and no errors); the timeout is only a
generous guard so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import pytest

from govproxy.dlp import DlpConfig, Scanner, Sensitivity

SCANNER = Scanner(
    DlpConfig(time_budget_ms=60_000), hmac_key=b"test-key-0123456789abcdef"
)
SIZE = 100_000


def _fill(unit: str) -> str:
    return (unit * (SIZE // len(unit) + 1))[:SIZE]


CASES = [
    ("digits with separators", _fill("1-2 3.4-5 6 7-8 9 0 "), set()),
    ("long digit run", "9" * SIZE, set()),
    ("almost-cards", _fill("4111 1111 1111 1112 "), set()),
    ("almost-emails", _fill("a.b.c.d.e.f@") + " end", set()),
    ("local part without domain", _fill("x") + "@", set()),
    ("domain labels", "user@" + _fill("a-") + "b", set()),
    ("almost-iban letters and digits", _fill("GB82WEST1234 "), set()),
    ("iban-like alnum run", "GB82" + _fill("A1"), set()),
    ("colons for ipv6/mac", _fill("a:b:"), set()),
    ("dashes for mac", _fill("0a-"), set()),
    ("url credential prefix", _fill("http://user:pass"), set()),
    ("password keyword flood", _fill("password= "), set()),
    ("secret keyword flood", _fill("secret: key: token= "), set()),
    (
        "pem begin without end",
        "-----BEGIN PRIVATE KEY-----\n" + _fill("QUJD\n"),
        {"PRIVATE_KEY"},
    ),
    ("jwt-like", "eyJ" + _fill("a") + "." + "b" * 100, set()),
    ("street words", _fill("12 Main Main Main "), set()),
    ("phone context flood", _fill("call 12 "), set()),
    ("parentheses", _fill("(1) "), set()),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("name", "text", "expected_types"), CASES, ids=[c[0] for c in CASES]
)
def test_pathological_input_is_scanned_correctly(
    name: str, text: str, expected_types: set[str]
) -> None:
    result = SCANNER.scan([text])
    assert result.errors == ()
    assert set(result.counts) == expected_types


@pytest.mark.timeout(120)
def test_real_findings_survive_in_a_large_noisy_text() -> None:
    noise = _fill("1-2 3.4 a@ b: password ")
    text = noise + " mail alice@example.com card 4111 1111 1111 1111 " + noise
    result = SCANNER.scan([text])
    assert result.counts == {"EMAIL_ADDRESS": 1, "CREDIT_CARD": 1}
    assert result.sensitivity is Sensitivity.CONFIDENTIAL
