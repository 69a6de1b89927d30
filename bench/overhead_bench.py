"""Proxy overhead on one upstream: direct vs bare mitmdump vs govproxy (clean, PII, rerouted).

A second baseline, mitmproxy as ``govproxy run`` runs it (its addon set and event dispatch) but without the govproxy
addon, shows the cost of governance alone (govproxy run leaves out mitmproxy addons that
would store or rewrite traffic outside governance, which also makes mitmproxy itself cheaper).

    .venv/bin/python bench/overhead_bench.py [--total 2000] [--json out.json]
        [--upstream-port PORT --cert-dir DIR]     # reuse a running stand-in (bench/run_all does)

``bench/proxy_bench.py`` measures pass-through and PII; this script adds the rerouting case
and runs all five targets against the *same* stand-in process, so every ratio compares
runs that shared an upstream. The rerouted request carries ``X-Govproxy-Tenant: eu-team``
(residency eu) to the "us" provider; the policy reroutes it to an "eu" OpenAI-compatible
provider on the same stand-in with the proxy's own key, through govproxy's relay (a
different path from mitmproxy's own forwarding, which is why it is measured separately).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import ssl
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Result, build_request, run, write_json
from proxy_bench import fmt, prompt_4k, start_mitmdump

from govproxy.launcher import ProxyProcess
from govproxy.standin import StandinClient, StandinProcess, make_test_certs

PII = "Contact jane.doe@example.com or +1 415 555 0134, card 4111 1111 1111 1111, IBAN DE89370400440532013000."
HOST = "localhost"


@contextlib.contextmanager
def upstream(port: int | None, cert_dir: Path | None, work: Path) -> Iterator[tuple[int, str]]:
    """A TLS stand-in: the one given (port + the directory holding its ca.pem) or a new one."""
    if port:
        assert cert_dir is not None, "--upstream-port needs --cert-dir"
        yield port, str(cert_dir / "ca.pem")
        return
    make_test_certs(work / "certs")
    with StandinProcess(tls=True, cert_dir=work / "certs") as s:
        yield s.port, str(work / "certs" / "ca.pem")


def govproxy_config(port: int, work: Path) -> dict[str, Any]:
    """The bench provider ("us") plus an "eu" provider on the same stand-in, and an EU tenant."""
    return {
        "providers": {
            "bench": {"kind": "openai", "hosts": [f"{HOST}:{port}"], "region": "us"},
            "bench-eu": {"kind": "openai-compatible", "base_url": f"https://127.0.0.1:{port}/v1", "hosts": [f"127.0.0.1:{port}"],
                         "region": "eu", "api_key_env": "BENCH_EU_KEY", "models": {"default": "model-eu"}},
        },
        "tenants": {"eu-team": {"residency": ["eu"]}},
        "audit": {"path": str(work / "audit" / "govproxy.db"), "signing_key": str(work / "audit" / "signing.key")},
    }


def failure_summary(log: str) -> str:
    """Why requests failed, from the proxy's log (the load generator only counts non-200s)."""
    lines = [ln for ln in log.splitlines() if any(w in ln.lower() for w in ("error", "warn", "timeout", "exception"))]
    kinds: dict[str, int] = {}
    for ln in lines:
        key = ln.split("]", 1)[-1].split(";")[0].strip()[:90]
        kinds[key] = kinds.get(key, 0) + 1
    if not kinds:
        return "proxy log: no errors, warnings or timeouts"
    return "proxy log: " + "; ".join(f"{n} x {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))


def check_reroute(proxy_url: str, proxy_ca: str, port: int, upstream_ca: str) -> None:
    """Refuse to report a "rerouted" figure unless one such request really reached the EU provider."""
    control = StandinClient(f"https://{HOST}:{port}", ca_file=upstream_ca)
    control.reset(faults=False, options=False)
    with httpx.Client(proxy=proxy_url, verify=ssl.create_default_context(cafile=proxy_ca), trust_env=False, timeout=30) as c:
        r = c.post(f"https://{HOST}:{port}/v1/chat/completions", content=prompt_4k(),
                   headers={"authorization": "Bearer sk-bench", "content-type": "application/json", "X-Govproxy-Tenant": "eu-team"})
    seen = control.requests
    if r.status_code != 200 or len(seen) != 1 or seen[0].header("authorization") != "Bearer bench-eu-key":
        raise SystemExit(f"reroute scenario is not rerouting (status {r.status_code}); fix the config before measuring")


def pooled(parts: list[Result]) -> Result:
    """One row from several rounds: all latencies, and throughput over the summed run time."""
    first = parts[0]
    return Result(first.name, first.clients, [x for p in parts for x in p.latencies_ms],
                  sum(p.elapsed_s for p in parts), sum(p.errors for p in parts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--total", type=int, default=2000, help="requests per scenario and client count")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds the total is split into")
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--upstream-port", type=int)
    ap.add_argument("--cert-dir", type=Path)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="govproxy-overhead-"))
    results: list[Result] = []
    rounds: dict[tuple[str, int], list[Result]] = {}
    with upstream(args.upstream_port, args.cert_dir, work) as (port, cafile), contextlib.ExitStack() as stack:
        clean = build_request(HOST, port, "/v1/chat/completions", prompt_4k())
        pii = build_request(HOST, port, "/v1/chat/completions", prompt_4k(PII))
        reroute = build_request(HOST, port, "/v1/chat/completions", prompt_4k(), {"X-Govproxy-Tenant": "eu-team"})

        # Every target runs at once and the rounds alternate their order, so that each
        # ratio compares runs from the same minutes (this VM's speed drifts by tens of %).
        mitm, mport = start_mitmdump(work / "mitm-conf", cafile)
        stack.callback(lambda: (mitm.terminate(), mitm.wait(10)))
        lean, lport = start_mitmdump(work / "lean-conf", cafile, lean=True)
        stack.callback(lambda: (lean.terminate(), lean.wait(10)))
        gp = stack.enter_context(ProxyProcess(work / "govproxy", govproxy_config(port, work),
                                              mitm_options={"ssl_verify_upstream_trusted_ca": cafile},
                                              env={"BENCH_EU_KEY": "bench-eu-key"}))
        gp_ca = str(gp.confdir / "mitmproxy-ca-cert.pem")
        check_reroute(gp.url, gp_ca, port, cafile)
        targets: list[tuple[str, tuple[str, int] | None, str, bytes]] = [
            ("direct", None, cafile, clean),
            ("bare mitmdump", ("127.0.0.1", mport), str(work / "mitm-conf" / "mitmproxy-ca-cert.pem"), clean),
            ("mitmproxy, govproxy's addon set", ("127.0.0.1", lport), str(work / "lean-conf" / "mitmproxy-ca-cert.pem"), clean),
            ("govproxy (clean prompt)", ("127.0.0.1", gp.port), gp_ca, clean),
            ("govproxy (PII pseudonymised)", ("127.0.0.1", gp.port), gp_ca, pii),
            ("govproxy (rerouted, EU tenant)", ("127.0.0.1", gp.port), gp_ca, reroute),
        ]
        per_round = max(1, args.total // args.rounds)
        for clients in (1, 8):
            for r in range(args.rounds):
                for name, proxy, ca, request in targets if r % 2 == 0 else targets[::-1]:
                    res = run(name, proxy=proxy, host=HOST, port=port, cafile=ca, request=request, clients=clients,
                              total=per_round, warmup=100 if r == 0 else 20)
                    rounds.setdefault((name, clients), []).append(res)
            for name, *_ in targets:
                results.append(pooled(rounds[(name, clients)]))
                print(fmt(results[-1]), flush=True)
        print(failure_summary(gp.output), flush=True)

    by = {(r.name, r.clients): r for r in results}

    def ratios(baseline: str) -> None:
        for name in [r.name for r in results if r.name.startswith("govproxy") and r.clients == 1]:
            for clients in (1, 8):
                g, b = by[(name, clients)], by[(baseline, clients)]
                per = sorted(x.rps / y.rps for x, y in zip(rounds[(name, clients)], rounds[(baseline, clients)], strict=True))
                print(f"  {name:<32} clients={clients}: p50 +{g.p50 - b.p50:.2f} ms ({g.p50 / b.p50:.2f}x), "
                      f"throughput {g.rps / b.rps * 100:.0f} % (rounds: {' '.join(f'{x * 100:.0f}' for x in per)})")

    print(f"\nratios govproxy / bare mitmdump ({args.rounds} interleaved rounds pooled; per-round throughput ratios sorted)")
    ratios("bare mitmdump")
    print("\nratios govproxy / mitmproxy with govproxy's addon set (the cost of governance alone)")
    ratios("mitmproxy, govproxy's addon set")
    if args.json:
        write_json(results, args.json)
    return 0


if __name__ == "__main__":
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(var, None)
    sys.exit(main())
