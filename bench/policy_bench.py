"""Decision latency of the shipped policies: embedded (regopy in the isolated worker) and OPA REST.

    .venv/bin/python bench/policy_bench.py [--n 300] [--mix-n 5000] [--mix-rate 500] [--json]

Prints p50/p99 per path on realistic inputs (default provider catalogue, four scenarios:
public, critical -> local, EU tenant rerouted, tenant denied), next to baselines measured
in the same run:

  build_input        building PolicyInput from the pipeline objects (paid with or without a policy)
  regopy_inproc      the same policy evaluated in this process (no IPC, no isolation)
  embedded_cold      PolicyDecider.decide_sync, cache off: IPC + regopy + validation
  embedded_async     PolicyDecider.decide (asyncio), cache off
  embedded_cached    PolicyDecider.decide_sync, repeated input served by the decision cache
  cached_varying     the same, each request with a different token estimate (a field the
                     shipped set declares unread in cache_ignore): the live-traffic case
  ipc_floor          the worker round trip on a trivial policy with this input: the isolation's
                     own cost plus converting the input to rego-cpp's form in the worker
  ipc_empty          the same trivial policy with input {} sent straight to the worker: the
                     pipe round trip and a minimal rego-cpp query, nothing else
  input_convert      converting this input to rego-cpp's form (in process, no query): the part
                     of ipc_floor and embedded_cold that grows with the input
  opa_rest_canned    OpaEngine over loopback HTTP to a stand-in that answers a fixed decision
                     (the REST path's own cost; a real OPA adds its evaluation time)
  opa_rest_regopy    the same stand-in evaluating the shipped policy with regopy

and, separately, a realistic live-traffic mix (``live_mix``): a seeded stream of
requests across tenants, apps, providers, models and sensitivities, decided through
``PolicyDecider.decide`` (asyncio, as the proxy does) with the decision cache on as in
production, paced at ``--mix-rate`` requests/s (the cache TTL is wall-clock, so the
rate sets the hit rate). It reports p50/p99 over all requests, the cache hit rate,
and p50/p99 of the misses alone. It is reported beside the cold rows, never instead.

``pairs_workers_1`` / ``pairs_workers_2``: two cold decisions issued at once (asyncio),
through a pool of one and of two policy workers: per-decision p50/p99 (with one worker
the second decision queues behind the first).

Nothing here asserts; the figures are for the report. The machine's load changes them
(2 shared cores): compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from govproxy.config import settings_from_dict
from govproxy.models import EndpointKind, Identity, LLMRequest, ProviderKind
from govproxy.policy import PolicyConfig, PolicyDecider, PolicyInput, build_policy_input
from govproxy.policy.rego import CompiledPolicy, set_input_value
from govproxy.policy.source import load_source

POLICIES = REPO / "policies"
SETTINGS = settings_from_dict({"tenants": {"eu": {"residency": ["eu"]}, "locked": {"deny_providers": ["openai"]}}})


def scenario_inputs() -> list[tuple[str, Callable[[], PolicyInput]]]:
    def make(tenant: str, sensitivity: str, findings: dict[str, int]) -> Callable[[], PolicyInput]:
        req = LLMRequest(provider="openai", provider_kind=ProviderKind.OPENAI, endpoint=EndpointKind.CHAT,
                         method="POST", scheme="https", host="api.openai.com", port=443,
                         path="/v1/chat/completions", model="gpt-4o-mini", token_estimate=900,
                         identity=Identity(tenant=tenant, app="bench", source="127.0.0.1:50000"))

        def build() -> PolicyInput:
            return build_policy_input(req, sensitivity=sensitivity, finding_counts=findings,
                                      categories={"pii"} if findings else set(), dlp_error=False,
                                      settings=SETTINGS, mode="proxy", now=datetime.now(UTC))

        return build

    return [
        ("public", make("default", "public", {})),
        ("critical_to_local", make("default", "critical", {"PRIVATE_KEY": 1})),
        ("eu_rerouted", make("eu", "confidential", {"EMAIL": 2, "PERSON": 1})),
        ("tenant_denied", make("locked", "internal", {"EMAIL": 1})),
    ]


def timed(fn: Callable[[], Any], n: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e6)
    return out


def stats(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50_us": statistics.median(s), "p99_us": s[min(len(s) - 1, int(len(s) * 0.99))], "n": len(s)}


MIX_SETTINGS = settings_from_dict({"tenants": {
    "eu": {"residency": ["eu"]},
    "locked": {"deny_providers": ["openai", "deepseek"]},
    "models": {"allow_models": ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "mistral-large-latest"]},
}})
# (tenant, weight), (provider, kind, host, path, models), (sensitivity, weight, findings)
MIX_TENANTS = [("default", 50), ("eu", 20), ("locked", 10), ("models", 10), ("unknown-team", 10)]
MIX_APPS = ["support-bot", "code-assist", "summariser", "search", "batch-etl", None]
MIX_TARGETS: list[tuple[str, ProviderKind, str, str, list[str], int]] = [
    ("openai", ProviderKind.OPENAI, "api.openai.com", "/v1/chat/completions", ["gpt-4o-mini", "gpt-4o", "o3-mini"], 45),
    ("anthropic", ProviderKind.ANTHROPIC, "api.anthropic.com", "/v1/messages", ["claude-sonnet-4-5", "claude-haiku-4-5"], 25),
    ("mistral", ProviderKind.OPENAI_COMPATIBLE, "api.mistral.ai", "/v1/chat/completions", ["mistral-large-latest"], 10),
    ("groq", ProviderKind.OPENAI_COMPATIBLE, "api.groq.com", "/openai/v1/chat/completions",
     ["llama-3.3-70b-versatile"], 10),
    ("gemini", ProviderKind.GEMINI, "generativelanguage.googleapis.com",
     "/v1beta/models/gemini-2.5-flash:generateContent", ["gemini-2.5-flash"], 10),
]
MIX_SENSITIVITY: list[tuple[str, int, list[dict[str, int]]]] = [
    ("public", 60, [{}]),
    ("internal", 20, [{"PERSON": 1}, {"EMAIL": 1}, {"EMAIL": 2, "PERSON": 1}]),
    ("confidential", 15, [{"EMAIL": 1, "IBAN": 1}, {"PHONE": 1, "PERSON": 2}]),
    ("critical", 5, [{"PRIVATE_KEY": 1}, {"AWS_KEY": 1}]),
]


def live_mix_inputs(n: int, seed: int = 7) -> list[Callable[[], PolicyInput]]:
    """A seeded request stream: skewed toward a few tenants, providers and models, as
    traffic is, with a varying token estimate and wall-clock time on every request."""
    rng = random.Random(seed)
    out: list[Callable[[], PolicyInput]] = []
    for _ in range(n):
        tenant = rng.choices([t for t, _ in MIX_TENANTS], [w for _, w in MIX_TENANTS])[0]
        name, kind, host, path, models, _ = rng.choices(MIX_TARGETS, [t[5] for t in MIX_TARGETS])[0]
        level, _, findings_pool = rng.choices(MIX_SENSITIVITY, [w for _, w, _ in MIX_SENSITIVITY])[0]
        findings = rng.choice(findings_pool)
        endpoint = EndpointKind.MESSAGES if kind == ProviderKind.ANTHROPIC else EndpointKind.CHAT
        req = LLMRequest(provider=name, provider_kind=kind, endpoint=endpoint, method="POST", scheme="https",
                         host=host, port=443, path=path, model=rng.choice(models),
                         token_estimate=rng.randint(20, 6000), stream=rng.random() < 0.3,
                         identity=Identity(tenant=tenant, app=rng.choice(MIX_APPS),
                                           source=f"10.0.{rng.randint(0, 9)}.{rng.randint(2, 250)}:{rng.randint(30000, 60000)}"))

        def build(req: LLMRequest = req, level: str = level, findings: dict[str, int] = findings) -> PolicyInput:
            return build_policy_input(req, sensitivity=level, finding_counts=findings,
                                      categories={"pii"} if findings else set(), dlp_error=False,
                                      settings=MIX_SETTINGS, mode="proxy", now=datetime.now(UTC))

        out.append(build)
    return out


async def run_pairs(decider: PolicyDecider, pins: list[PolicyInput], n: int) -> dict[str, float]:
    """Two different cold decisions at once, n times; the latency of each decision."""
    out: list[float] = []

    async def one(pin: PolicyInput) -> None:
        t = time.perf_counter()
        await decider.decide(pin)
        out.append((time.perf_counter() - t) * 1e6)

    for i in range(n):
        await asyncio.gather(one(pins[i % len(pins)]), one(pins[(i + 1) % len(pins)]))
    return stats(out)


def wait_ready(decider: PolicyDecider, limit_s: float = 60.0) -> None:
    """Measure a full pool, not one still compiling its spare in the background."""
    deadline = time.monotonic() + limit_s
    while not decider.engine.ready() and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)


async def run_live_mix(decider: PolicyDecider, builds: list[Callable[[], PolicyInput]],
                       rate: float) -> dict[str, float]:
    """Decide each request at its arrival time; only the decide call is timed."""
    hits_before = decider.counters["cache_hits"]
    errors_before = decider.counters["errors"]
    all_us: list[float] = []
    miss_us: list[float] = []
    start = time.perf_counter()
    for i, build in enumerate(builds):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pin = build()
        hits = decider.counters["cache_hits"]
        t = time.perf_counter()
        await decider.decide(pin)
        us = (time.perf_counter() - t) * 1e6
        all_us.append(us)
        if decider.counters["cache_hits"] == hits:
            miss_us.append(us)
    row = stats(all_us)
    row["hit_rate"] = (decider.counters["cache_hits"] - hits_before) / len(builds)
    row["errors"] = decider.counters["errors"] - errors_before
    row["rate_per_s"] = rate
    if miss_us:
        miss = stats(miss_us)
        row["miss_p50_us"], row["miss_p99_us"], row["misses"] = miss["p50_us"], miss["p99_us"], miss["n"]
    return row


class _Standin(BaseHTTPRequestHandler):
    compiled: CompiledPolicy | None = None
    canned = json.dumps({"result": {"allow": True}}).encode()
    protocol_version = "HTTP/1.1"  # keep-alive, like OPA
    disable_nagle_algorithm = True  # one small response per request: no 40 ms delayed-ACK stalls

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.compiled is None:
            raw = self.canned
        else:
            result = self.compiled.evaluate(json.loads(body)["input"])
            raw = json.dumps({"result": result.value} if result.kind == "value" else {}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="samples per scenario and path")
    ap.add_argument("--mix-n", type=int, default=5000, help="requests in the live-traffic mix (0 skips it)")
    ap.add_argument("--mix-rate", type=float, default=500.0, help="live-traffic mix arrival rate, requests/s")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()

    results: dict[str, dict[str, dict[str, float]]] = {}
    source = load_source(POLICIES)
    inproc = CompiledPolicy(source.modules, source.data, "data.govproxy.decision")
    cold = PolicyDecider(PolicyConfig(path=str(POLICIES), hot_reload=False, timeout_ms=5000, cache_ttl_s=0))
    cached = PolicyDecider(PolicyConfig(path=str(POLICIES), hot_reload=False, timeout_ms=5000))
    trivial_dir = Path(tempfile.mkdtemp(prefix="govproxy-bench-"))
    (trivial_dir / "govproxy").mkdir()
    (trivial_dir / "govproxy" / "d.rego").write_text('package govproxy\n\ndecision := {"allow": true}\n')
    trivial = PolicyDecider(PolicyConfig(path=str(trivial_dir), hot_reload=False, timeout_ms=5000, cache_ttl_s=0))
    canned_server, canned_url = serve(_Standin)

    class _Evaluating(_Standin):
        compiled = inproc

    eval_server, eval_url = serve(_Evaluating)
    for d in (cold, cached, trivial):
        wait_ready(d)
    opa_canned = PolicyDecider(PolicyConfig(engine="opa", opa_url=canned_url, path=str(POLICIES),
                                            timeout_ms=5000, cache_ttl_s=0))
    opa_eval = PolicyDecider(PolicyConfig(engine="opa", opa_url=eval_url, path=str(POLICIES),
                                          timeout_ms=5000, cache_ttl_s=0))
    try:
        for name, build in scenario_inputs():
            pin = build()
            doc = json.loads(pin.model_dump_json())
            check = cold.decide_sync(pin)
            assert check.error is None, check.error
            row: dict[str, dict[str, float]] = {}
            row["build_input"] = stats(timed(build, args.n))
            row["regopy_inproc"] = stats(timed(lambda doc=doc: inproc.evaluate(doc), args.n))
            row["embedded_cold"] = stats(timed(lambda d=cold, pin=pin: d.decide_sync(pin), args.n))

            async def run_async() -> list[float]:
                out = []
                for _ in range(args.n):
                    t = time.perf_counter()
                    await cold.decide(pin)  # noqa: B023 - awaited inside this iteration
                    out.append((time.perf_counter() - t) * 1e6)
                return out

            row["embedded_async"] = stats(asyncio.run(run_async()))
            row["embedded_cached"] = stats(timed(lambda d=cached, pin=pin: d.decide_sync(pin), args.n))
            varying = [pin.model_copy(update={"request": pin.request.model_copy(update={"token_estimate": 100 + i})})
                       for i in range(args.n + 20)]
            it = iter(varying)
            row["cached_varying"] = stats(timed(lambda d=cached, it=it: d.decide_sync(next(it)), args.n))
            row["ipc_floor"] = stats(timed(lambda d=trivial, pin=pin: d.decide_sync(pin), args.n))
            row["ipc_empty"] = stats(timed(lambda d=trivial: d.engine.evaluate_json_sync(b"{}", 5.0), args.n))
            row["input_convert"] = stats(timed(lambda doc=doc: set_input_value(inproc._interp, doc), args.n))
            row["opa_rest_canned"] = stats(timed(lambda d=opa_canned, pin=pin: d.decide_sync(pin), args.n))
            row["opa_rest_regopy"] = stats(timed(lambda d=opa_eval, pin=pin: d.decide_sync(pin), max(50, args.n // 3)))
            row["_meta"] = {"input_bytes": len(pin.model_dump_json()), "providers": len(pin.providers),
                            "allow": check.allow, "route": check.route.provider if check.route else None}
            results[name] = row
        pairs: dict[str, dict[str, float]] = {}
        pair_pins = [build() for _, build in scenario_inputs()]
        for workers in (1, 2):
            pool = PolicyDecider(PolicyConfig(path=str(POLICIES), hot_reload=False, timeout_ms=5000,
                                              cache_ttl_s=0, workers=workers))
            try:
                wait_ready(pool)
                pairs[f"pairs_workers_{workers}"] = asyncio.run(run_pairs(pool, pair_pins, max(50, args.n // 2)))
            finally:
                pool.close()
        live: dict[str, float] | None = None
        if args.mix_n > 0:
            # A fresh decider: production settings (cache on, default TTL and size).
            mix_decider = PolicyDecider(PolicyConfig(path=str(POLICIES), hot_reload=False))
            try:
                wait_ready(mix_decider)
                live = asyncio.run(run_live_mix(mix_decider, live_mix_inputs(args.mix_n), args.mix_rate))
            finally:
                mix_decider.close()
    finally:
        for d in (cold, cached, trivial, opa_canned, opa_eval):
            d.close()
        canned_server.shutdown()
        eval_server.shutdown()

    if args.json:
        print(json.dumps({"load_avg": os.getloadavg(), "results": results, "pairs": pairs, "live_mix": live},
                         indent=2))
        return 0
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; n={args.n} per cell; microseconds")
    for name, row in results.items():
        meta = row.pop("_meta")
        print(f"\n{name}: {meta}")
        base = row["build_input"]["p50_us"]
        for path, st in row.items():
            print(f"  {path:<17} p50 {st['p50_us']:8.0f}   p99 {st['p99_us']:8.0f}"
                  + (f"   x{st['p50_us'] / base:5.1f} of build_input" if path != "build_input" else ""))
    print("\nconcurrency (two cold decisions at once, all four scenarios, asyncio):")
    for path, st in pairs.items():
        print(f"  {path:<17} p50 {st['p50_us']:8.0f}   p99 {st['p99_us']:8.0f}")
    if live is not None:
        print(f"\nlive_mix (seeded stream of {live['n']:.0f} requests at {live['rate_per_s']:.0f}/s; "
              "decision cache on as in production; embedded, asyncio decide):")
        print(f"  all requests      p50 {live['p50_us']:8.0f}   p99 {live['p99_us']:8.0f}   "
              f"cache hit rate {live['hit_rate']:.1%}   errors {live['errors']:.0f}")
        if "misses" in live:
            print(f"  cache misses      p50 {live['miss_p50_us']:8.0f}   p99 {live['miss_p99_us']:8.0f}   "
                  f"({live['misses']:.0f} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
