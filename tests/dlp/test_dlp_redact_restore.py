"""Redaction actions, the pseudonym vault, and restoring values in JSON and streamed text."""

from __future__ import annotations

import json
import re

import pytest

from govproxy.dlp import Action, PseudonymVault, Scanner, StreamRestorer, VaultCache

KEY = b"test-key-0123456789abcdef"
SCANNER = Scanner(hmac_key=KEY)


def test_default_actions_pseudonymise_pii_and_mask_secrets() -> None:
    text = "mail bob@example.com, token ghp_" + "aB3d" * 9
    r = SCANNER.scan([text])
    vault = PseudonymVault()
    assert SCANNER.redact([text], r, vault=vault) == [
        "mail [EMAIL_1], token [GITHUB_TOKEN]"
    ]
    assert vault.restore_text("hi [EMAIL_1]") == "hi bob@example.com"


def test_each_action() -> None:
    text = "a@example.com 4111 1111 1111 1111 536-22-1234 192.168.1.1"
    r = SCANNER.scan([text])
    actions = {
        "EMAIL_ADDRESS": Action.MASK,
        "CREDIT_CARD": Action.HASH,
        "US_SSN": Action.ALLOW,
        "IP_ADDRESS": Action.PSEUDONYMISE,
    }
    out = SCANNER.redact([text], r, actions, PseudonymVault())[0]
    assert re.fullmatch(
        r"\[EMAIL\] \[CREDIT_CARD:[0-9a-f]{12}\] 536-22-1234 \[IP_1\]", out
    ), out


def test_hash_is_stable_per_tenant_and_differs_between_tenants() -> None:
    text = "card 4111 1111 1111 1111"
    r = SCANNER.scan([text])
    act = {"CREDIT_CARD": Action.HASH}
    a1 = SCANNER.redact([text], r, act, tenant="acme")[0]
    a2 = Scanner(hmac_key=KEY).redact(
        [text], Scanner(hmac_key=KEY).scan([text]), act, tenant="acme"
    )[0]
    b = SCANNER.redact([text], r, act, tenant="globex")[0]
    assert a1 == a2 != b


def test_type_missing_from_actions_is_masked_by_plain_redact() -> None:
    from govproxy.dlp import redact

    text = "a@example.com"
    assert redact([text], SCANNER.scan([text]), {}) == ["[EMAIL]"]


def test_same_value_same_placeholder_across_texts_and_requests_in_a_conversation() -> (
    None
):
    texts = ["from a@example.com", "cc b@example.com and a@example.com"]
    vault = PseudonymVault()
    out = SCANNER.redact(texts, SCANNER.scan(texts), vault=vault)
    assert out == ["from [EMAIL_1]", "cc [EMAIL_2] and [EMAIL_1]"]
    # a later turn in the same conversation reuses the vault
    nxt = ["reply to b@example.com"]
    assert SCANNER.redact(nxt, SCANNER.scan(nxt), vault=vault) == ["reply to [EMAIL_2]"]


def test_placeholder_already_in_the_prompt_is_never_issued() -> None:
    text = "literal [EMAIL_1] and real a@example.com"
    vault = PseudonymVault()
    out = SCANNER.redact([text], SCANNER.scan([text]), vault=vault)[0]
    assert out == "literal [EMAIL_1] and real [EMAIL_2]"
    assert vault.restore_text("[EMAIL_1] [EMAIL_2]") == "[EMAIL_1] a@example.com"


def test_placeholders_from_another_vault_are_not_resolved() -> None:
    v1, v2 = PseudonymVault(), PseudonymVault()
    v1.placeholder_for("EMAIL_ADDRESS", "alice@example.com")
    v2.placeholder_for("PHONE_NUMBER", "+1 415 555 2671")
    assert (
        v2.restore_text("[EMAIL_1] [PHONE_1] [PHONE_9]")
        == "[EMAIL_1] +1 415 555 2671 [PHONE_9]"
    )
    assert "alice" not in repr(v1)


def test_restore_json_walks_content_and_tool_call_arguments() -> None:
    vault = PseudonymVault()
    email = vault.placeholder_for("EMAIL_ADDRESS", 'o"brien\\@example.com')
    phone = vault.placeholder_for("PHONE_NUMBER", "+44 20 7946 0958")
    body = {
        "choices": [
            {
                "message": {
                    "content": f"Sent to {email}, call {phone}",
                    "tool_calls": [
                        {
                            "function": {
                                "name": "send",
                                "arguments": json.dumps({"to": email, "cc": [phone]}),
                            }
                        }
                    ],
                }
            }
        ],
        "usage": {"total_tokens": 12},
    }
    out = vault.restore_json(body)
    msg = out["choices"][0]["message"]
    assert msg["content"] == 'Sent to o"brien\\@example.com, call +44 20 7946 0958'
    args = json.loads(msg["tool_calls"][0]["function"]["arguments"])  # still valid JSON
    assert args == {"to": 'o"brien\\@example.com', "cc": ["+44 20 7946 0958"]}
    assert out["usage"] == {"total_tokens": 12}


def _stream(vault: PseudonymVault, chunks: list[str], json_escape: bool = False) -> str:
    r = StreamRestorer(vault, json_escape=json_escape)
    return "".join(r.feed(c) for c in chunks) + r.flush()


def test_stream_restores_placeholder_split_at_every_position() -> None:
    vault = PseudonymVault()
    p1 = vault.placeholder_for("EMAIL_ADDRESS", "a@example.com")
    p12 = None
    for i in range(2, 13):
        p12 = vault.placeholder_for("EMAIL_ADDRESS", f"user{i}@example.com")
    text = f"Hello {p1}, also {p12} and [EMAIL_99] end"
    expected = vault.restore_text(text)
    assert (
        "a@example.com" in expected
        and "user12@example.com" in expected
        and "[EMAIL_99]" in expected
    )
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            assert _stream(vault, [text[:i], text[i:j], text[j:]]) == expected
    assert _stream(vault, list(text)) == expected  # one character per chunk


def test_stream_does_not_hold_brackets_that_cannot_become_placeholders() -> None:
    vault = PseudonymVault()
    vault.placeholder_for("EMAIL_ADDRESS", "a@example.com")
    r = StreamRestorer(vault)
    assert r.feed("array[0] = x[i] [EMAIL]") == "array[0] = x[i] [EMAIL]"
    assert r.held == 0
    assert (
        r.feed("[Email_") == "[Email_"
    )  # placeholders are upper case: this cannot become one


def test_stream_holds_only_a_possible_placeholder_prefix() -> None:
    vault = PseudonymVault()
    vault.placeholder_for("EMAIL_ADDRESS", "a@example.com")
    r = StreamRestorer(vault)
    assert r.feed("see [EM") == "see "
    assert r.held == 3
    assert r.feed("AIL_1] ok") == "a@example.com ok"
    assert r.feed("list[i] [x") == "list[i] [x"
    assert r.held == 0
    assert r.feed("[EMAIL_") == ""
    assert r.flush() == "[EMAIL_"


def test_stream_without_placeholders_passes_through() -> None:
    r = StreamRestorer(PseudonymVault())
    assert r.feed("[EM") == "[EM" and r.held == 0


def test_stream_json_escape_mode_for_tool_arguments() -> None:
    vault = PseudonymVault()
    ph = vault.placeholder_for("STREET_ADDRESS", 'Main St "B"')
    args = json.dumps({"address": ph})
    out = _stream(vault, [args[:9], args[9:15], args[15:]], json_escape=True)
    assert json.loads(out) == {"address": 'Main St "B"'}


def test_vault_cache_ttl_and_lru() -> None:
    now = [1000.0]
    cache = VaultCache(ttl_seconds=60, max_entries=2, clock=lambda: now[0])
    v = cache.get("conv-a")
    v.placeholder_for("EMAIL_ADDRESS", "a@example.com")
    now[0] += 30
    assert cache.get("conv-a") is v  # within TTL, refreshed
    now[0] += 59
    assert cache.get("conv-a") is v
    now[0] += 61
    assert cache.get("conv-a") is not v  # expired
    cache.get("conv-b")
    cache.get("conv-c")
    assert len(cache) == 2  # LRU bound
    with pytest.raises(ValueError):
        VaultCache(ttl_seconds=0)
