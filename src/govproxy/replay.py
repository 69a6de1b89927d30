"""``govproxy replay``: re-decide a recorded audit trail under a (changed) policy set.

Before rolling out a policy change, ask what it would have done to real traffic. Each
decision record holds what the policy saw — provider, endpoint, model, tenant, sensitivity,
finding types and counts — but never the prompt, so replay rebuilds the normalised request
from the record and runs the pipeline's own decide stage (:meth:`Pipeline.decide`) on it.
Nothing is forwarded and nothing is written to the trail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from govproxy.config import ConfigError, load_settings
from govproxy.models import EndpointKind, Identity, LLMRequest, ProviderKind
from govproxy.pipeline import Pipeline, load_pipeline_for_dry_run


def recorded_decisions(db: Path, *, tenant: str | None, since: str | None, until: str | None) -> Iterator[dict[str, Any]]:
    """Decision payloads of governed requests, oldest first (canonical bytes checked on read)."""
    from govproxy.audit.log import decode_record
    from govproxy.audit.store import StoreReader, connect_readonly

    conn = connect_readonly(db)
    try:
        for rec in StoreReader(conn).iter_records():
            value = decode_record(rec.body)
            if value.get("kind") != "decision":
                continue
            ts = str(value.get("time") or value.get("ts") or "")
            if (since and ts and ts < since) or (until and ts and ts >= until):
                continue
            payload = value.get("payload") or {}
            if tenant and payload.get("tenant") != tenant:
                continue
            if payload.get("decision") is None or payload.get("provider_kind") is None:
                continue  # refused before a decision (malformed input): nothing to re-decide
            yield {"seq": rec.seq, **payload}
    finally:
        conn.close()


def rebuild_request(p: dict[str, Any]) -> LLMRequest:
    return LLMRequest(
        provider=p["provider"],
        provider_kind=ProviderKind(p["provider_kind"]),
        endpoint=EndpointKind(p.get("endpoint") or "unknown"),
        method=p.get("method") or "POST",
        scheme="https",
        host=p.get("host") or "",
        port=int(p.get("port") or 443),
        path=p.get("path") or "/",
        model=p.get("model"),
        stream=bool(p.get("stream")),
        images=int(p.get("images_unscanned") or 0),
        token_estimate=int(p.get("token_estimate") or 0),
        identity=Identity(tenant=p.get("tenant") or "default", app=p.get("app"), source=p.get("source"), authenticated=bool(p.get("authenticated"))),
    )


def _outcome(allow: bool, codes: list[str], route: str | None) -> str:
    if not allow:
        return "deny(" + ",".join(sorted(codes)) + ")"
    return f"route({route})" if route else "allow"


async def replay(pipeline: Pipeline, records: Iterator[dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter[str]]:
    changes: list[dict[str, Any]] = []
    stats: Counter[str] = Counter()
    for p in records:
        stats["replayed"] += 1
        llm = rebuild_request(p)
        old = p["decision"]
        old_route = (p.get("route") or {}).get("provider")
        old_route = old_route if old_route and old_route != p["provider"] else None
        before = _outcome(bool(old.get("allow")), [d.get("code", "") for d in old.get("deny", [])], old_route)
        d = await pipeline.decide(
            llm, sensitivity=p.get("sensitivity") or "unknown", counts=p.get("findings") or {},
            categories=p.get("categories") or [], dlp_error=bool(p.get("dlp_errors")), mode="replay",
        )
        new_route = d.route.provider if d.allow and d.route and d.route.provider != p["provider"] else None
        after = _outcome(d.allow, [r.code for r in d.deny], new_route)
        if before != after:
            kind = "newly_denied" if old.get("allow") and not d.allow else "newly_allowed" if d.allow and not old.get("allow") else "rerouted"
            stats[kind] += 1
            changes.append({"seq": p["seq"], "request_id": p.get("request_id"), "tenant": llm.identity.tenant, "provider": llm.provider,
                            "model": llm.model, "sensitivity": p.get("sensitivity"), "before": before, "after": after,
                            "rules_fired": list(d.rules_fired)})
    return changes, stats


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"govproxy: configuration error:\n{exc}", file=sys.stderr)
        return 2
    from govproxy.audit import AuditConfig

    db = Path(args.db) if args.db else AuditConfig.model_validate(settings.audit).path
    if not db.exists():
        print(f"govproxy: no audit store at {db}", file=sys.stderr)
        return 2
    pipeline = load_pipeline_for_dry_run(settings, Path(args.policies) if args.policies else None)
    try:
        changes, stats = asyncio.run(replay(pipeline, recorded_decisions(db, tenant=args.tenant, since=args.since, until=args.until)))
    except Exception as exc:  # a corrupt store is reported, not a traceback
        print(f"govproxy: cannot replay {db}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        pipeline.close()
    if args.json:
        print(json.dumps({"summary": dict(stats), "changes": changes}, indent=2))
    else:
        for c in changes:
            print(f"seq {c['seq']} {c['request_id']} tenant={c['tenant']} {c['provider']}/{c['model']} [{c['sensitivity']}]: {c['before']} -> {c['after']}")
        print(f"{stats['replayed']} replayed, {len(changes)} changed "
              f"({stats['newly_denied']} newly denied, {stats['newly_allowed']} newly allowed, {stats['rerouted']} rerouted)")
    return 1 if changes and args.fail_on_change else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="re-decide a recorded audit trail under a policy set; report what would change")
    p.add_argument("--db", help="audit store (default: audit.path from the config)")
    p.add_argument("--policies", help="policy directory to evaluate with (default: the configured one)")
    p.add_argument("--config", help="YAML config (default: ./govproxy.yaml if present)")
    p.add_argument("--tenant")
    p.add_argument("--since", help="RFC 3339 time, inclusive")
    p.add_argument("--until", help="RFC 3339 time, exclusive")
    p.add_argument("--json", action="store_true")
    p.add_argument("--fail-on-change", action="store_true", help="exit 1 when any decision would change (for CI)")
    p.set_defaults(func=cmd_replay)
