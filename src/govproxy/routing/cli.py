"""Routing commands: ``explain REQUEST_ID`` (why a request went where it did),
``budget`` (spend against limits) and ``circuits`` (provider health), all read from the
configured state store — the same one every instance writes, so any host can answer."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from govproxy.config import ConfigError, Settings, load_settings
from govproxy.routing.breaker import CircuitBreakers
from govproxy.routing.budgets import BudgetTracker, ScopeBudget
from govproxy.routing.config import RoutingSettings, load_routing_settings
from govproxy.routing.cost import format_usd
from govproxy.routing.explain import ExplanationStore, InvalidRequestId
from govproxy.routing.store import StateStore, StateStoreError, open_state_store


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "explain",
        help="show why a request was routed where it was",
        description="Print the stored explanation of one request: policy rules fired, candidates, scores, attempts.",
    )
    p.add_argument("request_id", metavar="REQUEST_ID")
    p.add_argument("-c", "--config", default=None, help="govproxy YAML (default: ./govproxy.yaml if present)")
    p.add_argument("--json", action="store_true", help="print the raw explanation as JSON")
    p.set_defaults(func=_explain)

    b = subparsers.add_parser(
        "budget",
        help="show budget use per tenant and provider",
        description="Spend and tokens today and this month (UTC) against the configured limits.",
    )
    b.add_argument("--tenant", action="append", default=None, help="tenant to show (repeatable; default: all with a budget)")
    b.add_argument("--provider", action="append", default=None, help="provider to show (repeatable; default: all with a budget)")
    b.add_argument("-c", "--config", default=None, help="govproxy YAML (default: ./govproxy.yaml if present)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_budget)

    c = subparsers.add_parser("circuits", help="show each provider's circuit breaker state")
    c.add_argument("-c", "--config", default=None, help="govproxy YAML (default: ./govproxy.yaml if present)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_circuits)


def _open(args: argparse.Namespace, command: str) -> tuple[Settings, RoutingSettings, StateStore] | None:
    try:
        settings = load_settings(args.config)
        rs = load_routing_settings(settings, source=args.config or "govproxy.yaml")
        return settings, rs, open_state_store(rs.state)
    except (ConfigError, StateStoreError) as exc:
        print(f"govproxy {command}: {exc}", file=sys.stderr)
        return None


def _budget(args: argparse.Namespace) -> int:
    opened = _open(args, "budget")
    if opened is None:
        return 2
    settings, _rs, store = opened
    tenants = args.tenant or [n for n, t in settings.tenants.items() if t.budget is not None]
    providers = args.provider or [n for n, p in settings.providers.items() if p.budget is not None]
    tracker = BudgetTracker(store, providers=settings.providers, tenants=settings.tenants)
    try:
        rows: list[ScopeBudget] = []
        for t in tenants:
            rows.append(tracker.state(t, "-").tenant)
        for p in providers:
            rows.append(tracker.state("-", p).provider)
    finally:
        store.close()
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2, sort_keys=True))
        return 0
    if not rows:
        print("no budgets configured (tenants.<name>.budget / providers.<name>.budget)")
        return 0
    for r in rows:
        flag = "EXHAUSTED" if r.exhausted else ("warn" if r.warn else "ok")
        lines = [f"{r.scope} {r.name}: {flag}"]
        for key, w in r.windows.items():
            fmt = format_usd if w.unit == "usd_micro" else str
            limit = "no limit" if w.limit is None else f"of {fmt(w.limit)} ({w.percent}%)"
            lines.append(f"  {key:<15} {fmt(w.used)} {limit}")
        print("\n".join(lines))
    return 0


def _circuits(args: argparse.Namespace) -> int:
    opened = _open(args, "circuits")
    if opened is None:
        return 2
    settings, rs, store = opened
    try:
        health = CircuitBreakers(store, rs.routing.breaker).health_many(settings.providers)
    finally:
        store.close()
    if args.json:
        print(json.dumps({p: h.for_policy() for p, h in health.items()}, indent=2, sort_keys=True))
        return 0
    for p, h in health.items():
        extra = f", {h.consecutive_failures} consecutive failures" if h.consecutive_failures else ""
        wait = f", asked to retry after {h.retry_after_s} s" if h.retry_after_s else ""
        print(f"{p:<16} {h.circuit.value}{extra}{wait}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    opened = _open(args, "explain")
    if opened is None:
        return 2
    _settings, _rs, store = opened
    try:
        doc = ExplanationStore(store).get(args.request_id)
    except InvalidRequestId as exc:
        print(f"govproxy explain: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if doc is None:
        print(f"govproxy explain: no explanation stored for request {args.request_id!r}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        print(render_explanation(args.request_id, doc))
    return 0


def render_explanation(request_id: str, doc: dict[str, Any]) -> str:
    lines = [f"request {request_id}"]
    rest = {k: v for k, v in doc.items() if k not in ("routing", "usage")}
    policy = rest.pop("policy", None)
    if policy is not None:
        lines.append("policy:")
        lines += _indent_json(policy)
    routing = doc.get("routing") or {}
    cands = routing.get("candidates") or []
    if cands:
        lines.append("candidates (best first):")
        for i, c in enumerate(cands, 1):
            lines.append(f"  {i}. {c.get('name')} -> {c.get('model')}: {c.get('reason')}")
    attempts = routing.get("attempts") or []
    if attempts:
        lines.append("attempts:")
        for i, a in enumerate(attempts, 1):
            status = a.get("status")
            what = f"HTTP {status}" if status is not None else a.get("outcome")
            note = f" ({a['note']})" if a.get("note") else ""
            lines.append(f"  {i}. {a.get('provider')}/{a.get('model')}: {what}, {a.get('elapsed_ms')} ms -> {a.get('action')}{note}")
    if routing:
        lines.append(
            f"result: {routing.get('final_provider')}/{routing.get('final_model')} status {routing.get('final_status')},"
            f" {routing.get('failovers', 0)} failover(s)"
        )
    usage = doc.get("usage")
    if usage:
        est = " (estimated)" if usage.get("estimated") else ""
        lines.append(
            f"usage: {usage.get('input_tokens')} in / {usage.get('output_tokens')} out tokens{est},"
            f" cost {format_usd(int(usage.get('cost_usd_micro') or 0))} (price: {usage.get('price_source')})"
        )
    for key, value in rest.items():
        lines.append(f"{key}:")
        lines += _indent_json(value)
    return "\n".join(lines)


def _indent_json(value: Any) -> list[str]:
    return ["  " + line for line in json.dumps(value, indent=2, sort_keys=True).splitlines()]
