"""Secrets table: one realistic-format fake per provider must be found with the right type
and exact span; hard negatives (UUIDs, lockfile hashes, SRI, git SHAs, identifiers,
placeholders) must produce no secret finding."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from govproxy.dlp import Category, Scanner, Sensitivity


def _load_fakes():
    # tests run with --import-mode=importlib, so the sibling helper is loaded by path
    spec = importlib.util.spec_from_file_location(
        "dlp_fakes", Path(__file__).with_name("dlp_fakes.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("dlp_fakes", module)
    spec.loader.exec_module(module)
    return module


_fakes = _load_fakes()
provider_tokens, hard_negatives = _fakes.provider_tokens, _fakes.hard_negatives

SCANNER = Scanner(hmac_key=b"test-key-0123456789abcdef")


@pytest.mark.parametrize(
    ("entity_type", "text", "token"),
    provider_tokens(),
    ids=lambda x: x if isinstance(x, str) and x.isupper() else None,
)
def test_provider_token_is_found_with_exact_span(
    entity_type: str, text: str, token: str
) -> None:
    result = SCANNER.scan([text])
    secrets = [f for f in result.findings if f.category is Category.SECRET]
    spans = {(f.entity_type, text[f.start : f.end]) for f in secrets}
    assert (entity_type, token) in spans, (
        f"{entity_type} not found; got {[(t, len(v)) for t, v in spans]}"
    )
    assert result.sensitivity is Sensitivity.CRITICAL


@pytest.mark.parametrize(
    ("what", "text"), hard_negatives(), ids=[w for w, _ in hard_negatives()]
)
def test_hard_negative_has_no_secret_finding(what: str, text: str) -> None:
    result = SCANNER.scan([text])
    secrets = [
        (f.entity_type, text[f.start : f.end])
        for f in result.findings
        if f.category is Category.SECRET
    ]
    assert secrets == [], f"{what}: false positives {secrets}"


def test_every_provider_family_is_in_the_table() -> None:
    # the issue names these families; the table above must exercise each
    wanted = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GCP_SERVICE_ACCOUNT_KEY", "AZURE_STORAGE_KEY", "GITHUB_TOKEN",
        "GITLAB_TOKEN", "SLACK_TOKEN", "STRIPE_KEY", "TWILIO_API_KEY", "SENDGRID_API_KEY", "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY", "HUGGINGFACE_TOKEN", "JWT", "PRIVATE_KEY", "URL_CREDENTIALS", "PASSWORD", "GENERIC_SECRET",
    }  # fmt: skip
    assert wanted <= {e for e, _, _ in provider_tokens()}


def test_pem_key_is_one_finding_covering_all_lines() -> None:
    _entity, text, token = next(t for t in provider_tokens() if t[0] == "PRIVATE_KEY")
    result = SCANNER.scan([text])
    pem = [f for f in result.findings if f.entity_type == "PRIVATE_KEY"]
    assert len(pem) == 1 and text[pem[0].start : pem[0].end] == token
    redacted = SCANNER.redact([text], result)[0]
    assert "PRIVATE KEY" not in redacted and "[PRIVATE_KEY]" in redacted


def test_url_credentials_redact_only_the_password() -> None:
    text = "DATABASE_URL=postgres://app:pa55word-xyz@db.internal:5432/app"
    result = SCANNER.scan([text])
    assert (
        SCANNER.redact([text], result)[0]
        == "DATABASE_URL=postgres://app:[URL_CREDENTIALS]@db.internal:5432/app"
    )


def test_anthropic_key_is_not_reported_as_openai() -> None:
    _entity, text, _token = next(
        t for t in provider_tokens() if t[0] == "ANTHROPIC_API_KEY"
    )
    types = {f.entity_type for f in SCANNER.scan([text]).findings}
    assert types == {"ANTHROPIC_API_KEY"}


def test_assignments_found_in_operator_heavy_text() -> None:
    # many ':' and '=' (JSON, code) switch keyword finding from "look before each operator"
    # to searching the keywords directly; both must find the same secrets
    fields = {f"field_{i}": i for i in range(40)}
    fields["api_key"] = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    fields["db"] = {"password": "Tr0ub4dor&3-x"}
    text = json.dumps(fields)
    assert text.count(":") > 24
    found = {
        (f.entity_type, text[f.start : f.end]) for f in SCANNER.scan([text]).findings
    }
    assert ("GENERIC_SECRET", "9f8e7d6c5b4a39281706f5e4d3c2b1a0") in found
    assert ("PASSWORD", "Tr0ub4dor&3-x") in found
