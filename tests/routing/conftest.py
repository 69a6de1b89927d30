"""Fixtures for routing tests: real SQLite files, a real redis-server, loopback HTTP servers."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from govproxy.routing.store import RedisStateStore, SQLiteStateStore, StateStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.proc = proc
        self.url = f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed (Debian package 'redis-server'); Redis-backed state is untested")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.02)
    client.close()
    yield RedisServer(port, proc)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return redis_server.url


class FakeClock:
    """Controllable wall clock for cool-downs and calendar periods."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[StateStore]:
    """The same tests run against both backends."""
    s: StateStore
    if request.param == "sqlite":
        s = SQLiteStateStore(tmp_path / "state.sqlite3", clock=clock)
    else:
        s = RedisStateStore(request.getfixturevalue("redis_url"), key_prefix="t:", clock=clock)
    yield s
    s.close()


class LoopbackServer:
    """A tiny HTTP/1.1 server with misbehaving endpoints, for the failover and upstream tests.

    Paths: /ok, /stream (SSE, chunks spaced by ?gap= seconds), /status/NNN (?retry_after=),
    /fail_then_ok (?n= failures with ?status= and ?retry_after=, then 200),
    /drop (closes without answering), /hang (never answers). ``hits`` counts requests per path.
    """

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.bodies: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> LoopbackServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for task in list(self._tasks):  # hanging handlers would keep wait_closed() waiting
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                _method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.bodies.append(body)
                url = urlsplit(target)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                self.hits[url.path] += 1
                if not await self._respond(url.path, query, writer):
                    return
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _respond(self, path: str, query: dict[str, str], writer: asyncio.StreamWriter) -> bool:
        if path == "/drop":
            return False
        if path == "/hang":
            await asyncio.sleep(3600)
            return False
        if path == "/stream":
            gap = float(query.get("gap", "0"))
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            await writer.drain()
            for i in range(3):
                if gap:
                    await asyncio.sleep(gap)
                event = f"data: {{\"n\": {i}}}\n\n".encode()
                writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        status, extra, payload = 200, "", b'{"ok": true}'
        if path == "/fail_then_ok" and self.hits[path] <= int(query.get("n", "1")):
            path = f"/status/{query.get('status', '503')}"
        if path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            payload = b'{"error": "nope"}'
            if "retry_after" in query:
                extra = f"retry-after: {query['retry_after']}\r\n"
        reason = {200: "OK", 429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "X")
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n{extra}\r\n".encode()
            + payload
        )
        await writer.drain()
        return True
