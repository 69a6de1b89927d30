"""Observed upstream latency per provider over a rolling window.

Kept in memory per instance: latency is a property of this instance's path to the
provider, and ranking only needs a recent median, not a fleet-wide history.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LatencyTracker:
    def __init__(self, *, window: int = 100, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._window_s = window_s
        self._clock = clock
        self._samples: dict[str, deque[tuple[float, float]]] = {}

    def observe(self, provider: str, seconds: float) -> None:
        samples = self._samples.get(provider)
        if samples is None:
            samples = self._samples[provider] = deque(maxlen=self._window)
        samples.append((self._clock(), max(0.0, seconds)))

    def p50(self, provider: str) -> float | None:
        """Median seconds over recent samples, or None when there are none."""
        samples = self._samples.get(provider)
        if not samples:
            return None
        horizon = self._clock() - self._window_s
        while samples and samples[0][0] < horizon:
            samples.popleft()
        if not samples:
            return None
        values = sorted(v for _, v in samples)
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    def count(self, provider: str) -> int:
        return len(self._samples.get(provider, ()))
