"""Proxy overhead: direct vs bare mitmdump vs govproxy, same upstream, same run.

    .venv/bin/python bench/proxy_bench.py [--total 2000] [--json out.json]

Starts the stand-in provider (TLS, separate process), a bare ``mitmdump`` with no addon,
and ``govproxy run`` with its embedded defaults plus a provider entry for the stand-in;
sends the same 4 KB OpenAI-format chat request sequentially and with 8 concurrent
keep-alive clients; prints p50/p99/requests-per-second and the govproxy/mitmdump ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Result, build_request, run, write_json  # noqa: E402

from govproxy.launcher import ProxyProcess, free_port  # noqa: E402
from govproxy.standin import StandinProcess, make_test_certs  # noqa: E402


def prompt_4k(extra: str = "") -> bytes:
    filler = "Summarise the quarterly planning notes for the platform team. " * 60
    text = (extra + " " + filler)[:4000]
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()


def start_mitmdump(confdir: Path, cafile: str, *, lean: bool = False) -> tuple[subprocess.Popen[str], int]:
    """Stock mitmdump, or (``lean``) mitmproxy with govproxy run's addon set and no govproxy addon.

    The lean one separates what governance costs from what govproxy saves by loading fewer
    of mitmproxy's own addons (``src/govproxy/master.py``).
    """
    port = free_port()
    exe = Path(sys.executable).with_name("mitmdump")
    cmd = [str(exe)] if not lean else [sys.executable, "-c", "import sys; from govproxy.master import run_governed; run_governed(sys.argv[1:])"]
    proc = subprocess.Popen(
        [*cmd, "--listen-host", "127.0.0.1", "--listen-port", str(port), "--set", f"confdir={confdir}",
         "--set", f"ssl_verify_upstream_trusted_ca={cafile}", "--set", "flow_detail=0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "listening at" in line:
            return proc, port
    proc.kill()
    raise RuntimeError("mitmdump did not start")


def fmt(r: Result) -> str:
    return f"{r.name:<34} clients={r.clients:<2} p50={r.p50:7.2f} ms  p99={r.p99:7.2f} ms  {r.rps:8.1f} req/s  errors={r.errors}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=2000, help="requests per scenario")
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--scenarios", default="untouched,passthrough", help="comma list: untouched,passthrough,pii")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="govproxy-bench-"))
    certs = make_test_certs(work / "certs")
    cafile = str(certs.ca_cert)
    results: list[Result] = []
    with StandinProcess(tls=True, cert_dir=work / "certs") as upstream:
        host, port = "localhost", upstream.port
        body = prompt_4k()
        req = build_request(host, port, "/v1/chat/completions", body)

        def scenario(name: str, proxy: tuple[str, int] | None, ca: str, request: bytes = req) -> None:
            for clients in (1, 8):
                results.append(run(name, proxy=proxy, host=host, port=port, cafile=ca, request=request, clients=clients, total=args.total))
                print(fmt(results[-1]), flush=True)

        scenario("direct", None, cafile)

        mitm, mport = start_mitmdump(work / "mitm-conf", cafile)
        try:
            mitm_ca = str(work / "mitm-conf" / "mitmproxy-ca-cert.pem")
            scenario("bare mitmdump", ("127.0.0.1", mport), mitm_ca)
        finally:
            mitm.terminate()
            mitm.wait(10)

        if "untouched" in args.scenarios.split(","):
            # The addon on traffic it does not govern (intercepted anyway, to measure the
            # adapter's own hooks): what issue 2's "pass-through" costs without the pipeline.
            untouched = {"proxy": {"intercept_unknown_hosts": True}, "state": {"path": str(work / "state-untouched.sqlite3")},
                         "audit": {"path": str(work / "audit-u" / "govproxy.db"), "signing_key": str(work / "audit-u" / "signing.key")}}
            with ProxyProcess(work / "govproxy-untouched", untouched, mitm_options={"ssl_verify_upstream_trusted_ca": cafile}) as gu:
                scenario("govproxy (not governed, intercepted)", ("127.0.0.1", gu.port), str(gu.confdir / "mitmproxy-ca-cert.pem"))

        config = {
            "providers": {"bench": {"kind": "openai", "hosts": [f"{host}:{port}"], "region": "us"}},
            "state": {"path": str(work / "state.sqlite3")},
            "audit": {"path": str(work / "audit" / "govproxy.db"), "signing_key": str(work / "audit" / "signing.key")},
        }
        with ProxyProcess(work / "govproxy", config, mitm_options={"ssl_verify_upstream_trusted_ca": cafile}) as gp:
            gp_ca = str(gp.confdir / "mitmproxy-ca-cert.pem")
            for name in args.scenarios.split(","):
                if name == "passthrough":
                    scenario("govproxy (clean prompt)", ("127.0.0.1", gp.port), gp_ca)
                elif name == "pii":
                    pii = build_request(host, port, "/v1/chat/completions", prompt_4k(
                        "Contact jane.doe@example.com or +1 415 555 0134, card 4111 1111 1111 1111, IBAN DE89370400440532013000."))
                    scenario("govproxy (PII pseudonymised)", ("127.0.0.1", gp.port), gp_ca, pii)

    by = {(r.name, r.clients): r for r in results}
    print("\nratios govproxy / bare mitmdump")
    for name in sorted({r.name for r in results if r.name.startswith("govproxy")}):
        for clients in (1, 8):
            g, b = by.get((name, clients)), by.get(("bare mitmdump", clients))
            if g and b:
                print(f"  {name:<32} clients={clients}: p50 +{g.p50 - b.p50:.2f} ms ({g.p50 / b.p50:.2f}x), throughput {g.rps / b.rps * 100:.0f} %")
    if args.json:
        write_json(results, args.json)
    return 0


if __name__ == "__main__":
    os.environ.pop("HTTPS_PROXY", None)
    sys.exit(main())
