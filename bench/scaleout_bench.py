"""Scale-out: 1 govproxy vs 2 govproxy instances behind HAProxy in TCP mode, 8 clients.

    .venv/bin/python bench/scaleout_bench.py [--total 4000] [--clients 8] [--json out.json]
        [--upstream-port PORT --cert-dir DIR]

Needs the ``haproxy`` binary (Debian package ``haproxy``). HAProxy runs in TCP mode on
loopback with a config written to a temp dir: it never terminates TLS or parses HTTP, it
only spreads the clients' CONNECT tunnels over the instances (round robin, per connection),
which is how govproxy is meant to be scaled. Each instance has its own audit store, CA and
state file. Three rows: one instance directly, one instance behind HAProxy (the
balancer's own cost), two instances behind HAProxy. On a 2-core machine the load generator
and the stand-in compete with the proxies for the same cores, so the gain is bounded; the
figure shows how much of the second core a second instance actually turns into throughput.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Result, build_request, run, write_json
from overhead_bench import HOST, failure_summary, govproxy_config, upstream
from proxy_bench import fmt, prompt_4k

from govproxy.launcher import ProxyProcess, free_port

HAPROXY_CFG = """\
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend govproxy_front
    bind 127.0.0.1:{port}
    default_backend govproxy_pool
backend govproxy_pool
    balance roundrobin
{servers}
"""


@contextlib.contextmanager
def haproxy(work: Path, backends: list[int]) -> Iterator[int]:
    exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(exe).exists():
        raise SystemExit("haproxy not found: apt-get install -y haproxy")
    port = free_port()
    cfg = work / f"haproxy-{len(backends)}.cfg"
    servers = "\n".join(f"    server gp{i} 127.0.0.1:{p}" for i, p in enumerate(backends))
    cfg.write_text(HAPROXY_CFG.format(port=port, servers=servers))
    proc = subprocess.Popen([exe, "-f", str(cfg), "-db"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"haproxy exited: {proc.stdout.read() if proc.stdout else ''}")
            with contextlib.suppress(OSError):
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--total", type=int, default=4000, help="requests per row")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--upstream-port", type=int)
    ap.add_argument("--cert-dir", type=Path)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="govproxy-scaleout-"))
    results: list[Result] = []
    with upstream(args.upstream_port, args.cert_dir, work) as (port, cafile):
        request = build_request(HOST, port, "/v1/chat/completions", prompt_4k())
        opts = {"ssl_verify_upstream_trusted_ca": cafile}
        env = {"BENCH_EU_KEY": "bench-eu-key"}
        with ProxyProcess(work / "gp1", govproxy_config(port, work / "gp1"), mitm_options=opts, env=env) as gp1, \
             ProxyProcess(work / "gp2", govproxy_config(port, work / "gp2"), mitm_options=opts, env=env) as gp2:
            # Each instance has its own CA; the clients trust both, as a fleet's clients would.
            trust = work / "fleet-ca.pem"
            trust.write_text("".join((gp.confdir / "mitmproxy-ca-cert.pem").read_text() for gp in (gp1, gp2)))

            def row(name: str, proxy_port: int) -> None:
                results.append(run(name, proxy=("127.0.0.1", proxy_port), host=HOST, port=port, cafile=str(trust),
                                   request=request, clients=args.clients, total=args.total))
                print(fmt(results[-1]), flush=True)

            row("1 govproxy, direct", gp1.port)
            with haproxy(work, [gp1.port]) as hp:
                row("1 govproxy behind HAProxy", hp)
            with haproxy(work, [gp1.port, gp2.port]) as hp:
                row("2 govproxy behind HAProxy", hp)
            print(f"instance 1 {failure_summary(gp1.output)}\ninstance 2 {failure_summary(gp2.output)}", flush=True)
    one, two = results[0], results[-1]
    print(f"\n2 instances / 1 instance: throughput {two.rps / one.rps:.2f}x, p50 {two.p50:.2f} vs {one.p50:.2f} ms")
    if args.json:
        write_json(results, args.json)
    return 0


if __name__ == "__main__":
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(var, None)
    sys.exit(main())
