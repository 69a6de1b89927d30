"""Fault injection: make the stand-in misbehave the way real providers do.

govproxy's failover, circuit breakers, timeouts and streaming code can only be proven
against an upstream that fails on demand. A fault is matched per request (path prefix
and/or model name), may be limited to the next K matching requests, and is set from
Python or over HTTP (``POST /_standin/faults``), so the same test works in-process and
against a subprocess.
"""

from __future__ import annotations

import itertools
import threading
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FaultKind(StrEnum):
    STATUS = "status"  # answer with an error status in the provider's own format
    HANG = "hang"  # never answer (delay None) or answer normally after ``delay`` seconds
    RESET = "reset"  # TCP RST before any response byte
    RESET_MID_STREAM = "reset_mid_stream"  # send ``after_chunks`` body chunks, then RST
    GARBAGE = "garbage"  # send bytes that are not HTTP, then close
    SLOW_FIRST_BYTE = "slow_first_byte"  # wait ``delay`` seconds, then answer normally
    STREAM_ERROR = "stream_error"  # stream ``after_chunks`` events, then the provider's in-stream error event
    STALL_MID_STREAM = "stall_mid_stream"  # stream ``after_chunks`` events, then go silent (``delay`` s or forever)


class Fault(BaseModel):
    """One fault rule. Unset matchers match everything."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    status: int = Field(default=500, ge=400, le=599, description="for kind=status")
    retry_after: float | None = Field(
        default=None, ge=0, description="Retry-After seconds sent with kind=status (default 1 for 429)"
    )
    message: str | None = Field(default=None, description="error message in the provider's error body")
    delay: float | None = Field(default=None, ge=0, description="seconds for hang / slow_first_byte")
    after_chunks: int = Field(default=1, ge=0, description="body chunks sent before reset_mid_stream / stream_error")
    times: int | None = Field(default=None, ge=1, description="apply to the next K matching requests only")
    path_prefix: str | None = Field(default=None, description="match requests whose path starts with this")
    model: str | None = Field(default=None, description="match requests for this model name")
    api_key: str | None = Field(default=None, description="match requests presenting this API key")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.kind is FaultKind.SLOW_FIRST_BYTE and self.delay is None:
            raise ValueError("slow_first_byte needs 'delay' (seconds)")
        return self

    def matches(self, path: str, model: str | None, api_key: str | None = None) -> bool:
        if self.path_prefix is not None and not path.startswith(self.path_prefix):
            return False
        if self.api_key is not None and self.api_key != api_key:
            return False
        return self.model is None or self.model == model


class FaultRule(BaseModel):
    """A fault as stored: with an id (for removal) and how often it may still fire."""

    id: int
    fault: Fault
    remaining: int | None
    fired: int = 0


class FaultTable:
    """Ordered rules; the first match wins. Thread-safe (tests set faults from another thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> int:
        with self._lock:
            rule = FaultRule(id=next(self._ids), fault=fault, remaining=fault.times)
            self._rules.append(rule)
            return rule.id

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return [r.model_copy() for r in self._rules]

    def take(self, path: str, model: str | None, api_key: str | None = None) -> Fault | None:
        """The fault for this request, consuming one use of a limited rule."""
        with self._lock:
            for rule in self._rules:
                if rule.fault.matches(path, model, api_key):
                    rule.fired += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self._rules.remove(rule)
                    return rule.fault
            return None
