"""Memory of the govproxy process over a long run: RSS after warm-up vs at the end.

    .venv/bin/python bench/memory_bench.py [--requests 100000] [--warmup 5000] [--chunk 5000]
        [--json out.json] [--upstream-port PORT --cert-dir DIR]

Target (issue 7): no growth beyond 10 % after warm-up. Caches (the policy decision cache,
the DLP pattern caches, TLS session and certificate caches, connection pools) fill during
warm-up; what must not grow is per-request state left behind (pseudonym vaults, flows,
pending audit records). The traffic rotates through the three governed paths in chunks —
a clean prompt, a PII prompt (vault created and dropped) and an EU tenant's rerouted
request — from 8 concurrent keep-alive clients, and the proxy's VmRSS is read from /proc
after each chunk.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import build_request, run
from overhead_bench import HOST, PII, govproxy_config, upstream
from proxy_bench import prompt_4k

from govproxy.launcher import ProxyProcess


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")




def audit_records(db: Path) -> int:
    """Records in the running proxy's audit store (read-only; WAL lets us read while it writes)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000, help="requests after warm-up")
    ap.add_argument("--warmup", type=int, default=5_000)
    ap.add_argument("--chunk", type=int, default=5_000, help="requests between RSS samples")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--upstream-port", type=int)
    ap.add_argument("--cert-dir", type=Path)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="govproxy-memory-"))
    samples: list[dict[str, float]] = []
    with upstream(args.upstream_port, args.cert_dir, work) as (port, cafile):
        kinds = [
            ("clean", build_request(HOST, port, "/v1/chat/completions", prompt_4k())),
            ("pii", build_request(HOST, port, "/v1/chat/completions", prompt_4k(PII))),
            ("reroute", build_request(HOST, port, "/v1/chat/completions", prompt_4k(), {"X-Govproxy-Tenant": "eu-team"})),
        ]
        with ProxyProcess(work / "govproxy", govproxy_config(port, work), mitm_options={"ssl_verify_upstream_trusted_ca": cafile},
                          env={"BENCH_EU_KEY": "bench-eu-key"}) as gp:
            assert gp.proc is not None
            pid, ca = gp.proc.pid, str(gp.confdir / "mitmproxy-ca-cert.pem")
            start_rss = rss_mb(pid)

            def drive(n: int, i: int) -> tuple[int, int]:
                """Send about n requests of one kind; return (non-200 responses, requests completed)."""
                kind, req = kinds[i % len(kinds)]
                r = run(kind, proxy=("127.0.0.1", gp.port), host=HOST, port=port, cafile=ca, request=req,
                        clients=args.clients, total=n, warmup=0)
                return r.errors, len(r.latencies_ms)

            t0 = time.monotonic()
            errors = sum(drive(args.warmup // len(kinds), i)[0] for i in range(len(kinds)))
            warm = rss_mb(pid)
            db = work / "audit" / "govproxy.db"
            warm_records = audit_records(db)
            print(f"RSS at start {start_rss:.1f} MB, after {args.warmup} warm-up requests {warm:.1f} MB", flush=True)
            done = 0
            i = 0
            while done < args.requests:
                e, n = drive(min(args.chunk, args.requests - done), i)
                errors += e
                done += n
                if n == 0:
                    raise SystemExit("the load generator completed no request")
                i += 1
                samples.append({"requests": done, "rss_mb": rss_mb(pid), "elapsed_s": time.monotonic() - t0})
                print(f"  {done:>7} requests  RSS {samples[-1]['rss_mb']:7.1f} MB  ({samples[-1]['elapsed_s']:.0f} s)", flush=True)
            records = audit_records(db) - warm_records
            if errors:
                # Name what the failures were (the load generator only counts them).
                noted = [ln.strip() for ln in gp.output.splitlines() if any(w in ln.lower() for w in ("error", "warn", "exception", "timeout"))]
                print(f"{errors} non-200 responses; proxy log lines mentioning errors ({len(noted)}), last 10:")
                for ln in noted[-10:]:
                    print(f"    {ln[:300]}")
    end = samples[-1]["rss_mb"]
    growth = (end - warm) / warm * 100
    peak = max(s["rss_mb"] for s in samples)
    print(f"\nafter warm-up {warm:.1f} MB, end {end:.1f} MB, peak {peak:.1f} MB: growth {growth:+.1f} % (target ≤ 10 %), errors {errors}")
    print(f"audit records appended after warm-up: {records:,} (the live audit writer keeps only the Merkle frontier, O(log n) hashes)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "start_mb": start_rss, "warm_mb": warm, "end_mb": end, "peak_mb": peak, "growth_pct": growth,
            "requests": done, "warmup": args.warmup, "audit_records": records, "clients": args.clients, "errors": errors, "samples": samples,
        }, indent=2))
    return 0


if __name__ == "__main__":
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(var, None)
    sys.exit(main())
