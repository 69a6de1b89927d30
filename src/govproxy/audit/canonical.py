"""Canonical record bytes (RFC 8785) and the rules a payload must obey.

The writer canonicalises with the ``rfc8785`` package; the verifier checks bytes with a
fast C-backed round trip (``json`` with sorted keys) that is equivalent on the domain we
allow (no floats, integers within ±2^53, ASCII keys) and falls back to ``rfc8785`` for
anything else. Floats are *rejected*, not converted: money and ratios must be passed as
integers in named units (``cost_micro_usd``, ``latency_us``) so two implementations never
disagree about a number's bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import rfc8785

from govproxy.audit.errors import RecordRejected

MAX_SAFE_INT = 2**53 - 1

# Payload keys that carry credentials. Compared after lower-casing and mapping '-' to '_'.
FORBIDDEN_KEYS = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "api_key",
        "apikey",
        "x_api_key",
        "x_goog_api_key",
        "api_token",
        "access_token",
        "refresh_token",
        "client_secret",
        "secret",
        "password",
        "cookie",
        "set_cookie",
        "bearer",
    }
)
# Values that look like credentials wherever they appear in a payload.
_CREDENTIAL_VALUE = re.compile(
    r"^\s*(?:Bearer|Basic)\s+\S|\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|\bAIza[0-9A-Za-z_-]{30,}"
)


def check_payload(value: Any, path: str = "payload") -> None:
    """Raise :class:`RecordRejected` unless ``value`` is recordable JSON without credentials."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, str):
        if _CREDENTIAL_VALUE.search(value):
            raise RecordRejected(f"{path}: value looks like a credential; credentials are never recorded")
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise RecordRejected(f"{path}: integer outside ±(2^53-1); record it as a string")
        return
    if isinstance(value, float):
        raise RecordRejected(
            f"{path}: floats are not recorded; pass an integer in named units (e.g. cost_micro_usd, latency_us)"
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise RecordRejected(f"{path}: object keys must be strings, got {type(key).__name__}")
            if key.lower().replace("-", "_") in FORBIDDEN_KEYS:
                raise RecordRejected(f"{path}.{key}: credential field; credentials are never recorded")
            check_payload(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_payload(item, f"{path}[{i}]")
        return
    raise RecordRejected(f"{path}: {type(value).__name__} is not JSON; use str/int/bool/None/list/dict")


def canonical(value: Any) -> bytes:
    """RFC 8785 bytes of an already checked value."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:  # pragma: no cover - check_payload runs first
        raise RecordRejected(f"cannot canonicalise: {type(exc).__name__}") from None


class NonCanonical(ValueError):
    """Bytes that are not the canonical form of the JSON they encode (reason in the message)."""


def _reject_float(text: str) -> Any:
    raise NonCanonical(f"float literal {text[:20]!r}")


def _checked_int(text: str) -> int:
    number = int(text)
    if not -MAX_SAFE_INT <= number <= MAX_SAFE_INT:
        raise NonCanonical("integer outside ±(2^53-1)")
    return number


def _reject_constant(text: str) -> Any:
    raise NonCanonical(f"non-JSON constant {text}")


_FAST_OK = re.compile(rb'^[\x20-\x7e]*$')


def parse_canonical(data: bytes) -> Any:
    """Parse ``data`` and prove it is exactly the RFC 8785 form of its value.

    Raises :class:`NonCanonical` for invalid UTF-8, invalid JSON, floats, huge integers,
    duplicate keys, whitespace, key order or escape differences: anything whose
    re-serialisation is not byte-identical.
    """
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise NonCanonical("invalid UTF-8") from None
    try:
        value = json.loads(
            text, parse_float=_reject_float, parse_int=_checked_int, parse_constant=_reject_constant
        )
    except NonCanonical:
        raise
    except ValueError as exc:
        raise NonCanonical(f"invalid JSON ({exc.msg if hasattr(exc, 'msg') else 'parse error'})") from None
    try:
        if _FAST_OK.match(data):
            # ASCII only: sort order by code point equals RFC 8785's UTF-16 order, escapes agree.
            again = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        else:
            again = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:
        raise NonCanonical(f"not canonicalisable ({type(exc).__name__})") from None
    if again != data:
        raise NonCanonical("bytes differ from the canonical form (whitespace, key order, duplicates or escapes)")
    return value
