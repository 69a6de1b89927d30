"""Audit trail benchmark: grouped-commit throughput, added request latency, verification speed.

Run:  .venv/bin/python bench/audit_bench.py [--appends 50000] [--verify-count 1000000]

Targets (issue 5, 2-core machine): ≥ 5,000 durable records/s with grouped commits,
≤ 1 ms added p99 latency of an append awaited from the proxy's asyncio loop under load,
1,000,000 records verified in ≤ 30 s. Figures are printed with the baseline they compare to
(one record per commit) so a regression shows as a ratio, not a guess.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from govproxy.audit import AuditConfig, AuditLog
from govproxy.audit.keys import init_key, load_signer
from govproxy.audit.verify import verify_store


def _payload(i: int) -> dict:
    """Shaped like the pipeline's decision record."""
    return {
        "tenant": f"tenant-{i % 7}",
        "app": "support-bot",
        "source": "10.1.2.3",
        "request_id": f"req-{i:012d}",
        "provider_requested": "openai",
        "model_requested": "gpt-4o",
        "provider": "azure-openai",
        "model": "gpt-4o-eu",
        "decision": "allow",
        "reasons": ["residency.eu", "dlp.redacted"],
        "policy_bundle_sha256": "ab" * 32,
        "findings": {"EMAIL": 2, "PHONE": 1},
        "sensitivity": "confidential",
        "body_sha256": "cd" * 32,
        "forwarded_sha256": "ef" * 32,
    }


def _config(root: Path, sync: str, **kw) -> AuditConfig:
    cfg = AuditConfig(
        path=root / "audit.db",
        signing_key=root / "keys" / "signing.key",
        instance="bench",
        synchronous=sync,
        **kw,
    )
    if not cfg.signing_key.exists():
        init_key(cfg.signing_key, "govproxy.bench")
    return cfg


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def _closed_loop(log: AuditLog, total: int, concurrency: int) -> float:
    """``concurrency`` requests in flight, each awaiting its record; returns records/s."""
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            await log.append("decision", _payload(i))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - t0)


def bench_throughput(root: Path, total: int) -> None:
    print("\n== durable appends/s (asyncio producers, grouped commits)")
    for sync in ("normal", "full"):
        for concurrency in (1, 64, 256):
            n = (
                total
                if concurrency > 1
                else min(total, 3000 if sync == "full" else 10000)
            )
            d = root / f"tp-{sync}-{concurrency}"
            log = AuditLog.open(_config(d, sync))
            rate = asyncio.run(_closed_loop(log, n, concurrency))
            log.close()
            print(
                f"  synchronous={sync:6s} in-flight={concurrency:4d}: {rate:9.0f} records/s  ({n} records)"
            )


async def _open_loop(
    log: AuditLog, rate: float, seconds: float
) -> tuple[list[float], float]:
    """Requests arrive at ``rate``/s; each awaits its decision record like the proxy does.
    Returns (append latencies in s, achieved rate)."""
    latencies: list[float] = []
    tasks = []
    interval = 1.0 / rate

    async def request(i: int) -> None:
        t0 = time.perf_counter()
        await log.append("decision", _payload(i))
        latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    i = 0
    while (now := time.perf_counter()) - start < seconds:
        due = start + i * interval
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.create_task(request(i)))
        i += 1
    await asyncio.gather(*tasks)
    return latencies, i / (time.perf_counter() - start)


def _loop_blocking(log: AuditLog, n: int = 5000) -> list[float]:
    """The synchronous share of an append (checks + canonical bytes + enqueue): the time the
    event loop cannot do anything else."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        log.submit("decision", _payload(i))
        out.append(time.perf_counter() - t0)
    return out


def bench_latency(root: Path) -> None:
    print(
        "\n== added latency of the record stage (append awaited on the event loop, open-loop arrivals)"
    )
    for sync in ("normal", "full"):
        for rate in (500, 2000, 5000):
            d = root / f"lat-{sync}-{rate}"
            log = AuditLog.open(_config(d, sync))
            asyncio.run(_open_loop(log, rate, 0.5))  # warm-up
            lat, achieved = asyncio.run(_open_loop(log, rate, 3.0))
            block = _loop_blocking(log, 2000)
            log.close()
            ms = [x * 1000 for x in lat]
            print(
                f"  synchronous={sync:6s} {rate:5d} req/s offered ({achieved:5.0f} achieved): "
                f"p50 {statistics.median(ms):6.3f} ms  p99 {_pct(ms, 0.99):6.3f} ms  max {max(ms):6.2f} ms; "
                f"loop blocked per append p50 {statistics.median(block) * 1e6:4.0f} µs p99 {_pct(block, 0.99) * 1e6:4.0f} µs"
            )


def bench_verify(root: Path, count: int, store_dir: Path | None) -> None:
    print(f"\n== verification speed ({count} records)")
    d = store_dir or root / "verify"
    cfg = _config(d, "normal", checkpoint_every_records=1000, max_batch=5000)
    have = 0
    if cfg.path.exists():
        import sqlite3

        have = (
            sqlite3.connect(cfg.path)
            .execute("SELECT count(*) FROM records")
            .fetchone()[0]
        )
    if have < count:
        log = AuditLog.open(cfg)
        t0 = time.perf_counter()
        chunk = 5000
        for start in range(have, count, chunk):
            futs = [
                log.submit("decision", _payload(i))
                for i in range(start, min(count, start + chunk))
            ]
            for f in futs:
                f.result()
        log.close()
        gen = time.perf_counter() - t0
        print(
            f"  generated {count - have} records in {gen:.1f} s ({(count - have) / gen:.0f} records/s)"
        )
    else:
        print(f"  reusing the store in {d} ({have} records)")
    size_mb = cfg.path.stat().st_size / 1e6
    pub = [load_signer(cfg.signing_key).verifier]
    for workers in (1, None):
        t0, c0 = time.perf_counter(), time.process_time()
        report = verify_store(
            cfg.path, pub, checkpoint_dir=cfg.resolved_checkpoint_dir, workers=workers
        )
        took, cpu = time.perf_counter() - t0, time.process_time() - c0
        label = "1 process" if workers == 1 else f"{os.cpu_count()} processes"
        print(f"  [{label}] {report.summary()}")
        print(
            f"  [{label}] verified {report.records} records ({size_mb:.0f} MB) in {took:.1f} s wall "
            f"(parent CPU {cpu:.1f} s) = {report.records / took:.0f} records/s; "
            f"1,000,000 records: {1_000_000 / (report.records / took):.1f} s (target ≤ 30 s)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--appends", type=int, default=50000, help="records per throughput run"
    )
    ap.add_argument(
        "--verify-count",
        type=int,
        default=200000,
        help="records to generate and verify",
    )
    ap.add_argument(
        "--only", choices=["throughput", "latency", "verify"], help="run one part"
    )
    ap.add_argument("--dir", help="work directory (default: a temporary one)")
    ap.add_argument(
        "--store-dir",
        help="keep/reuse the verification store here (generating 1M takes minutes)",
    )
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        if args.only in (None, "throughput"):
            bench_throughput(root, args.appends)
        if args.only in (None, "latency"):
            bench_latency(root)
        if args.only in (None, "verify"):
            bench_verify(
                root,
                args.verify_count,
                Path(args.store_dir) if args.store_dir else None,
            )


if __name__ == "__main__":
    main()
