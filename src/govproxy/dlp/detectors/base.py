"""The detector unit and the cheap anchors that decide where it runs.

Running forty regexes over every prompt would cost milliseconds. Instead each detector
names an *anchor*: something much cheaper to find than the full pattern (a literal such
as ``ghp_``, an ``@``, a run of digits). The full pattern runs only in small windows
around anchor hits, so a clean prompt costs a handful of ``str.find`` calls and one
digit-run scan shared by all numeric detectors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from govproxy.dlp.model import Category

# Digit runs with the separators numbers are written with; shared by every numeric detector.
# Starts with a character class, which Python's regex engine skips over quickly.
_NUMERIC_RUN = re.compile(r"[0-9][0-9 \-./()]{0,80}")


class TextState:
    """Per-text values computed at most once and shared between detectors."""

    __slots__ = ("text", "_lower", "_numeric")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._numeric: list[tuple[int, int, int]] | None = None

    @property
    def lower(self) -> str:
        if self._lower is None:
            low = self.text.lower()
            if len(low) != len(self.text):  # e.g. 'İ' lowers to two code points: keep offsets aligned
                low = "".join(c if len(c.lower()) != 1 else c.lower() for c in self.text)
            self._lower = low
        return self._lower

    def numeric_runs(self) -> list[tuple[int, int, int]]:
        """(start, end, digit count) of each digit run with separators."""
        if self._numeric is None:
            runs = []
            for m in _NUMERIC_RUN.finditer(self.text):
                s = m.group()
                nd = sum(1 for ch in s if ch.isdigit()) if len(s) > 1 else 1
                runs.append((m.start(), m.end(), nd))
            self._numeric = runs
        return self._numeric


class Anchor:
    """Where a detector could match: yields anchor positions (start, end) in the text."""

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Literal(Anchor):
    """Literal strings; with ``ignore_case`` they are searched in the lower-cased text."""

    strings: tuple[str, ...]
    ignore_case: bool = False
    gate: str | None = None  # a character that must be present at all, checked first

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:
        text = state.text
        if self.gate is not None and self.gate not in text:
            return
        hay = state.lower if self.ignore_case else text
        for s in self.strings:
            i = hay.find(s)
            while i != -1:
                yield i, i + len(s)
                i = hay.find(s, i + 1)


@dataclass(frozen=True)
class RegexAnchor(Anchor):
    """A regex that starts with a literal or a small class, so the engine can skip quickly."""

    pattern: re.Pattern[str]
    gate: str | None = None

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:
        if self.gate is not None and self.gate not in state.text:
            return
        for m in self.pattern.finditer(state.text):
            yield m.start(), m.end()


@dataclass(frozen=True)
class Numeric(Anchor):
    """Digit runs with at least ``min_digits`` digits."""

    min_digits: int = 1

    def hits(self, state: TextState) -> Iterator[tuple[int, int]]:
        for s, e, nd in state.numeric_runs():
            if nd >= self.min_digits:
                yield s, e


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
    refine: Refine | None = None  # turns a match into zero or more spans (sub-sequences, trimming)
    context: tuple[str, ...] = ()  # lower-case words, one of which must be near the match
    context_before: int = 60
    context_after: int = 40
    priority: int = 50  # wins overlaps against lower priorities
    anchored: bool = False  # the pattern starts at the anchor hit: match there instead of searching a window
    description: str = ""
    examples: tuple[str, ...] = field(default=(), repr=False)

    def find(self, state: TextState) -> Iterator[tuple[int, int]]:
        """Yield (start, end) of validated matches; raises only on a bug (the scanner fails closed)."""
        text = state.text
        n = len(text)
        if self.anchored:
            yield from self._find_anchored(state)
            return
        windows: list[list[int]] = []
        for s, e in sorted(self.anchor.hits(state)):
            lo = s - self.before
            hi = e + self.after
            if lo < 0:
                lo = 0
            if hi > n:
                hi = n
            if windows and lo <= windows[-1][1]:
                if hi > windows[-1][1]:
                    windows[-1][1] = hi
            else:
                windows.append([lo, hi])
        if not windows:
            return
        seen_end = -1
        for lo, hi in windows:
            for m in self.pattern.finditer(text, lo, hi):
                start, end = m.span(self.group)
                if start < 0 or start < seen_end or end <= start:
                    continue
                # a match that touches a window edge that is not the text edge may be cut short
                if m.end() == hi and hi < n:
                    continue
                spans = self.refine(start, end, state) if self.refine is not None else [(start, end)]
                for s, e in spans:
                    if self.validate is not None and not self.validate(text[s:e]):
                        continue
                    if self.context and not self.has_context(state, s, e):
                        continue
                    seen_end = e
                    yield s, e

    def _find_anchored(self, state: TextState) -> Iterator[tuple[int, int]]:
        text = state.text
        n = len(text)
        seen_end = -1
        for s0, e0 in sorted(self.anchor.hits(state)):
            if s0 < seen_end:
                continue
            m = self.pattern.match(text, s0, min(n, e0 + self.after))
            if m is None:
                continue
            start, end = m.span(self.group)
            if start < 0 or end <= start:
                continue
            spans = self.refine(m.start(), m.end(), state) if self.refine is not None else [(start, end)]
            for s, e in spans:
                if self.validate is not None and not self.validate(text[s:e]):
                    continue
                if self.context and not self.has_context(state, s, e):
                    continue
                seen_end = max(seen_end, m.end())
                yield s, e

    def has_context(self, state: TextState, start: int, end: int) -> bool:
        return has_context(state, start, end, self.context, self.context_before, self.context_after)


def has_context(state: TextState, start: int, end: int, words: tuple[str, ...], before: int, after: int) -> bool:
    lower = state.lower
    lo = max(0, start - before)
    hi = min(len(lower), end + after)
    for w in words:
        i = lower.find(w, lo, hi)
        while i != -1:
            if i + len(w) <= start or i >= end:
                return True
            i = lower.find(w, i + 1, hi)
    return False

