"""The detector unit and the cheap anchors that decide where it runs.

Running forty regexes over every prompt would cost milliseconds. Instead each detector
names an *anchor*: something much cheaper to find than the full pattern (a literal such
as ``ghp_``, an ``@``, a run of digits). The full pattern runs only in small windows
around anchor hits, so a clean prompt costs a handful of ``str.find`` calls and one
digit-run scan shared by all numeric detectors.
"""

from __future__ import annotations

import bisect
import functools
import os
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from govproxy.dlp.model import Category

# Digit runs with the separators numbers are written with; shared by every numeric detector.
# Starts with a character class, which Python's regex engine skips over quickly.
# A run is four or more characters of digits and the separators numbers are written with,
# or a shorter run directly before a capital letter (house numbers, codice fiscale pieces).
# Measured on 4 KB of code, this shape is ~4x cheaper than one that counts digits in the
# regex: it starts with the digit class (so the engine skips ahead quickly), and the
# lookbehind after the first digit stops retries inside a number that already failed.
_NUMERIC_RUN = re.compile(
    r"[0-9](?<![0-9][0-9])"
    r"(?:[0-9 \-./()]{2,80}[0-9)](?P<cap> ?(?=(?:[A-Za-z] )?[A-Z]))?"
    r"|[0-9]{0,2}(?P<cap1>[A-Za-z]? (?=[A-Z])|(?=[A-Z])))"
)

_OPERATORS = (":", "=")  # what assigns a value to a keyword ('password: x', 'token=x')
# the operator limit the keyword anchors use (one cached walk per text serves them all)
_SHARED_MAX_OPERATORS = 24

# Every byte to b"1" (an ASCII digit) or b"0" (anything else). Translating a text's bytes
# through this is one C pass, and then ``bytes.find`` (memchr) jumps from digit run to
# digit run: a regex that starts with a character class costs ~6 ns per character in
# Python's engine, this ~0.5 ns, and prose is mostly characters that are not digits.
_DIGIT_MASK = bytes(0x31 if 0x30 <= b <= 0x39 else 0x30 for b in range(256))


def digit_mask(text: str) -> bytes:
    """One byte per character of ``text``: b"1" where it is an ASCII digit, b"0" elsewhere.

    Non-ASCII characters become '?' first (one byte per code point, so offsets stay those
    of the text); digits the patterns look for are ASCII only.
    """
    raw = text.encode("ascii") if text.isascii() else text.encode("ascii", "replace")
    return raw.translate(_DIGIT_MASK)


def _char_class(b: int) -> int:
    c = chr(b)
    if "0" <= c <= "9":
        return ord("d")
    if c in " )":  # the two separators _NUMERIC_RUN treats on their own
        return b
    if c in "-./(":
        return ord("s")
    if "A" <= c <= "Z":
        return ord("A")
    if "a" <= c <= "z":
        return ord("a")
    return ord("_")


# Every byte to its class for _NUMERIC_RUN: d (ASCII digit), the space, ')', s (the other
# separators - . / '('), A (ASCII capital), a (ASCII small letter), _ (anything else).
_CHAR_CLASSES = bytes(_char_class(b) for b in range(256))
_UPPER, _SPACE = ord("A"), ord(" ")

# _NUMERIC_RUN over the class bytes: each of its character sets is a union of classes, so
# both match at the same places with the same groups. Its first item is a literal, which
# the engine skips to, and the whole walk over the text stays in C.
_NUMERIC_RUN_CLASSES = re.compile(
    rb"d(?<!dd)"
    rb"(?:[d )s]{2,80}[d)](?P<cap> ?(?=(?:[Aa] )?A))?"
    rb"|d{0,2}(?P<cap1>[Aa]? (?=A)|(?=A)))"
)


def char_classes(text: str) -> bytes:
    """One class byte per character of ``text`` (see ``_CHAR_CLASSES``); non-ASCII is '_'.

    Non-ASCII characters become '?' first (one byte per code point, so offsets stay those
    of the text): the patterns' letters and digits are ASCII only.
    """
    raw = text.encode("ascii") if text.isascii() else text.encode("ascii", "replace")
    return raw.translate(_CHAR_CLASSES)


def numeric_run_matches(text: str) -> list[re.Match[str]]:
    """The matches ``_NUMERIC_RUN.finditer(text)`` would give, tried only where a digit run starts.

    Every match starts on a digit that no digit precedes, so instead of letting the regex
    engine walk the whole text, the digit mask says where runs start and the pattern is
    matched there alone; a run that does not match is skipped whole (no match can start
    inside it, the lookbehind forbids that).
    """
    return numeric_run_matches_in(text, digit_mask(text))


def numeric_run_matches_in(text: str, mask: bytes) -> list[re.Match[str]]:
    """``numeric_run_matches`` given the text's ``digit_mask`` (computed once per text)."""
    find = mask.find
    match = _NUMERIC_RUN.match
    out: list[re.Match[str]] = []
    d = find(b"1")
    while d != -1:
        m = match(text, d)
        if m is not None:
            out.append(m)
            d = find(b"1", m.end())
            continue
        end = find(b"0", d)  # past this digit run
        if end == -1:
            break
        d = find(b"1", end)
    return out


class TextState:
    """Per-text values computed at most once and shared between detectors."""

    __slots__ = (
        "_after_upper",
        "_by_min",
        "_capital_after",
        "_contains",
        "_lower",
        "_mask",
        "_n_runs",
        "_numeric",
        "_ops",
        "_regex_hits",
        "text",
    )  # fmt: skip

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._mask = b""
        self._n_runs = 0
        self._ops: dict[int, list[int] | None] = {}
        self._numeric: list[tuple[int, int, int]] | None = None
        self._by_min: dict[int, list[tuple[int, int, int]]] = {}
        self._contains: dict[tuple[str, bool], bool] = {}
        self._capital_after: list[tuple[int, int, int]] | None = None
        self._after_upper: list[tuple[int, int, int]] | None = None
        # keyed by id(): hashing a compiled pattern hashes its whole program on every call
        # (~0.25 us each, ~17 lookups a dense scan); the patterns outlive the state
        self._regex_hits: dict[int, list[tuple[int, int]]] = {}

    def regex_hits(self, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
        """Spans of ``pattern`` in the text, cached: detectors of one family share one pass."""
        hits = self._regex_hits.get(id(pattern))
        if hits is None:
            hits = [m.span() for m in pattern.finditer(self.text)]
            self._regex_hits[id(pattern)] = hits
        return hits

    def operators(self, limit: int) -> list[int] | None:
        """Positions of ':' and '=' (assignment operators), or None when there are more than ``limit``.

        Found with memchr-based ``str.find`` and shared by the keyword anchors; a text
        with many operators (code, JSON) stops the walk at ``limit + 1``.
        """
        if limit in self._ops:
            return self._ops[limit]
        text = self.text
        ops: list[int] | None = []
        for op in _OPERATORS:
            i = text.find(op)
            while i != -1:
                ops.append(i)  # type: ignore[union-attr]
                if len(ops) > limit:  # type: ignore[arg-type]
                    ops = None
                    break
                i = text.find(op, i + 1)
            if ops is None:
                break
        self._ops[limit] = ops
        return ops

    def contains(self, needle: str, ignore_case: bool = False) -> bool:
        """Cached substring test: detectors sharing a keyword ('secret', 'sk-') search once."""
        key = (needle, ignore_case)
        hit = self._contains.get(key)
        if hit is None:
            hit = needle in (self.lower if ignore_case else self.text)
            self._contains[key] = hit
        return hit

    def has_digits(self) -> bool:
        return bool(self.numeric_runs())

    @property
    def lower(self) -> str:
        if self._lower is None:
            low = self.text.lower()
            if len(low) != len(
                self.text
            ):  # e.g. 'İ' lowers to two code points: keep offsets aligned
                low = "".join(
                    c if len(c.lower()) != 1 else c.lower() for c in self.text
                )
            self._lower = low
        return self._lower

    def _scan_numeric(self) -> None:
        """Find the digit runs and sort them into the lists detectors ask for, in one pass.

        Each run is (start, end, count): count is its characters other than separators,
        the digits of its slice of the character classes (a C count), plus the one letter
        a short run before a capital may hold ('221B Baker'), which thresholds were set with.
        The runs are ``_NUMERIC_RUN``'s matches, found by its byte twin over the classes
        (see ``char_classes``): one C ``finditer`` instead of a match per run from Python.
        """
        self._mask = classes = char_classes(self.text)
        count = classes.count
        numeric: list[
            tuple[int, int, int]
        ] = []  # four digits or more, not a short capital run
        capital: list[tuple[int, int, int]] = []  # followed by a capitalised word
        upper: list[
            tuple[int, int, int]
        ] = []  # after an upper-case letter (a space between allowed)
        n = 0
        for m in _NUMERIC_RUN_CLASSES.finditer(classes):
            s, e = m.span()
            n += 1
            li = (
                m.lastindex
            )  # None: plain run; 1: long run before a capital; 2: short one
            nd = count(b"d", s, e)
            if li == 2:
                if m.end(2) - m.start(2) == 2:
                    nd += 1
                run = (s, e, nd)
                capital.append(run)
            else:
                run = (s, e, nd)
                if nd >= 4:
                    numeric.append(run)
                if li:
                    capital.append(run)
            if s and (
                classes[s - 1] == _UPPER
                or (classes[s - 1] == _SPACE and s > 1 and classes[s - 2] == _UPPER)
            ):
                upper.append(run)
        self._n_runs = n
        self._numeric = numeric
        self._capital_after = capital
        self._after_upper = upper

    def has_runs(self) -> bool:
        """Any digit run at all (prose without numbers skips every numeric detector here)."""
        if self._numeric is None:
            self._scan_numeric()
        return self._n_runs > 0

    def numeric_runs(self) -> list[tuple[int, int, int]]:
        """(start, end, digit count) of digit runs with at least four digits."""
        if self._numeric is None:
            self._scan_numeric()
        return self._numeric  # type: ignore[return-value]

    def runs_with(self, min_digits: int) -> list[tuple[int, int, int]]:
        """Runs with at least ``min_digits`` digits (cached per threshold)."""
        runs = self._by_min.get(min_digits)
        if runs is None:
            runs = [r for r in self.numeric_runs() if r[2] >= min_digits]
            self._by_min[min_digits] = runs
        return runs

    def runs_after_upper(self) -> list[tuple[int, int, int]]:
        """Runs directly after an upper-case letter (one space allowed): 'AB 12 34 56 C', 'DE136695976'."""
        if self._after_upper is None:
            self._scan_numeric()
        return self._after_upper  # type: ignore[return-value]

    def runs_before_capital(self) -> list[tuple[int, int, int]]:
        """Runs followed by a capitalised word ('221B Baker Street'): house-number candidates."""
        if self._capital_after is None:
            self._scan_numeric()
        return self._capital_after  # type: ignore[return-value]


class Anchor:
    """Where a detector could match: yields anchor positions (start, end) in the text."""

    def hits(
        self, state: TextState
    ) -> Iterator[tuple[int, int]]:  # pragma: no cover - interface
        raise NotImplementedError

    def absent(self, state: TextState) -> bool:
        """A cheap test that there can be no hit, so clean text skips the detector entirely."""
        return False

    def hit_list(self, state: TextState) -> list[tuple[int, int]]:
        """``hits`` as a list; anchors that already hold one return it (callers do not mutate it)."""
        return list(self.hits(state))

    def ordered(self, state: TextState) -> bool:
        """Whether hits() yields positions in text order (else the detector sorts them)."""
        return True


@dataclass(frozen=True)
class Literal(Anchor):
    """Literal strings; with ``ignore_case`` they are searched in the lower-cased text."""

    strings: tuple[str, ...]
    ignore_case: bool = False
    gate: str | None = (
        None  # a (rare) character that must be present at all, checked first
    )
    gate_any: tuple[str, ...] = ()  # at least one of these characters must be present
    needs_digits: int = 0  # the match contains a run of at least this many digits
    # index of a rare character in the (single) string: its occurrences, found by memchr,
    # are checked instead of searching the whole (or lower-cased) text for the string
    pivot: int = -1

    def __post_init__(self) -> None:
        if self.pivot >= 0 and len(self.strings) != 1:
            raise ValueError("a pivot needs exactly one string")
        # Several strings with a common start ('Bearer ', 'BEARER '): one regex that begins
        # with that literal tells whether any occurs in a single pass (the engine skips to
        # the literal quickly), instead of one substring search per string.
        any_of = None
        if len(self.strings) > 1:
            prefix = os.path.commonprefix(list(self.strings))
            if prefix:
                rest = "|".join(
                    re.escape(x[len(prefix) :])
                    for x in sorted(self.strings, key=len, reverse=True)
                )
                any_of = re.compile(f"{re.escape(prefix)}(?:{rest})")
        object.__setattr__(self, "_any_of", any_of)

    def absent(self, state: TextState) -> bool:
        text = state.text
        if self.gate is not None and self.gate not in text:
            return True
        if self.gate_any and not any(g in text for g in self.gate_any):
            return True
        if self.needs_digits and not state.runs_with(self.needs_digits):
            return True
        ic = self.ignore_case
        any_of = self._any_of  # type: ignore[attr-defined]
        if any_of is not None:
            return any_of.search(state.lower if ic else text) is None
        if self.pivot >= 0:
            return not self._contains_by_pivot(state)
        for s in self.strings:
            if state.contains(s, ic):
                return False
        return True

    def _contains_by_pivot(self, state: TextState, limit: int = 8) -> bool:
        """``state.contains(string)``, decided at the first ``limit`` occurrences of the pivot
        character when there are no more (a whole-text substring search costs ~0.7 ns a
        character, memchr a fraction of that); cached in the state like ``contains``."""
        ic = self.ignore_case
        key = (self.strings[0], ic)
        hit = state._contains.get(key)
        if hit is None:
            hay = state.lower if ic else state.text
            hit = pivot_contains(hay, self.strings[0], self.pivot, limit)
            state._contains[key] = hit
        return hit

    def ordered(self, state: TextState) -> bool:
        return len(self.strings) == 1

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:
        # callers check absent() first
        hay = state.lower if self.ignore_case else state.text
        for s in self.strings:
            if not state.contains(s, self.ignore_case):
                continue
            i = hay.find(s)
            while i != -1:
                yield i, i + len(s)
                i = hay.find(s, i + 1)


def pivot_contains(text: str, needle: str, pivot: int, limit: int = 8) -> bool:
    """``needle in text``, looking only where ``needle[pivot]`` occurs (up to ``limit`` times,
    then a plain search of the rest)."""
    ch = needle[pivot]
    find, startswith = text.find, text.startswith
    i = find(ch, pivot)
    for _ in range(limit):
        if i == -1:
            return False
        if startswith(needle, i - pivot):
            return True
        i = find(ch, i + 1)
    return i != -1 and text.find(needle, i - pivot) != -1


_LOCAL_PART_TAIL = re.compile(r"[\w.+\-%']{1,64}$")
# Up to the last character that cannot be in a local part: one greedy match that backtracks
# from the '@', where searching _LOCAL_PART_TAIL tries every start in the 64 characters
# before it. Both give the same start (see EmailAnchor.hits).
_UP_TO_NON_LOCAL = re.compile(r"(?s).*[^\w.+\-%']")


@dataclass(frozen=True)
class EmailAnchor(Anchor):
    """Each '@', reported from the start of the local part before it (found without a forward scan)."""

    def absent(self, state: TextState) -> bool:
        return "@" not in state.text

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:
        text = state.text
        at = text.find("@")
        while at != -1:
            # the leftmost start from which _LOCAL_PART_TAIL would match up to the '@' (its
            # '$' also matches before a newline that ends the window, so the tail may end
            # there): just after the last non-local character in the window, if any remain
            lo = max(0, at - 64)
            end = at - 1 if at > lo and text[at - 1] == "\n" else at
            m = _UP_TO_NON_LOCAL.match(text, lo, end)
            start = m.end() if m is not None else lo
            if start < end:
                yield start, at + 1
            at = text.find("@", at + 1)


@dataclass(frozen=True)
class AnyOf(Anchor):
    """Hits of any of several anchors."""

    anchors: tuple[Anchor, ...]

    def ordered(self, state: TextState) -> bool:
        return False

    def absent(self, state: TextState) -> bool:
        for a in self.anchors:  # a loop, not all() over a generator: cheaper per call
            if not a.absent(state):
                return False
        return True

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:
        for a in self.anchors:
            if not a.absent(state):
                yield from a.hits(state)


@dataclass(frozen=True)
class RegexAnchor(Anchor):
    """A regex that starts with a literal (or a small class), so the engine skips ahead quickly.

    Detectors of one family (e.g. every token whose prefix ends in '_') use the same
    pattern object, and its hits are computed once per text.
    """

    pattern: re.Pattern[str]
    gate: str | None = None
    # a broader pattern that matches wherever ``pattern`` does and whose hits another
    # detector needs anyway (cached per text): no hits of it, no pass of ``pattern``
    implied_by: re.Pattern[str] | None = None

    def absent(self, state: TextState) -> bool:
        if self.gate is not None and self.gate not in state.text:
            return True
        if self.implied_by is not None and not state.regex_hits(self.implied_by):
            return True
        return not state.regex_hits(self.pattern)

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:
        yield from state.regex_hits(self.pattern)

    def hit_list(self, state: TextState) -> list[tuple[int, int]]:
        return state.regex_hits(self.pattern)


RunPredicate = Callable[[str, int, int, int], bool]


@dataclass(frozen=True)
class Numeric(Anchor):
    """Digit runs with at least ``min_digits`` digits (and, optionally, a cheap shape check)."""

    min_digits: int = 1
    max_digits: int = 10_000
    where: RunPredicate | None = None  # (text, start, end, digits) -> bool
    capital_after: bool = False  # only runs followed by a capitalised word
    after_upper: bool = False  # only runs following an upper-case letter
    words: tuple[
        str, ...
    ] = ()  # lower-case words one of which the text must contain at all
    # runs shorter than this are skipped before ``where`` is called: set only where
    # ``where`` itself cannot hold for a shorter run (it saves a call per short run)
    min_chars: int = 0

    def __post_init__(self) -> None:
        # what unclaimed_hits reads, in one attribute (it runs fifteen times a scan)
        kind = 1 if self.capital_after else 2 if self.after_upper else 0
        object.__setattr__(
            self,
            "_plan",
            (
                kind,
                self.min_digits,
                self.max_digits,
                self.min_chars,
                self.where,
                self.words,
            ),
        )

    def _runs(self, state: TextState) -> list[tuple[int, int, int]]:
        if self.capital_after:
            return state.runs_before_capital()
        if self.after_upper:
            return state.runs_after_upper()
        return state.runs_with(self.min_digits)

    def absent(self, state: TextState) -> bool:
        if state._numeric is None:
            state._scan_numeric()
        return state._n_runs == 0 or not self._runs(state)

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:
        return iter(self.unclaimed_hits(state, None))

    def unclaimed_hits(
        self, state: TextState, claimed: list[tuple[int, int]] | Claims | None
    ) -> list[tuple[int, int]]:
        """``hits`` less the runs inside ``claimed`` spans, which are skipped before ``where`` runs.

        A list built in a plain loop: cheaper than a generator resumed once per hit. Called
        once per numeric detector per text (fifteen times a scan), so the run list is read
        straight from the state and the digit-count tests a list already guarantees are
        left out (``runs_with(n)`` holds only runs of n digits or more).
        """
        if state._numeric is None:
            state._scan_numeric()
        kind, min_digits, max_digits, min_chars, where, words = self._plan  # type: ignore[attr-defined]
        if kind == 0:
            runs = state._by_min.get(min_digits)
            if runs is None:
                runs = state.runs_with(min_digits)
        elif kind == 1:
            runs = state._capital_after
        else:
            runs = state._after_upper
        if not runs:
            return []
        text = state.text
        # claimed spans as sorted starts/ends, tested inline with one C bisect per run
        # (a Claims is read directly: its __bool__ is a Python call)
        starts: list[int] = []
        ends: list[int] = []
        spans: list[tuple[int, int]] | None = None
        if claimed.__class__ is Claims:
            if claimed._linear:  # type: ignore[union-attr]
                spans = list(claimed)  # type: ignore[arg-type]
            else:
                starts, ends = claimed._starts, claimed._ends  # type: ignore[union-attr]
        elif claimed:
            spans = list(claimed)
        out: list[tuple[int, int]] = []
        # ``words`` are searched only once a run has passed ``where``: each is a pass over
        # the whole text, while most texts have no run that passes (no year near 'born')
        words_ok = not words
        for s, e, nd in runs:
            if nd < min_digits:  # only the capital/upper lists hold shorter runs
                continue
            if starts:
                i = bisect_right(starts, s)
                if i and ends[i - 1] >= e:
                    continue
            elif spans is not None and any(cs <= s and e <= ce for cs, ce in spans):
                continue
            if nd > max_digits or e - s < min_chars:
                continue
            if where is None or where(text, s, e, nd):
                if not words_ok:
                    if not any(state.contains(w, True) for w in words):
                        return []
                    words_ok = True
                out.append((s, e))
        return out


def upper_before(text: str, s: int, e: int, nd: int) -> bool:
    """The run follows an upper-case letter (optionally one space between): NINO, VAT, codice fiscale."""
    i = s - 1
    if i >= 0 and text[i] == " ":
        i -= 1
    return i >= 0 and "A" <= text[i] <= "Z"


@dataclass(frozen=True, eq=False)
class KeywordBeforeOperator(Anchor):
    """Keywords ('password', 'token') that an assignment operator (':' or '=') follows closely.

    Searching each keyword over the whole text costs one pass per keyword. When the text has
    few operators (prose), it is cheaper to look just before each operator with one small
    regex; when it has many (code, JSON), the keywords are searched directly. Hits are the
    same either way: every keyword occurrence within ``reach`` characters before an operator
    (or, in the direct search, every occurrence: the detector's own pattern then decides).
    """

    keywords: tuple[str, ...]  # lower case
    reach: int = 40
    max_operators: int = _SHARED_MAX_OPERATORS

    def __post_init__(self) -> None:
        alternatives = "|".join(
            re.escape(k) for k in sorted(self.keywords, key=len, reverse=True)
        )
        object.__setattr__(self, "_near", re.compile(alternatives))
        # one or two keywords: substring tests on the window's slice say whether one occurs
        # there more cheaply than a search of the alternation (measured; with three or
        # more the regex is cheaper). Same answer: the alternation is of plain literals.
        object.__setattr__(
            self, "_few", tuple(self.keywords) if len(self.keywords) <= 2 else None
        )

    def _hits(self, state: TextState) -> list[tuple[int, int]]:
        cache = state._regex_hits
        key = id(self._near)  # type: ignore[attr-defined]
        hits = cache.get(key)
        if hits is not None:
            return hits
        ops = state.operators(self.max_operators)
        found: set[tuple[int, int]] = set()
        if ops is not None:
            if ops:
                lower = state.lower
                near = self._near  # type: ignore[attr-defined]
                search, finditer = near.search, near.finditer
                reach = self.reach
                few = self._few  # type: ignore[attr-defined]
                for i in ops:
                    lo = i - reach
                    if lo < 0:  # noqa: PLR1730  (hot loop: max()/min() calls measured ~2% of a dense scan)
                        lo = 0
                    # one search of the keyword alternation per window (measured cheaper
                    # than a bounded find per keyword, or than testing each keyword
                    # against the whole text first); the iterator only where one occurs
                    if few is not None:
                        window = lower[lo:i]
                        for k in few:
                            if k in window:
                                break
                        else:
                            continue
                    elif search(lower, lo, i) is None:
                        continue
                    for m in finditer(lower, lo, i):
                        found.add(m.span())
            hits = sorted(found)
        else:
            lower = state.lower
            for k in self.keywords:
                if state.contains(k, True):
                    i = lower.find(k)
                    while i != -1:
                        found.add((i, i + len(k)))
                        i = lower.find(k, i + 1)
            hits = sorted(found)
        cache[key] = hits
        return hits

    def absent(self, state: TextState) -> bool:
        return not self._hits(state)

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:
        yield from self._hits(state)

    def hit_list(self, state: TextState) -> list[tuple[int, int]]:
        return self._hits(state)


@dataclass(frozen=True)
class BackFrom(Anchor):
    """A literal, reported from where a run of ``chars`` before it starts (a URL scheme before '://')."""

    literal: str
    chars: frozenset[str]
    max_back: int = 32
    gate: str | None = None

    def __post_init__(self) -> None:
        # up to the last character not in ``chars``: one greedy match that backtracks,
        # instead of a Python loop stepping back one character at a time
        negated = "".join(re.escape(c) for c in sorted(self.chars))
        object.__setattr__(self, "_up_to_other", re.compile(f"(?s).*[^{negated}]"))

    def absent(self, state: TextState) -> bool:
        return not self.hit_list(state)

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:
        yield from self.hit_list(state)

    def hit_list(self, state: TextState) -> list[tuple[int, int]]:
        """The hits, computed once per text and kept in the state (``absent`` and the
        detector both need them: a second whole-text search for '://' cost ~3 us)."""
        cache = state._regex_hits
        key = id(self)  # a live object: its id cannot be a cached pattern's
        hits = cache.get(key)
        if hits is None:
            hits = cache[key] = self._compute_hits(state)
        return hits

    def _compute_hits(self, state: TextState) -> list[tuple[int, int]]:
        text = state.text
        out: list[tuple[int, int]] = []
        if self.gate is not None and self.gate not in text:
            return out
        up_to_other = self._up_to_other  # type: ignore[attr-defined]
        literal = self.literal
        for i in self._occurrences(state):
            # where a run of ``chars`` ending at i starts (at most max_back before it)
            stop = max(0, i - self.max_back)
            m = up_to_other.match(text, stop, i)
            j = m.end() if m is not None else stop
            if j < i:
                out.append((j, i + len(literal)))
        return out

    def _occurrences(self, state: TextState) -> list[int]:
        """Where the literal starts, ascending (overlapping occurrences included).

        A literal that begins with an assignment operator (':' of '://') can only start at
        one of the text's operator positions, which the keyword anchors collect anyway (one
        memchr walk, cached): testing those few is cheaper than searching the whole text for
        a three-character string (~3 us over 4 KB). A text with too many operators (code,
        JSON) gets the plain search.
        """
        text, literal = state.text, self.literal
        if literal[:1] in _OPERATORS:
            ops = state.operators(_SHARED_MAX_OPERATORS)
            if ops is not None:
                # ':' positions come first, then '=' ones, each ascending; a literal
                # matches at positions of its own first character only
                startswith = text.startswith
                return [i for i in ops if startswith(literal, i)]
        out: list[int] = []
        i = text.find(literal)
        while i != -1:
            out.append(i)
            i = text.find(literal, i + 1)
        return out


@dataclass(frozen=True)
class Everywhere(Anchor):
    """No cheap anchor: the pattern runs over the whole text (custom detectors without keywords)."""

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:
        yield 0, len(state.text)


Refine = Callable[[int, int, TextState], list[tuple[int, int]]]


@dataclass(frozen=True)
class Detector:
    """One entity type: anchor → bounded pattern in a window → validator → context → finding.

    ``before``/``after`` size the window around each anchor hit: they must be at least the
    distance from the anchor to the ends of the longest possible match, so patterns stay
    bounded (no unbounded repetition) and a window never truncates a real match.
    """

    name: str
    entity_type: str
    category: Category
    anchor: Anchor
    pattern: re.Pattern[str]
    before: int = 0
    after: int = 0
    group: int = 0
    validate: Callable[[str], bool] | None = None
    refine: Refine | None = (
        None  # turns a match into zero or more spans (sub-sequences, trimming)
    )
    refine_match: Callable[[re.Match[str], TextState], list[tuple[int, int]]] | None = (
        None  # same, given the match
    )
    context: tuple[
        str, ...
    ] = ()  # lower-case words, one of which must be near the match
    context_before: int = 60
    context_after: int = 40
    priority: int = 50  # wins overlaps against lower priorities
    anchored: bool = False  # the pattern starts at the anchor hit: match there instead of searching a window
    # (regex, offset): where a match of ``pattern`` can start, for window searches (see
    # ``finditer_from``); None: the pattern is searched at every position of a window
    starts: tuple[re.Pattern[str], int] | None = None
    description: str = ""
    examples: tuple[str, ...] = field(default=(), repr=False)

    def find(
        self,
        state: TextState,
        claimed: list[tuple[int, int]] | Claims | None = None,
    ) -> Iterator[tuple[int, int]]:
        """Yield (start, end) of validated matches; raises only on a bug (the scanner fails closed).

        ``claimed`` are spans already taken by higher-priority detectors: anchor hits inside
        them are skipped (a card number is not also checked as a phone number).
        """
        anchor = self.anchor
        if isinstance(anchor, Numeric):
            # claimed runs are dropped before the (costlier) per-run shape checks
            hits = anchor.unclaimed_hits(state, claimed)
        else:
            hits = anchor.hit_list(state)
            if not anchor.ordered(state):
                hits = sorted(hits)
            if claimed:
                hits = _unclaimed(hits, claimed)
        return self.find_at(state, hits)

    def find_at(
        self, state: TextState, hits: list[tuple[int, int]]
    ) -> Iterator[tuple[int, int]]:
        """``find`` given the unclaimed anchor hits, sorted (the scanner computes numeric ones
        itself, so a detector none of whose digit runs qualifies costs no generator)."""
        text = state.text
        n = len(text)
        if self.anchored:
            yield from self._find_anchored(state, hits)
            return
        # attributes read once into locals: this loop runs for every detector on every text
        before, after = self.before, self.after
        windows: list[list[int]] = []
        for s, e in hits:
            lo = s - before
            if lo < 0:  # noqa: PLR1730  (hot loop: max()/min() calls measured ~2% of a dense scan)
                lo = 0
            hi = e + after
            if hi > n:  # noqa: PLR1730  (hot loop: max()/min() calls measured ~2% of a dense scan)
                hi = n
            if windows and lo <= windows[-1][1]:
                if hi > windows[-1][1]:  # noqa: PLR1730  (hot loop: max()/min() calls measured ~2% of a dense scan)
                    windows[-1][1] = hi
            else:
                windows.append([lo, hi])
        if not windows:
            return
        finditer = self.pattern.finditer
        group, refine, validate = self.group, self.refine, self.validate
        context = self.context
        starts = self.starts
        seen_end = -1
        for lo, hi in windows:
            for m in (
                finditer(text, lo, hi)
                if starts is None
                else finditer_from(self.pattern, starts[0], starts[1], text, lo, hi)
            ):
                start, end = m.span(group)
                if start < 0 or start < seen_end or end <= start:
                    continue
                # a match that touches a window edge that is not the text edge may be cut short
                if hi < n and m.end() == hi:
                    continue
                spans = (
                    refine(start, end, state) if refine is not None else [(start, end)]
                )
                for s, e in spans:
                    if validate is not None and not validate(text[s:e]):
                        continue
                    if context and not self.has_context(state, s, e):
                        continue
                    seen_end = e
                    yield s, e

    def _find_anchored(
        self, state: TextState, hits: list[tuple[int, int]]
    ) -> Iterator[tuple[int, int]]:
        text = state.text
        n = len(text)
        match, after, group = self.pattern.match, self.after, self.group
        refine_match, refine = self.refine_match, self.refine
        validate, context = self.validate, self.context
        seen_end = -1
        for s0, e0 in hits:
            if s0 < seen_end:
                continue
            hi = e0 + after
            m = match(text, s0, hi if hi < n else n)  # noqa: FURB136
            if m is None:
                continue
            start, end = m.span(group)
            if start < 0 or end <= start:
                continue
            if refine_match is not None:
                spans = refine_match(m, state)
            elif refine is not None:
                spans = refine(m.start(), m.end(), state)
            else:
                spans = [(start, end)]
            for s, e in spans:
                if validate is not None and not validate(text[s:e]):
                    continue
                if context and not self.has_context(state, s, e):
                    continue
                if m.end() > seen_end:  # noqa: PLR1730  (hot loop: max()/min() calls measured ~2% of a dense scan)
                    seen_end = m.end()
                yield s, e

    def has_context(self, state: TextState, start: int, end: int) -> bool:
        return has_context(
            state,
            start,
            end,
            context_regex(self.context),
            self.context_before,
            self.context_after,
        )


def finditer_from(
    pattern: re.Pattern[str],
    starts: re.Pattern[str],
    offset: int,
    text: str,
    lo: int,
    hi: int,
) -> list[re.Match[str]]:
    """The matches of ``pattern.finditer(text, lo, hi)``, with ``pattern`` tried only at candidate starts.

    A pattern that begins with a lookbehind (a left boundary) gives Python's engine no
    first character to skip ahead to, so a window search attempts a match at every
    position. ``starts`` matches ``offset`` characters after every position where
    ``pattern`` can match (e.g. at the digits after an IBAN's two letters) and begins
    with a literal or a character class, which the engine does skip to; the full pattern
    is then tried at those positions only, leftmost first, resuming after each match as
    ``finditer`` does. ``pattern`` must not match the empty string.
    """
    search, match = starts.search, pattern.match
    out: list[re.Match[str]] = []
    pos = lo
    while True:
        c = search(text, pos + offset, hi)
        if c is None:
            return out
        at = c.start() - offset
        m = match(text, at, hi)
        if m is None:
            pos = at + 1
        else:
            out.append(m)
            pos = m.end()


@functools.lru_cache(maxsize=256)
def context_regex(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(
        "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    )


class Claims:
    """Spans already reported in one text, kept sorted so each test is a bisect.

    The scanner adds a span only when it overlaps none already there, so the spans are
    disjoint and, sorted by start, their ends are sorted too: the only span that can contain
    or overlap a given one is the last that starts before it. Checking every claimed span
    for every anchor hit of every later detector was a visible share of a PII-dense scan.
    An empty span breaks that ordering argument (it can sit inside another's start), so
    adding one switches the tests to a plain scan of all spans.
    """

    __slots__ = ("_ends", "_linear", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._linear = False

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __len__(self) -> int:
        return len(self._starts)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self._starts, self._ends)

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_right(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)
        if end <= start:
            self._linear = True

    def overlaps(self, start: int, end: int) -> bool:
        """Whether [start, end) overlaps a claimed span (the scanner's test before adding one)."""
        if self._linear or end <= start:
            return any(
                start < ce and cs < end for cs, ce in zip(self._starts, self._ends)
            )
        i = bisect.bisect_left(self._starts, end)
        return i > 0 and self._ends[i - 1] > start

    def contains(self, start: int, end: int) -> bool:
        """Whether [start, end) lies inside one claimed span."""
        if self._linear:
            return any(
                cs <= start and end <= ce for cs, ce in zip(self._starts, self._ends)
            )
        i = bisect.bisect_right(self._starts, start)
        return i > 0 and self._ends[i - 1] >= end

    def unclaimed(self, hits: list[tuple[int, int]]) -> list[tuple[int, int]]:
        contains = self.contains
        return [h for h in hits if not contains(h[0], h[1])]


def _unclaimed(
    hits: list[tuple[int, int]], claimed: list[tuple[int, int]] | Claims
) -> list[tuple[int, int]]:
    if isinstance(claimed, Claims):
        return claimed.unclaimed(hits)
    out = []
    for h in hits:
        hs, he = h
        for cs, ce in claimed:
            if cs <= hs and he <= ce:
                break
        else:
            out.append(h)
    return out


def has_context(
    state: TextState,
    start: int,
    end: int,
    words: re.Pattern[str],
    before: int,
    after: int,
) -> bool:
    """One of the context words occurs within ``before`` chars before or ``after`` chars after the match."""
    lower = state.lower
    if words.search(lower, max(0, start - before), start):
        return True
    return (
        bool(after)
        and words.search(lower, end, min(len(lower), end + after)) is not None
    )
