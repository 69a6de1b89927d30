"""Benchmark the stand-in: ``python -m govproxy.standin.bench [--tls] [--clients 8] [--seconds 3]``.

Benchmarks of govproxy put the stand-in behind the proxy, so it must not be the
bottleneck. This measures small chat requests per second over keep-alive connections
and compares with a baseline server in the same run: a bare asyncio protocol that answers
every request with canned bytes (the ceiling for a Python loopback server here).

The load generator is a raw-socket asyncio client in this process; the servers run as
subprocesses so each gets its own core and GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from govproxy.standin.certs import make_test_certs
from govproxy.standin.process import StandinProcess

CHAT = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello, how are you?"}]}).encode()
STREAM = json.dumps(
    {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hello, how are you today?"}]}
).encode()


def request_bytes(body: bytes) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer k\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


async def _read_response(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    idx = lower.find(b"content-length:")
    if idx >= 0:
        n = int(lower[idx + 15 : lower.index(b"\r\n", idx)])
        await reader.readexactly(n)
        return
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


async def _client(host: str, port: int, tls: ssl.SSLContext | None, req: bytes, until: float, lat: list[float]) -> int:
    reader, writer = await asyncio.open_connection(host, port, ssl=tls, server_hostname="localhost" if tls else None)
    n = 0
    while time.perf_counter() < until:
        t0 = time.perf_counter()
        writer.write(req)
        await _read_response(reader)
        lat.append(time.perf_counter() - t0)
        n += 1
    writer.close()
    return n


async def _load(port: int, tls: ssl.SSLContext | None, req: bytes, clients: int, seconds: float) -> tuple[float, float]:
    lat: list[float] = []
    await asyncio.gather(*(_client("127.0.0.1", port, tls, req, time.perf_counter() + 0.3, []) for _ in range(clients)))
    t0 = time.perf_counter()
    until = t0 + seconds
    counts = await asyncio.gather(*(_client("127.0.0.1", port, tls, req, until, lat) for _ in range(clients)))
    elapsed = time.perf_counter() - t0
    return sum(counts) / elapsed, statistics.median(lat) * 1000


BASELINE_SERVER = r"""
import asyncio, ssl, sys
body = b'{"ok":true}'
resp = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t; self.buf = b""
    def data_received(self, d):
        self.buf += d
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0: return
            head = self.buf[:i].lower(); j = head.find(b"content-length:")
            n = int(head[j+15:].split(b"\r\n")[0]) if j >= 0 else 0
            if len(self.buf) < i + 4 + n: return
            self.buf = self.buf[i + 4 + n:]
            self.t.write(resp)
async def main():
    ctx = None
    if len(sys.argv) > 1:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    srv = await asyncio.get_running_loop().create_server(P, "127.0.0.1", 0, ssl=ctx)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m govproxy.standin.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        certs = make_test_certs(Path(tmp))
        client_tls = ssl.create_default_context(cafile=str(certs.ca_cert)) if args.tls else None
        base_args = [str(certs.server_cert), str(certs.server_key)] if args.tls else []
        base = subprocess.Popen([sys.executable, "-c", BASELINE_SERVER, *base_args], stdout=subprocess.PIPE, text=True)
        try:
            assert base.stdout is not None
            base_port = int(base.stdout.readline())
            base_rps, base_p50 = asyncio.run(_load(base_port, client_tls, request_bytes(CHAT), args.clients, args.seconds))
        finally:
            base.terminate()
            base.wait()
        results: dict[str, tuple[float, float]] = {}
        with StandinProcess(tls=args.tls, cert_dir=tmp if args.tls else None) as proc:
            for name, body in (("chat", CHAT), ("chat-stream", STREAM)):
                results[name] = asyncio.run(_load(proc.port, client_tls, request_bytes(body), args.clients, args.seconds))
            stats = proc.client.stats()

    mode = "TLS" if args.tls else "plain HTTP"
    print(f"stand-in benchmark: {mode}, {args.clients} keep-alive clients, {args.seconds:g}s each, cpus={os.cpu_count()}")
    print(f"  baseline canned-bytes asyncio server : {base_rps:8.0f} req/s  p50 {base_p50:6.2f} ms")
    for name, (rps, p50) in results.items():
        print(f"  stand-in {name:<29}: {rps:8.0f} req/s  p50 {p50:6.2f} ms  ({rps / base_rps:.2f}x baseline)")
    print(f"  connections accepted by stand-in     : {stats['connections']} (clients x 2 runs x 2: warm-up + measure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
