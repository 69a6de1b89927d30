"""A small, fair HTTP/1.1 load generator over keep-alive TLS connections.

Every target (direct, bare mitmdump, govproxy) is driven by the same code: one asyncio
connection per client, CONNECT through the proxy when there is one, TLS, then identical
request bytes in a loop. Latency is measured per request from the first byte written to
the last body byte read, so client cost is the same for all targets.
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
from dataclasses import dataclass


@dataclass
class Result:
    name: str
    clients: int
    latencies_ms: list[float]
    elapsed_s: float
    errors: int

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        if not self.latencies_ms:
            return float("nan")
        s = sorted(self.latencies_ms)
        return s[min(len(s) - 1, int(len(s) * 0.99))]

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0


def write_json(results: list[Result], path: str) -> None:
    """The machine-readable form every proxy benchmark writes with --json (run_all reads it)."""
    import json
    from pathlib import Path

    Path(path).write_text(json.dumps([
        {"name": r.name, "clients": r.clients, "p50_ms": r.p50, "p99_ms": r.p99, "rps": r.rps, "errors": r.errors, "n": len(r.latencies_ms)}
        for r in results
    ], indent=2))


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    lower = head.lower()
    idx = lower.find(b"content-length:")
    if idx >= 0:
        end = lower.index(b"\r\n", idx)
        await reader.readexactly(int(lower[idx + 15 : end]))
    elif b"transfer-encoding: chunked" in lower:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _open(proxy: tuple[str, int] | None, host: str, port: int, ctx: ssl.SSLContext):
    if proxy is None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    else:
        reader, writer = await asyncio.open_connection(*proxy)
        writer.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"CONNECT refused: {head[:80]!r}")
    await writer.start_tls(ctx, server_hostname=host)
    return reader, writer


async def _client(proxy, host, port, ctx, request: bytes, n: int, out: list[float], errors: list[int], expect: int) -> None:
    reader, writer = await _open(proxy, host, port, ctx)
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            out.append((time.perf_counter() - t0) * 1000)
            if status != expect:
                errors.append(status)
    finally:
        writer.close()


def build_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        "Authorization: Bearer sk-bench",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run(
    name: str,
    *,
    proxy: tuple[str, int] | None,
    host: str,
    port: int,
    cafile: str,
    request: bytes,
    clients: int,
    total: int,
    warmup: int = 100,
    expect: int = 200,
) -> Result:
    ctx = ssl.create_default_context(cafile=cafile)

    async def main() -> Result:
        warm: list[float] = []
        await _client(proxy, host, port, ctx, request, warmup, warm, [], expect)
        lat: list[float] = []
        errs: list[int] = []
        per = max(1, total // clients)
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(proxy, host, port, ctx, request, per, lat, errs, expect) for _ in range(clients)))
        return Result(name, clients, lat, time.perf_counter() - t0, len(errs))

    return asyncio.run(main())
