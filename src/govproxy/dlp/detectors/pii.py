"""Personal data detectors: each a regex shape plus a validator, and context where a shape alone is too weak.

Every pattern is bounded (no unbounded repetition inside repetition) and runs only in
windows around cheap anchors (see ``base``), so its cost is linear in the input.
"""

from __future__ import annotations

import functools
import re
from datetime import date

import phonenumbers

from govproxy.dlp import validators as v
from govproxy.dlp.detectors.base import (
    Detector,
    EmailAnchor,
    Numeric,
    RegexAnchor,
    TextState,
    context_regex,
    has_context,
)
from govproxy.dlp.model import Category

PII = Category.PII

# ---------------------------------------------------------------- payment cards
_CARD_RUN = re.compile(
    r"(?<![0-9A-Za-z\-.,])[0-9]{1,19}(?:[ \-][0-9]{1,19}){0,8}(?![0-9A-Za-z]|[\-.,][0-9])"
)
_GROUP = re.compile(r"[0-9]+")
# the first digits of every issuer range in validators.card_ok's rules
_ISSUER_FIRST_DIGITS = frozenset(
    str(p)[0] for (_, lo, hi), _ in v._CARD_RULES for p in range(lo, hi + 1)
)


def _card_spans(start: int, end: int, state: TextState) -> list[tuple[int, int]]:
    """Cards are 12-19 digits, contiguous or in groups; try each run of whole groups, longest first."""
    text = state.text
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(text, start, end)]
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        if text[groups[i][0]] not in _ISSUER_FIRST_DIGITS:
            i += 1  # no issuer's numbers start with this digit: card_ok would say no to all
            continue
        found = None
        total = 0
        best_j = -1
        for j in range(i, len(groups)):
            total += groups[j][1] - groups[j][0]
            if total > 19:
                break
            if total >= 12 and v.card_ok(text[groups[i][0] : groups[j][1]]):
                best_j = j
        if best_j >= 0:
            found = (groups[i][0], groups[best_j][1])
            out.append(found)
            i = best_j + 1
        else:
            i += 1
    return out


CREDIT_CARD = Detector(
    name="credit_card",
    entity_type="CREDIT_CARD",
    category=PII,
    anchor=Numeric(min_digits=12),
    pattern=_CARD_RUN,
    before=2,
    after=2,
    refine=_card_spans,
    priority=80,
    description="payment card numbers, 12-19 digits, spaces or dashes allowed; Luhn + issuer prefix and length",
)

# ---------------------------------------------------------------- IBAN
# one character per repetition (optional space before it): no two ways to split the same
# input, so a long alphanumeric run cannot make the engine try every grouping
# (the left-boundary lookbehind sits after the first letter so the pattern starts with a
# character class, which the engine can skip to quickly; same trick for street addresses)
_IBAN = re.compile(
    r"[A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z][0-9]{2}(?:[ ]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])"
)


def _iban_run_ok(text: str, s: int, e: int, nd: int) -> bool:
    """Digits inside an IBAN follow a letter ('DE89…', 'WEST1234…') or, printed in groups, a
    four-character group of capitals or digits ('GB82 WEST 1234…'); not a word ('card 4111…')."""
    if s == 0:
        return False
    c = text[s - 1]
    if c.isalpha():
        return True
    if c != " " or s < 5:
        return False
    group = text[s - 5 : s - 1]
    if group.isascii():
        # ASCII and alphanumeric: a character that is not a letter is a digit (no generator)
        return group.isalnum() and (group.isupper() or not group.isalpha())
    return group.isalnum() and (group.isupper() or any(ch.isdigit() for ch in group))


def _iban_spans(start: int, end: int, state: TextState) -> list[tuple[int, int]]:
    """The shape may swallow a following short word ('… 45 and'); drop trailing groups until valid."""
    text = state.text
    e = end
    while e - start >= 15:
        if v.iban_ok(text[start:e]):
            return [(start, e)]
        cut = text.rfind(" ", start, e)
        if cut == -1:
            return []
        e = cut
    return []


# the two digits after an IBAN's country letters: where a window search tries _IBAN
# (prose windows have few digits, and every letter is a place _IBAN itself would try)
_IBAN_STARTS = re.compile(r"[0-9](?<=[A-Za-z][A-Za-z][0-9])[0-9]")

IBAN = Detector(
    name="iban",
    entity_type="IBAN_CODE",
    category=PII,
    anchor=Numeric(min_digits=8, where=_iban_run_ok),
    pattern=_IBAN,
    starts=(_IBAN_STARTS, 2),
    before=44,
    after=44,
    refine=_iban_spans,
    priority=80,
    description="IBAN with per-country length and mod-97 check (upper or lower case, spaces every 4)",
)

# ---------------------------------------------------------------- US SSN / ITIN
US_SSN = Detector(
    name="us_ssn",
    entity_type="US_SSN",
    category=PII,
    anchor=Numeric(
        min_digits=9,
        where=lambda t, s, e, nd: t.find("-", s, e) != -1 or t.find(" ", s, e) != -1,
    ),
    pattern=re.compile(
        r"(?<![0-9A-Za-z\-.])[0-9]{3}(?:-[0-9]{2}-|[ ][0-9]{2}[ ])[0-9]{4}(?![0-9A-Za-z]|[\-.][0-9])"
    ),
    before=2,
    after=2,
    validate=v.ssn_ok,
    priority=75,
    description="US SSN written 123-45-6789 or 123 45 6789; area not 000/666/9xx, group and serial not zero",
)

US_SSN_COMPACT = Detector(
    name="us_ssn_compact",
    entity_type="US_SSN",
    category=PII,
    anchor=Numeric(min_digits=9, where=lambda t, s, e, nd: nd == 9 and e - s <= 10),
    pattern=re.compile(r"(?<![0-9A-Za-z\-.])[0-9]{9}(?![0-9A-Za-z]|[\-.][0-9])"),
    before=2,
    after=2,
    validate=v.ssn_ok,
    context=("ssn", "social security", "social sec", "ss#", "ss #"),
    context_before=50,
    context_after=20,
    priority=74,
    description="nine undivided digits as an SSN, only next to 'SSN'/'social security'",
)

US_ITIN = Detector(
    name="us_itin",
    entity_type="US_ITIN",
    category=PII,
    anchor=Numeric(min_digits=9, where=lambda t, s, e, nd: t[s] == "9"),
    pattern=re.compile(
        r"(?<![0-9A-Za-z\-.])9[0-9]{2}(?:-[0-9]{2}-|[ ][0-9]{2}[ ])[0-9]{4}(?![0-9A-Za-z]|[\-.][0-9])"
    ),
    before=2,
    after=2,
    validate=v.itin_ok,
    priority=76,
    description="US ITIN 9XX-7X-XXXX (group ranges per IRS)",
)

# ---------------------------------------------------------------- UK NINO, EU VAT, national IDs
UK_NINO = Detector(
    name="uk_nino",
    entity_type="UK_NINO",
    category=PII,
    anchor=Numeric(min_digits=6, after_upper=True),
    pattern=re.compile(
        r"(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D](?![A-Za-z0-9])"
    ),
    before=4,
    after=6,
    validate=v.nino_ok,
    priority=70,
    description="UK National Insurance number (prefix rules via python-stdnum)",
)

_VAT_PREFIXES = "AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI"
EU_VAT = Detector(
    name="eu_vat",
    entity_type="EU_VAT",
    category=PII,
    anchor=Numeric(min_digits=7, after_upper=True),
    pattern=re.compile(
        rf"(?<![A-Za-z0-9])(?:{_VAT_PREFIXES})[ ]?[0-9A-Z]{{2,13}}(?![A-Za-z0-9])"
    ),
    before=17,
    after=14,
    validate=v.eu_vat_ok,
    priority=65,
    description="EU VAT numbers with country prefix, per-country checksum via python-stdnum",
)


def _nif_run_ok(text: str, s: int, e: int, nd: int) -> bool:
    """A capital right after the run or one character later (the check letter): the two
    ``_letter_at`` tests inline, one call per run instead of three."""
    n = len(text)
    return (e < n and "A" <= text[e] <= "Z") or (
        e + 1 < n and "A" <= text[e + 1] <= "Z"
    )


ES_NIF = Detector(
    name="es_nif",
    entity_type="ES_NIF",
    category=PII,
    anchor=Numeric(min_digits=7, where=_nif_run_ok),
    pattern=re.compile(
        r"(?<![A-Za-z0-9\-])(?:[0-9]{8}|[XYZ][0-9]{7})-?[A-Z](?![A-Za-z0-9])"
    ),
    before=2,
    after=4,
    validate=v.es_nif_ok,
    priority=66,
    description="Spanish DNI/NIE with check letter",
)

FR_NIR = Detector(
    name="fr_nir",
    entity_type="FR_NIR",
    category=PII,
    anchor=Numeric(min_digits=13, where=lambda t, s, e, nd: t[s] in "12"),
    pattern=re.compile(
        r"(?<![0-9A-Za-z])[12] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2[ABab]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}(?![0-9A-Za-z])"
    ),
    before=2,
    after=22,
    validate=v.fr_nir_ok,
    priority=66,
    description="French social security number (NIR) with its 97-modulus key",
)

IT_FISCAL_CODE = Detector(
    name="it_fiscal_code",
    entity_type="IT_FISCAL_CODE",
    category=PII,
    anchor=Numeric(min_digits=2, after_upper=True),
    pattern=re.compile(
        r"(?<![A-Za-z0-9])[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z](?![A-Za-z0-9])"
    ),
    before=8,
    after=12,
    validate=v.it_fiscal_code_ok,
    priority=66,
    description="Italian codice fiscale with check character",
)

NL_BSN = Detector(
    name="nl_bsn",
    entity_type="NL_BSN",
    category=PII,
    anchor=Numeric(
        min_digits=8,
        where=lambda t, s, e, nd: (
            nd in (8, 9) and e - s <= 12 and t.count(".", s, e) <= 2
        ),
    ),
    pattern=re.compile(
        r"(?<![0-9A-Za-z\-.])[0-9]{4}\.?[0-9]{2}\.?[0-9]{3}(?![0-9A-Za-z]|[\-.][0-9])"
    ),
    before=2,
    after=2,
    validate=v.nl_bsn_ok,
    context=("bsn", "burgerservicenummer", "sofinummer", "citizen service number"),
    priority=60,
    description="Dutch citizen service number (11-proof), only next to 'BSN'",
)


def _letter_at(text: str, i: int) -> bool:
    return i < len(text) and "A" <= text[i] <= "Z"


# ---------------------------------------------------------------- email
EMAIL = Detector(
    name="email",
    entity_type="EMAIL_ADDRESS",
    category=PII,
    anchor=EmailAnchor(),
    anchored=True,
    pattern=re.compile(
        r"(?<![\w.+\-%'])[\w+\-%'](?:[\w.+\-%']{0,62}[\w+\-%'])?@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![\w\-]|\.[A-Za-z0-9])"
    ),
    before=66,
    after=300,
    validate=lambda s: ".." not in s,
    priority=70,
    description="email addresses (RFC 5321 shapes, dotted domain with an alphabetic TLD)",
)

# ---------------------------------------------------------------- phone numbers
_PHONE = re.compile(
    r"(?<![\w+\-.:/])"
    r"(?:\+[0-9]{1,3}[ .\-]?)?"
    r"(?:\([0-9]{1,5}\)[ .\-]?)?"
    r"[0-9]{1,12}(?:[ .\-][0-9]{1,8}){0,5}"
    r"(?:[ ]?(?:x|ext\.?|#)[ ]?[0-9]{1,6})?"
    r"(?![0-9A-Za-z_]|[\-.:,/][0-9])"
)
# the first character of a _PHONE match ('+', '(' or a digit) where its left boundary holds
_PHONE_STARTS = re.compile(r"[+(0-9](?<![\w+\-.:/][+(0-9])")
_GROUP_SPLIT = re.compile(r"[ .\-()+]+")
_EXTENSION = re.compile(r"[ ]?(?:x|ext\.?|#)[ ]?[0-9]{1,6}$")
_DATE_SHAPE = re.compile(
    r"^(?:[0-9]{4}[\-/.][0-9]{1,2}[\-/.][0-9]{1,2}|[0-9]{1,2}[\-/.][0-9]{1,2}[\-/.][0-9]{2,4})$"
)
_PHONE_CONTEXT = (
    "phone", "tel", "mobile", "cell", "fax", "call", "dial", "contact", "reach", "office", "whatsapp",
    "sms", "text me", "ring", "answer", "hotline", "landline", "mob.", "mob:", "ph.", "ph:", "direct line",
    "telefon", "téléphone", "teléfono", "telefono",
)  # fmt: skip


DEFAULT_PHONE_REGIONS = (
    "US",
    "GB",
    "DE",
    "FR",
    "ES",
    "IT",
    "NL",
    "CA",
    "AU",
    "IN",
    "BR",
    "CH",
    "SE",
)


# a number followed by a street name, or preceded by a unit word, is part of a postal address
_STREET_WORDS = (
    "street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|parkway|pkwy"
    "|highway|hwy|square|sq|circle|cir|trail|close|crescent|alley|row|gardens|grove|hill|park"
)
_ADDRESS_AFTER = re.compile(
    rf"[ ,]{{1,2}}(?:(?:rue|via|calle|avenida|avenue|allée|strasse|straße|gasse|weg|vej|plein|laan|piazza|viale|corso)\b"
    rf"|(?:[^\W\d_][\w'.\-]{{0,24}} ){{0,3}}(?:{_STREET_WORDS})\b\.?)",
    re.IGNORECASE,
)
_UNIT_BEFORE = re.compile(
    r"(?:apt|apartment|suite|ste|unit|flat|no|box)\.?[ #]{0,2}$", re.IGNORECASE
)


# The same two patterns without IGNORECASE, for lower-cased ASCII windows: Python's engine
# folds case character by character under IGNORECASE, which costs several times more, and
# for ASCII text lower-casing first gives the same answer (no special case folds in ASCII).
_ADDRESS_AFTER_LOWER = re.compile(_ADDRESS_AFTER.pattern)
_UNIT_BEFORE_LOWER = re.compile(_UNIT_BEFORE.pattern)


def _looks_like_address(text: str, start: int, end: int) -> bool:
    after = text[end : end + 60]
    if after.isascii():
        if _ADDRESS_AFTER_LOWER.match(after.lower()):
            return True
    elif _ADDRESS_AFTER.match(after):
        return True
    before = text[max(0, start - 12) : start]
    if before.isascii():
        return _UNIT_BEFORE_LOWER.search(before.lower()) is not None
    return _UNIT_BEFORE.search(before) is not None


def _phone_groups(core: str) -> list[str]:
    return [g for g in _GROUP_SPLIT.split(core) if g]


def _phone_spans(
    start: int, end: int, state: TextState, regions: tuple[str, ...]
) -> list[tuple[int, int]]:
    text = state.text
    value = text[start:end]
    core = (
        _EXTENSION.sub("", value)
        if ("x" in value or "e" in value or "#" in value)
        else value
    )
    only = v.only_digits(core)
    digits = len(only)
    if digits < 6 or digits > 15:
        return []
    if _DATE_SHAPE.match(core):
        return []
    # the digit groups are split out only for the checks that need them
    groups: list[str] | None = None
    if "." in core and " " not in core and "-" not in core:  # only dots separate
        groups = _phone_groups(core)
        if len(groups) <= 2 or (len(groups) == 4 and all(len(g) <= 3 for g in groups)):
            return []  # decimals, versions and IPv4 addresses
    if digits >= 12 and "(" not in core and "+" not in core:
        if groups is None:
            groups = _phone_groups(core)
        if len(groups) == 1:
            return []  # long undivided digit strings are IDs, cards, timestamps
    if digits >= 8 and core.startswith("+") and _international_ok(core, digits, only):
        # a valid '+CC' number is reported with or without phone words nearby, so only
        # the address test can still turn it down (the context search is skipped)
        return [] if _looks_like_address(text, start, end) else [(start, end)]
    if _looks_like_address(text, start, end):
        return []
    if _has_phone_context(state, start, end):
        return [(start, end)]
    if digits >= 8 and core.startswith("+"):
        return []  # '+' and no country calling code that exists
    # Without context only shapes people write phone numbers in are validated (libphonenumber
    # is slow, and undivided digit strings - licence numbers, order ids - validate in some plan
    # far too often): North American 3-3-4, or a national number with a trunk 0 in groups.
    if _NANP_SHAPE.match(core):
        return (
            [(start, end)]
            if _nanp_ok(core) and any(r in ("US", "CA") for r in regions)
            else []
        )
    if core.startswith("0") and 9 <= digits <= 13:
        if groups is None:
            groups = _phone_groups(core)
        if len(groups) > 1 and _valid_in(
            core, tuple(r for r in regions if r not in ("US", "CA"))
        ):
            return [(start, end)]
    return []


def _international_ok(core: str, digits: int, only: str | None = None) -> bool:
    """'+CC …': a country calling code that exists and a plausible total length (E.164: ≤ 15)."""
    d = v.only_digits(core) if only is None else only
    if not 8 <= digits <= 15:
        return False
    return d[:1] in _CALLING_CODES or d[:2] in _CALLING_CODES or d[:3] in _CALLING_CODES


# Every string of one to three ASCII digits whose value is a country calling code: the
# same test as int(prefix) in COUNTRY_CODE_TO_REGION_CODE (leading zeros included), as
# set lookups instead of int() conversions on every international number.
_CALLING_CODES = frozenset(
    f"{i:0{n}d}"
    for n in (1, 2, 3)
    for i in range(10**n)
    if i in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
)


def _nanp_ok(core: str) -> bool:
    """NANP: area code and exchange start 2-9 and are not N11 service codes; 555-01xx is fiction."""
    d = v.only_digits(core)
    if len(d) == 11:
        d = d[1:]
    area, exchange = d[:3], d[3:6]
    if (
        area[1:] == "11"
        or exchange[1:] == "11"
        or area[0] in "01"
        or exchange[0] in "01"
    ):
        return False
    return not (exchange == "555" and d[6:8] == "01")


_NANP_SHAPE = re.compile(
    r"^(?:1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ .\-]?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}$"
)


@functools.lru_cache(maxsize=4096)
def _valid_in(core: str, regions: tuple[str, ...]) -> bool:
    for region in regions:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(core, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


_PHONE_CONTEXT_RE = context_regex(_PHONE_CONTEXT)


def _has_phone_context(state: TextState, start: int, end: int) -> bool:
    return has_context(state, start, end, _PHONE_CONTEXT_RE, 32, 20)


_RUN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9])")
_RUN_DOTTED_QUAD = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}$")


def _phone_run_ok(text: str, s: int, e: int, nd: int) -> bool:
    """Cheap pre-check on the digit run: an ISO date (maybe with an hour) or an IPv4 address is not a phone.

    Each regex runs only where its shape can start: a '-' after four characters for the
    date, a '.' somewhere in the run for the dotted quad (most runs have neither).
    """
    if e - s >= 10 and text[s + 4] == "-":
        m = _RUN_DATE.match(text, s, e)
        if m is not None and e - m.end() <= 3:
            return False
    return text.find(".", s, e) == -1 or _RUN_DOTTED_QUAD.match(text, s, e) is None


def make_phone_detector(regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS) -> Detector:
    """The phone detector validating against ``regions`` (config ``dlp.phone_regions``)."""
    for r in regions:
        if r.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {r!r}")
    regs = tuple(r.upper() for r in regions)
    return Detector(
        name="phone",
        entity_type="PHONE_NUMBER",
        category=PII,
        anchor=Numeric(min_digits=6, where=_phone_run_ok),
        pattern=_PHONE,
        starts=(_PHONE_STARTS, 0),
        before=12,
        after=24,
        refine=lambda s, e, st: _phone_spans(s, e, st, regs),
        priority=40,
        description="phone numbers: valid in a configured region (libphonenumber), international (+…), or next to phone words",
    )


PHONE = make_phone_detector()

# ---------------------------------------------------------------- network identifiers
IPV4 = Detector(
    name="ipv4",
    entity_type="IP_ADDRESS",
    category=PII,
    # four digits and three dots are seven characters at least: shorter runs (years,
    # '1234 ms') skip the predicate call
    anchor=Numeric(
        min_digits=4, where=lambda t, s, e, nd: t.count(".", s, e) >= 3, min_chars=7
    ),
    pattern=re.compile(
        r"(?<![0-9A-Za-z.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9A-Za-z]|\.[0-9])"
    ),
    before=2,
    after=2,
    validate=v.ipv4_ok,
    priority=60,
    description="IPv4 addresses (octets ≤ 255, no leading zeros)",
)

# ':' hex{0,4} ':' - also found wherever a ':'-separated MAC's ':hh:hh:' is, so a text
# without it skips the MAC pass (MAC runs first and computes these shared hits)
_IPV6_ANCHOR = re.compile(r":[0-9A-Fa-f]{0,4}:")

IPV6 = Detector(
    name="ipv6",
    entity_type="IP_ADDRESS",
    category=PII,
    anchor=RegexAnchor(_IPV6_ANCHOR, gate=":"),
    pattern=re.compile(
        r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?(?![0-9A-Za-z:]|\.[0-9])"
    ),
    before=42,
    after=48,
    validate=v.ipv6_ok,
    priority=61,
    description="IPv6 addresses, full or compressed (validated by ipaddress)",
)


def _mac(name: str, sep: str, implied_by: re.Pattern[str] | None = None) -> Detector:
    h = "[0-9A-Fa-f]{2}"
    esc = re.escape(sep)
    return Detector(
        name=name,
        entity_type="MAC_ADDRESS",
        category=PII,
        anchor=RegexAnchor(
            re.compile(f"{esc}{h}{esc}{h}{esc}"), gate=sep, implied_by=implied_by
        ),  # literal first: fast to search
        pattern=re.compile(
            rf"(?<![0-9A-Za-z:\-])(?:{h}{esc}){{5}}{h}(?![0-9A-Za-z]|[:\-][0-9A-Fa-f])"
        ),
        before=16,
        after=16,
        validate=v.mac_ok,
        priority=62,
        description=f"MAC addresses written with '{sep}'",
    )


MAC = _mac("mac", ":", implied_by=_IPV6_ANCHOR)
MAC_DASHED = _mac("mac_dashed", "-")

# ---------------------------------------------------------------- dates of birth (in context)
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
_DOB = re.compile(
    r"(?<![0-9A-Za-z])(?:"
    r"[0-9]{4}[\-/.][0-9]{1,2}[\-/.][0-9]{1,2}"
    r"|[0-9]{1,2}[\-/.][0-9]{1,2}[\-/.](?:[0-9]{4}|[0-9]{2})"
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?\.? (?:{_MONTHS})[a-z]{{0,6}}\.?,? [0-9]{{4}}"
    rf"|(?:{_MONTHS})[a-z]{{0,6}}\.? [0-9]{{1,2}}(?:st|nd|rd|th)?,? [0-9]{{4}}"
    r")(?![0-9A-Za-z])",
    re.IGNORECASE,
)
_DOB_WORDS = (
    "birth",
    "born",
    "dob",
    "d.o.b",
    "geboren",
    "naissance",
    "nacimiento",
    "nascita",
)
_YEAR_IN_RUN = re.compile(
    r"(?:^|[^0-9])(?:1[89][0-9]{2}|20[0-9]{2})(?![0-9])|[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-][0-9]{2}(?![0-9])"
)


_DOB_CONTEXT_ANY_CASE = re.compile(
    "|".join(re.escape(w) for w in _DOB_WORDS), re.IGNORECASE
)
_DOB_CONTEXT_LOWER = re.compile("|".join(re.escape(w) for w in _DOB_WORDS))


def _has_year(text: str, s: int, e: int, nd: int) -> bool:
    """A year-bearing run with a birth word nearby (checked before the full date pattern runs)."""
    if _YEAR_IN_RUN.search(text[s:e]) is None:
        return False
    window = text[max(0, s - 50) : e + 30]
    if window.isascii():
        # same answer as the case-insensitive search (ASCII has no special case folds),
        # several times cheaper: Python's engine folds case per character under IGNORECASE
        return _DOB_CONTEXT_LOWER.search(window.lower()) is not None
    return _DOB_CONTEXT_ANY_CASE.search(window) is not None


_YEAR = re.compile(r"(?<![0-9])(1[89][0-9]{2}|20[0-9]{2}|[0-9]{2})(?![0-9])")


def _dob_plausible(value: str) -> bool:
    years = [int(y) for y in _YEAR.findall(value)]
    years = [
        y if y >= 100 else (1900 + y if y > date.today().year % 100 else 2000 + y)
        for y in years
    ]
    return any(1880 <= y <= date.today().year for y in years)


DATE_OF_BIRTH = Detector(
    name="date_of_birth",
    entity_type="DATE_OF_BIRTH",
    category=PII,
    anchor=Numeric(
        min_digits=4, where=_has_year, words=_DOB_WORDS
    ),  # a year-bearing run and a birth word
    pattern=_DOB,
    before=30,
    after=14,
    validate=_dob_plausible,
    context=_DOB_WORDS,
    context_before=40,
    context_after=20,
    priority=30,
    description="dates next to 'born'/'date of birth'/'DOB' (numeric and month-name forms)",
)

# ---------------------------------------------------------------- postal addresses (cheap, US/UK-style)
_SUFFIX = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Parkway|Pkwy"
    "|Highway|Hwy|Square|Sq|Circle|Cir|Trail|Trl|Close|Crescent"
)
STREET_ADDRESS = Detector(
    name="street_address",
    entity_type="STREET_ADDRESS",
    category=PII,
    anchor=Numeric(min_digits=1, capital_after=True),
    pattern=re.compile(
        r"[0-9](?<![0-9A-Za-z\-.][0-9])[0-9]{0,4}[A-Za-z]?(?: [A-Z][a-z]{1,20}\.?){1,4} "
        rf"(?:{_SUFFIX})\.?(?![A-Za-z])"
        r"(?:,? (?:Apt|Suite|Unit|Flat|#)\.? ?[0-9A-Za-z\-]{1,6})?"
        r"(?:,? [A-Z][a-z]{1,20}(?: [A-Z][a-z]{1,20}){0,2},? [A-Z]{2} [0-9]{5}(?:-[0-9]{4})?(?![0-9]))?"
    ),
    before=2,
    after=160,
    priority=20,
    description="street addresses '<number> <Name> <Street|Ave|Rd…>' with optional unit and 'City, ST 12345'",
)

PII_DETECTORS: tuple[Detector, ...] = (
    CREDIT_CARD,
    IBAN,
    US_SSN,
    US_SSN_COMPACT,
    US_ITIN,
    UK_NINO,
    EU_VAT,
    ES_NIF,
    FR_NIR,
    IT_FISCAL_CODE,
    NL_BSN,
    EMAIL,
    PHONE,
    IPV4,
    IPV6,
    MAC,
    MAC_DASHED,
    DATE_OF_BIRTH,
    STREET_ADDRESS,
)
