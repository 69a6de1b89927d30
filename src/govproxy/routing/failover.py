"""Sending one request down the ranked candidates until one answers.

Transport-agnostic: the caller supplies ``send(candidate) -> Outcome``, which returns as
soon as response *headers* are in (the body stays unread, so streaming can start at once).
Failover happens only between attempts, i.e. before any response byte has reached the
client; once :func:`attempt_chain` returns a response, the caller stays on that target.

Per attempt the driver: asks the circuit breaker (skipping open circuits and providers
that said Retry-After), bounds the wait for headers, classifies the result, feeds the
breaker and the latency window, and writes a line into the attempt log that ``explain``
shows. A target that answered 429/5xx or refused the connection may be tried again later
in the same request, after its Retry-After (if no longer than ``routing.retry_after_cap_s``)
or a short back-off, while attempts remain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Protocol

from govproxy.routing.breaker import Circuit, CircuitBreakers
from govproxy.routing.config import RoutingConfig
from govproxy.routing.latency import LatencyTracker
from govproxy.routing.selection import RankedCandidate


class OutcomeKind(StrEnum):
    RESPONSE = "response"  # headers arrived (any status)
    CONNECT_ERROR = "connect_error"  # refused, reset or dropped before headers
    TIMEOUT = "timeout"  # no headers within the attempt timeout
    ERROR = "error"  # could not even build the request for this target (e.g. untranslatable)


@dataclass(slots=True)
class Outcome:
    """What one attempt produced. ``response`` is the transport's object, opaque here."""

    kind: OutcomeKind
    status: int | None = None
    headers: Any = None  # anything with .get(name) or a list of (name, value) pairs
    response: Any = None
    error: str | None = None  # an exception *type* name: messages may carry URLs with keys
    aclose: Callable[[], Awaitable[None]] | None = None


class FailoverObserver(Protocol):
    def observe_failover(self, from_provider: str, to_provider: str, cause: str) -> None: ...

    def observe_upstream_latency(self, provider: str, seconds: float) -> None: ...


@dataclass(slots=True)
class Attempt:
    provider: str
    model: str
    outcome: str  # response / connect_error / timeout / error / skipped
    status: int | None
    elapsed_ms: int
    action: str  # delivered, failover, final, skipped, deferred (asked to wait; may come back to it)
    note: str = ""

    def to_record(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "outcome": self.outcome,
            "status": self.status,
            "elapsed_ms": self.elapsed_ms,
            "action": self.action,
            "note": self.note,
        }


@dataclass(slots=True)
class FinalOutcome:
    """The response to give the client (``outcome``), or why there is none.

    ``delivered`` is true when ``outcome`` holds a response to pass on: a success, a
    non-failover error such as 400, or the last target's 429/5xx when nothing else was
    left. When ``outcome`` is None every attempt failed without a usable response;
    ``client_status`` then suggests what to answer (502 connect, 504 timeout, 503/429).
    """

    candidate: RankedCandidate | None
    outcome: Outcome | None
    attempts: list[Attempt] = field(default_factory=list)
    failovers: int = 0
    retry_after_s: int | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome is not None

    @property
    def ok(self) -> bool:
        return self.outcome is not None and self.outcome.status is not None and self.outcome.status < 400

    @property
    def client_status(self) -> int:
        if self.outcome is not None and self.outcome.status is not None:
            return self.outcome.status
        seen = {a.outcome for a in self.attempts} - {"skipped"}
        statuses = [a.status for a in self.attempts if a.status is not None]
        if 429 in statuses:
            return 429
        if statuses or not seen:  # upstream errors, or every target's circuit open
            return 503
        if seen == {"timeout"}:
            return 504
        return 502

    def to_record(self) -> dict[str, Any]:
        return {
            "final_provider": self.candidate.name if self.candidate else None,
            "final_model": self.candidate.model if self.candidate else None,
            "final_status": self.client_status,
            "failovers": self.failovers,
            "attempts": [a.to_record() for a in self.attempts],
        }


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    if hasattr(headers, "get"):
        value = headers.get(name)
        if value is None and name.lower() != name:
            value = headers.get(name.lower())
        return None if value is None else str(value)
    for k, v in headers:
        if str(k).lower() == name.lower():
            return str(v)
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def _close(outcome: Outcome) -> None:
    if outcome.aclose is not None:
        try:
            await outcome.aclose()
        except Exception:  # noqa: BLE001 - closing a failed response must not mask the failover
            pass


async def attempt_chain(
    ranked: Sequence[RankedCandidate],
    send: Callable[[RankedCandidate], Awaitable[Outcome]],
    *,
    config: RoutingConfig,
    breakers: CircuitBreakers,
    latency: LatencyTracker,
    observer: FailoverObserver | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> FinalOutcome:
    """Try ``ranked`` in order (with bounded retries) and return the response to deliver."""
    fo = config.failover
    cap = config.retry_after_cap_s
    pending = list(ranked)
    later: list[tuple[float, int, RankedCandidate]] = []  # (ready at, tiebreak, candidate)
    result = FinalOutcome(None, None)
    attempts_made = 0
    last_failed: str | None = None
    last_cause = ""
    seq = 0

    while attempts_made < fo.max_attempts:
        if pending:
            cand = pending.pop(0)
            ready_at = 0.0
        elif later:
            later.sort(key=lambda item: (item[0], item[1]))
            ready_at, _, cand = later.pop(0)
        else:
            break
        admission = breakers.allow(cand.name)
        if not admission.allowed and not (ready_at and admission.circuit is Circuit.CLOSED):
            if not ready_at and 0 < admission.retry_after_s <= cap and admission.circuit is Circuit.CLOSED:
                # Asked (on an earlier request) to wait a little: come back to it if nothing else answers.
                seq += 1
                later.append((monotonic() + admission.retry_after_s, seq, cand))
                result.attempts.append(Attempt(cand.name, cand.model, "skipped", None, 0, "deferred", admission.reason))
                continue
            result.attempts.append(Attempt(cand.name, cand.model, "skipped", None, 0, "skipped", admission.reason))
            continue
        wait = ready_at - monotonic()
        if wait > 0:
            await sleep(wait)
        if last_failed is not None:
            result.failovers += 1 if last_failed != cand.name else 0
            if observer is not None and last_failed != cand.name:
                observer.observe_failover(last_failed, cand.name, last_cause)
        attempts_made += 1
        started = monotonic()
        try:
            # asyncio.timeout, not wait_for: no extra task per attempt on the hot path.
            async with asyncio.timeout(fo.attempt_timeout_s):
                outcome = await send(cand)
        except TimeoutError:
            outcome = Outcome(OutcomeKind.TIMEOUT, error="TimeoutError")
        except OSError as exc:
            outcome = Outcome(OutcomeKind.CONNECT_ERROR, error=type(exc).__name__)
        elapsed = monotonic() - started
        ms = round(elapsed * 1000)
        more = attempts_made < fo.max_attempts

        if outcome.kind is OutcomeKind.RESPONSE:
            status = outcome.status or 0
            if not fo.fails_over_on_status(status):
                if status < 500:
                    breakers.record_success(cand.name)
                latency.observe(cand.name, elapsed)
                if observer is not None:
                    observer.observe_upstream_latency(cand.name, elapsed)
                result.attempts.append(Attempt(cand.name, cand.model, "response", status, ms, "delivered"))
                result.candidate, result.outcome = cand, outcome
                return result
            retry_after = parse_retry_after(_header(outcome.headers, "retry-after"))
            if status >= 500 or (status == 429 and breakers_count_429(config)):
                breakers.record_failure(cand.name)
            else:
                breakers.record_success(cand.name)  # it answered: alive, merely busy
            if retry_after is not None:
                breakers.note_retry_after(cand.name, retry_after)
                result.retry_after_s = int(retry_after + 0.999)
            has_next = more and (bool(pending) or bool(later) or retry_after is None or retry_after <= cap)
            if not has_next:
                result.attempts.append(Attempt(cand.name, cand.model, "response", status, ms, "final"))
                result.candidate, result.outcome = cand, outcome
                return result
            await _close(outcome)
            note = ""
            if retry_after is None or retry_after <= cap:
                delay = retry_after if retry_after is not None else fo.retry_backoff_s
                seq += 1
                later.append((monotonic() + delay, seq, cand))
                note = f"may retry after {delay:.1f} s"
            else:
                note = f"Retry-After {retry_after:.0f} s exceeds cap {cap:g} s"
            result.attempts.append(Attempt(cand.name, cand.model, "response", status, ms, "failover", note))
        else:
            token = outcome.kind.value
            note = outcome.error or ""
            if outcome.kind is OutcomeKind.ERROR:
                # Not the provider's fault (e.g. the request cannot be expressed in its API):
                # no breaker failure, no retry of this target, try the next one.
                result.attempts.append(Attempt(cand.name, cand.model, token, None, ms, "failover", note))
            else:
                breakers.record_failure(cand.name)
                if token not in fo.failover_on:
                    result.attempts.append(Attempt(cand.name, cand.model, token, None, ms, "final", note))
                    return result
                if outcome.kind is OutcomeKind.CONNECT_ERROR:
                    seq += 1
                    later.append((monotonic() + fo.retry_backoff_s, seq, cand))
                result.attempts.append(Attempt(cand.name, cand.model, token, None, ms, "failover", note))
        last_failed = cand.name
        last_cause = outcome.kind.value if outcome.status is None else str(outcome.status)

    if result.attempts and result.attempts[-1].action == "failover":
        result.attempts[-1].action = "final"
    return result


def breakers_count_429(config: RoutingConfig) -> bool:
    return config.breaker.count_429

