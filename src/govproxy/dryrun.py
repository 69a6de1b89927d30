"""``govproxy dry-run``: what would the live proxy do with this request? Nothing is sent.

It builds the same :class:`~govproxy.pipeline.IncomingRequest` the addon builds and calls
the same :meth:`Pipeline.process`, with no audit log and no upstream: the printed plan is
the live decision by construction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

from govproxy.config import ConfigError, load_settings
from govproxy.models import Identity
from govproxy.pipeline import IncomingRequest, Pipeline, load_pipeline_for_dry_run


def build_request(url: str, body: bytes, headers: list[str], tenant: str | None, app: str | None) -> IncomingRequest:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--url must be an absolute http(s) URL, got {url!r}")
    pairs: list[tuple[str, str]] = []
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"--header must look like 'Name: value', got {h!r}")
        pairs.append((name.strip(), value.strip()))
    if not any(k.lower() == "content-type" for k, _ in pairs) and body:
        pairs.append(("content-type", "application/json"))
    hdr = {k.lower(): v for k, v in pairs}
    identity = Identity(tenant=tenant or hdr.get("x-govproxy-tenant") or "default", app=app or hdr.get("x-govproxy-app"))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return IncomingRequest(
        method="POST" if body else "GET", scheme=parts.scheme, host=parts.hostname, port=port, path=path,
        headers=tuple(pairs), body=body, identity=identity, mode="dry-run",
    )


async def evaluate(pipeline: Pipeline, req: IncomingRequest) -> dict:
    plan = await pipeline.process(req, record=False)
    out = plan.summary()
    if plan.action == "pass":
        out["note"] = f"{req.host}:{req.port} is not a known LLM endpoint: the proxy would tunnel it untouched"
    return out


def cmd_dry_run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"govproxy: configuration error:\n{exc}", file=sys.stderr)
        return 2
    try:
        body = sys.stdin.buffer.read() if args.body == "-" else (Path(args.body).read_bytes() if args.body else b"")
        req = build_request(args.url, body, args.header or [], args.tenant, args.app)
    except (OSError, ValueError) as exc:
        print(f"govproxy: {exc}", file=sys.stderr)
        return 2
    pipeline = load_pipeline_for_dry_run(settings, Path(args.policies) if args.policies else None)
    try:
        result = asyncio.run(evaluate(pipeline, req))
    finally:
        pipeline.close()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    denied = result.get("action") == "respond"
    return 1 if denied and args.fail_on_deny else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dry-run", help="evaluate one request through the pipeline without forwarding anything")
    p.add_argument("--url", required=True, help="the URL the app would call, e.g. https://api.openai.com/v1/chat/completions")
    p.add_argument("--body", help="request body file ('-' for stdin)")
    p.add_argument("--header", action="append", metavar="'Name: value'", help="a request header (repeatable)")
    p.add_argument("--tenant", help="evaluate as this tenant (as if authenticated by proxy auth)")
    p.add_argument("--app")
    p.add_argument("--policies", help="policy directory to evaluate with (default: the configured one)")
    p.add_argument("--config", help="YAML config (default: ./govproxy.yaml if present)")
    p.add_argument("--fail-on-deny", action="store_true", help="exit 1 when the request would be refused (for CI)")
    p.set_defaults(func=cmd_dry_run)
