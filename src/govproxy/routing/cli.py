"""``govproxy explain REQUEST_ID``: why a request went where it did."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from govproxy.config import ConfigError, load_settings
from govproxy.routing.config import load_routing_settings
from govproxy.routing.cost import format_usd
from govproxy.routing.explain import ExplanationStore, InvalidRequestId
from govproxy.routing.store import StateStoreError, open_state_store


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


def _explain(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        rs = load_routing_settings(settings, source=args.config or "govproxy.yaml")
        store = open_state_store(rs.state)
    except (ConfigError, StateStoreError) as exc:
        print(f"govproxy explain: {exc}", file=sys.stderr)
        return 2
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
