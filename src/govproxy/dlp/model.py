"""Result types of a DLP scan.

A finding never holds the value it found: only where it is (text index and offsets into
the caller's own texts) and a keyed hash for correlation. The raw value therefore cannot
leak through a log line, an exception, an audit record or a policy input by accident;
code that needs it (redaction) slices the texts it already holds.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple


class Category(StrEnum):
    PII = "pii"
    SECRET = "secret"
    CUSTOM = "custom"


class Action(StrEnum):
    MASK = "mask"  # irreversible: [EMAIL]
    HASH = "hash"  # keyed HMAC, stable per tenant: [EMAIL:3fa9c2d1e0b4]
    PSEUDONYMISE = "pseudonymise"  # reversible per request/conversation: [EMAIL_1]
    ALLOW = "allow"  # leave as is


_RANK = {"public": 0, "internal": 1, "confidential": 2, "critical": 3}


class Sensitivity(StrEnum):
    """Ordered levels: public < internal < confidential < critical (compare with <, max())."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK_OF[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Sensitivity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Sensitivity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Sensitivity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Sensitivity):
            return NotImplemented
        return self.rank >= other.rank

    @classmethod
    def parse(cls, value: str) -> Sensitivity:
        """Parse a level name (case-insensitive); a bad value is a ValueError naming the choices."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValueError(
                f"unknown sensitivity {value[:40]!r}; expected one of: public, internal, confidential, critical"
            ) from None


_RANK_OF: dict[Sensitivity, int] = {s: _RANK[s.value] for s in Sensitivity}


class Finding(NamedTuple):
    """One detected value: where it is and a keyed hash, never the value itself.

    (A NamedTuple: immutable like a frozen dataclass, and several times cheaper to create
    on the hot path.)
    """

    entity_type: str
    category: Category
    text_index: int
    start: int
    end: int
    detector: str
    # keyed BLAKE2b-128 over "entity_type NUL value", hex: correlation only, no value
    value_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "category": self.category.value,
            "text_index": self.text_index,
            "start": self.start,
            "end": self.end,
            "detector": self.detector,
            "value_hash": self.value_hash,
        }


class ScanResult(NamedTuple):
    """What inspection found in one request's texts.

    ``errors`` is non-empty when a detector failed or the time budget ran out; the
    sensitivity is then ``critical`` so the request cannot leave (fail closed).
    (A NamedTuple: immutable, and cheap to create once per request.)
    """

    findings: tuple[Finding, ...]
    counts: dict[str, int]
    sensitivity: Sensitivity
    errors: tuple[str, ...] = ()
    images: int = 0
    chars: int = 0
    elapsed_us: float = 0.0
    categories: dict[str, int] = {}  # noqa: RUF012  (never mutated; scan() always passes its own dict)

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def raised_to(self, level: Sensitivity | str | None) -> ScanResult:
        """A copy whose sensitivity is at least ``level`` (a caller can raise, never lower)."""
        new = raise_sensitivity(self.sensitivity, level)
        if new == self.sensitivity:
            return self
        return self._replace(sensitivity=new)

    def summary(self) -> dict[str, Any]:
        """The part of the result policies and audit records see: types and counts, no offsets."""
        return {
            "sensitivity": self.sensitivity.value,
            "counts": dict(self.counts),
            "categories": dict(self.categories),
            "finding_count": len(self.findings),
            "errors": list(self.errors),
            "images_unscanned": self.images,
            "chars_scanned": self.chars,
        }

    def to_dict(self) -> dict[str, Any]:
        out = self.summary()
        out["findings"] = [f.to_dict() for f in self.findings]
        out["elapsed_us"] = round(self.elapsed_us, 1)
        return out


def raise_sensitivity(
    current: Sensitivity, requested: Sensitivity | str | None
) -> Sensitivity:
    """Return max(current, requested); ``requested`` is e.g. an ``X-Govproxy-Sensitivity`` header.

    None or an empty header keeps ``current``; an unknown level name is a ValueError, so
    the caller can reject the request instead of silently ignoring a typo.
    """
    if requested is None:
        return current
    if isinstance(requested, str):
        if not requested.strip():
            return current
        requested = Sensitivity.parse(requested)
    return max(current, requested)
