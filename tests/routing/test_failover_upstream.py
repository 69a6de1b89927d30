"""The failover driver over real HTTP: UpstreamClient against misbehaving loopback servers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from govproxy.config import settings_from_dict
from govproxy.routing import Router
from govproxy.routing.failover import Outcome, OutcomeKind
from govproxy.routing.selection import RankedCandidate
from govproxy.routing.upstream import UpstreamClient, UpstreamResponse

from .conftest import LoopbackServer


def _router(tmp_path: Path, **routing: Any) -> Router:
    base = {"failover": {"attempt_timeout_s": 0.5, "retry_backoff_s": 0.05, "max_attempts": 3}}
    for k, v in routing.items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    providers = {n: {"kind": "openai-compatible", "base_url": f"http://127.0.0.1:{i + 1}/v1"} for i, n in enumerate("abc")}
    settings = settings_from_dict(
        {"providers": providers, "routing": base, "state": {"path": str(tmp_path / "state.sqlite3")}, "metrics": {"port": 0}}
    )
    return Router(settings)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _chain(router: Router, routes: dict[str, str], names: list[str], request_id: str | None = None):  # type: ignore[no-untyped-def]
    server = await LoopbackServer().start()
    client = UpstreamClient(connect_timeout_s=1, read_timeout_s=5)

    async def send(c: RankedCandidate) -> Outcome:
        return await client.send("POST", server.base + routes[c.name], {"content-type": "application/json"}, b'{"m": 1}')

    ranked = router.rank(names, requested_model="m", token_estimate=10)
    ranked.sort(key=lambda c: names.index(c.name))  # keep the test's order explicit
    final = await router.attempt_chain(ranked, send, request_id=request_id)
    body = await final.outcome.response.aread() if final.outcome is not None else None
    await client.aclose()
    await server.stop()
    return final, body, server


@pytest.mark.parametrize(
    ("first", "cause"),
    [
        ("/status/429?retry_after=30", "429"),
        ("/status/503", "503"),
        ("/status/502", "502"),
        ("/drop", "connect_error"),
        ("/hang", "timeout"),
    ],
)
def test_fails_over_to_the_next_candidate(tmp_path: Path, first: str, cause: str) -> None:
    router = _router(tmp_path)
    final, body, server = _run(_chain(router, {"a": first, "b": "/ok"}, ["a", "b"], request_id="req-1"))
    assert final.ok and final.candidate.name == "b"
    assert body == b'{"ok": true}'
    assert final.failovers == 1
    assert server.hits["/ok"] == 1
    assert [a.action for a in final.attempts] == ["failover", "delivered"]
    explanation = router.explanation("req-1")
    assert explanation is not None
    assert explanation["routing"]["final_provider"] == "b"
    assert [a["provider"] for a in explanation["routing"]["attempts"]] == ["a", "b"]
    scrape = _scrape(router)
    assert f'govproxy_failovers_total{{cause="{cause}",from_provider="a",to_provider="b"}} 1.0' in scrape
    router.close()


def _scrape(router: Router) -> str:
    from prometheus_client import generate_latest

    assert router.metrics is not None
    return generate_latest(router.metrics.registry).decode()


def test_retry_after_is_remembered_for_later_requests(tmp_path: Path) -> None:
    router = _router(tmp_path)
    _run(_chain(router, {"a": "/status/429?retry_after=30", "b": "/ok"}, ["a", "b"]))
    # The next request does not even try "a": it asked everyone to wait 30 s.
    final, _, server = _run(_chain(router, {"a": "/ok", "b": "/ok"}, ["a", "b"]))
    assert final.candidate.name == "b"
    assert final.attempts[0].action == "skipped" and "retry after" in final.attempts[0].note
    assert server.hits["/ok"] == 1
    assert router.health("a").retry_after_s > 25 and router.health("a").healthy
    router.close()


def test_short_retry_after_is_honoured_on_the_same_target(tmp_path: Path) -> None:
    router = _router(tmp_path, retry_after_cap_s=2)
    started = time.monotonic()
    final, body, server = _run(_chain(router, {"a": "/fail_then_ok?n=1&status=429&retry_after=1"}, ["a"]))
    waited = time.monotonic() - started
    assert final.ok and body == b'{"ok": true}'
    assert server.hits["/fail_then_ok"] == 2
    assert waited >= 1.0  # it did wait for the Retry-After before asking again
    assert [a.action for a in final.attempts] == ["failover", "delivered"]
    assert final.failovers == 0  # a retry of the same target is not a failover
    router.close()


def test_retry_after_beyond_the_cap_returns_the_429_to_the_client(tmp_path: Path) -> None:
    router = _router(tmp_path, retry_after_cap_s=2)
    final, body, server = _run(_chain(router, {"a": "/status/429?retry_after=120"}, ["a"]))
    assert final.delivered and not final.ok
    assert final.client_status == 429 and final.retry_after_s == 120
    assert final.outcome.headers["retry-after"] == "120"
    assert body == b'{"error": "nope"}'
    assert server.hits["/status/429"] == 1
    router.close()


def test_non_failover_status_is_delivered_without_trying_others(tmp_path: Path) -> None:
    router = _router(tmp_path)
    final, _, server = _run(_chain(router, {"a": "/status/400", "b": "/ok"}, ["a", "b"]))
    assert final.candidate.name == "a" and final.client_status == 400
    assert server.hits["/ok"] == 0
    assert router.health("a").consecutive_failures == 0  # a 400 is the caller's problem, not ill health
    router.close()


def test_last_5xx_is_returned_when_nothing_else_is_left(tmp_path: Path) -> None:
    router = _router(tmp_path, failover={"max_attempts": 2})
    final, body, server = _run(_chain(router, {"a": "/drop", "b": "/status/503"}, ["a", "b"]))
    assert final.delivered and final.client_status == 503 and body == b'{"error": "nope"}'
    assert [a.outcome for a in final.attempts] == ["connect_error", "response"]
    router.close()


@pytest.mark.parametrize(("path", "status"), [("/drop", 502), ("/hang", 504)])
def test_nothing_answered(tmp_path: Path, path: str, status: int) -> None:
    router = _router(tmp_path, failover={"max_attempts": 2})
    final, body, _ = _run(_chain(router, {"a": path, "b": path}, ["a", "b"]))
    assert not final.delivered and body is None
    assert final.client_status == status
    assert all(a.action in ("failover", "final") for a in final.attempts)
    router.close()


def test_a_circuit_opens_skips_the_target_and_recovers(tmp_path: Path) -> None:
    router = _router(tmp_path, breaker={"failures_to_open": 2, "cooldown_s": 0.3}, failover={"max_attempts": 2})
    for _ in range(2):
        _run(_chain(router, {"a": "/status/503", "b": "/ok"}, ["a", "b"]))
    assert router.health("a").circuit == "open"
    final, _, server = _run(_chain(router, {"a": "/ok", "b": "/ok"}, ["a", "b"]))
    assert final.candidate.name == "b" and final.attempts[0].action == "skipped"
    assert server.hits["/ok"] == 1
    assert 'govproxy_circuit_state{provider="a"} 2.0' in _scrape(router)
    time.sleep(0.35)
    assert router.health("a").circuit == "half_open"
    final, _, _ = _run(_chain(router, {"a": "/ok", "b": "/ok"}, ["a", "b"]))
    assert final.candidate.name == "a"  # the probe went through and closed the circuit
    assert router.health("a").circuit == "closed"
    assert 'govproxy_circuit_state{provider="a"} 0.0' in _scrape(router)
    router.close()


def test_streaming_starts_before_the_body_is_complete(tmp_path: Path) -> None:
    router = _router(tmp_path)

    async def go() -> tuple[float, list[tuple[float, bytes]]]:
        server = await LoopbackServer().start()
        client = UpstreamClient()

        async def send(c: RankedCandidate) -> Outcome:
            return await client.send("GET", server.base + "/stream?gap=0.2", {})

        t0 = time.monotonic()
        final = await router.attempt_chain(router.rank(["a"], requested_model="m", token_estimate=1), send)
        headers_at = time.monotonic() - t0
        assert final.outcome is not None
        resp: UpstreamResponse = final.outcome.response
        chunks = [(time.monotonic() - t0, chunk) async for chunk in resp.aiter_bytes()]
        await resp.aclose()
        await client.aclose()
        await server.stop()
        return headers_at, chunks

    headers_at, chunks = _run(go())
    body = b"".join(c for _, c in chunks)
    assert body == b'data: {"n": 0}\n\ndata: {"n": 1}\n\ndata: {"n": 2}\n\n'
    assert headers_at < chunks[-1][0]  # headers were handed over before the stream ended
    assert len(chunks) >= 2  # and the body arrived in pieces, as the server sent it
    router.close()


def test_a_send_that_cannot_build_the_request_moves_on_without_blaming_the_provider(tmp_path: Path) -> None:
    router = _router(tmp_path)

    async def go() -> Any:
        server = await LoopbackServer().start()
        client = UpstreamClient()

        async def send(c: RankedCandidate) -> Outcome:
            if c.name == "a":
                return Outcome(OutcomeKind.ERROR, error="TranslationError")
            return await client.send("GET", server.base + "/ok", {})

        final = await router.attempt_chain(router.rank(["a", "b"], requested_model="m", token_estimate=1), send)
        assert final.outcome is not None
        await final.outcome.response.aclose()
        await client.aclose()
        await server.stop()
        return final

    ranked_names = [c.name for c in router.rank(["a", "b"], requested_model="m", token_estimate=1)]
    assert ranked_names[0] == "a"  # equal scores keep the policy's order
    final = _run(go())
    assert final.candidate.name == "b"
    assert final.attempts[0].outcome == "error" and final.attempts[0].note == "TranslationError"
    assert router.health("a").consecutive_failures == 0
    router.close()


def test_upstream_errors_do_not_leak_urls(tmp_path: Path) -> None:
    async def go() -> Outcome:
        client = UpstreamClient(connect_timeout_s=1)
        from .conftest import free_port

        out = await client.send("GET", f"http://127.0.0.1:{free_port()}/v1/models?key=AIzaSECRETSECRET", {})
        await client.aclose()
        return out

    out = _run(go())
    assert out.kind is OutcomeKind.CONNECT_ERROR
    assert out.error == "ConnectError"


def test_every_circuit_open_means_503_without_sending(tmp_path: Path) -> None:
    router = _router(tmp_path, breaker={"failures_to_open": 1, "cooldown_s": 600})
    router.breakers.record_failure("a")
    router.breakers.record_failure("b")
    final, body, server = _run(_chain(router, {"a": "/ok", "b": "/ok"}, ["a", "b"]))
    assert not final.delivered and final.client_status == 503
    assert [a.action for a in final.attempts] == ["skipped", "skipped"]
    assert sum(server.hits.values()) == 0
    router.close()


def test_a_short_retry_after_from_an_earlier_request_is_waited_out(tmp_path: Path) -> None:
    router = _router(tmp_path, retry_after_cap_s=2)
    router.breakers.note_retry_after("a", 0.5)  # an earlier request was told "Retry-After: 0.5"
    started = time.monotonic()
    final, body, server = _run(_chain(router, {"a": "/ok"}, ["a"]))
    assert final.ok and body == b'{"ok": true}'
    assert time.monotonic() - started >= 0.45
    assert [a.action for a in final.attempts] == ["deferred", "delivered"]
    router.close()
