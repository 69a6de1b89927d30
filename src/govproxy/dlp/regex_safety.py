"""Reject user regexes that Python's backtracking engine could take exponential time on.

Python ``re`` backtracks, and a scan cannot be interrupted mid-match, so the time budget
alone cannot save a request from ``(a+)+$``. Rather than pull in a second regex engine we
refuse the shapes that cause catastrophic backtracking: an unbounded repetition that
contains another repetition or an alternation, and backreferences. Built-in patterns are
written to the same rule and checked by the tests.
"""

from __future__ import annotations

from typing import Any

try:  # Python 3.11+: the parser is private but stable enough for a lint
    import re._constants as _c  # type: ignore[import-not-found]
    import re._parser as _p  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    _p = None  # type: ignore[assignment]
    _c = None  # type: ignore[assignment]

UNBOUNDED_LIMIT = 1000  # a {m,n} with n above this counts as unbounded


class UnsafePatternError(ValueError):
    """The pattern can backtrack catastrophically; the message says which construct."""


def check_pattern(pattern: str) -> None:
    if _p is None:  # pragma: no cover
        return
    tree = _p.parse(pattern)
    _walk(tree, inside_unbounded=False, pattern=pattern)


def _is_repeat(op: Any) -> bool:
    return op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None))


def _walk(items: Any, inside_unbounded: bool, pattern: str) -> None:
    for op, av in items:
        if op is _c.GROUPREF or op is getattr(_c, "GROUPREF_EXISTS", None):
            raise UnsafePatternError(
                f"pattern {pattern[:60]!r}: backreferences are not allowed"
            )
        if _is_repeat(op):
            _lo, hi, sub = av
            unbounded = hi is _c.MAXREPEAT or hi > UNBOUNDED_LIMIT
            if inside_unbounded and hi > 1:
                raise UnsafePatternError(
                    f"pattern {pattern[:60]!r}: a repetition inside an unbounded repetition can backtrack "
                    "catastrophically; bound the outer one, e.g. {1,64}"
                )
            _walk(sub, inside_unbounded or unbounded, pattern)
        elif op is _c.SUBPATTERN:
            _walk(av[-1], inside_unbounded, pattern)
        elif op is _c.BRANCH:
            if inside_unbounded:
                raise UnsafePatternError(
                    f"pattern {pattern[:60]!r}: an alternation inside an unbounded repetition can backtrack "
                    "catastrophically; bound the repetition"
                )
            for branch in av[1]:
                _walk(branch, inside_unbounded, pattern)
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            _walk(av[1], inside_unbounded, pattern)
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            _walk(av, inside_unbounded, pattern)
