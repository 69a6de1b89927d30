"""Checksums and structural rules that turn a regex candidate into a finding.

A regex says "looks like"; a validator says "is": Luhn for cards, mod-97 for IBANs, the
SSA's area/group/serial rules for SSNs. Validators receive only the matched value and
return a bool; they never raise on bad input (a raise would mark the request critical).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable

from stdnum.es import nif as _es_nif
from stdnum.eu import vat as _eu_vat
from stdnum.fr import nir as _fr_nir
from stdnum.it import codicefiscale as _it_cf
from stdnum.nl import bsn as _nl_bsn
from stdnum.us import itin as _us_itin

_SEPARATORS = str.maketrans("", "", " -./()\t")
_NON_DIGITS = {c: None for c in range(0x80) if not chr(c).isdigit()}
# The same deletions as bytes: str.translate has no fast path for deleting characters (it
# looks each one up in a dict), bytes.translate(None, delete) is a C loop, ~5x cheaper
# on the short values validators see. Used for ASCII values, where both agree exactly.
_SEPARATOR_BYTES = b" -./()\t"
_NON_DIGIT_BYTES = bytes(c for c in range(0x80) if not chr(c).isdigit())


def only_digits(value: str) -> str:
    """ASCII digits of ``value`` (non-ASCII characters are kept, callers check isdigit)."""
    if value.isascii():
        return value.encode("ascii").translate(None, _NON_DIGIT_BYTES).decode("ascii")
    return value.translate(_NON_DIGITS)


def digits_only(value: str) -> str:
    """``value`` without the separators numbers are written with (space - . / ( ) tab)."""
    if value.isascii():
        return value.encode("ascii").translate(None, _SEPARATOR_BYTES).decode("ascii")
    return value.translate(_SEPARATORS)


# digit byte -> the byte of that digit doubled with its digits summed (Luhn's every other digit)
_LUHN_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit():
        return False
    if digits.isascii():
        # byte slices and sums run in C: several times cheaper than a Python loop per digit
        raw = digits.encode("ascii")
        total = (
            sum(raw[-1::-2]) + sum(raw[-2::-2].translate(_LUHN_DOUBLED)) - 48 * len(raw)
        )
        return total % 10 == 0
    total = 0  # other Unicode digits: the original per-character arithmetic
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# (prefix ranges, allowed lengths) per issuer; a Luhn-valid number outside them is not a card
_CARD_RULES: tuple[tuple[tuple[int, int, int], frozenset[int]], ...] = (
    ((1, 4, 4), frozenset({13, 16, 19})),  # Visa
    ((2, 51, 55), frozenset({16})),  # Mastercard
    ((4, 2221, 2720), frozenset({16})),  # Mastercard 2-series
    ((2, 34, 34), frozenset({15})),  # Amex
    ((2, 37, 37), frozenset({15})),  # Amex
    ((4, 6011, 6011), frozenset({16, 17, 18, 19})),  # Discover
    ((3, 644, 649), frozenset({16, 17, 18, 19})),  # Discover
    ((2, 65, 65), frozenset({16, 17, 18, 19})),  # Discover
    ((4, 3528, 3589), frozenset({16, 17, 18, 19})),  # JCB
    ((3, 300, 305), frozenset({14, 15, 16, 17, 18, 19})),  # Diners
    ((2, 36, 36), frozenset({14, 15, 16, 17, 18, 19})),  # Diners
    ((2, 38, 39), frozenset({14, 15, 16, 17, 18, 19})),  # Diners
    ((2, 62, 62), frozenset({16, 17, 18, 19})),  # UnionPay
    ((2, 50, 50), frozenset(range(12, 20))),  # Maestro
    ((2, 56, 69), frozenset(range(12, 20))),  # Maestro and others
    ((4, 2200, 2204), frozenset({16, 17, 18, 19})),  # Mir
)


# (length, issuer prefix as written) for every rule above: one set lookup per prefix width
# instead of an int() per rule (every rule's range has exactly ``width`` digits)
_CARD_PREFIXES: frozenset[tuple[int, str]] = frozenset(
    (n, str(p))
    for (width, lo, hi), lengths in _CARD_RULES
    for p in range(lo, hi + 1)
    for n in lengths
)
assert all(len(str(lo)) == w == len(str(hi)) for (w, lo, hi), _ in _CARD_RULES)


def card_ok(value: str) -> bool:
    digits = digits_only(value)
    n = len(digits)
    if not (12 <= n <= 19) or not luhn_ok(digits):
        return False
    if len(set(digits)) < 2:  # 0000 0000 0000 0000 passes Luhn
        return False
    if digits.isascii():
        prefixes = _CARD_PREFIXES
        return (
            (n, digits[:1]) in prefixes
            or (n, digits[:2]) in prefixes
            or (n, digits[:3]) in prefixes
            or (n, digits[:4]) in prefixes
        )
    for (width, lo, hi), lengths in _CARD_RULES:
        if n in lengths and lo <= int(digits[:width]) <= hi:
            return True
    return False


def ssn_ok(value: str) -> bool:
    """SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000; no well-known fakes."""
    digits = digits_only(value)
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    if digits in ("078051120", "219099999", "123456789"):  # advertised/sample numbers
        return False
    return len(set(digits)) > 1


def itin_ok(value: str) -> bool:
    return _safe(_us_itin.is_valid, digits_only(value))


_IBAN_LETTERS = str.maketrans(
    {chr(c): str(c - 55) for c in range(ord("A"), ord("Z") + 1)}
)


_IBAN_CHAR_DIGITS = {c: str(int(c, 36)) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def iban_mod97_ok(compact: str) -> bool:
    """ISO 7064 mod 97-10 over the rearranged IBAN: cheap, rejects almost every non-IBAN."""
    if (
        len(compact) < 15
        or len(compact) > 34
        or not compact.isalnum()
        or not compact.isascii()
    ):
        return False
    moved = compact[4:] + compact[:4]
    try:
        # a C-level map over a dict: str.translate into two-character strings takes its
        # slow path and cost ~4 us per candidate
        digits = "".join(map(_IBAN_CHAR_DIGITS.__getitem__, moved))
    except (
        KeyError
    ):  # lower-case letters: translate leaves them, int() below rejects them
        digits = moved.translate(_IBAN_LETTERS)
    return int(digits) % 97 == 1


_BBAN_PART = re.compile(r"([0-9]+)!([nac])")
_BBAN_CLASS = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Za-z0-9]"}
_BBAN_FORMATS: dict[str, re.Pattern[str] | None] = {}


def _bban_format(country: str) -> re.Pattern[str] | None:
    """The country's BBAN structure from python-stdnum's IBAN registry, compiled once per country."""
    if country not in _BBAN_FORMATS:
        from stdnum import numdb

        info = numdb.get("iban").info(country)
        structure = info[0][1].get("bban") if info and info[0][1] else None
        if not structure:
            _BBAN_FORMATS[country] = None
        else:
            body = _BBAN_PART.sub(
                lambda m: f"{_BBAN_CLASS[m.group(2)]}{{{m.group(1)}}}", structure
            )
            _BBAN_FORMATS[country] = re.compile(body + r"\Z")
    return _BBAN_FORMATS[country]


def iban_ok(value: str) -> bool:
    """mod-97 first (fast), then the country's BBAN length and structure (registry via python-stdnum)."""
    compact = value.replace(" ", "").upper()
    if len(compact) < 15 or len(compact) > 34:
        return False  # iban_mod97_ok's own first test, before the registry lookup below
    # the country's BBAN structure first: a regex match on a compiled, cached pattern is
    # cheaper than the mod-97 arithmetic and rejects the usual near-misses (a trailing
    # word swallowed by the shape), and both must hold
    country = compact[:2]
    if not (country.isascii() and country.isalpha()):
        return False  # the registry has letter codes only (and its cache stays small)
    fmt = _bban_format(country)
    if fmt is None or fmt.match(compact, 4) is None:
        return False
    return iban_mod97_ok(compact)


_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def nino_ok(value: str) -> bool:
    """HMRC rules: no D/F/I/Q/U/V first, no D/F/I/O/Q/U/V second, some prefixes never issued."""
    s = value.replace(" ", "").upper()
    if len(s) != 9 or not s[2:8].isdigit() or s[8] not in "ABCD":
        return False
    a, b = s[0], s[1]
    if a in "DFIQUV" or b in "DFIOQUV" or s[:2] in _NINO_BAD_PREFIXES:
        return False
    return a.isalpha() and b.isalpha()


def eu_vat_ok(value: str) -> bool:
    return _safe(_eu_vat.is_valid, value)


def es_nif_ok(value: str) -> bool:
    return _safe(_es_nif.is_valid, value)


def fr_nir_ok(value: str) -> bool:
    return _safe(_fr_nir.is_valid, value)


def it_fiscal_code_ok(value: str) -> bool:
    return _safe(_it_cf.is_valid, value)


def nl_bsn_ok(value: str) -> bool:
    return _safe(_nl_bsn.is_valid, digits_only(value))


def ipv4_ok(value: str) -> bool:
    parts = value.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if (
            not p.isdigit()
            or len(p) > 3
            or int(p) > 255
            or (len(p) > 1 and p[0] == "0")
        ):
            return False
    return True


def ipv6_ok(value: str) -> bool:
    if value.count(":") < 2:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    groups = [g for g in value.split(":") if g]
    # 'a::b' in C++ or Rust paths is a valid address but not one anybody wrote as such
    return len(groups) >= 3 and sum(len(g) for g in groups) >= 6


def mac_ok(value: str) -> bool:
    hexdigits = value.replace(":", "").replace("-", "").replace(".", "")
    return len(hexdigits) == 12 and len(set(hexdigits.lower())) > 2


def shannon_entropy(value: str) -> float:
    """Bits per character; random base64 is ≈ 5-6, English words ≈ 3-4, hex ≤ 4."""
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _safe(fn: Callable[[str], bool], value: str) -> bool:
    try:
        return bool(fn(value))
    except Exception:  # noqa: BLE001  a validator that chokes on odd input means "not valid", not "scanner error"
        return False


NAMED_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "luhn": lambda v: luhn_ok(digits_only(v)),
    "credit_card": card_ok,
    "iban": iban_ok,
    "us_ssn": ssn_ok,
    "us_itin": itin_ok,
    "uk_nino": nino_ok,
    "eu_vat": eu_vat_ok,
    "es_nif": es_nif_ok,
    "fr_nir": fr_nir_ok,
    "it_fiscal_code": it_fiscal_code_ok,
    "nl_bsn": nl_bsn_ok,
    "ipv4": ipv4_ok,
    "ipv6": ipv6_ok,
    "mac": mac_ok,
}
