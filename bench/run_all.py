"""Run every govproxy benchmark in one go and write ``bench/RESULTS.md``.

    bench/run_all                        # the full report (~20-30 min on 2 cores)
    bench/run_all --quick                # small counts, to check the machinery (~3 min)
    bench/run_all --out /tmp/R.md        # write elsewhere

One TLS stand-in provider process serves every proxy benchmark (overhead, memory,
scale-out), so all proxy figures share an upstream; the in-process benchmarks (DLP,
policy, audit, translation, routing) run as their own scripts and their output is kept
verbatim. Each benchmark runs as a subprocess so that one failing does not lose the rest:
its exit status is reported in the file. Nothing here judges by a timer except the
targets table, which states the issue-7 targets next to what was measured, met or not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))

from govproxy.standin import StandinProcess, make_test_certs


@dataclass
class Run:
    name: str
    argv: list[str]
    code: int
    seconds: float
    output: str


def run_script(name: str, script: str, *args: str, timeout: float = 3600) -> Run:
    argv = [sys.executable, str(BENCH / script), *args]
    shown = " ".join(["bench/" + script, *args])
    print(f"\n=== {name}: {shown}", flush=True)
    t0 = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("https_proxy", "http_proxy", "all_proxy")}
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env, check=False)
        code, out = proc.returncode, proc.stdout + (f"\n[stderr]\n{proc.stderr}" if proc.returncode and proc.stderr else "")
    except subprocess.TimeoutExpired as exc:
        code, out = -1, f"{exc.stdout or ''}\n[timed out after {timeout:.0f} s]"
    took = time.monotonic() - t0
    print(out.rstrip()[-3000:], flush=True)
    print(f"=== {name}: exit {code} in {took:.0f} s", flush=True)
    return Run(name, [shown], code, took, out if isinstance(out, str) else out.decode())


def machine() -> dict[str, str]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), "unknown")
    import mitmproxy.version

    hap = shutil.which("haproxy") or "/usr/sbin/haproxy"
    hap_version = subprocess.run([hap, "-v"], capture_output=True, text=True, check=False).stdout.splitlines()[0] if Path(hap).exists() else "not installed"
    mem_kb = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal:")), 0)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src"], capture_output=True, text=True, cwd=ROOT, check=False).stdout.strip()
    return {
        "code": f"commit {head or 'unknown'}" + (" plus uncommitted changes under src/" if dirty else ""),
        "cores (nproc)": str(os.cpu_count()),
        "CPU": cpu,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "mitmproxy": mitmproxy.version.VERSION,
        "HAProxy": hap_version,
    }


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# --- markdown rendering ---------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("**met**" if ok else "**not met**")


def ratio_lines(output: str) -> list[str]:
    """overhead_bench's ratio blocks (they carry each interleaved round's throughput ratio)."""
    keep, out = False, []
    for ln in output.splitlines():
        if ln.startswith("ratios "):
            keep = True
        elif keep and not ln.startswith("  "):
            keep = ln.strip() == "" and bool(out)
            if not keep:
                continue
        if keep and ln.strip():
            out.append(ln.rstrip())
    return out


def proxy_table(rows: list[dict[str, Any]]) -> list[str]:
    base = {r["clients"]: r for r in rows if r["name"] == "bare mitmdump"}
    out = ["| target | clients | p50 ms | p99 ms | req/s | errors | p50 vs bare mitmdump | throughput vs bare mitmdump |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        b = base.get(r["clients"])
        rel = f"{r['p50_ms'] - b['p50_ms']:+.2f} ms ({r['p50_ms'] / b['p50_ms']:.2f}x)" if b else ""
        thr = f"{r['rps'] / b['rps'] * 100:.0f} %" if b else ""
        out.append(f"| {r['name']} | {r['clients']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['rps']:.0f} | {r['errors']} | {rel} | {thr} |")
    return out


def targets(overhead: list[dict[str, Any]] | None, memory: dict[str, Any] | None) -> list[str]:
    out = ["| issue-7 target | measured | verdict |", "|---|---|---|"]
    by = {(r["name"], r["clients"]): r for r in overhead or []}

    def pair(name: str, clients: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        g, b = by.get((name, clients)), by.get(("bare mitmdump", clients))
        return (g, b) if g and b else None

    clean1, clean8 = pair("govproxy (clean prompt)", 1), pair("govproxy (clean prompt)", 8)
    pii1 = pair("govproxy (PII pseudonymised)", 1)
    if clean1:
        d = clean1[0]["p50_ms"] - clean1[1]["p50_ms"]
        out.append(f"| clean 4 KB prompt, DLP + policy + audit: ≤ 0.5 ms added p50 over bare mitmdump (sequential) | {d:+.2f} ms ({clean1[0]['p50_ms']:.2f} vs {clean1[1]['p50_ms']:.2f} ms) | {verdict(d <= 0.5)} |")
    for label, pr in (("sequential", clean1), ("8 concurrent clients", clean8)):
        if pr:
            pct = pr[0]["rps"] / pr[1]["rps"] * 100
            out.append(f"| clean 4 KB prompt: ≥ 85 % of bare mitmdump's throughput ({label}) | {pct:.0f} % ({pr[0]['rps']:.0f} vs {pr[1]['rps']:.0f} req/s) | {verdict(pct >= 85)} |")
    for label, clients in (("sequential", 1), ("8 concurrent clients", 8)):
        g, lean = by.get(("govproxy (clean prompt)", clients)), by.get(("mitmproxy, govproxy's addon set", clients))
        if g and lean:
            out.append(f"| (diagnostic, not the target) clean 4 KB prompt against mitmproxy with govproxy run's addon set, i.e. governance alone ({label}) "
                       f"| {g['p50_ms'] - lean['p50_ms']:+.2f} ms p50, {g['rps'] / lean['rps'] * 100:.0f} % throughput | — |")
    if pii1:
        d = pii1[0]["p50_ms"] - pii1[1]["p50_ms"]
        out.append(f"| 4 KB prompt with PII pseudonymisation: ≤ 1.5 ms added p50 (sequential) | {d:+.2f} ms ({pii1[0]['p50_ms']:.2f} vs {pii1[1]['p50_ms']:.2f} ms) | {verdict(d <= 1.5)} |")
    if memory:
        g = memory["growth_pct"]
        out.append(f"| memory stable: ≤ 10 % RSS growth after warm-up over {memory['requests']:,} requests | {g:+.1f} % ({memory['warm_mb']:.1f} → {memory['end_mb']:.1f} MB, peak {memory['peak_mb']:.1f} MB) | {verdict(g <= 10)} |")
    if len(out) == 2:
        out.append("| (the proxy benchmarks did not produce results; see below) | | |")
    return out


def memory_table(m: dict[str, Any]) -> list[str]:
    out = [(f"RSS of the `govproxy run` process (VmRSS): {m['start_mb']:.1f} MB at start, {m['warm_mb']:.1f} MB after {m['warmup']:,} warm-up requests; "
           f"{m['clients']} clients, traffic rotating clean / PII / rerouted in chunks; {m['errors']} non-200 responses."), "",
           "| requests after warm-up | RSS MB | vs warm-up | elapsed s |", "|---:|---:|---:|---:|"]
    for s in m["samples"]:
        out.append(f"| {s['requests']:,} | {s['rss_mb']:.1f} | {(s['rss_mb'] - m['warm_mb']) / m['warm_mb'] * 100:+.1f} % | {s['elapsed_s']:.0f} |")
    return out


def scaleout_table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| setup | clients | p50 ms | p99 ms | req/s | errors | throughput vs 1 instance |", "|---|---:|---:|---:|---:|---:|---:|"]
    one = rows[0]["rps"] if rows else 0
    for r in rows:
        out.append(f"| {r['name']} | {r['clients']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['rps']:.0f} | {r['errors']} | {r['rps'] / one:.2f}x |")
    return out


def policy_table(data: dict[str, Any]) -> list[str]:
    cols = ["build_input", "embedded_cold", "embedded_async", "embedded_cached", "cached_varying", "ipc_floor", "opa_rest_canned", "opa_rest_regopy"]
    out = ["p50 / p99 in µs per decision.", "",
           "| scenario | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for scenario, paths in data.get("results", {}).items():
        cells = [f"{paths[c]['p50_us']:.0f} / {paths[c]['p99_us']:.0f}" if c in paths else "" for c in cols]
        out.append(f"| {scenario} | " + " | ".join(cells) + " |")
    out += ["", ("`embedded_cached` is what live traffic mostly pays (the decision cache hits when the inputs the policy reads repeat); "
            "`embedded_cold` is a cache miss: IPC to the isolated regopy worker + evaluation + validation.")]
    pairs = data.get("pairs") or {}
    if pairs:
        out += ["", "Two cold decisions at once (all four scenarios, asyncio): " + "; ".join(
            f"{k} p50 {v['p50_us']:.0f} / p99 {v['p99_us']:.0f} µs" for k, v in pairs.items()) + "."]
    live = data.get("live_mix")
    if live:
        line = (f"Live-traffic mix (a seeded stream of {live['n']:.0f} requests across tenants, providers, models and "
                f"sensitivities at {live['rate_per_s']:.0f}/s, decision cache on as in production): p50 {live['p50_us']:.0f} µs, "
                f"p99 {live['p99_us']:.0f} µs, cache hit rate {live['hit_rate']:.1%}, errors {live['errors']:.0f}")
        if "misses" in live:
            line += f"; the {live['misses']:.0f} misses: p50 {live['miss_p50_us']:.0f} µs, p99 {live['miss_p99_us']:.0f} µs"
        out += ["", line + "."]
    return out


def fenced(text: str) -> list[str]:
    return ["```", text.strip("\n"), "```"]


def target_lines(runs: list[Run]) -> list[str]:
    out = []
    for r in runs:
        for line in r.output.splitlines():
            if "target" in line.lower() and not line.lstrip().startswith(("Targets", "Target (")):
                out.append(f"- {r.name}: `{line.strip()}`")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts: checks the machinery, figures are not for the report")
    ap.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    ap.add_argument("--total", type=int, help="requests per proxy scenario (default 2000; quick 200)")
    ap.add_argument("--memory-requests", type=int, help="requests through govproxy for the memory run (default 100000; quick 3000)")
    args = ap.parse_args()
    total = args.total or (200 if args.quick else 2000)
    mem_n = args.memory_requests or (3000 if args.quick else 100_000)
    mem_chunk = max(1000, mem_n // 20)

    started = dt.datetime.now(dt.UTC)
    load_start = os.getloadavg()
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="govproxy-run-all-"))
    certs = work / "certs"
    make_test_certs(certs)
    runs: list[Run] = []
    with StandinProcess(tls=True, cert_dir=certs) as up:
        shared = ["--upstream-port", str(up.port), "--cert-dir", str(certs)]
        runs.append(run_script("proxy overhead", "overhead_bench.py", "--total", str(total), "--json", str(work / "overhead.json"), *shared))
        runs.append(run_script("scale-out", "scaleout_bench.py", "--total", str(total * 2), "--json", str(work / "scaleout.json"), *shared))
        runs.append(run_script("memory", "memory_bench.py", "--requests", str(mem_n), "--warmup", str(min(5000, mem_n // 4)),
                               "--chunk", str(mem_chunk), "--json", str(work / "memory.json"), *shared))
    runs.append(run_script("DLP throughput", "dlp_speed.py", *(["--quick"] if args.quick else [])))
    runs.append(run_script("policy decision latency", "policy_bench.py", "--n", "50" if args.quick else "300", "--json"))
    runs.append(run_script("audit", "audit_bench.py", "--appends", "5000" if args.quick else "20000", "--verify-count", "20000" if args.quick else "200000"))
    runs.append(run_script("translation", "translate_bench.py", "--iterations", "300" if args.quick else "5000"))
    runs.append(run_script("routing", "routing_bench.py", "--n", "200" if args.quick else "2000"))
    finished = dt.datetime.now(dt.UTC)
    load_end = os.getloadavg()

    overhead = load_json(work / "overhead.json")
    memory = load_json(work / "memory.json")
    scaleout = load_json(work / "scaleout.json")
    by_name = {r.name: r for r in runs}
    policy = None
    try:
        text = by_name["policy decision latency"].output
        policy = json.loads(text[text.index("{"): text.rindex("}") + 1])
    except ValueError:
        pass

    cmd = "bench/run_all" + (" " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "")
    md: list[str] = [
        "# govproxy benchmark results",
        "",
        (f"Produced by `{cmd}` on {started:%Y-%m-%d} between {started:%H:%M} and {finished:%H:%M} UTC "
        f"({(finished - started).total_seconds() / 60:.0f} min). Regenerate with:"),
        "",
        "```sh",
        "bench/run_all            # writes bench/RESULTS.md; needs the haproxy binary for the scale-out table",
        "```",
        "",
        "## Machine",
        "",
        *[f"- **{k}**: {v}" for k, v in info.items()],
        (f"- **load average** (1/5/15 min) at start {load_start[0]:.1f} / {load_start[1]:.1f} / {load_start[2]:.1f}, "
        f"at end {load_end[0]:.1f} / {load_end[1]:.1f} / {load_end[2]:.1f}"),
        "",
        ("Every server, the load generator and the proxies share these cores over loopback; a load average above the "
        "core count means other work was running too, which inflates latencies and deflates throughput for *all* rows. "
        "Compare rows of one run (same upstream, same minutes), not runs."),
        "",
    ]
    if args.quick:
        md += ["> **Quick run**: small counts to check the machinery; these figures are not the report.", ""]
    md += ["## Issue-7 targets", "", *targets(overhead, memory), ""]
    md += [
        "Targets of the earlier issues, as each subsystem's benchmark prints them (same run):",
        "",
        *(target_lines([r for r in runs if r.name in ("DLP throughput", "audit", "translation")]) or ["- (none printed)"]),
        "",
        "## Proxy overhead: direct vs bare mitmdump vs govproxy",
        "",
        ("One TLS stand-in provider for every row. The same 4 KB OpenAI chat request over keep-alive connections, "
        f"{total:,} requests per row (`bench/overhead_bench.py`, driving `bench/loadgen.py`): every proxy runs at once and "
        "each row pools 4 interleaved rounds (target order reversed every other round, 100 warm-up requests first, 20 per "
        "later round), so a ratio compares the same minutes; the per-round ratios are in the log below. "
        "govproxy runs with its defaults: DLP, the embedded Rego policy set, the signed audit trail. "
        "*PII* adds an e-mail address, phone number, card number and IBAN (pseudonymised out, restored back); "
        "*rerouted* is an EU tenant's request to the \"us\" provider, sent by govproxy's relay to an \"eu\" provider "
        "on the same stand-in with the proxy's own key. "
        "*mitmproxy, govproxy's addon set* is mitmproxy as `govproxy run` runs it, with no govproxy addon: only the "
        "addons it keeps (it leaves out those that store or rewrite traffic outside governance, "
        "`src/govproxy/master.py`) and its event dispatch (`src/govproxy/dispatch.py`). The difference between it "
        "and govproxy is what governance alone costs; the targets compare with stock mitmdump, so part of what "
        "govproxy wins back there comes from running mitmproxy leaner, and these rows show how much."),
        "",
    ]
    md += proxy_table(overhead) if overhead else ["(no results: see the log below)"]
    md += ["", "*errors* counts non-200 responses. " + " ".join(
        ln.strip() for ln in by_name["proxy overhead"].output.splitlines() if ln.startswith("proxy log:"))]
    md += ["", "Throughput ratio of each round (sorted), and the pooled figures above:", "", "```",
           *ratio_lines(by_name["proxy overhead"].output), "```"]
    md += ["", "## Scale-out: 1 vs 2 govproxy instances behind HAProxy (TCP mode)", "",
           ("HAProxy on loopback in TCP mode, round robin per connection; it never sees inside the TLS tunnels. "
           "Clean 4 KB prompt, 8 concurrent clients (`bench/scaleout_bench.py`). On 2 cores the load generator, "
           "the stand-in and the balancer compete with the proxies for the same CPUs, so a second instance can only "
           "turn the idle share of the cores into throughput."), ""]
    md += scaleout_table(scaleout) if scaleout else ["(no results: see the log below)"]
    md += ["", *[f"- {ln.strip()}" for ln in by_name["scale-out"].output.splitlines() if ln.startswith("instance ")]]
    md += ["", f"## Memory over {mem_n:,} requests", "", *(memory_table(memory) if memory else ["(no results: see the log below)"]),
           "", "The memory run's own output (it names the cause of any non-200 responses from the proxy's log):", "",
           *fenced(by_name["memory"].output)]
    md += ["", "## Policy decision latency (`bench/policy_bench.py`)", "", *(policy_table(policy) if policy else fenced(by_name["policy decision latency"].output))]
    for name, script in (("DLP throughput", "dlp_speed.py"), ("audit", "audit_bench.py"), ("translation", "translate_bench.py"), ("routing", "routing_bench.py")):
        title = {"audit": "Audit: appends/s, added latency, verification speed", "translation": "Translation", "routing": "Routing",
                 "DLP throughput": "DLP throughput"}[name]
        md += ["", f"## {title} (`bench/{script}`)", "", *fenced(by_name[name].output)]
    md += ["", "## Runs", "", "| benchmark | command | exit | seconds |", "|---|---|---:|---:|"]
    md += [f"| {r.name} | `{r.argv[0]}` | {r.code} | {r.seconds:.0f} |" for r in runs]
    md += ["", "The proxy benchmarks were given `--upstream-port/--cert-dir` of the one shared stand-in process.", ""]
    args.out.write_text("\n".join(md))
    print(f"\nwrote {args.out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r.code == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
