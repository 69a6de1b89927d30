"""Routing overhead per request: ranking, state reads/writes (SQLite and Redis), failover driver, metrics.

Run: .venv/bin/python bench/routing_bench.py [--n 2000]

Each figure is compared with a baseline measured in the same run: the state calls against
a bare SQLite SELECT / Redis PING, and the failover driver against calling the same
httpx-based ``send`` directly on a loopback server.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from govproxy.config import settings_from_dict
from govproxy.routing import Router, Usage
from govproxy.routing.failover import Outcome, OutcomeKind
from govproxy.routing.selection import RankedCandidate
from govproxy.routing.upstream import UpstreamClient


def _p50_us(fn: Callable[[], object], n: int) -> float:
    for _ in range(min(200, n)):
        fn()
    samples = []
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t)
    return statistics.median(samples) / 1000


def _settings(state: dict) -> dict:
    return {
        "providers": {
            "openai": {"budget": {"daily_usd": 100}},
            "cheap": {"kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1", "prices": {"*": {"input": 0.1, "output": 0.2}}},
            "local": {"models": {"default": "llama3.1:8b"}},
        },
        "tenants": {"acme": {"budget": {"daily_usd": 50, "monthly_tokens": 10_000_000}}},
        "state": state,
        "metrics": {"port": 0},
    }


def _view_and_rank(router: Router, cands: list[str]) -> None:
    health = router.breakers.health_many(cands)
    router.policy_view("acme", cands, "gpt-4o", health=health)
    router.rank(cands, requested_model="gpt-4o", token_estimate=1000, preferred="openai", health=health)


def bench_state(label: str, router: Router, baseline_us: float, n: int) -> None:
    cands = ["openai", "cheap", "local"]

    def hot_path() -> None:
        router.breakers.allow("openai")
        router.breakers.record_success("openai")

    router.record_usage(tenant="acme", provider="openai", model="gpt-4o", usage=Usage(100, 10))
    rows = {
        "policy_view (3 candidates: health+budget+price)": lambda: router.policy_view("acme", cands, "gpt-4o"),
        "rank (3 candidates)": lambda: router.rank(cands, requested_model="gpt-4o", token_estimate=1000, preferred="openai"),
        "health once + policy_view + rank (shared health)": lambda: _view_and_rank(router, cands),
        "breaker allow + record_success (hot path)": hot_path,
        "record_usage (cost + 4 budget counters + metrics)": lambda: router.record_usage(
            tenant="acme", provider="openai", model="gpt-4o", usage=Usage(100, 10)
        ),
    }
    print(f"\n[{label}]  baseline {baseline_us:8.1f} µs p50")
    for name, fn in rows.items():
        us = _p50_us(fn, n)
        print(f"  {name:<52} {us:8.1f} µs p50   ({us / baseline_us:5.1f}x baseline)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    body = b'{"ok": true}'
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def bench_chain(router: Router, n: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
    client = UpstreamClient()
    payload = b"x" * 4096
    ranked = router.rank(["cheap", "local"], requested_model="m", token_estimate=1000)

    async def send(_c: RankedCandidate) -> Outcome:
        return await client.send("POST", url, {"content-type": "application/json"}, payload)

    async def direct() -> None:
        out = await send(ranked[0])
        await out.response.aread()
        await out.response.aclose()

    async def chained() -> None:
        final = await router.attempt_chain(ranked, send)
        await final.outcome.response.aread()  # type: ignore[union-attr]
        await final.outcome.response.aclose()  # type: ignore[union-attr]

    async def paired(a: Callable[[], Awaitable[None]], b: Callable[[], Awaitable[None]], count: int) -> tuple[float, float]:
        """Medians of a and b, run alternately so machine noise hits both alike."""
        for _ in range(100):
            await a()
            await b()
        sa, sb = [], []
        for _ in range(count):
            t = time.perf_counter_ns()
            await a()
            sa.append(time.perf_counter_ns() - t)
            t = time.perf_counter_ns()
            await b()
            sb.append(time.perf_counter_ns() - t)
        return statistics.median(sa) / 1000, statistics.median(sb) / 1000

    d, c = await paired(direct, chained, n)
    print(f"\n[failover driver, loopback HTTP, 4 KB POST, {n} requests each, interleaved]")
    print(f"  direct UpstreamClient.send + read         {d:8.1f} µs p50")
    print(f"  Router.attempt_chain (same send) + read   {c:8.1f} µs p50   (+{c - d:.1f} µs, {c / d:4.2f}x)")

    ready = Outcome(OutcomeKind.RESPONSE, status=200)

    async def instant(_c: RankedCandidate) -> Outcome:
        return ready

    async def bare() -> None:
        await instant(ranked[0])

    async def driver() -> None:
        await router.attempt_chain(ranked, instant)

    b0, b1 = await paired(bare, driver, n * 2)
    print(f"  driver alone (send answers at once): {b1 - b0:8.1f} µs p50 per request"
          " (breaker read x2, latency sample, attempt log)")
    await client.aclose()
    server.close()
    await server.wait_closed()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="routing-bench-"))

    import sqlite3

    db = sqlite3.connect(tmp / "baseline.sqlite3")
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    db.execute("INSERT INTO t VALUES ('a', 1)")
    sqlite_base = _p50_us(lambda: db.execute("SELECT v FROM t WHERE k = 'a'").fetchone(), args.n)
    router = Router(settings_from_dict(_settings({"path": str(tmp / "state.sqlite3")})))
    bench_state("SQLite state (WAL, synchronous=NORMAL); baseline = one indexed SELECT", router, sqlite_base, args.n)
    asyncio.run(bench_chain(router, args.n // 2))
    m = router.metrics
    assert m is not None
    us = _p50_us(lambda: m.observe_request(provider="openai", model="gpt-4o", tenant="acme", decision="allow"), args.n)
    print(f"\n[metrics]\n  observe_request                            {us:8.1f} µs p50")
    router.close()

    binary = shutil.which("redis-server")
    if binary is None:
        print("\n[Redis] skipped: redis-server not installed")
        return 0
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )
    try:
        import redis

        r = redis.Redis(port=port)
        for _ in range(200):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        redis_base = _p50_us(r.ping, args.n)
        url = f"redis://127.0.0.1:{port}/0"
        router = Router(settings_from_dict(_settings({"backend": "redis", "redis_url": url})))
        bench_state("Redis state (loopback); baseline = one PING round trip", router, redis_base, args.n)
        router.close()
    finally:
        proc.terminate()
        proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
