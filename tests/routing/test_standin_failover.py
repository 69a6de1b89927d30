"""Failover against the project's provider stand-in over TLS: real API shapes, real faults."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govproxy.config import settings_from_dict
from govproxy.routing import Router, Usage
from govproxy.routing.failover import FinalOutcome, Outcome
from govproxy.routing.selection import RankedCandidate
from govproxy.routing.upstream import UpstreamClient
from govproxy.standin import StandinServer, make_test_certs

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[StandinServer, StandinServer]]:
    certs = make_test_certs(tmp_path / "certs")
    with StandinServer(tls=True, certs=certs) as a, StandinServer(tls=True, certs=certs, chunk_delay=0.05) as b:
        yield a, b


def _router(tmp_path: Path, a: StandinServer, b: StandinServer) -> Router:
    return Router(
        settings_from_dict(
            {
                "providers": {
                    "primary": {"kind": "openai", "base_url": f"{a.url}/v1", "prices": {"gpt-4o-mini": {"input": 1, "output": 2}}},
                    "backup": {"kind": "openai", "base_url": f"{b.url}/v1", "prices": {"gpt-4o-mini": {"input": 1, "output": 2}}},
                },
                "tenants": {"acme": {"budget": {"daily_tokens": 1_000_000}}},
                "routing": {"failover": {"attempt_timeout_s": 1.0, "retry_backoff_s": 0.05}},
                "state": {"path": str(tmp_path / "state.sqlite3")},
            }
        )
    )


async def _call(router: Router, a: StandinServer, b: StandinServer, body: dict[str, Any]) -> tuple[FinalOutcome, bytes]:
    assert a.ca_file is not None
    client = UpstreamClient(verify=ssl.create_default_context(cafile=str(a.ca_file)), connect_timeout_s=2)
    urls = {"primary": a.url, "backup": b.url}

    async def send(c: RankedCandidate) -> Outcome:
        payload = json.dumps({**body, "model": c.model}).encode()
        headers = {"authorization": "Bearer sk-test", "content-type": "application/json"}
        return await client.send("POST", f"{urls[c.name]}/v1/chat/completions", headers, payload)

    ranked = router.rank(["primary", "backup"], requested_model=body["model"], token_estimate=5, preferred="primary")
    final = await router.attempt_chain(ranked, send, request_id="standin-1")
    assert final.outcome is not None
    data = await final.outcome.response.aread()
    await final.outcome.response.aclose()
    await client.aclose()
    return final, data


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 429, "retry_after": 30},
        {"kind": "status", "status": 503},
        {"kind": "reset"},
        {"kind": "garbage"},
        {"kind": "hang"},
    ],
)
def test_openai_call_fails_over_from_a_faulty_provider(tmp_path: Path, pair: Any, fault: dict[str, Any]) -> None:
    a, b = pair
    a.set_fault(**fault)
    router = _router(tmp_path, a, b)
    final, data = asyncio.run(_call(router, a, b, CHAT))
    reply = json.loads(data)
    assert final.candidate is not None and final.candidate.name == "backup"
    assert reply["choices"][0]["message"]["content"] == "echo: hello there"
    assert len(a.requests) <= 1 and len(b.requests) == 1
    # usage from the response feeds cost and budget
    usage = Usage(reply["usage"]["prompt_tokens"], reply["usage"]["completion_tokens"])
    cost = router.record_usage(tenant="acme", provider="backup", model=final.candidate.model, usage=usage, request_id="standin-1")
    assert cost.usd_micro == usage.input_tokens * 1 + usage.output_tokens * 2
    assert router.budget_state("acme", "backup").tenant.windows["daily_tokens"].used == usage.total_tokens
    explained = router.explanation("standin-1")
    assert explained is not None and explained["routing"]["failovers"] == 1
    assert explained["usage"]["cost_usd_micro"] == cost.usd_micro
    router.close()


def test_streaming_response_is_handed_over_at_headers(tmp_path: Path, pair: Any) -> None:
    a, b = pair
    a.set_fault("status", status=502)
    router = _router(tmp_path, a, b)

    async def go() -> tuple[FinalOutcome, list[bytes]]:
        assert a.ca_file is not None
        client = UpstreamClient(verify=ssl.create_default_context(cafile=str(a.ca_file)))
        urls = {"primary": a.url, "backup": b.url}

        async def send(c: RankedCandidate) -> Outcome:
            payload = json.dumps({**CHAT, "stream": True, "stream_options": {"include_usage": True}}).encode()
            return await client.send(
                "POST", f"{urls[c.name]}/v1/chat/completions",
                {"authorization": "Bearer sk-test", "content-type": "application/json"}, payload,
            )

        final = await router.attempt_chain(router.rank(["primary", "backup"], requested_model="gpt-4o-mini", token_estimate=5), send)
        assert final.outcome is not None
        chunks = [c async for c in final.outcome.response.aiter_bytes()]
        await final.outcome.response.aclose()
        await client.aclose()
        return final, chunks

    final, chunks = asyncio.run(go())
    assert final.candidate is not None and final.candidate.name == "backup"
    assert len(chunks) > 1  # delivered as it streamed, not buffered
    text = b"".join(chunks).decode()
    assert text.rstrip().endswith("data: [DONE]")
    assert '"usage"' in text
    router.close()
