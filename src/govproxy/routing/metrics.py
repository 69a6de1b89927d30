"""Prometheus metrics (``govproxy_*``) on an opt-in port bound to loopback by default.

Labels carry only names from configuration or short protocol values (provider, model,
tenant, decision, reason, status class) — never prompt text or keys. Values the caller
controls (a model name in a request body, an unauthenticated tenant header) are cleaned
to a safe alphabet and capped per label, so one client cannot explode the series count.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_SAFE = re.compile(r"[^A-Za-z0-9._:/@+-]")
_MAX_LEN = 64
_MAX_VALUES_PER_LABEL = 200
_OTHER = "other"
_MAX_CHILDREN = 4096

_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
_CIRCUIT_VALUE = {"closed": 0, "half_open": 1, "open": 2}


class _LabelGuard:
    """Cleans label values and caps how many distinct ones a label may take."""

    def __init__(self) -> None:
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def __call__(self, label: str, value: Any) -> str:
        text = _SAFE.sub("_", str(value if value is not None else "none"))[:_MAX_LEN] or "none"
        with self._lock:
            seen = self._seen.setdefault(label, set())
            if text in seen:
                return text
            if len(seen) >= _MAX_VALUES_PER_LABEL:
                return _OTHER
            seen.add(text)
            return text


class GovproxyMetrics:
    """The metrics one proxy instance exports; each instance owns its registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._label = _LabelGuard()
        r = self.registry
        self.requests = Counter(
            "govproxy_requests", "LLM requests by provider, model, tenant and policy decision",
            ["provider", "model", "tenant", "decision"], registry=r,
        )
        self.denials = Counter("govproxy_denials", "requests denied, by reason", ["reason"], registry=r)
        self.failovers = Counter(
            "govproxy_failovers", "moves from one upstream target to another within a request",
            ["from_provider", "to_provider", "cause"], registry=r,
        )
        self.circuit = Gauge(
            "govproxy_circuit_state", "circuit breaker state per provider (0 closed, 1 half-open, 2 open)",
            ["provider"], registry=r,
        )
        self.upstream_latency = Histogram(
            "govproxy_upstream_latency_seconds", "time from sending upstream to response headers",
            ["provider"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.overhead = Histogram(
            "govproxy_governance_overhead_seconds", "time govproxy itself spent on a request: stage pipeline (parse, DLP, policy, transform) or audit (the durable decision record)",
            ["stage"], buckets=_OVERHEAD_BUCKETS, registry=r,
        )
        self.tokens = Counter(
            "govproxy_tokens", "tokens used", ["provider", "model", "tenant", "direction", "estimated"], registry=r,
        )
        self.cost = Counter(
            "govproxy_cost_usd", "cost in USD (from integer micro-USD)", ["provider", "model", "tenant"], registry=r,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._children: dict[tuple[Any, ...], Any] = {}

    # -- the API the proxy calls ---------------------------------------------------------
    def _child(self, metric: Any, *pairs: tuple[str, Any]) -> Any:
        """The labelled series for these raw values, cleaned once and then remembered.

        ``labels()`` plus cleaning costs tens of microseconds per call on the request path;
        the same few combinations repeat. Raw values come from clients, so the memo is
        bounded: past its size, lookups are simply not remembered.
        """
        key = (id(metric), *pairs)
        child = self._children.get(key)
        if child is None:
            child = metric.labels(*(self._label(name, value) for name, value in pairs))
            if len(self._children) < _MAX_CHILDREN:
                self._children[key] = child
        return child

    def observe_request(self, *, provider: str, model: str | None, tenant: str, decision: str) -> None:
        self._child(self.requests, ("provider", provider), ("model", model), ("tenant", tenant), ("decision", decision)).inc()

    def observe_denial(self, reason: str) -> None:
        self.denials.labels(self._label("reason", reason)).inc()

    def observe_failover(self, from_provider: str, to_provider: str, cause: str) -> None:
        L = self._label
        self.failovers.labels(L("provider", from_provider), L("provider", to_provider), L("cause", cause)).inc()

    def set_circuit_state(self, provider: str, state: str) -> None:
        self.circuit.labels(self._label("provider", provider)).set(_CIRCUIT_VALUE.get(str(state), 0))

    def observe_upstream_latency(self, provider: str, seconds: float) -> None:
        self._child(self.upstream_latency, ("provider", provider)).observe(seconds)

    def observe_governance_overhead(self, seconds: float, stage: str = "total") -> None:
        self._child(self.overhead, ("stage", stage)).observe(seconds)

    def observe_usage(
        self, *, provider: str, model: str | None, tenant: str, input_tokens: int, output_tokens: int,
        cost_usd_micro: int, estimated: bool = False,
    ) -> None:
        p, m, t, e = ("provider", provider), ("model", model), ("tenant", tenant), ("estimated", "true" if estimated else "false")
        if input_tokens:
            self._child(self.tokens, p, m, t, ("direction", "input"), e).inc(input_tokens)
        if output_tokens:
            self._child(self.tokens, p, m, t, ("direction", "output"), e).inc(output_tokens)
        if cost_usd_micro:
            self._child(self.cost, p, m, t).inc(cost_usd_micro / 1_000_000)

    # -- the opt-in endpoint -------------------------------------------------------------
    def start_server(self, host: str = "127.0.0.1", port: int = 9464) -> int:
        """Serve ``/metrics`` in a background thread; returns the bound port (useful with 0)."""
        if self._server is not None:
            raise RuntimeError("metrics server already running")
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        self._server, self._thread = server, thread
        return int(server.server_port)

    def stop_server(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self._thread = None
