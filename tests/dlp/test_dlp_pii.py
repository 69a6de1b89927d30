"""PII detectors: each entity type with positives (value found with its exact span) and
near-miss negatives that fail the validator or lack the context the type needs."""

from __future__ import annotations

import pytest

from govproxy.dlp import Scanner
from govproxy.dlp import validators as v
from govproxy.dlp.detectors import BUILTIN_DETECTORS

SCANNER = Scanner(hmac_key=b"test-key-0123456789abcdef")


def found(text: str) -> set[tuple[str, str]]:
    return {
        (f.entity_type, text[f.start : f.end]) for f in SCANNER.scan([text]).findings
    }


POSITIVES = [
    ("CREDIT_CARD", "card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "pay with 5500-0000-0000-0004 please", "5500-0000-0000-0004"),
    ("CREDIT_CARD", "amex 378282246310005.", "378282246310005"),
    ("CREDIT_CARD", "digits:6011111111111117", "6011111111111117"),
    ("CREDIT_CARD", "ref 12 4111111111111111", "4111111111111111"),
    (
        "IBAN_CODE",
        "IBAN: DE89 3704 0044 0532 0130 00 thanks",
        "DE89 3704 0044 0532 0130 00",
    ),
    ("IBAN_CODE", "send to gb82west12345698765432 today", "gb82west12345698765432"),
    ("IBAN_CODE", "FR1420041010050500013M02606", "FR1420041010050500013M02606"),
    ("US_SSN", "SSN 536-22-1234 on file", "536-22-1234"),
    ("US_SSN", "my social security number is 536221234", "536221234"),
    ("US_ITIN", "ITIN 912-78-1234", "912-78-1234"),
    ("UK_NINO", "NI number AB 12 34 56 C", "AB 12 34 56 C"),
    ("EU_VAT", "VAT DE136695976 applies", "DE136695976"),
    ("ES_NIF", "DNI 12345678Z", "12345678Z"),
    ("FR_NIR", "NIR 2 55 08 14 168 025 38", "2 55 08 14 168 025 38"),
    ("IT_FISCAL_CODE", "codice fiscale RSSMRA85T10A562S", "RSSMRA85T10A562S"),
    ("NL_BSN", "mijn BSN is 111222333", "111222333"),
    (
        "EMAIL_ADDRESS",
        "write to Jane.Doe+ml@mail.example.co.uk.",
        "Jane.Doe+ml@mail.example.co.uk",
    ),
    ("PHONE_NUMBER", "call me on (415) 555-2671 tomorrow", "(415) 555-2671"),
    ("PHONE_NUMBER", "office +44 20 7946 0958", "+44 20 7946 0958"),
    ("PHONE_NUMBER", "Tel: 030 901820", "030 901820"),
    ("PHONE_NUMBER", "reach me at 212.555.0142 x204", "212.555.0142 x204"),
    ("PHONE_NUMBER", "our number is 415-555-2671", "415-555-2671"),
    ("IP_ADDRESS", "server 192.168.10.42 is down", "192.168.10.42"),
    (
        "IP_ADDRESS",
        "v6 2001:db8:85a3::8a2e:370:7334 ok",
        "2001:db8:85a3::8a2e:370:7334",
    ),
    ("MAC_ADDRESS", "mac 00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5e"),
    ("MAC_ADDRESS", "nic 00-1A-2B-3C-4D-5E", "00-1A-2B-3C-4D-5E"),
    ("DATE_OF_BIRTH", "Date of birth: 1984-07-23", "1984-07-23"),
    ("DATE_OF_BIRTH", "she was born on March 3, 1979 in Ohio", "March 3, 1979"),
    (
        "STREET_ADDRESS",
        "ship to 1600 Pennsylvania Avenue, Washington, DC 20500 asap",
        "1600 Pennsylvania Avenue, Washington, DC 20500",
    ),
]


@pytest.mark.parametrize(
    ("entity_type", "text", "value"),
    POSITIVES,
    ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(POSITIVES)],
)
def test_positive(entity_type: str, text: str, value: str) -> None:
    assert (entity_type, value) in found(text)


NEGATIVES = [
    ("CREDIT_CARD", "order 4111 1111 1111 1112 failed Luhn"),
    ("CREDIT_CARD", "0000 0000 0000 0000"),
    ("CREDIT_CARD", "tracking 1234567812345670 is Luhn-valid but no issuer"),
    ("IBAN_CODE", "DE89 3704 0044 0532 0130 01 has a bad checksum"),
    (
        "US_SSN",
        "000-12-3456, 666-12-3456, 912-34-5678 and 123-00-4567 are never issued",
    ),
    ("US_SSN", "a bare 536221234 without context"),
    ("EMAIL_ADDRESS", "user@localhost, @mention, a@b, foo@bar..com"),
    ("PHONE_NUMBER", "version 1.2.3.4, pi 3.14159265, year 2024, total 1,234,567"),
    ("PHONE_NUMBER", "released 2024-03-15 at 10:42:17 UTC"),
    ("PHONE_NUMBER", "driver's license number is 425700624"),
    ("PHONE_NUMBER", "I live at Apt. 722 20 40 rue Victor Hugo"),
    ("IP_ADDRESS", "version 1.2.3.400 and 999.1.1.1 and a::b in C++"),
    ("MAC_ADDRESS", "ratio 12:30:45 and time 10-20-30"),
    ("DATE_OF_BIRTH", "the meeting is on 1984-07-23"),
    ("NL_BSN", "order 111222333 shipped"),
]


@pytest.mark.parametrize(
    ("entity_type", "text"),
    NEGATIVES,
    ids=[f"{t}-{i}" for i, (t, _) in enumerate(NEGATIVES)],
)
def test_negative(entity_type: str, text: str) -> None:
    assert [val for t, val in found(text) if t == entity_type] == []


def test_obvious_test_card_is_still_a_card() -> None:
    assert v.card_ok("4111111111111111") and v.card_ok("4242 4242 4242 4242")


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("536-22-1234", True),
        ("000-22-1234", False),
        ("666-22-1234", False),
        ("900-22-1234", False),
        ("536-00-1234", False),
        ("536-22-0000", False),
    ],
)
def test_ssn_rules(number: str, ok: bool) -> None:
    assert v.ssn_ok(number) is ok


@pytest.mark.parametrize(
    ("iban", "ok"),
    [
        ("GB82WEST12345698765432", True),
        ("GB82WEST12345698765433", False),
        ("GB82WEST1234569876543", False),
        ("XX82WEST12345698765432", False),
    ],
)
def test_iban_length_and_mod97(iban: str, ok: bool) -> None:
    assert v.iban_ok(iban) is ok


def test_nino_prefix_rules() -> None:
    assert v.nino_ok("AB123456C")
    assert not v.nino_ok("GB123456C")  # never-issued prefix
    assert not v.nino_ok("DA123456C")  # D not allowed first
    assert not v.nino_ok("AB123456E")  # suffix A-D only


def test_detector_names_are_unique_and_described() -> None:
    names = [d.name for d in BUILTIN_DETECTORS]
    assert len(names) == len(set(names))
    assert all(d.description for d in BUILTIN_DETECTORS)


def test_overlap_goes_to_the_higher_priority_type() -> None:
    # an SSN-shaped value is not also reported as a phone number
    types = [t for t, _ in found("SSN 536-22-1234 call")]
    assert types == ["US_SSN"]


def test_unicode_offsets_stay_aligned() -> None:
    text = "İİİ Straße ✓ mail x@example.org now"
    f = SCANNER.scan([text]).findings
    assert [(x.entity_type, text[x.start : x.end]) for x in f] == [
        ("EMAIL_ADDRESS", "x@example.org")
    ]
