"""The speed-ups in the DLP hot path must agree exactly with the plain definitions they replace.

Each fast path (digit runs found through a byte mask, claimed spans tested by bisect,
Luhn and issuer checks on bytes, the email and URL anchors' backtracking matches) is
compared here with a straightforward reference implementation on seeded random inputs
built to hit their edge cases (runs at text ends, lettered short runs, non-ASCII
characters, empty spans, newlines before '@').
"""

from __future__ import annotations

import random
import string

import phonenumbers

from govproxy.dlp import Scanner
from govproxy.dlp import validators as v
from govproxy.dlp.detectors.base import (
    _LOCAL_PART_TAIL,
    _NUMERIC_RUN,
    _NUMERIC_RUN_CLASSES,
    Claims,
    EmailAnchor,
    TextState,
    char_classes,
    finditer_from,
    numeric_run_matches,
    pivot_contains,
)
from govproxy.dlp.detectors.pii import (
    _RUN_DATE,
    _RUN_DOTTED_QUAD,
    IBAN,
    MAC,
    PHONE,
    _international_ok,
    _phone_run_ok,
)
from govproxy.dlp.detectors.secrets import (
    _MASK_CHARS,
    AZURE_STORAGE_KEY,
    GCP_SERVICE_ACCOUNT,
    JWT,
    URL_CREDENTIALS,
)

_DROP = str.maketrans("", "", " -./()")


def _texts(seed: int, n: int, alphabets: list[str], max_len: int = 200) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        alphabet = rng.choice(alphabets)
        out.append(
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len)))
        )
    return out


def _reference_runs(text: str) -> tuple[int, list, list, list]:
    """What the runs were defined as: finditer over the text, counts without separators."""
    ms = list(_NUMERIC_RUN.finditer(text))

    def counted(spans: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
        return [(s, e, len(text[s:e].translate(_DROP))) for s, e in spans]

    plain = [m.span() for m in ms if m.lastindex != 2]
    capital = [m.span() for m in ms if m.lastindex]
    upper = [
        m.span()
        for m in ms
        if m.start()
        and (
            "A" <= text[m.start() - 1] <= "Z"
            or (
                text[m.start() - 1] == " "
                and m.start() > 1
                and "A" <= text[m.start() - 2] <= "Z"
            )
        )
    ]
    return (
        len(ms),
        [r for r in counted(plain) if r[2] >= 4],
        counted(upper),
        counted(capital),
    )


def test_digit_runs_match_the_regex_definition() -> None:
    texts = _texts(
        1,
        3000,
        [
            "0123456789 -./()ABCDEZx",
            "09 AB\u0130é\ud800",
            "1 A B ab",
            string.printable,
            "9",
        ],
    )
    texts += ["9" * 500, "12B Baker", "1a B", "221B Baker Street", "", "7", "x 12 Y"]
    for text in texts:
        state = TextState(text)
        reference = _reference_runs(text)
        assert state.has_runs() == (reference[0] > 0)
        got = (
            state._n_runs,
            state.numeric_runs(),
            state.runs_after_upper(),
            state.runs_before_capital(),
        )
        assert got == reference, repr(text)
        spans = [(m.span(), m.lastindex) for m in numeric_run_matches(text)]
        assert spans == [(m.span(), m.lastindex) for m in _NUMERIC_RUN.finditer(text)]
        # the byte twin over character classes: same spans and groups
        twin = _NUMERIC_RUN_CLASSES.finditer(char_classes(text))
        assert [(m.regs, m.lastindex) for m in twin] == [
            (m.regs, m.lastindex) for m in _NUMERIC_RUN.finditer(text)
        ], repr(text)


def test_claims_agree_with_a_linear_scan() -> None:
    rng = random.Random(2)
    for _ in range(500):
        claims = Claims()
        kept: list[tuple[int, int]] = []
        for _ in range(rng.randint(0, 25)):
            s = rng.randint(0, 200)
            e = s + rng.randint(0, 12)  # empty spans included
            overlap = any(s < ce and cs < e for cs, ce in kept)
            assert claims.overlaps(s, e) == overlap
            if not overlap:
                claims.add(s, e)
                kept.append((s, e))
            hs = rng.randint(0, 210)
            he = hs + rng.randint(0, 10)
            inside = any(cs <= hs and he <= ce for cs, ce in kept)
            assert claims.contains(hs, he) == inside


def _reference_luhn(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def _reference_card(value: str) -> bool:
    digits = value.translate(str.maketrans("", "", " -./()\t"))
    n = len(digits)
    if not (12 <= n <= 19) or not _reference_luhn(digits) or len(set(digits)) < 2:
        return False
    return any(
        n in lengths and lo <= int(digits[:width]) <= hi
        for (width, lo, hi), lengths in v._CARD_RULES
    )


def test_luhn_and_card_rules_match_the_arithmetic_definition() -> None:
    rng = random.Random(3)
    for _ in range(20000):
        value = rng.choice(["4", "5", "2", "3", "6", "22", "35", "0", ""]) + "".join(
            rng.choice(string.digits) for _ in range(rng.randint(0, 20))
        )
        if rng.random() < 0.3:
            value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        assert v.luhn_ok(v.digits_only(value)) == _reference_luhn(v.digits_only(value))
        assert v.card_ok(value) == _reference_card(value), value
    assert v.card_ok("4111 1111 1111 1111") and not v.card_ok("4111 1111 1111 1112")


def test_digit_stripping_matches_str_translate() -> None:
    for text in _texts(4, 3000, [string.printable, "0123456789 -./()\t+é٣²"], 30):
        assert v.digits_only(text) == text.translate(v._SEPARATORS)
        assert v.only_digits(text) == text.translate(v._NON_DIGITS)


def test_email_anchor_starts_where_the_local_part_search_would() -> None:
    def reference(text: str) -> list[tuple[int, int]]:
        out, at = [], text.find("@")
        while at != -1:
            m = _LOCAL_PART_TAIL.search(text, max(0, at - 64), at)
            if m is not None:
                out.append((m.start(), at + 1))
            at = text.find("@", at + 1)
        return out

    alphabet = [
        "a",
        "Z",
        ".",
        "+",
        "-",
        "%",
        "'",
        "@",
        " ",
        "\n",
        "é",
        "_",
        "1",
        "\x00",
    ]
    rng = random.Random(5)
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 150)))
        assert list(EmailAnchor().hits(TextState(text))) == reference(text), repr(text)


def test_url_scheme_anchor_walks_back_like_a_character_loop() -> None:
    anchor = URL_CREDENTIALS.anchor

    def reference(text: str) -> list[tuple[int, int]]:
        out, i = [], text.find("://")
        while i != -1:
            j, stop = i, max(0, i - anchor.max_back)
            while j > stop and text[j - 1] in anchor.chars:
                j -= 1
            if j < i:
                out.append((j, i + 3))
            i = text.find("://", i + 1)
        return out

    alphabet = ["a", "Z", "9", "+", ".", "-", "://", " ", "\n", "é", ":", "/"]
    rng = random.Random(6)
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))) + "@"
        assert list(anchor.hits(TextState(text))) == reference(text), repr(text)


def _window_texts(seed: int, n: int, alphabet: list[str]) -> list[tuple[str, int, int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
        lo = rng.randint(0, len(text))
        out.append((text, lo, rng.randint(lo, len(text))))
    return out


def _assert_window_search_matches(detector, seed: int, alphabet: list[str]) -> None:
    """``finditer_from`` (start only where the pattern can start) finds what finditer finds."""
    starts, offset = detector.starts
    for text, lo, hi in _window_texts(seed, 8000, alphabet):
        got = [m.span() for m in finditer_from(detector.pattern, starts, offset, text, lo, hi)]
        assert got == [m.span() for m in detector.pattern.finditer(text, lo, hi)], (text, lo, hi)


def test_phone_window_search_finds_what_finditer_finds() -> None:
    alphabet = [
        "+",
        "(",
        ")",
        "0",
        "1",
        "4",
        "9",
        " ",
        "-",
        ".",
        ":",
        "/",
        "_",
        "x",
        "ext",
        "#",
        "a",
        "é",
        "٣",
        "\n",
    ]
    alphabet += ["+1 415-555-0142", "(212) 555-0142", "020 7946 0958"]
    _assert_window_search_matches(PHONE, 7, alphabet)


def test_iban_window_search_finds_what_finditer_finds() -> None:
    alphabet = [
        "G",
        "B",
        "d",
        "e",
        "8",
        "2",
        "0",
        "9",
        " ",
        "WEST",
        "GB82",
        "de89",
        "-",
        "é",
        "٣",
        "\n",
    ]
    _assert_window_search_matches(IBAN, 8, alphabet)


def test_calling_code_lookup_matches_int_conversion() -> None:
    codes = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    rng = random.Random(9)
    for _ in range(20000):
        d = "".join(rng.choice("0123456789") for _ in range(rng.randint(8, 15)))
        reference = any(int(d[:n]) in codes for n in (1, 2, 3))
        assert _international_ok("+" + d, len(d), d) == reference, d


def test_mask_character_test_matches_the_set_definition() -> None:
    chars = set("*xX.•#-_ ")
    for text in _texts(
        10, 5000, ["*xX.•#-_ ", "*xX.•#-_ a1", "xX", string.printable], 12
    ):
        s = text.strip()
        if s:
            assert (not s.strip(_MASK_CHARS)) == (set(s) <= chars), repr(s)


def test_scanner_skips_numeric_detectors_exactly_when_plain_find_finds_nothing() -> (
    None
):
    """The scanner's own digit-run path against the plain absent()/find() loop."""
    scanner = Scanner(hmac_key=b"fastpath-test-key-0123456789abcdef")
    alphabet = ["4111 1111 1111 1111", "123-45-6789", "+44 20 7946 0958", "10.1.2.3", "GB82 WEST 1234 5698 7654 32",
                "born 1990-01-02", "12B Baker Street", "AB 12 34 56 C", "DE136695976", "BSN 111222333", " ", "a", "7", "\n"]  # fmt: skip
    rng = random.Random(11)
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        state, taken, reference = TextState(text), Claims(), []
        for det in scanner.detectors:
            if det.anchor.absent(state):
                continue
            for s, e in det.find(state, taken):
                if not taken.overlaps(s, e):
                    taken.add(s, e)
                    reference.append((s, e, det.name))
        got = [(f.start, f.end, f.detector) for f in scanner.scan([text]).findings]
        assert got == sorted(reference), repr(text)


def test_pivot_search_agrees_with_substring_search() -> None:
    rng = random.Random(12)
    for needle, pivot in (
        ("eyJ", 2),
        ('"private_key_id"', 0),
        ("AccountKey=", 7),
        ("ab", 1),
    ):
        alphabet = [needle, needle[:-1], needle[pivot], needle[1:], "x", " ", "é"]
        for _ in range(3000):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
            for limit in (0, 1, 2, 8):
                assert pivot_contains(text, needle, pivot, limit) == (needle in text), (
                    text,
                    limit,
                )
    texts = [
        '{"type": "service_account", "private_key_id": "0a1b"}',
        '"private_key": "x"',
        "eyJ",
        "J ey J",
        "",
    ]
    for det, needle in ((JWT, "eyJ"), (GCP_SERVICE_ACCOUNT, '"private_key_id"')):
        for text in texts:
            assert det.anchor.absent(TextState(text)) == (needle not in text), text


def test_azure_keyword_pivot_agrees_with_lower_case_search() -> None:
    anchor = AZURE_STORAGE_KEY.anchor.anchors[1]  # type: ignore[attr-defined]
    alphabet = [
        "AZURE_STORAGE_KEY",
        "azure_storage_key",
        "Azure_",
        "_key",
        "_",
        "İ",
        "x",
        " ",
    ]
    rng = random.Random(13)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        state = TextState(text)
        assert anchor.absent(state) == ("azure_storage_key" not in state.lower), text


def test_phone_run_precheck_matches_its_two_regexes() -> None:
    def reference(text: str, s: int, e: int) -> bool:
        m = _RUN_DATE.match(text, s, e)
        if m is not None and e - m.end() <= 3:
            return False
        return _RUN_DOTTED_QUAD.match(text, s, e) is None

    alphabet = ["2024-01-02", "12", "3", "-", ".", " ", "10.1.2.3", "T09", "1999"]
    rng = random.Random(14)
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        s = rng.randint(0, len(text) - 1)
        e = rng.randint(s + 1, len(text))
        assert _phone_run_ok(text, s, e, 0) == reference(text, s, e), (text, s, e)


def test_mac_anchor_skipped_only_when_its_own_pattern_has_no_hit() -> None:
    """MAC's anchor is skipped when the broader IPv6 anchor finds nothing; that must
    never hide a MAC anchor hit (the plain definition: gate, then its own pattern)."""
    anchor = MAC.anchor
    alphabet = ["a", "0", "f", "9", "G", ":", "::", " ", "-", "é", "01:23:45", ":ab:"]
    rng = random.Random(15)
    for _ in range(8000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        plain = ":" not in text or not anchor.pattern.search(text)  # type: ignore[attr-defined]
        assert anchor.absent(TextState(text)) == plain, repr(text)


def test_url_scheme_anchor_cached_hits_and_absence_agree_with_the_plain_definition() -> (
    None
):
    """BackFrom keeps its hits in the state; ``absent`` is "no hit", whichever is asked first.

    The plain definition: no hit when the gate or the literal is missing, else the walk
    back from each literal occurrence (as in the test above).
    """
    anchor = URL_CREDENTIALS.anchor

    def reference(text: str) -> list[tuple[int, int]]:
        if "@" not in text:
            return []
        out, i = [], text.find("://")
        while i != -1:
            j, stop = i, max(0, i - anchor.max_back)
            while j > stop and text[j - 1] in anchor.chars:
                j -= 1
            if j < i:
                out.append((j, i + 3))
            i = text.find("://", i + 1)
        return out

    alphabet = ["a", "9", "+", "://", " ", "\n", "é", ":", "/", "@"]
    rng = random.Random(16)
    seen_hits = seen_only_literal = 0
    for _ in range(4000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        want = reference(text)
        first = TextState(text)
        assert first.text == text
        assert anchor.absent(first) == (not want), repr(text)
        assert anchor.hit_list(first) == want, repr(text)  # from the state's cache
        second = TextState(text)
        assert list(anchor.hits(second)) == want, repr(text)
        assert anchor.absent(second) == (not want), repr(text)
        seen_hits += bool(want)
        seen_only_literal += "://" in text and "@" in text and not want
    assert seen_hits > 100 and seen_only_literal > 10  # both branches exercised


def test_numeric_unclaimed_hits_match_the_plain_filter() -> None:
    """``Numeric.unclaimed_hits`` (run list read from the state, redundant digit tests left
    out) gives the runs the plain definition gives: the anchor's run list, at least
    ``min_digits`` and at most ``max_digits`` digits, not inside a claimed span, passing
    ``where``, and nothing at all when one passes but the text has none of ``words``."""
    from govproxy.dlp.detectors.base import Numeric

    def has_dash(t: str, s: int, e: int, nd: int) -> bool:
        return "-" in t[s:e]

    anchors = [
        Numeric(min_digits=1),
        Numeric(min_digits=4),
        Numeric(min_digits=6, where=has_dash),
        Numeric(min_digits=5, max_digits=8),
        Numeric(min_digits=9, max_digits=9, where=has_dash),
        Numeric(min_digits=2, capital_after=True),
        Numeric(min_digits=3, capital_after=True, max_digits=4),
        Numeric(min_digits=2, after_upper=True),
        Numeric(min_digits=7, after_upper=True, where=has_dash),
        Numeric(min_digits=4, where=has_dash, words=("born", "dob")),
        Numeric(min_digits=4, words=("born",)),
        Numeric(min_digits=4, where=has_dash, min_chars=7),
        Numeric(min_digits=1, capital_after=True, min_chars=3),
    ]

    def reference(
        a: Numeric, state: TextState, claimed: list[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        if a.capital_after:
            runs = state.runs_before_capital()
        elif a.after_upper:
            runs = state.runs_after_upper()
        else:
            runs = [r for r in state.numeric_runs() if r[2] >= a.min_digits]
        out = []
        for s, e, nd in runs:
            if not a.min_digits <= nd <= a.max_digits or e - s < a.min_chars:
                continue
            if any(cs <= s and e <= ce for cs, ce in claimed):
                continue
            if a.where is not None and not a.where(state.text, s, e, nd):
                continue
            if a.words and not any(w in state.text.lower() for w in a.words):
                return []
            out.append((s, e))
        return out

    rng = random.Random(17)
    texts = _texts(
        18, 1500, ["0123456789 -AB x", "0123456789 -./()ABCDEZxy", "1 A B ab-"], 120
    )
    texts = [t + rng.choice(["", " born", " DOB"]) for t in texts]
    nonempty = 0
    for text in texts:
        state = TextState(text)
        spans: list[tuple[int, int]] = []
        for _ in range(rng.randint(0, 4)):
            s = rng.randint(0, len(text))
            spans.append((s, min(len(text), s + rng.randint(0, 20))))
        claims = Claims()
        for s, e in sorted(spans):
            if not claims.overlaps(s, e):
                claims.add(s, e)
        for a in anchors:
            for claimed in (None, claims, list(claims)):
                want = reference(a, state, list(claimed) if claimed else [])
                assert a.unclaimed_hits(state, claimed) == want, (repr(text), a)
                nonempty += bool(want)
    assert nonempty > 1000


def test_ipv4_run_predicate_never_holds_below_its_min_chars() -> None:
    """IPV4 skips runs shorter than ``min_chars`` without calling ``where``: sound only if
    ``where`` (with the anchor's digit minimum) is false for every such run."""
    from govproxy.dlp.detectors.pii import IPV4

    a = IPV4.anchor
    rng = random.Random(19)
    short_true = 0
    for _ in range(20000):
        text = "".join(rng.choice("0123456789.. -") for _ in range(rng.randint(1, 12)))
        nd = sum(c.isdigit() for c in text)
        if nd < a.min_digits:
            continue
        if len(text) < a.min_chars:
            short_true += a.where(text, 0, len(text), nd)
    assert a.min_chars == 7 and short_true == 0


def test_operator_literal_occurrences_match_a_find_loop() -> None:
    """BackFrom finds a literal that starts with ':' or '=' among the cached operator
    positions (the plain search when there are too many); same positions as ``str.find``."""
    from govproxy.dlp.detectors.base import BackFrom

    anchors = [
        BackFrom(lit, frozenset("ab"))
        for lit in ("://", "=>", ":=", "==", "::", "ab:", "b")
    ]

    def reference(text: str, lit: str) -> list[int]:
        out, i = [], text.find(lit)
        while i != -1:
            out.append(i)
            i = text.find(lit, i + 1)
        return out

    alphabet = [":", "=", "/", "//", "a", "b", ">", " ", "://", "é"]
    rng = random.Random(20)
    many = few = 0
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 70)))
        state = TextState(text)
        for a in anchors:
            assert a._occurrences(state) == reference(text, a.literal), (
                text,
                a.literal,
            )
        ops = state.operators(24)
        many += ops is None
        few += ops is not None and len(ops) > 2
    assert many > 30 and few > 100  # both the operator path and the fallback


def test_keyword_window_slice_test_matches_the_alternation_search() -> None:
    """KeywordBeforeOperator with one or two keywords tests each operator's window with
    substring tests instead of the alternation's search: the same hits."""
    import re as _re

    from govproxy.dlp.detectors.base import KeywordBeforeOperator

    anchors = [
        KeywordBeforeOperator(("pass", "pwd"), reach=12, max_operators=6),
        KeywordBeforeOperator(("pass", "pwd")),
        KeywordBeforeOperator(("ke",), reach=5),
        KeywordBeforeOperator(("secret", "key", "token"), reach=9),
    ]

    def reference(a: KeywordBeforeOperator, state: TextState) -> list[tuple[int, int]]:
        near = _re.compile(
            "|".join(_re.escape(k) for k in sorted(a.keywords, key=len, reverse=True))
        )
        ops = state.operators(a.max_operators)
        found: set[tuple[int, int]] = set()
        if ops is None:
            for k in a.keywords:
                i = state.lower.find(k)
                while i != -1:
                    found.add((i, i + len(k)))
                    i = state.lower.find(k, i + 1)
        else:
            for i in ops:
                found.update(
                    m.span() for m in near.finditer(state.lower, max(0, i - a.reach), i)
                )
        return sorted(found)

    alphabet = [
        "pass",
        "pwd",
        "PaSs",
        "p",
        "w",
        "d",
        "ke",
        "key",
        "token",
        "secret",
        ":",
        "=",
        " ",
        "x",
        "\u0130",
    ]
    rng = random.Random(21)
    hits = 0
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for a in anchors:
            state = TextState(text)
            want = reference(a, state)
            assert a.hit_list(state) == want, (text, a.keywords)
            assert a.absent(TextState(text)) == (not want)
            hits += bool(want)
    assert hits > 1000


def test_scanner_numeric_skip_on_texts_without_runs_agrees_with_find() -> None:
    """The scanner asks the state once whether there are digit runs; texts with none and
    texts with some give what each detector's own ``find`` gives, in priority order."""
    from govproxy.dlp.detectors.base import Claims

    sc = Scanner(hmac_key=b"k" * 32)
    texts = ["no digits here at all, password: hunter-two", "call +44 20 7946 0958 or a@b.example",
             "", "ssn 219-09-9998 and 4111 1111 1111 1111", "1", "password = Secr3t!"]  # fmt: skip
    for text in texts:
        state = TextState(text)
        taken = Claims()
        want = []
        for det in sc.detectors:
            for s, e in det.find(state, taken):
                if not taken.overlaps(s, e):
                    taken.add(s, e)
                    want.append((s, e, det.name))
        got = [(f.start, f.end, f.detector) for f in sc.scan([text]).findings]
        assert got == sorted(want), text


def test_iban_and_nif_run_predicates_match_their_plain_definitions() -> None:
    """``_iban_run_ok`` decides an ASCII group without a generator; ``_nif_run_ok`` inlines
    two ``_letter_at`` tests: both agree with the plain definitions."""
    from govproxy.dlp.detectors.pii import _iban_run_ok, _letter_at, _nif_run_ok

    def iban_plain(text: str, s: int) -> bool:
        if s == 0:
            return False
        c = text[s - 1]
        if c.isalpha():
            return True
        if c != " " or s < 5:
            return False
        group = text[s - 5 : s - 1]
        return group.isalnum() and (
            group.isupper() or any(ch.isdigit() for ch in group)
        )

    rng = random.Random(22)
    alphabet = "aB9 Z0x\u00bd\u0661\u00e9-"
    outcomes = set()
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        s = rng.randint(0, len(text) - 1)
        e = rng.randint(s, len(text))
        got = _iban_run_ok(text, s, e, 0)
        assert got == iban_plain(text, s), (text, s)
        assert _nif_run_ok(text, s, e, 0) == (
            _letter_at(text, e) or _letter_at(text, e + 1)
        ), (text, e)
        outcomes.add(got)
    assert outcomes == {True, False}
