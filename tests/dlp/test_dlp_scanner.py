"""Scanner behaviour: what is scanned, sensitivity classification, failing closed, config
validation, custom detectors and dictionaries, and that results never carry raw values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from govproxy.dlp import (
    DlpConfig,
    PseudonymVault,
    Scanner,
    Sensitivity,
    raise_sensitivity,
)
from govproxy.dlp.config import HmacKeyError, load_hmac_key
from govproxy.dlp.detectors.base import Detector, Everywhere
from govproxy.dlp.model import Category

KEY = b"test-key-0123456789abcdef"


def scan(texts, config: DlpConfig | None = None, **kw):
    return Scanner(config, hmac_key=KEY, **kw).scan(texts)


def test_clean_text_is_public() -> None:
    r = scan(
        ["Summarise the quarterly report in 3 bullet points, version 2.1 of 2024."]
    )
    assert r.findings == () and r.sensitivity is Sensitivity.PUBLIC and r.errors == ()


def test_default_levels_by_type() -> None:
    assert scan(["mail a@example.com"]).sensitivity is Sensitivity.INTERNAL
    assert scan(["card 4111 1111 1111 1111"]).sensitivity is Sensitivity.CONFIDENTIAL
    assert scan(["SSN 536-22-1234"]).sensitivity is Sensitivity.CONFIDENTIAL
    assert scan(["token ghp_" + "aB3d" * 9]).sensitivity is Sensitivity.CRITICAL


def test_counts_and_text_index() -> None:
    r = scan(
        ["no pii here", "a@example.com and b@example.com", "card 4111111111111111"]
    )
    assert r.counts == {"EMAIL_ADDRESS": 2, "CREDIT_CARD": 1}
    assert [f.text_index for f in r.findings] == [1, 1, 2]
    assert r.chars == sum(
        len(t)
        for t in [
            "no pii here",
            "a@example.com and b@example.com",
            "card 4111111111111111",
        ]
    )


def test_combination_rule_raises_level() -> None:
    text = "mail a@example.com, born 1984-07-23"
    assert (
        scan([text]).sensitivity is Sensitivity.CONFIDENTIAL
    )  # default rule EMAIL + DATE_OF_BIRTH
    cfg = DlpConfig.model_validate({"sensitivity": {"rules": []}})
    assert scan([text], cfg).sensitivity is Sensitivity.INTERNAL
    cfg = DlpConfig.model_validate(
        {
            "sensitivity": {
                "rules": [
                    {"all_of": ["EMAIL_ADDRESS"], "min_count": 3, "level": "critical"}
                ]
            }
        }
    )
    assert (
        scan(["a@example.com b@example.com"], cfg).sensitivity is Sensitivity.INTERNAL
    )
    assert (
        scan(["a@example.com b@example.com c@example.com"], cfg).sensitivity
        is Sensitivity.CRITICAL
    )


def test_level_table_is_configurable() -> None:
    cfg = DlpConfig.model_validate(
        {"sensitivity": {"levels": {"EMAIL_ADDRESS": "confidential"}}}
    )
    assert scan(["a@example.com"], cfg).sensitivity is Sensitivity.CONFIDENTIAL


def test_header_can_raise_but_not_lower() -> None:
    r = scan(["card 4111 1111 1111 1111"])
    assert r.raised_to("critical").sensitivity is Sensitivity.CRITICAL
    assert r.raised_to("public").sensitivity is Sensitivity.CONFIDENTIAL
    assert r.raised_to(None).sensitivity is Sensitivity.CONFIDENTIAL
    assert raise_sensitivity(Sensitivity.PUBLIC, " Internal ") is Sensitivity.INTERNAL
    with pytest.raises(ValueError, match="unknown sensitivity"):
        r.raised_to("top-secret")


def _raising(_: str) -> bool:
    raise RuntimeError("validator bug with the value 4111111111111111 in its message")


def test_detector_exception_fails_closed_without_leaking_text() -> None:
    broken = Detector(
        name="broken", entity_type="BROKEN", category=Category.CUSTOM, anchor=Everywhere(),
        pattern=re.compile(r"[0-9]{4}"), validate=_raising,
    )  # fmt: skip
    r = Scanner(hmac_key=KEY, extra_detectors=[broken]).scan(
        ["card 4111111111111111 and mail a@example.com"]
    )
    assert r.sensitivity is Sensitivity.CRITICAL
    assert r.errors and "broken" in r.errors[0] and "RuntimeError" in r.errors[0]
    assert "4111" not in " ".join(r.errors)
    assert r.counts.get("EMAIL_ADDRESS") == 1  # the other detectors still ran


def test_time_budget_exceeded_fails_closed() -> None:
    cfg = DlpConfig(time_budget_ms=0.001, time_budget_ms_per_mb=0)
    r = scan(["plain text " * 2000, "more text"], cfg)
    assert r.sensitivity is Sensitivity.CRITICAL
    assert any("time budget" in e for e in r.errors)


def test_non_string_text_fails_closed() -> None:
    r = scan(["ok", 42])  # type: ignore[list-item]
    assert r.sensitivity is Sensitivity.CRITICAL and "not a string" in r.errors[0]


def test_disabled_scanner_reports_public() -> None:
    r = scan(["card 4111 1111 1111 1111"], DlpConfig(enabled=False))
    assert r.findings == () and r.sensitivity is Sensitivity.PUBLIC


def test_images_are_reported_as_unscanned() -> None:
    r = Scanner(hmac_key=KEY).scan(["look at this"], images=2)
    assert r.images == 2 and r.summary()["images_unscanned"] == 2


def test_no_raw_value_in_repr_or_serialisation() -> None:
    secret_values = [
        "4111 1111 1111 1111",
        "jane.doe@example.com",
        "536-22-1234",
        "hunter2-xyz",
    ]
    text = f"card {secret_values[0]} mail {secret_values[1]} ssn {secret_values[2]} password = '{secret_values[3]}'"
    r = scan([text])
    assert len(r.findings) == 4
    dumped = (
        repr(r)
        + json.dumps(r.to_dict())
        + json.dumps(r.summary())
        + "".join(repr(f) for f in r.findings)
    )
    for value in secret_values:
        assert value not in dumped
        assert value.replace(" ", "") not in dumped


def test_value_hash_is_stable_per_key_and_differs_across_keys() -> None:
    a1 = Scanner(hmac_key=KEY).scan(["a@example.com"]).findings[0].value_hash
    a2 = Scanner(hmac_key=KEY).scan(["again a@example.com"]).findings[0].value_hash
    b = (
        Scanner(hmac_key=b"another-key-0123456789")
        .scan(["a@example.com"])
        .findings[0]
        .value_hash
    )
    assert a1 == a2 != b


def test_allow_list_values_and_patterns() -> None:
    cfg = DlpConfig.model_validate(
        {
            "allow": {
                "values": ["support@example.com"],
                "patterns": [r"10\.0\.0\.[0-9]{1,3}"],
            }
        }
    )
    r = scan(["support@example.com, bob@example.com, 10.0.0.7, 192.168.1.9"], cfg)
    assert r.counts == {"EMAIL_ADDRESS": 1, "IP_ADDRESS": 1}


def test_detector_selection() -> None:
    cfg = DlpConfig(disabled_detectors=["email"])
    assert scan(["a@example.com 4111111111111111"], cfg).counts == {"CREDIT_CARD": 1}
    cfg = DlpConfig(detectors=["email"])
    assert scan(["a@example.com 4111111111111111"], cfg).counts == {"EMAIL_ADDRESS": 1}
    with pytest.raises(ValidationError, match="unknown detector 'emial'"):
        DlpConfig(disabled_detectors=["emial"])


def test_custom_detector_with_validator_and_context() -> None:
    cfg = DlpConfig.model_validate(
        {
            "custom": [
                {
                    "entity_type": "EMPLOYEE_ID",
                    "pattern": r"\bEMP-[0-9]{6}\b",
                    "keywords": ["emp-"],
                },
                {
                    "entity_type": "ACCOUNT_NO",
                    "pattern": r"\b[0-9]{16}\b",
                    "validator": "luhn",
                    "context": ["account"],
                    "context_window": 12,
                },
            ]
        }
    )
    # 1234567812345670 passes Luhn but has no card issuer prefix, so only the custom type can claim it
    text = "EMP-123456 has account 1234567812345670; elsewhere 1234567812345670 and 1234567812345678"
    r = scan([text], cfg)
    assert [(f.entity_type, f.start) for f in r.findings] == [
        ("EMPLOYEE_ID", 0),
        ("ACCOUNT_NO", text.index("1234567812345670")),
    ]
    assert r.sensitivity is Sensitivity.CONFIDENTIAL  # custom category default


def test_custom_detector_rejects_unsafe_or_broken_patterns() -> None:
    with pytest.raises(ValidationError, match="catastrophically"):
        DlpConfig.model_validate(
            {"custom": [{"entity_type": "BAD", "pattern": r"(a+)+$"}]}
        )
    with pytest.raises(ValidationError, match="does not compile"):
        DlpConfig.model_validate(
            {"custom": [{"entity_type": "BAD", "pattern": r"(unclosed"}]}
        )
    with pytest.raises(ValidationError, match="unknown validator"):
        DlpConfig.model_validate(
            {"custom": [{"entity_type": "BAD", "pattern": r"x", "validator": "nope"}]}
        )
    with pytest.raises(ValidationError, match="backreferences"):
        DlpConfig.model_validate(
            {"custom": [{"entity_type": "BAD", "pattern": r"(a)\1"}]}
        )


def test_dictionary_from_file(tmp_path: Path) -> None:
    (tmp_path / "codenames.txt").write_text(
        "# project code names\nBlue Falcon\nNightjar\n", encoding="utf-8"
    )
    cfg = DlpConfig.model_validate(
        {"dictionaries": [{"entity_type": "CODENAME", "files": ["codenames.txt"]}]}
    )
    r = Scanner(cfg, hmac_key=KEY, base_dir=tmp_path).scan(
        ["Status of blue falcon and NIGHTJAR; not nightjars or Blue Falconry."]
    )
    text = "Status of blue falcon and NIGHTJAR; not nightjars or Blue Falconry."
    assert [text[f.start : f.end] for f in r.findings] == ["blue falcon", "NIGHTJAR"]
    assert r.sensitivity is Sensitivity.CONFIDENTIAL


def test_large_dictionary_uses_one_pass(tmp_path: Path) -> None:
    terms = [f"customer{i:04d} corp" for i in range(500)]
    cfg = DlpConfig.model_validate(
        {"dictionaries": [{"entity_type": "CUSTOMER", "terms": terms}]}
    )
    r = Scanner(cfg, hmac_key=KEY).scan(
        ["deal with Customer0420 Corp and customer9999 corp"]
    )
    assert r.counts == {"CUSTOMER": 1}


def test_missing_dictionary_file_is_a_clear_error(tmp_path: Path) -> None:
    cfg = DlpConfig.model_validate(
        {"dictionaries": [{"entity_type": "CODENAME", "files": ["missing.txt"]}]}
    )
    with pytest.raises(ValueError, match="missing.txt"):
        Scanner(cfg, hmac_key=KEY, base_dir=tmp_path)


def test_hmac_key_from_file_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "k").write_bytes(b"0123456789abcdef0123456789abcdef\n")
    assert (
        load_hmac_key(DlpConfig(hmac_key_file="k"), tmp_path)
        == b"0123456789abcdef0123456789abcdef"
    )
    monkeypatch.setenv("GOVPROXY_TEST_DLP_KEY", "fedcba9876543210fedcba")
    assert (
        load_hmac_key(DlpConfig(hmac_key_env="GOVPROXY_TEST_DLP_KEY"))
        == b"fedcba9876543210fedcba"
    )
    with pytest.raises(HmacKeyError, match="not set"):
        load_hmac_key(DlpConfig(hmac_key_env="GOVPROXY_TEST_DLP_KEY_MISSING"))
    (tmp_path / "short").write_bytes(b"abc")
    with pytest.raises(HmacKeyError, match="shorter"):
        load_hmac_key(DlpConfig(hmac_key_file="short"), tmp_path)
    assert Scanner(DlpConfig()).ephemeral_key is True


def test_scan_request_reads_only_the_texts_the_model_sees() -> None:
    from govproxy.models import (
        EndpointKind,
        LLMRequest,
        ProviderKind,
        TextRole,
        TextSegment,
    )

    req = LLMRequest(
        provider="openai", provider_kind=ProviderKind.OPENAI, endpoint=EndpointKind.CHAT, method="POST",
        scheme="https", host="api.openai.com", port=443, path="/v1/chat/completions", model="gpt-4o-mini",
        texts=(
            TextSegment(role=TextRole.SYSTEM, text="You are helpful.", pointer="/messages/0/content"),
            TextSegment(role=TextRole.USER, text="Email bob@example.com", pointer="/messages/1/content"),
            TextSegment(role=TextRole.TOOL_CALL, text='{"card": "4111111111111111"}', pointer="/messages/2/tool_calls/0/function/arguments"),
        ),
        images=1,
    )  # fmt: skip
    r = Scanner(hmac_key=KEY).scan_request(req)
    assert [(f.entity_type, f.text_index) for f in r.findings] == [
        ("EMAIL_ADDRESS", 1),
        ("CREDIT_CARD", 2),
    ]
    assert r.images == 1 and r.sensitivity is Sensitivity.CONFIDENTIAL


def test_many_short_texts_give_the_same_findings_as_one_by_one() -> None:
    texts = [
        "You are a helpful assistant.",
        "mail a@example.com",
        "",
        "card 4111 1111 1111 1111 and ssn 536-22-1234",
        "-----BEGIN PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\nMTIzNDU2",
        "next message: ghp_" + "aB3d" * 9,
        "ip 10.1.2.3",
    ]
    scanner = Scanner(hmac_key=KEY)
    together = scanner.scan(texts)
    one_by_one = [
        f._replace(text_index=i)
        for i, t in enumerate(texts)
        for f in scanner.scan([t]).findings
    ]
    assert together.findings == tuple(one_by_one)
    pem = next(f for f in together.findings if f.entity_type == "PRIVATE_KEY")
    assert pem.text_index == 4 and pem.end == len(
        texts[4]
    )  # the unterminated key stops at its text's end
    assert together.counts == {
        "EMAIL_ADDRESS": 1,
        "CREDIT_CARD": 1,
        "US_SSN": 1,
        "PRIVATE_KEY": 1,
        "GITHUB_TOKEN": 1,
        "IP_ADDRESS": 1,
    }


def test_batched_redaction_maps_back_to_each_text() -> None:
    texts = ["from a@example.com", "to b@example.com", "cc a@example.com"]
    scanner = Scanner(hmac_key=KEY)
    out = scanner.redact(texts, scanner.scan(texts), vault=PseudonymVault())
    assert out == ["from [EMAIL_1]", "to [EMAIL_2]", "cc [EMAIL_1]"]


def test_config_section_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"govproxy.yaml: dlp.default_action"):
        DlpConfig.from_section({"default_action": "shred"}, "govproxy.yaml")
    with pytest.raises(ValueError, match=r"dlp.unknown_key"):
        DlpConfig.from_section({"unknown_key": 1}, "govproxy.yaml")
    assert DlpConfig.from_section(None).enabled is True


def test_phone_regions_are_validated_and_used() -> None:
    with pytest.raises(ValidationError, match="unknown phone region"):
        DlpConfig(phone_regions=["ZZ"])
    text = "number 030 901820 today"  # a Berlin number in national format, no phone words nearby
    assert scan([text], DlpConfig(phone_regions=["DE"])).counts == {"PHONE_NUMBER": 1}
    assert scan([text], DlpConfig(phone_regions=["US"])).counts == {}
