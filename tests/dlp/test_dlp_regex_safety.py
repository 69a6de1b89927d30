"""Every built-in pattern follows the same no-catastrophic-backtracking rule as user patterns."""

from __future__ import annotations

import pytest

from govproxy.dlp.detectors import BUILTIN_DETECTORS
from govproxy.dlp.regex_safety import UnsafePatternError, check_pattern


@pytest.mark.parametrize(
    "detector", BUILTIN_DETECTORS, ids=[d.name for d in BUILTIN_DETECTORS]
)
def test_builtin_pattern_is_safe(detector) -> None:
    check_pattern(detector.pattern.pattern)


@pytest.mark.parametrize(
    "pattern", [r"(a+)+$", r"(?:x*y?)*z", r"(a|aa)+", r"([a-z]+\s?)*!", r"(\w+)\1"]
)
def test_catastrophic_shapes_are_rejected(pattern: str) -> None:
    with pytest.raises(UnsafePatternError):
        check_pattern(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        r"\bEMP-[0-9]{6}\b",
        r"(?:[a-z]{1,8}-){1,4}[0-9]+",
        r"[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){11,30}",
    ],
)
def test_bounded_shapes_are_accepted(pattern: str) -> None:
    check_pattern(pattern)
