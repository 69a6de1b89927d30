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
import logging
import re
from collections.abc import Mapping
from typing import Any

import orjson
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
# Credential-shaped text inside payload values (e.g. an upstream error message quoting the
# key it rejected). Such spans are replaced, not the record refused: the outcome must still
# be recorded, the credential never.
_CREDENTIAL_VALUE = re.compile(
    r"^\s*Basic\s+[A-Za-z0-9+/=]{8,}|\bBearer\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|\bAIza[0-9A-Za-z_-]{30,}"
)
CREDENTIAL_PLACEHOLDER = "[credential removed]"
log = logging.getLogger("govproxy.audit")


def _forbidden_key_pattern() -> re.Pattern[str]:
    names = "|".join(sorted(re.escape(k).replace("_", "[-_]") for k in FORBIDDEN_KEYS))
    # in canonical JSON a quote followed by ':' only closes an object key
    return re.compile(rf'"(?:{names})":', re.IGNORECASE)


_FORBIDDEN_KEY = _forbidden_key_pattern()
_KEY_FRAGMENTS = ("auth", "key", "token", "secret", "password", "cookie", "bearer")
_VALUE_FRAGMENTS = ("sk-", "AIza", "Bearer", "Basic")
_CREDENTIAL_IN_JSON = re.compile(
    r'"\s*Basic\s+[A-Za-z0-9+/=]{8,}|\bBearer\s+[A-Za-z0-9._~+/=-]{8,}'
    r"|\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|\bAIza[0-9A-Za-z_-]{30,}"
)


def _check_types(value: Any, path: str) -> bool:
    """Structural rules; returns False when a key is non-ASCII (then rfc8785 must sort keys)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise RecordRejected(
                f"{path}: integer outside ±(2^53-1); record it as a string"
            )
        return True
    if isinstance(value, Mapping):
        ascii_keys = True
        for key, item in value.items():
            if type(key) is not str:
                raise RecordRejected(
                    f"{path}: object keys must be strings, got {type(key).__name__}"
                )
            if not key.isascii():
                ascii_keys = False
            if not _check_types(item, f"{path}.{key}"):
                ascii_keys = False
        return ascii_keys
    if isinstance(value, list | tuple):
        ok = True
        for i, item in enumerate(value):
            ok = _check_types(item, f"{path}[{i}]") and ok
        return ok
    if isinstance(value, str | int):  # subclasses (StrEnum, IntEnum): JSON-compatible
        return _check_types(str(value) if isinstance(value, str) else int(value), path)
    if isinstance(value, float):
        raise RecordRejected(
            f"{path}: floats are not recorded; pass an integer in named units (e.g. cost_micro_usd, latency_us)"
        )
    raise RecordRejected(
        f"{path}: {type(value).__name__} is not JSON; use str/int/bool/None/list/dict"
    )


def _locate(value: Any, path: str, test: Any) -> str:
    """Path of the first key or string for which ``test`` is true (for a precise error)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if test(key, True):
                return f"{path}.{key}"
            found = _locate(item, f"{path}.{key}", test)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _locate(item, f"{path}[{i}]", test)
            if found:
                return found
    elif isinstance(value, str) and test(value, False):
        return path
    return ""


def _is_forbidden_key(text: str, is_key: bool) -> bool:
    return is_key and text.lower().replace("-", "_") in FORBIDDEN_KEYS


def _scrub(value: Any, path: str, found: list[str]) -> Any:
    """A copy of ``value`` with credential-shaped spans in strings replaced."""
    if isinstance(value, str):
        if _CREDENTIAL_VALUE.search(value):
            found.append(path)
            return _CREDENTIAL_VALUE.sub(CREDENTIAL_PLACEHOLDER, value)
        return value
    if isinstance(value, Mapping):
        return {k: _scrub(v, f"{path}.{k}", found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def canonical_payload(value: Any, path: str = "payload") -> bytes:
    """Check a payload against the record rules and return its RFC 8785 bytes.

    Raises :class:`RecordRejected` (naming the path, never the value) for floats, integers
    beyond ±(2^53-1), non-JSON types and credential-named keys (a programming error).
    Credential-looking text inside values (``Bearer …``, ``sk-…``, ``AIza…``) is replaced by
    ``[credential removed]`` and a warning names the path.
    On the common domain (ASCII keys) the C ``json`` encoder with sorted keys produces the
    RFC 8785 bytes exactly (tests compare it with ``rfc8785`` on generated payloads);
    anything else goes through ``rfc8785`` itself.
    """
    data, keys_checked = _encode_checked(value, path)
    text = data.decode()
    # Keys: the quick structural pass has already ruled out credential field names when it
    # accepted the payload; otherwise cheap substring gates in C before the regex.
    if not keys_checked and any(f in text.lower() for f in _KEY_FRAGMENTS) and _FORBIDDEN_KEY.search(text):
        where = _locate(value, path, _is_forbidden_key) or path
        raise RecordRejected(
            f"{where}: credential field; credentials are never recorded"
        )
    if any(f in text for f in _VALUE_FRAGMENTS) and _CREDENTIAL_IN_JSON.search(text):
        found: list[str] = []
        value = _scrub(value, path, found)
        if found:
            log.warning(
                "audit: credential-shaped text removed from %s before recording",
                ", ".join(found),
            )
            data = _encode(value, path)
    return data


class _Bad(Exception):
    """Internal: the quick scan found a violation; rescan slowly to name its path."""


_STR, _INT, _BOOL, _NONE = str, int, bool, type(None)
# key -> is it a credential field name; records reuse a small vocabulary of keys
_KEY_FORBIDDEN: dict[str, bool] = {}


def _quick_ascii_keys(value: Any) -> bool:
    """The structural rules without building paths (the hot path). Raises _Bad."""
    kind = type(value)
    if kind is dict:
        ok = True
        for key, item in value.items():
            if type(key) is not _STR:
                raise _Bad
            if not key.isascii():
                ok = False
            forbidden = _KEY_FORBIDDEN.get(key)
            if forbidden is None:
                forbidden = _is_forbidden_key(key, True)
                if len(_KEY_FORBIDDEN) < 4096:
                    _KEY_FORBIDDEN[key] = forbidden
            if forbidden:
                raise _Bad  # the precise path finds it and names where
            t = type(item)
            if t is _STR or t is _BOOL or t is _NONE:
                continue
            if t is _INT:
                if not -MAX_SAFE_INT <= item <= MAX_SAFE_INT:
                    raise _Bad
                continue
            if not _quick_ascii_keys(item):
                ok = False
        return ok
    if kind is list or kind is tuple:
        ok = True
        for item in value:
            t = type(item)
            if t is _STR or t is _BOOL or t is _NONE:
                continue
            if t is _INT:
                if not -MAX_SAFE_INT <= item <= MAX_SAFE_INT:
                    raise _Bad
                continue
            if not _quick_ascii_keys(item):
                ok = False
        return ok
    if kind is _STR or kind is _BOOL or value is None:
        return True
    if kind is _INT:
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise _Bad
        return True
    raise _Bad  # floats, subclasses, other mappings: let the precise checker decide


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value]


def _encode(value: Any, path: str) -> bytes:
    return _encode_checked(value, path)[0]


def _encode_checked(value: Any, path: str) -> tuple[bytes, bool]:
    """The canonical bytes, and whether the quick pass vetted every key (no credential field)."""
    vetted = True
    try:
        fast = _quick_ascii_keys(value)
    except _Bad:
        vetted = False
        fast = _check_types(
            value, path
        )  # raises with the path, or accepts (e.g. StrEnum)
        if fast:
            value = _plain(
                value
            )  # StrEnum, IntEnum, other Mappings, tuples → plain JSON types
    if fast:
        try:
            # orjson with sorted keys writes the same bytes as the json call below on this
            # domain (tests compare both with rfc8785), ~10x faster; anything it refuses
            # (lone surrogates, nesting deeper than it allows) takes the slower path.
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS), vetted
        except orjson.JSONEncodeError:
            pass
    try:
        if fast:
            return json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode(), vetted
        return rfc8785.dumps(value), vetted
    except (UnicodeEncodeError, rfc8785.CanonicalizationError):
        raise RecordRejected(
            f"{path}: contains text that is not valid Unicode (lone surrogate)"
        ) from None


def check_payload(value: Any, path: str = "payload") -> None:
    """Raise :class:`RecordRejected` unless ``value`` is recordable JSON without credentials."""
    canonical_payload(value, path)


def canonical(value: Any, path: str = "value") -> bytes:
    """RFC 8785 bytes of a value without the credential checks (content text, envelopes)."""
    return _encode(value, path)


class NonCanonical(ValueError):
    """Bytes that are not the canonical form of the JSON they encode (reason in the message)."""


def _reject_float(text: str) -> Any:
    raise NonCanonical(f"float literal {text[:20]!r}")


def _reject_constant(text: str) -> Any:
    raise NonCanonical(f"non-JSON constant {text}")


def _checked_int(text: str) -> int:
    if len(text) > 15:  # only 16+ digit literals can leave ±(2^53-1)
        number = int(text)
        if not -MAX_SAFE_INT <= number <= MAX_SAFE_INT:
            raise NonCanonical("integer outside ±(2^53-1)")
        return number
    return int(text)


_DECODER = json.JSONDecoder(
    parse_float=_reject_float, parse_int=_checked_int, parse_constant=_reject_constant
)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_ASTRAL = re.compile(
    rb"[\xf0-\xf4]"
)  # lead bytes of 4-byte UTF-8 (characters outside the BMP)


def parse_canonical(data: bytes) -> Any:
    """Parse ``data`` and prove it is exactly the RFC 8785 form of its value.

    Raises :class:`NonCanonical` for invalid UTF-8, invalid JSON, floats, huge integers,
    duplicate keys, whitespace, key order or escape differences: anything whose
    re-serialisation is not byte-identical. The re-serialisation uses the C ``json``
    encoder with sorted keys, which equals RFC 8785 for float-free values unless keys
    hold characters outside the BMP (then ``rfc8785`` itself decides).
    """
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise NonCanonical("invalid UTF-8") from None
    try:
        value = _DECODER.decode(text)
    except NonCanonical:
        raise
    except ValueError as exc:
        raise NonCanonical(
            f"invalid JSON ({getattr(exc, 'msg', 'parse error')})"
        ) from None
    try:
        if not data.isascii() and _ASTRAL.search(
            data
        ):  # code-point and UTF-16 key order may differ
            again = rfc8785.dumps(value)
        else:
            again = _ENCODER.encode(value).encode()
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:
        raise NonCanonical(f"not canonicalisable ({type(exc).__name__})") from None
    if again != data:
        raise NonCanonical(
            "bytes differ from the canonical form (whitespace, key order, duplicates or escapes)"
        )
    return value
