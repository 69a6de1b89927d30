"""DLP speed: scan+redact time per prompt (p50/p90) and throughput, clean and PII-dense, plus memory.

    .venv/bin/python bench/dlp_speed.py [--quick]

Targets (issue 3): clean 4 KB ≤ 100 µs p50, ≥ 50 MB/s on clean text, 4 KB with 10
findings ≤ 300 µs, memory flat over 10,000 prompts, streaming restore ≤ 1 ms added to
time-to-first-token. The prompts are generated here from a fixed seed: English prose with
code, numbers, dates, versions and URLs (what real prompts hold), and for the dense case
the same prose with realistic fake PII and secrets mixed in.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import string
import sys
import time
import tracemalloc

from govproxy.dlp import PseudonymVault, Scanner, StreamRestorer

WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "for",
    "that",
    "with",
    "on",
    "as",
    "be",
    "this",
    "by",
    "are",
    "from",
    "it",
    "or",
    "at",
    "an",
    "model",
    "request",
    "response",
    "summarise",
    "explain",
    "function",
    "returns",
    "value",
    "please",
    "review",
    "code",
    "error",
    "should",
    "would",
    "could",
    "table",
    "results",
    "quarterly",
    "revenue",
    "report",
    "customer",
    "service",
    "deploy",
    "cluster",
    "version",
    "configuration",
    "parameter",
    "latency",
    "throughput",
    "average",
    "increase",
    "decrease",
    "compared",
    "previous",
    "week",
    "month",
    "year",
    "team",
    "project",
    "meeting",
    "notes",
    "draft",
    "email",
    "proposal",
    "budget",
    "timeline",
    "risk",
    "mitigation",
    "architecture",
    "database",
    "query",
    "index",
    "performance",
]

CODE = [
    "def handler(event, context):\n    return {'statusCode': 200, 'body': json.dumps(event)}\n",
    "for i in range(10):\n    total += values[i] * 2\n",
    "SELECT id, name FROM users WHERE created_at > '2024-01-01' LIMIT 50;\n",
    "const token_count = response.usage.total_tokens; // max 4096\n",
    "docker run -p 8080:80 nginx:1.25 && curl http://localhost:8080/health\n",
]


def prose(
    rng: random.Random, size: int, code: float = 0.005, numbers: float = 0.015
) -> str:
    """English-like prose; ``code``/``numbers`` are the shares of tokens that are code lines / numbers."""
    parts: list[str] = []
    n = 0
    while n < size:
        r = rng.random()
        if r < code:
            s = rng.choice(CODE)
        elif r < code + numbers:
            s = rng.choice([f"{rng.randint(1, 99)}%", f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
                            f"{rng.randint(1990, 2030)}", f"Q{rng.randint(1, 4)}", f"{rng.randint(1, 5000)} ms",
                            f"https://docs.example.org/{rng.choice(WORDS)}", f"{rng.randint(1, 28)}/{rng.randint(1, 12)}"])  # fmt: skip
        else:
            s = rng.choice(WORDS)
            if rng.random() < 0.08:
                s = s.capitalize() + "."
        parts.append(s)
        n += len(s) + 1
    return " ".join(parts)[:size]


def _luhn_complete(prefix: str, rng: random.Random, length: int = 16) -> str:
    digits = prefix + "".join(
        rng.choice(string.digits) for _ in range(length - len(prefix) - 1)
    )
    for check in string.digits:
        cand = digits + check
        total = 0
        for i, ch in enumerate(reversed(cand)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return cand
    raise AssertionError


def pii_items(rng: random.Random) -> list[str]:
    first = rng.choice(["anna", "li", "omar", "sofia", "jan", "maria"])
    return [
        f"{first}.{rng.choice(['smith', 'ng', 'berg'])}{rng.randint(1, 99)}@{rng.choice(['example.com', 'corp.example.net'])}",
        f"+1 415-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
        _luhn_complete("4", rng),
        f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        "GB82 WEST 1234 5698 7654 32",
        f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "ghp_"
        + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36)),
        f"call me on (212) 555-{rng.randint(1000, 9999)}",
        f'password = "{"".join(rng.choice(string.ascii_letters + string.digits) for _ in range(12))}"',
        f"postgres://app:{''.join(rng.choice(string.ascii_letters) for _ in range(10))}@db.internal:5432/app",
    ]


def dense(rng: random.Random, size: int, n_items: int = 10) -> str:
    base = prose(rng, size)
    items = pii_items(rng)[:n_items]
    chunk = size // (len(items) + 1)
    out = []
    for i, item in enumerate(items):
        out.append(base[i * chunk : (i + 1) * chunk])
        out.append(f" {item} ")
    out.append(base[len(items) * chunk :])
    return "".join(out)[: size + 400]


def timed(
    scanner: Scanner, prompts: list[str], repeat: int
) -> tuple[list[float], list[float], int]:
    """All samples, and each prompt's fastest run (robust to other processes taking the CPU)."""
    times: list[float] = []
    best = [float("inf")] * len(prompts)
    findings = 0
    for _ in range(repeat):
        for i, p in enumerate(prompts):
            t0 = time.perf_counter()
            res = scanner.scan([p])
            if res.findings:
                scanner.redact([p], res, vault=PseudonymVault())
            dt = time.perf_counter() - t0
            times.append(dt)
            best[i] = min(best[i], dt)
            findings += len(res.findings)
    return times, best, findings


def report(
    name: str, scanner: Scanner, prompts: list[str], repeat: int
) -> dict[str, float]:
    timed(scanner, prompts[:5], 1)  # warm up
    times, best, findings = timed(scanner, prompts, repeat)
    size = sum(len(p.encode()) for p in prompts) / len(prompts)
    p50 = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    b50 = statistics.median(best)
    print(f"{name:<24} {size / 1024:5.1f} KB  findings {findings / len(times):5.1f}  "
          f"p50 {p50 * 1e6:8.1f} us  p90 {p90 * 1e6:8.1f} us  {size / p50 / 1e6:6.1f} MB/s  "
          f"| uncontended {b50 * 1e6:8.1f} us  {size / b50 / 1e6:6.1f} MB/s")  # fmt: skip
    return {
        "p50_us": p50 * 1e6,
        "mbps": size / p50 / 1e6,
        "best_us": b50 * 1e6,
        "best_mbps": size / b50 / 1e6,
    }


def memory(scanner: Scanner, rng: random.Random, n: int) -> None:
    prompts = [dense(rng, 4096, 10) if i % 2 else prose(rng, 4096) for i in range(200)]
    gc.collect()
    tracemalloc.start()
    marks = []
    for i in range(n):
        p = prompts[i % len(prompts)]
        res = scanner.scan([p])
        scanner.redact([p], res, vault=PseudonymVault())
        if i in (n // 10, n // 2, n - 1):
            gc.collect()
            marks.append(tracemalloc.get_traced_memory()[0])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"memory over {n} prompts (tracemalloc, live bytes after 10%/50%/100%): "
          f"{' / '.join(f'{m / 1024:.1f} KiB' for m in marks)}; peak {peak / 1024:.1f} KiB")  # fmt: skip


def stream_restore(rng: random.Random) -> None:
    vault = PseudonymVault()
    phs = [
        vault.placeholder_for("EMAIL_ADDRESS", f"user{i}@example.com")
        for i in range(20)
    ]
    text = prose(rng, 8000)
    words = text.split(" ")
    for i in range(0, len(words), 40):
        words[i] = rng.choice(phs)
    reply = " ".join(words)
    chunks = [reply[i : i + 7] for i in range(0, len(reply), 7)]  # token-sized pieces
    t0 = time.perf_counter()
    r = StreamRestorer(vault)
    first = r.feed(chunks[0])
    ttft = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = [first]
    for c in chunks[1:]:
        out.append(r.feed(c))
    out.append(r.flush())
    total = time.perf_counter() - t0
    ok = "".join(out) == vault.restore_text(reply)
    print(
        f"stream restore: first chunk {ttft * 1e6:.1f} us, {total / len(chunks) * 1e6:.2f} us/chunk over {len(chunks)} chunks, output correct: {ok}"
    )


def calibration() -> str:
    """How fast this machine is right now: one character-class regex pass over 4 KB of prose."""
    import os
    import re

    text = ("lorem ipsum dolor sit amet consectetur adipiscing elit " * 80)[:4096]
    r = re.compile(r"[0-9]")
    best = min(timeit_once(lambda: r.search(text)) for _ in range(2000))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"machine: re.search('[0-9]') over 4 KB without digits {best * 1e6:.1f} us (min of 2000), load average {load:.2f}"


def timeit_once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args(argv)
    rng = random.Random(20261122)
    scanner = Scanner(hmac_key=b"bench-key-not-a-secret-0123456789")
    rep = 3 if args.quick else 10
    print(
        f"{len(scanner.detectors)} detectors; scan + redact per prompt, single thread"
    )
    print(calibration() + "\n")
    clean4 = report("clean 4 KB", scanner, [prose(rng, 4096) for _ in range(100)], rep)
    report(
        "clean 4 KB, numbers x3",
        scanner,
        [prose(rng, 4096, code=0.015, numbers=0.045) for _ in range(100)],
        rep,
    )
    report(
        "clean 4 KB, all code",
        scanner,
        ["\n".join(rng.choice(CODE) for _ in range(60))[:4096] for _ in range(50)],
        rep,
    )
    clean64 = report(
        "clean 64 KB", scanner, [prose(rng, 65536) for _ in range(10)], rep
    )
    dense4 = report(
        "PII-dense 4 KB (10)", scanner, [dense(rng, 4096, 10) for _ in range(100)], rep
    )
    report(
        "PII-dense 64 KB (10)", scanner, [dense(rng, 65536, 10) for _ in range(10)], rep
    )
    report(
        "PII-dense 64 KB (x16)",
        scanner,
        ["".join(dense(rng, 4096, 10) for _ in range(16)) for _ in range(5)],
        rep,
    )
    print()
    print(
        "'uncontended': median over prompts of each prompt's fastest run; p50 includes time other processes took"
    )
    for label, key in (("p50", "p50_us"), ("uncontended", "best_us")):
        c, d = clean4[key], dense4[key]
        mb = clean64["mbps" if key == "p50_us" else "best_mbps"]
        print(f"targets ({label}): clean 4 KB {c:.1f} us (≤ 100: {'ok' if c <= 100 else 'MISSED'}), "
              f"clean 64 KB {mb:.1f} MB/s (≥ 50: {'ok' if mb >= 50 else 'MISSED'}), "
              f"dense 4 KB {d:.1f} us (≤ 300: {'ok' if d <= 300 else 'MISSED'})")  # fmt: skip
    memory(scanner, rng, 2000 if args.quick else 10_000)
    stream_restore(rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
