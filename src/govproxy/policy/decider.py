"""The decide stage: one call, always a valid ``Decision``.

Whatever goes wrong below (an engine error, a timeout, a crashed worker, an undefined
or malformed decision), ``decide`` does not raise: it returns a fail-closed decision.
Critical data and data of unknown sensitivity are then always denied; other data
follows ``policy.on_error``. Each such event is counted by kind and logged with its
reason (never with request content).

Shadow mode evaluates a candidate policy set beside the active one, enforces only the
active decision, and counts where the two disagree.

Decision cache: rego-cpp costs milliseconds for a realistic input (bench/policy_bench.py),
while live traffic repeats the same facts (tenant, provider, model, sensitivity, finding
types, health) over and over. A decision is therefore reused for ``cache_ttl_s`` (default
10 s, same policy bundle) when the input is identical except for fields the policy set
declares it does not read (``data.<decision package>.cache_ignore``, e.g. ``env.time``,
``request.token_estimate``; ``env.time`` only when the set declares nothing). Errors and
fail-closed decisions are never cached.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from pydantic import ValidationError

from govproxy.policy.config import PolicyConfig, policy_config_from_settings
from govproxy.policy.embedded import EmbeddedEngine
from govproxy.policy.engine import PolicyEngine, PolicyEngineError
from govproxy.policy.opa import OpaEngine
from govproxy.policy.schema import Decision, DenyReason, Obligations, PolicyInput

log = logging.getLogger("govproxy.policy")

FAIL_RULE = "govproxy.fail_closed"
FAIL_OPEN_RULE = "govproxy.fail_open"
_SAFE_SENSITIVITIES = ("public", "internal", "confidential")


def build_engine(config: PolicyConfig) -> PolicyEngine:
    if config.engine == "opa":
        return OpaEngine(config.opa_url, config.decision_path, policy_dir=config.policy_dir())
    return EmbeddedEngine(config.policy_dir(), config.decision_ref, hot_reload=config.hot_reload,
                          reload_interval_s=config.reload_interval_s, probe_input=_probe(),
                          workers=config.workers)


def _probe() -> bytes:
    from govproxy.policy.inputs import sample_policy_input

    return sample_policy_input().model_dump_json().encode()


def fail_closed_decision(policy_input: PolicyInput, kind: str, detail: str, on_error: str,
                         engine: str = "", bundle_hash: str = "") -> Decision:
    """The decision used when the policy could not decide.

    The client-facing message names the failure kind only; ``error`` keeps the detail
    for logs and the audit record.
    """
    sensitivity = policy_input.dlp.sensitivity
    always_deny = policy_input.dlp.errors or sensitivity not in _SAFE_SENSITIVITIES
    error = f"{kind}: {detail}"
    if always_deny or on_error == "deny":
        why = "critical or unknown sensitivity" if always_deny else "policy.on_error is deny"
        return Decision(
            allow=False,
            deny=[DenyReason(code="policy_error", rule=FAIL_RULE,
                             message=f"policy evaluation failed ({kind}); request denied ({why})")],
            status=403,
            rules_fired=[FAIL_RULE],
            obligations=Obligations(audit_content="none"),
            error=error,
            engine=engine,
            bundle_hash=bundle_hash,
        )
    redact = {} if sensitivity == "public" else {t: "pseudonymise" for t in policy_input.dlp.finding_types}
    return Decision(
        allow=True,
        redact=redact,  # type: ignore[arg-type]
        rules_fired=[FAIL_OPEN_RULE],
        obligations=Obligations(audit_content="none"),
        explanation=["policy evaluation failed; allowed because policy.on_error is allow"],
        error=error,
        engine=engine,
        bundle_hash=bundle_hash,
    )


def _validate(raw: Any, policy_input: PolicyInput, engine: str, bundle_hash: str) -> Decision:
    if not isinstance(raw, dict):
        raise PolicyEngineError("malformed", f"decision is a {type(raw).__name__}, not an object")
    try:
        decision = Decision.model_validate({**raw, "engine": engine, "bundle_hash": bundle_hash})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "decision"
        raise PolicyEngineError("malformed", f"{where}: {first['msg']}") from None
    known = {p.name for p in policy_input.providers}
    targets = ([decision.route] if decision.route else []) + list(decision.candidates)
    for t in targets:
        if t.provider not in known:
            raise PolicyEngineError("malformed", f"decision routes to unconfigured provider {t.provider!r}")
    return decision


def _summary(d: Decision) -> tuple[Any, ...]:
    return (
        d.allow,
        d.route.provider if d.route else None,
        d.route.model if d.route else None,
        tuple(sorted({r.code for r in d.deny})),
        tuple(sorted(d.redact.items())),
    )


class PolicyDecider:
    """Built once from config; ``decide`` per request."""

    def __init__(self, config: PolicyConfig, *, engine: PolicyEngine | None = None,
                 shadow_engine: PolicyEngine | None = None) -> None:
        self.config = config
        self.engine = engine if engine is not None else build_engine(config)
        shadow_dir = config.shadow_dir()
        if shadow_engine is None and shadow_dir is not None:
            shadow_engine = EmbeddedEngine(shadow_dir, config.decision_ref, hot_reload=config.hot_reload,
                                           reload_interval_s=config.reload_interval_s, probe_input=_probe())
        self.shadow_engine = shadow_engine
        self.timeout = config.timeout_ms / 1000.0
        self.counters: Counter[str] = Counter()
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._cache: OrderedDict[bytes, tuple[float, str, Decision]] = OrderedDict()
        self._cache_ttl = config.cache_ttl_s
        self._cache_size = config.cache_size
        self._cache_lock = threading.Lock()  # decide_sync may run in other threads
        # Caller-built keys (see decide_keyed) -> (expires, bundle hash, decision).
        self._memo: OrderedDict[Hashable, tuple[float, str, Decision]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Any) -> PolicyDecider:
        return cls(policy_config_from_settings(settings))

    @property
    def bundle_hash(self) -> str:
        return self.engine.bundle_hash

    # -- the decision ----------------------------------------------------------------

    def _on_failure(self, policy_input: PolicyInput, exc: PolicyEngineError | Exception) -> Decision:
        kind = exc.kind if isinstance(exc, PolicyEngineError) else "error"
        self.counters[f"error_{kind}"] += 1
        self.counters["errors"] += 1
        decision = fail_closed_decision(policy_input, kind, str(exc), self.config.on_error,
                                        self.engine.name, self.engine.bundle_hash)
        if decision.allow:
            self.counters["fail_open"] += 1
        log.warning("policy %s (%s); %s request %s", kind, exc, policy_input.dlp.sensitivity,
                    "allowed (on_error=allow)" if decision.allow else "denied (fail closed)")
        return decision

    def _finish(self, decision: Decision) -> Decision:
        self.counters["decisions"] += 1
        self.counters["allowed" if decision.allow else "denied"] += 1
        if decision.route is not None:
            self.counters["rerouted"] += 1
        return decision

    # -- cache -----------------------------------------------------------------------

    def _cache_key(self, policy_input: PolicyInput, payload: bytes) -> bytes | None:
        """The input without the fields the policy set declares it does not read."""
        if self._cache_ttl <= 0 or self._cache_size <= 0:
            return None
        ignore: tuple[str, ...] = getattr(self.engine, "cache_ignore", ("env.time",))
        if ignore == ("env.time",):
            stamp = b'"time":' + json.dumps(policy_input.env.time).encode()
            return payload.replace(stamp, b'"time":""', 1)
        exclude = self._exclude_for(ignore)
        if exclude is not None:
            # One serialisation without the ignored fields (cheaper than parse, drop, re-dump).
            return policy_input.model_dump_json(exclude=exclude).encode()
        doc = json.loads(payload)
        for path in ignore:
            head, _, leaf = path.rpartition(".")
            node: Any = doc
            for part in head.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(leaf, None)
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def _exclude_for(self, ignore: tuple[str, ...]) -> dict[str, set[str]] | None:
        """``("env.time", "caller.app")`` -> pydantic's ``{"env": {"time"}, "caller": {"app"}}``; None if not that simple."""
        cache = self.__dict__.setdefault("_exclude_cache", {})
        if ignore not in cache:
            out: dict[str, set[str]] | None = {}
            for path in ignore:
                parts = path.split(".")
                if len(parts) != 2 or parts[0] not in PolicyInput.model_fields:
                    out = None
                    break
                out.setdefault(parts[0], set()).add(parts[1])  # type: ignore[union-attr]
            cache[ignore] = out
        return cache[ignore]

    def _cached(self, key: bytes | None) -> Decision | None:
        if key is None:
            return None
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is None:
                return None
            expires, bundle, decision = hit
            if expires < time.monotonic() or bundle != self.engine.bundle_hash:
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
        self.counters["cache_hits"] += 1
        return decision

    def _remember(self, key: bytes | None, decision: Decision) -> None:
        if key is None or decision.error is not None:
            return
        with self._cache_lock:
            self._cache[key] = (time.monotonic() + self._cache_ttl, decision.bundle_hash, decision)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()
            self._memo.clear()

    @property
    def cache_ignore(self) -> frozenset[str]:
        """Input fields the active policy set declares it does not read (``cache_ignore``)."""
        ignore = getattr(self.engine, "cache_ignore", ("env.time",))
        return frozenset(ignore)

    def memo_enabled(self) -> bool:
        return self._cache_ttl > 0 and self._cache_size > 0 and self.shadow_engine is None

    def metrics(self) -> dict[str, int | str]:
        """Counters for the metrics exporter: decisions, errors by kind, cache, shadow, reloads."""
        out: dict[str, int | str] = dict(self.counters)
        out["engine"] = self.engine.name
        out["bundle_hash"] = self.engine.bundle_hash
        for name in ("reloads", "rejected_reloads", "worker_restarts"):
            value = getattr(self.engine, name, None)
            if isinstance(value, int):
                out[f"engine_{name}"] = value
        return out

    # -- deciding ----------------------------------------------------------------------

    def decide_sync(self, policy_input: PolicyInput) -> Decision:
        payload = policy_input.model_dump_json().encode()
        key = self._cache_key(policy_input, payload)
        cached = self._cached(key)
        if cached is not None and self.shadow_engine is None:
            return self._finish(cached.model_copy())  # shallow: decisions are never mutated downstream
        try:
            raw = self.engine.evaluate_json_sync(payload, self.timeout)  # type: ignore[attr-defined]
            decision = _validate(raw, policy_input, self.engine.name, self.engine.bundle_hash)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a fail-closed decision
            decision = self._on_failure(policy_input, exc)
        else:
            self._remember(key, decision.model_copy(deep=True))
        if self.shadow_engine is not None:
            self._shadow_compare_sync(payload, policy_input, decision)
        return self._finish(decision)

    async def decide_keyed(self, memo_key: Hashable | None, build: Callable[[], PolicyInput]) -> Decision:
        """``decide(build())``, skipping the input's construction when ``memo_key`` was seen.

        The caller derives ``memo_key`` from the raw values it would build the input from,
        leaving out exactly the fields in :attr:`cache_ignore`, so two requests with one key
        have equal cache keys. This saves building, validating and serialising the input
        model on the hot path, which costs more than the cached decision itself.
        """
        if memo_key is None or not self.memo_enabled():
            return await self.decide(build())
        bundle = self.engine.bundle_hash
        with self._cache_lock:
            hit = self._memo.get(memo_key)
            if hit is not None:
                expires, hit_bundle, decision = hit
                if expires >= time.monotonic() and hit_bundle == bundle:
                    self._memo.move_to_end(memo_key)
                    self.counters["cache_hits"] += 1
                    return self._finish(decision.model_copy())
                del self._memo[memo_key]
        decision = await self.decide(build())
        if decision.error is None and decision.bundle_hash == bundle:
            with self._cache_lock:
                self._memo[memo_key] = (time.monotonic() + self._cache_ttl, bundle, decision.model_copy(deep=True))
                if len(self._memo) > self._cache_size:
                    self._memo.popitem(last=False)
        return decision

    async def decide(self, policy_input: PolicyInput) -> Decision:
        payload = policy_input.model_dump_json().encode()
        key = self._cache_key(policy_input, payload)
        cached = self._cached(key)
        if cached is not None and self.shadow_engine is None:
            return self._finish(cached.model_copy())  # shallow: decisions are never mutated downstream
        try:
            raw = await self.engine.evaluate_json(payload, self.timeout)  # type: ignore[attr-defined]
            decision = _validate(raw, policy_input, self.engine.name, self.engine.bundle_hash)
        except Exception as exc:  # noqa: BLE001
            decision = self._on_failure(policy_input, exc)
        else:
            self._remember(key, decision.model_copy(deep=True))
        if self.shadow_engine is not None:
            # Off the request path: the shadow set never adds latency to live traffic.
            task = asyncio.create_task(self._shadow_compare(payload, policy_input, decision))
            self._shadow_tasks.add(task)
            task.add_done_callback(self._shadow_tasks.discard)
        return self._finish(decision)

    async def drain_shadow(self) -> None:
        """Wait for pending shadow evaluations (tests, shutdown)."""
        while self._shadow_tasks:
            await asyncio.gather(*list(self._shadow_tasks), return_exceptions=True)

    # -- shadow ----------------------------------------------------------------------

    def _record_shadow(self, policy_input: PolicyInput, active: Decision, raw: Any | None,
                       exc: Exception | None) -> None:
        assert self.shadow_engine is not None
        self.counters["shadow_evaluations"] += 1
        if exc is None:
            try:
                shadow = _validate(raw, policy_input, self.shadow_engine.name, self.shadow_engine.bundle_hash)
            except PolicyEngineError as err:
                exc = err
        if exc is not None:
            self.counters["shadow_errors"] += 1
            log.warning("shadow policy failed: %s", exc)
            return
        if _summary(shadow) != _summary(active):
            self.counters["shadow_disagreements"] += 1
            log.warning(
                "shadow policy disagrees: active allow=%s route=%s deny=%s; shadow allow=%s route=%s deny=%s",
                active.allow, active.route.provider if active.route else None, [r.code for r in active.deny],
                shadow.allow, shadow.route.provider if shadow.route else None, [r.code for r in shadow.deny],
            )
        else:
            self.counters["shadow_agreements"] += 1

    def _shadow_compare_sync(self, payload: bytes, policy_input: PolicyInput, active: Decision) -> None:
        assert self.shadow_engine is not None
        try:
            raw = self.shadow_engine.evaluate_json_sync(payload, self.timeout)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001
            self._record_shadow(policy_input, active, None, exc)
            return
        self._record_shadow(policy_input, active, raw, None)

    async def _shadow_compare(self, payload: bytes, policy_input: PolicyInput, active: Decision) -> None:
        assert self.shadow_engine is not None
        try:
            raw = await self.shadow_engine.evaluate_json(payload, self.timeout)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001
            self._record_shadow(policy_input, active, None, exc)
            return
        self._record_shadow(policy_input, active, raw, None)

    def close(self) -> None:
        self.engine.close()
        if self.shadow_engine is not None:
            self.shadow_engine.close()
