"""Opt-in HTTP/2 (ALPN h2): SDKs work over it, streams multiplex, faults keep HTTP/2 meanings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from govproxy.standin import CertBundle, StandinServer

from .clients import ca_context

AUTH = {"authorization": "Bearer k"}


@pytest.fixture
def h2_server(certs: CertBundle) -> Iterator[StandinServer]:
    with StandinServer(tls=True, certs=certs, http2=True, chunk_size=4) as s:
        yield s


def h2_client(server: StandinServer, **kw: object) -> httpx.Client:
    return httpx.Client(base_url=server.url, http2=True, verify=ca_context(server), trust_env=False, **kw)  # type: ignore[arg-type]


def chat(text: str, stream: bool = False) -> dict:
    return {"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": text}]}


def test_http2_is_offered_only_when_asked(server: StandinServer, h2_server: StandinServer) -> None:
    with h2_client(server) as c:
        assert c.get("/v1/models", headers=AUTH).http_version == "HTTP/1.1"
    with h2_client(h2_server) as c:
        assert c.get("/v1/models", headers=AUTH).http_version == "HTTP/2"
    with pytest.raises(ValueError):
        StandinServer(http2=True)


def test_openai_sdk_over_http2_stream_and_not(h2_server: StandinServer) -> None:
    client = openai.OpenAI(
        base_url=h2_server.url + "/v1", api_key="k", max_retries=0, http_client=h2_client(h2_server)
    )
    assert client.chat.completions.create(**chat("over h2")).choices[0].message.content == "echo: over h2"
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(**chat("streamed h2", True)))
    assert text == "echo: streamed h2"
    rec = h2_server.last_request()
    assert rec.header("host") and rec.header("authorization") == "Bearer k"
    assert h2_server.connections == 1


def test_large_bodies_respect_flow_control(h2_server: StandinServer) -> None:
    big = "y" * 500_000
    with h2_client(h2_server) as c:
        r = c.post("/v1/chat/completions", headers=AUTH, json=chat(big))
    assert r.json()["choices"][0]["message"]["content"] == "echo: " + big
    assert len(h2_server.last_request().body) > 500_000


def test_a_hanging_stream_does_not_block_others_on_the_same_connection(h2_server: StandinServer) -> None:
    """Uses httpx's async client: its sync HTTP/2 client serialises reads, the server does not."""
    h2_server.set_fault("hang", delay=1.0, model="slow", times=1)

    async def run() -> tuple[float, float, str]:
        async with httpx.AsyncClient(base_url=h2_server.url, http2=True, verify=ca_context(h2_server), trust_env=False) as c:
            await c.get("/v1/models", headers=AUTH)  # one connection, opened first
            t0 = time.monotonic()

            async def slow() -> float:
                await c.post("/v1/chat/completions", headers=AUTH, json={**chat("x"), "model": "slow"})
                return time.monotonic() - t0

            async def quick() -> tuple[float, str]:
                await asyncio.sleep(0.1)
                r = await c.post("/v1/chat/completions", headers=AUTH, json=chat("quick"))
                return time.monotonic() - t0, r.json()["choices"][0]["message"]["content"]

            slow_t, (quick_t, text) = await asyncio.gather(slow(), quick())
            return slow_t, quick_t, text

    slow_t, quick_t, text = asyncio.run(run())
    assert text == "echo: quick"
    assert quick_t < slow_t and slow_t >= 1.0
    assert h2_server.connections == 1


def test_reset_mid_stream_is_rst_stream_and_connection_survives(h2_server: StandinServer) -> None:
    h2_server.set_fault("reset_mid_stream", after_chunks=2, times=1)
    with h2_client(h2_server) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/v1/chat/completions", headers=AUTH, json=chat("a long enough streamed reply", True))
        after = c.post("/v1/chat/completions", headers=AUTH, json=chat("after"))
    assert after.json()["choices"][0]["message"]["content"] == "echo: after"
    assert h2_server.connections == 1


def test_status_fault_and_errors_over_http2(h2_server: StandinServer) -> None:
    h2_server.set_fault("status", status=429, times=1)
    with h2_client(h2_server) as c:
        limited = c.post("/v1/chat/completions", headers=AUTH, json=chat("x"))
        missing_key = c.post("/v1/chat/completions", json=chat("x"))
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert missing_key.status_code == 401
