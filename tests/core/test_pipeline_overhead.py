"""The pipeline's own timing, as operators see it in the record and the metrics."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from prometheus_client import generate_latest

from govproxy.config import settings_from_dict
from govproxy.models import Identity
from govproxy.pipeline import IncomingRequest, Pipeline


def _pipeline(tmp_path: Path) -> Pipeline:
    settings = settings_from_dict({
        "providers": {"bench": {"kind": "openai", "hosts": ["llm.test:443"], "region": "us"}},
        "state": {"path": str(tmp_path / "state.sqlite3")},
        "audit": {"path": str(tmp_path / "audit" / "govproxy.db"), "signing_key": str(tmp_path / "audit" / "signing.key")},
    })
    return Pipeline.from_settings(settings)


def _request() -> IncomingRequest:
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}).encode()
    return IncomingRequest(method="POST", scheme="https", host="llm.test", port=443, path="/v1/chat/completions",
                           headers=(("content-type", "application/json"),), body=body,
                           identity=Identity(tenant="default"))


def test_governance_time_covers_every_stage_and_the_audit_wait_is_its_own_series(tmp_path: Path) -> None:
    pl = _pipeline(tmp_path)
    try:
        real_scan = pl.scanner.scan

        def slow_scan(*args, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(0.02)  # a slow inspection must show up in the overhead figure
            return real_scan(*args, **kwargs)

        pl.scanner.scan = slow_scan  # type: ignore[method-assign]
        plan = asyncio.run(pl.process(_request()))
        assert plan.action == "forward"
        assert plan.governance_us >= 20_000, plan.governance_us
        assert pl.router is not None
        text = generate_latest(pl.router.metrics.registry).decode()
        counts = {line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
                  for line in text.splitlines() if line.startswith("govproxy_governance_overhead_seconds_count")}
        assert counts == {'stage="pipeline"': 1.0, 'stage="audit"': 1.0}
        # The 20 ms inspection lands in the pipeline histogram, not below the 10 ms bucket.
        le10ms = next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                      if line.startswith('govproxy_governance_overhead_seconds_bucket{le="0.01",stage="pipeline"}'))
        assert le10ms == 0.0
    finally:
        pl.close()
