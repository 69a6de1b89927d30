"""The one pipeline: parse → inspect → decide → transform → record, returning a Plan.

It knows nothing about mitmproxy. The proxy addon turns a flow into an
:class:`IncomingRequest`, calls :meth:`Pipeline.process`, and applies the :class:`Plan`;
dry-run calls the very same method with ``record=False`` and prints the plan. So a
dry-run answer is, by construction, what the live proxy would do.

Fail closed: any exception inside a stage turns into a refusal (never a pass-through),
and a request whose decision record cannot be made durable is not forwarded.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl

from govproxy.config import Settings
from govproxy.dlp import Action, DlpConfig, PseudonymVault, ScanResult, Scanner, Sensitivity
from govproxy.jsonpointer import set_pointer
from govproxy.models import Identity, LLMRequest, ProviderKind
from govproxy.policy import Decision, PolicyDecider, PolicyInput, build_policy_input
from govproxy.providers.errors import ErrorResponse, error_response
from govproxy.providers.parse import parse_request
from govproxy.providers.registry import ProviderMatch, ProviderRegistry
from govproxy.response_side import ResponseSide
from govproxy.rewrite import RerouteError, Target, has_credentials, plan_target
from govproxy.translate import wants_stream_usage

if TYPE_CHECKING:
    from govproxy.audit import AuditLog
    from govproxy.routing import Router

log = logging.getLogger("govproxy.pipeline")

Mode = Literal["proxy", "gateway", "dry-run", "replay"]
SENSITIVITY_HEADER = "x-govproxy-sensitivity"
STATE_CACHE_S = 0.25  # how stale budget/circuit flags may be (other instances' changes show up within this)


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    """What the transport saw, already decoded (content-encoding removed)."""

    method: str
    scheme: str
    host: str
    port: int
    path: str  # including the query string
    headers: tuple[tuple[str, str], ...]
    body: bytes
    identity: Identity = Identity()
    mode: Mode = "proxy"
    body_error: str | None = None  # the transport could not decode the body (bad gzip …)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    @property
    def query(self) -> dict[str, str]:
        _, _, q = self.path.partition("?")
        return dict(parse_qsl(q, keep_blank_values=True))


@dataclass(frozen=True, slots=True)
class Forward:
    """Where and what to send. ``body`` None means: the original bytes, untouched."""

    provider: str
    kind: ProviderKind
    model: str | None
    scheme: str
    host: str
    port: int
    path: str
    body: bytes | None = None
    set_headers: tuple[tuple[str, str], ...] = ()
    remove_headers: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.path}"


@dataclass(slots=True)
class Plan:
    request_id: str
    action: Literal["pass", "respond", "forward"]
    llm: LLMRequest | None = None
    response: ErrorResponse | None = None
    forward: Forward | None = None
    alternatives: list[Forward] = field(default_factory=list)  # failover targets, in order
    provider: str | None = None
    reasons: list[str] = field(default_factory=list)
    scan: ScanResult | None = None
    decision: Decision | None = None
    response_side: ResponseSide | None = None
    redacted_texts: list[str] | None = None
    governance_us: int = 0
    audit_seq: int | None = None
    budget_warn: bool = False  # the tenant has used >= 80 % of a budget (told to the app in a header)

    def summary(self) -> dict[str, Any]:
        """What dry-run prints: the whole decision, never raw finding values."""
        out: dict[str, Any] = {"request_id": self.request_id, "action": self.action, "provider": self.provider}
        if self.llm is not None:
            out["request"] = {
                "provider_kind": self.llm.provider_kind.value,
                "endpoint": self.llm.endpoint.value,
                "model": self.llm.model,
                "stream": self.llm.stream,
                "token_estimate": self.llm.token_estimate,
                "texts": len(self.llm.texts),
                "images_unscanned": self.llm.images,
                "tenant": self.llm.identity.tenant,
                "parse_error": self.llm.parse_error,
            }
        if self.scan is not None:
            out["dlp"] = self.scan.summary()
        if self.decision is not None:
            d = self.decision
            out["decision"] = {
                "allow": d.allow,
                "status": d.status,
                "deny": [r.model_dump() for r in d.deny],
                "route": d.route.model_dump() if d.route else None,
                "redact": dict(d.redact),
                "rules_fired": list(d.rules_fired),
                "explanation": list(d.explanation),
                "error": d.error,
                "engine": d.engine,
                "bundle_hash": d.bundle_hash,
            }
        if self.response is not None:
            out["response"] = {"status": self.response.status, "body": json.loads(self.response.body or b"null")}
        if self.forward is not None:
            out["forward"] = {
                "provider": self.forward.provider,
                "model": self.forward.model,
                "url": self.forward.url,
                "body_changed": self.forward.body is not None,
            }
            if self.forward.body is not None:
                try:
                    out["forward"]["body"] = json.loads(self.forward.body)
                except ValueError:
                    pass
            out["failover"] = [f"{f.provider}:{f.model}" for f in self.alternatives]
        if self.redacted_texts is not None:
            out["redacted_texts"] = self.redacted_texts
        out["reasons"] = self.reasons
        return out


def body_hash(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Pipeline:
    """Builds plans. One instance per process; safe to share across concurrent requests."""

    def __init__(
        self,
        settings: Settings,
        *,
        scanner: Scanner | None = None,
        decider: PolicyDecider | None = None,
        audit: AuditLog | None = None,
        router: Router | None = None,
    ) -> None:
        self.settings = settings
        self.registry = ProviderRegistry(settings.providers)
        self.scanner = scanner or Scanner(DlpConfig.model_validate(settings.dlp))
        self.decider = decider or PolicyDecider.from_settings(settings)
        self.audit = audit
        self.router = router
        self._policy_views: dict[str, Settings] = {}
        self._warned: dict[str, str] = {}  # tenant -> day its budget warning was logged
        from govproxy.policy import policy_config_from_settings

        self._policy_params = policy_config_from_settings(settings).params  # once, not per request
        # (tenant, providers) -> (expiry, health, budget): the store is read at most every
        # STATE_CACHE_S per key; this process's own usage and breaker changes invalidate it.
        self._state_cache: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any], Any, int]] = {}
        self._state_version = 0

    @classmethod
    def from_settings(cls, settings: Settings, *, live: bool = True) -> Pipeline:
        """``live`` opens the audit log and routing state; dry-run leaves both closed."""
        audit = router = None
        scanner = None
        if live:
            from govproxy.audit import AuditConfig, AuditLog
            from govproxy.routing import Router

            cfg = AuditConfig.model_validate(settings.audit)
            dlp_cfg = DlpConfig.from_section(settings.dlp)
            if not (dlp_cfg.hmac_key_file or dlp_cfg.hmac_key_env):
                # Keyed hashes (the `hash` action, finding correlation) must stay stable
                # across restarts: keep a generated key beside the audit signing key.
                scanner = Scanner(dlp_cfg, hmac_key=_persistent_key(cfg.signing_key.parent / "dlp-hmac.key"))
            audit = AuditLog.open(cfg, generate_key=True)
            router = Router(settings)
        return cls(settings, scanner=scanner, audit=audit, router=router)

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()
        if self.router is not None:
            self.router.close()
        self.decider.close()

    def match(self, host: str, port: int) -> ProviderMatch | None:
        return self.registry.match(host, port)

    # --- the request path ---------------------------------------------------------------

    async def process(self, req: IncomingRequest, *, record: bool = True) -> Plan:
        t0 = time.perf_counter()
        request_id = os.urandom(16).hex()  # 128 random bits, as uuid4 but without the object
        match = self.match(req.host, req.port)
        if match is None:
            return Plan(request_id, "pass")
        try:
            plan = await self._govern(request_id, req, match)
        except Exception:
            log.exception("govproxy: pipeline error for request %s; refused (fail closed)", request_id)
            plan = self._refuse(request_id, match, 500, "govproxy: internal error while governing this request", "govproxy_error")
        plan.governance_us = int((time.perf_counter() - t0) * 1e6)  # parse, inspect, decide, transform
        if record and self.router is not None and self.router.metrics is not None:
            self._observe(plan)
        if record and self.audit is not None:
            try:
                t_audit = time.perf_counter()
                # Committed on this thread when the writer is idle: two thread hand-offs and
                # a loop wake-up cost the proxy more than the INSERT itself (bench/RESULTS.md).
                ref = await self.audit.append(
                    "decision", self._decision_record(plan, req), **self._content(plan), inline=True
                )
                plan.audit_seq = ref.seq
                if self.router is not None and self.router.metrics is not None:
                    self.router.metrics.observe_governance_overhead(time.perf_counter() - t_audit, stage="audit")
            except Exception as exc:
                log.error("govproxy: audit record failed (%s); request %s not forwarded", type(exc).__name__, request_id)
                plan = self._refuse(request_id, match, 503, "govproxy: the audit trail is unavailable; nothing was forwarded", "audit_unavailable")
        return plan

    async def _govern(self, request_id: str, req: IncomingRequest, match: ProviderMatch) -> Plan:
        kind = match.config.kind
        if req.body_error:
            return self._refuse(request_id, match, 400, f"govproxy: cannot decode request body: {req.body_error}", "bad_request")
        limit = self.settings.proxy.max_body_bytes
        if len(req.body) > limit:
            return self._refuse(request_id, match, 413, f"govproxy: request body of {len(req.body)} bytes exceeds the limit of {limit}", "request_too_large")
        llm, body = parse_request(
            provider=match.name, kind=kind, method=req.method, scheme=req.scheme, host=req.host, port=req.port,
            path=req.path, body=req.body, identity=req.identity, content_type=req.header("content-type"), query=req.query,
        )
        if llm.parse_error and llm.method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            plan = self._refuse(request_id, match, 400, f"govproxy: {llm.parse_error}", "bad_request")
            plan.llm = llm
            return plan

        # inspect
        texts = [s.text for s in llm.texts]
        scan = self.scanner.scan(texts, images=llm.images)
        try:
            scan = scan.raised_to(req.header(SENSITIVITY_HEADER))
        except ValueError:
            plan = self._refuse(request_id, match, 400, f"govproxy: invalid {SENSITIVITY_HEADER} header", "bad_request")
            plan.llm = llm
            return plan

        # decide
        decision = await self.decide(
            llm, sensitivity=scan.sensitivity.value, counts=scan.counts, categories=scan.categories.keys(),
            dlp_error=scan.failed, mode=req.mode,
        )
        plan = Plan(request_id, "forward", llm=llm, provider=match.name, scan=scan, decision=decision)
        plan.budget_warn = self._budget_warning(llm.identity.tenant, match.name)
        if not decision.allow:
            first = decision.deny[0]
            message = f"govproxy: request denied by policy {first.rule}: {first.message}"
            plan.action = "respond"
            plan.response = error_response(kind, decision.status or 403, message, first.code)
            plan.reasons = [d.code for d in decision.deny]
            return plan

        # transform: redact, then choose and build the target(s)
        out_body = body
        if scan.findings and body is not None:
            vault = PseudonymVault()
            vault.reserve_existing(texts)  # a placeholder the caller typed is never one of ours
            actions = {k: Action(v) for k, v in decision.redact.items()}
            new_texts = self.scanner.redact(texts, scan, actions, vault, tenant=llm.identity.tenant)  # type: ignore[arg-type]
            out_body = copy.deepcopy(body)
            for seg, new in zip(llm.texts, new_texts, strict=True):
                if new != seg.text:
                    set_pointer(out_body, seg.pointer, new)
            plan.redacted_texts = new_texts
        else:
            vault = None
        plan.response_side = ResponseSide(
            kind, llm.endpoint, llm.model or "", vault=vault, include_usage=bool(body and wants_stream_usage(body))
        )

        route = decision.route
        chosen = route.provider if route else match.name
        ordered = [(chosen, route.model if route else None)]
        for c in decision.candidates:
            if c.provider != chosen and (c.provider, c.model) not in ordered:
                ordered.append((c.provider, c.model))
        targets: list[Forward] = []
        errors: list[str] = []
        failover = self.settings.proxy.failover
        for name, model in ordered:
            if targets and not failover:
                break  # alternatives are only used for failover: do not build them otherwise
            cfg = self.settings.providers.get(name)
            if cfg is None:
                continue
            # Alternatives need their own credentials; the caller's key never leaves for another vendor.
            if targets and name != match.name and not has_credentials(cfg):
                continue
            if name != match.name and name == chosen and not has_credentials(cfg) and not cfg.local and cfg.api_key_env:
                errors.append(f"{name}: no credentials configured ({cfg.api_key_env} unset)")
                continue
            try:
                tgt = plan_target(
                    requested_provider=match.name, requested_cfg=match.config, target_provider=name, target_cfg=cfg,
                    target_model=(self._map_model(name, model or llm.model) if name != match.name else (model or llm.model)), endpoint=llm.endpoint, original_path=req.path,
                    original_host=req.host, original_port=req.port, original_scheme=req.scheme, body=out_body, stream=llm.stream,
                )
            except RerouteError as exc:
                errors.append(str(exc))
                continue
            targets.append(self._forward(tgt, out_body, body))
        if not targets:
            plan.action = "respond"
            plan.response = error_response(kind, 403, "govproxy: no permitted destination can take this request: " + "; ".join(errors), "no_route")
            plan.reasons = ["no_route"]
            return plan
        plan.forward = targets[0]
        plan.alternatives = targets[1:]
        plan.response_side.upstream_kind = targets[0].kind
        plan.response_side.translated = targets[0].kind != kind and _translating(targets[0].kind, kind)
        if route:
            plan.reasons.append(f"routed:{chosen}")
        return plan

    def _observe(self, plan: Plan) -> None:
        m = self.router.metrics  # type: ignore[union-attr]
        try:
            llm = plan.llm
            decision = "allow" if plan.action == "forward" else ("deny" if plan.decision is not None else "refused")
            m.observe_request(provider=plan.provider or "", model=llm.model if llm else None, tenant=llm.identity.tenant if llm else "", decision=decision)
            for reason in plan.reasons if plan.action == "respond" else ():
                m.observe_denial(reason)
            m.observe_governance_overhead(plan.governance_us / 1e6, stage="pipeline")
        except Exception as exc:  # metrics never break the request path
            log.warning("govproxy: metrics update failed: %s", type(exc).__name__)

    def _feed_breaker(self, provider: str, status: int | None, error: str | None, latency_ms: int) -> None:
        assert self.router is not None
        try:
            if error is not None or status is None or status >= 500:
                self.router.breakers.record_failure(provider)
                self._state_changed()
            elif status == 429:
                if self.router.config.routing.breaker.count_429:
                    self.router.breakers.record_failure(provider)
            else:
                self.router.breakers.record_success(provider)
                self.router.latency.observe(provider, latency_ms / 1000)
        except Exception as exc:
            log.warning("govproxy: circuit state update failed: %s", type(exc).__name__)

    def _policy_view(self, requested: str) -> Settings:
        """Settings whose providers are the ones this request could really use.

        A policy should only choose among destinations govproxy can send to: the provider
        the app addressed (it brings its own key) plus those with configured credentials
        or no need for any (local models). Computed once per requested provider.
        """
        view = self._policy_views.get(requested)
        if view is None:
            usable = {n: c for n, c in self.settings.providers.items() if n == requested or has_credentials(c)}
            view = self.settings.model_copy(update={"providers": usable})
            self._policy_views[requested] = view
        return view

    def _routing_state(self, tenant: str, providers: Iterable[str]) -> tuple[dict[str, Any] | None, Any, int]:
        """Circuit health and budget flags for the policy input (one store round trip each),
        and a version that changes whenever they were read afresh."""
        if self.router is None:
            return None, None, 0
        from govproxy.policy import BudgetState as PolicyBudget
        from govproxy.policy.schema import BudgetFlags, TenantBudget

        names = tuple(providers)  # only the providers this request's policy can choose among
        key = (tenant, names)
        now = time.monotonic()
        hit = self._state_cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2], hit[3]
        health = self.router.breakers.health_many(names)
        states = self.router.budgets.states(tenant, names)
        any_state = next(iter(states.values()))
        budget = PolicyBudget(
            tenant=TenantBudget(exhausted=any_state.tenant.exhausted, warn=any_state.tenant.warn),
            providers={n: BudgetFlags(exhausted=s.provider.exhausted, warn=s.provider.warn) for n, s in states.items()},
        )
        if len(self._state_cache) > 4096:
            self._state_cache.clear()
        self._state_version += 1  # every read may differ: decisions memoised on older state do not match
        self._state_cache[key] = (now + STATE_CACHE_S, dict(health), budget, self._state_version)
        return dict(health), budget, self._state_version

    def _budget_warning(self, tenant: str, requested: str) -> bool:
        """80 % of a tenant budget: say so once a day in the log, and on every response."""
        if self.router is None:
            return False
        _, budget, _ = self._routing_state(tenant, self._policy_view(requested).providers)  # cached
        if budget is None or not budget.tenant.warn or budget.tenant.exhausted:
            return False
        day = datetime.now(UTC).date().isoformat()
        if self._warned.get(tenant) != day:
            self._warned[tenant] = day
            log.warning("govproxy: tenant %s has used 80%% or more of a budget", tenant)
        return True

    def _has_budget(self, tenant: str, provider: str) -> bool:
        t = self.settings.tenants.get(tenant)
        p = self.settings.providers.get(provider)
        return bool((t and t.budget) or (p and p.budget))

    def _state_changed(self, tenant: str | None = None) -> None:
        """Local usage or a circuit transition: the next decision must read fresh state."""
        if tenant is None:
            self._state_cache.clear()
        else:
            for k in [k for k in self._state_cache if k[0] == tenant]:
                self._state_cache.pop(k, None)

    async def decide(
        self,
        llm: LLMRequest,
        *,
        sensitivity: str,
        counts: Mapping[str, int],
        categories: Iterable[str],
        dlp_error: bool,
        mode: Mode,
    ) -> Decision:
        """The decide stage alone: live requests and trail replay both come through here."""
        view = self._policy_view(llm.provider)
        health, budget, state_version = self._routing_state(llm.identity.tenant, view.providers)
        categories = tuple(sorted(set(categories)))

        def build() -> PolicyInput:
            return build_policy_input(
                llm,
                sensitivity=sensitivity,
                finding_counts=counts,
                categories=categories,
                dlp_error=dlp_error,
                settings=view,
                provider_health=health,
                budget_state=budget,
                mode=mode,
                now=datetime.now(UTC),
                params=self._policy_params,
                compatible=_compatible_for(llm.endpoint),
            )

        key = self._decision_key(llm, sensitivity, counts, categories, dlp_error, mode, state_version)
        return await self.decider.decide_keyed(key, build)

    def _decision_key(
        self, llm: LLMRequest, sensitivity: str, counts: Mapping[str, int], categories: tuple[str, ...],
        dlp_error: bool, mode: Mode, state_version: int,
    ) -> tuple[Any, ...] | None:
        """Everything ``build_policy_input`` reads except what the policy set declares unread.

        Equal keys must mean equal policy inputs (minus ``cache_ignore``): the view, tenant
        settings and params are fixed per requested provider and pipeline, and the routing
        state by its version. ``tests/core/test_decision_memo.py`` checks this against the
        decider's own cache key.
        """
        ign = self.decider.cache_ignore
        if "env.time" not in ign:
            return None  # the policy reads the clock: nothing can be reused
        ident = llm.identity
        return (
            llm.provider, str(llm.provider_kind), str(llm.endpoint), llm.host, llm.path, llm.method, llm.model,
            llm.parse_error is not None,
            None if "request.stream" in ign else llm.stream,
            None if "request.token_estimate" in ign else llm.token_estimate,
            None if "request.images" in ign else llm.images,
            ident.tenant,
            None if "caller.app" in ign else ident.app,
            None if "caller.source" in ign else ident.source,
            None if "caller.authenticated" in ign else ident.authenticated,
            sensitivity, tuple(sorted(counts.items())), categories, bool(dlp_error), mode, state_version,
        )

    def _map_model(self, provider: str, model: str | None) -> str | None:
        from govproxy.routing import map_model

        cfg = self.settings.providers[provider]
        try:
            return map_model(cfg, model)
        except ValueError:
            return model

    @staticmethod
    def _forward(tgt: Target, out_body: dict[str, Any] | None, original: dict[str, Any] | None) -> Forward:
        final = tgt.body if tgt.body is not None else out_body
        changed = final is not original and final is not None
        return Forward(
            tgt.provider, tgt.kind, tgt.model, tgt.scheme, tgt.host, tgt.port, tgt.path,
            json.dumps(final, ensure_ascii=False, separators=(",", ":")).encode() if changed else None,
            tgt.set_headers, tgt.remove_headers,
        )

    def _refuse(self, request_id: str, match: ProviderMatch, status: int, message: str, code: str) -> Plan:
        return Plan(request_id, "respond", provider=match.name, response=error_response(match.config.kind, status, message, code), reasons=[code])

    # --- records ------------------------------------------------------------------------

    def _decision_record(self, plan: Plan, req: IncomingRequest) -> dict[str, Any]:
        llm, d, scan = plan.llm, plan.decision, plan.scan
        ident = req.identity
        rec: dict[str, Any] = {
            "request_id": plan.request_id,
            "tenant": ident.tenant,
            "app": ident.app,
            "source": ident.source,
            "authenticated": ident.authenticated,
            "mode": req.mode,
            "provider": plan.provider,
            "provider_kind": llm.provider_kind.value if llm else None,
            "host": req.host,
            "port": req.port,
            "path": req.path.split("?", 1)[0],  # the query can carry keys (Gemini ?key=)
            "method": req.method,
            "endpoint": llm.endpoint.value if llm else None,
            "token_estimate": llm.token_estimate if llm else 0,
            "model": llm.model if llm else None,
            "stream": llm.stream if llm else False,
            "action": plan.action,
            "reasons": list(plan.reasons),
            "original_body_sha256": (original_hash := body_hash(req.body)),
            "governance_us": plan.governance_us,
        }
        if scan is not None:
            rec["sensitivity"] = scan.sensitivity.value
            rec["findings"] = dict(scan.counts)
            rec["categories"] = sorted(scan.categories)
            rec["dlp_errors"] = len(scan.errors)
            rec["images_unscanned"] = scan.images
        if d is not None:
            rec["decision"] = {
                "allow": d.allow,
                "deny": [{"code": r.code, "rule": r.rule} for r in d.deny],
                "rules_fired": list(d.rules_fired),
                "engine": d.engine,
                "error": d.error,
            }
            rec["policy_bundle"] = d.bundle_hash
        if plan.forward is not None:
            fwd = plan.forward
            rec["route"] = {"provider": fwd.provider, "model": fwd.model, "host": fwd.host, "failover": [f.provider for f in plan.alternatives]}
            rec["forwarded_body_sha256"] = body_hash(fwd.body) if fwd.body is not None else original_hash
        if plan.response is not None:
            rec["status"] = plan.response.status
        return rec

    def _content(self, plan: Plan) -> dict[str, Any]:
        """Text for the audit content modes: redacted text, or the original for encrypted storage."""
        if plan.llm is None:
            return {}
        # audit.content (config) is the operator's ceiling; a policy obligation can only lower it.
        if plan.decision is not None and plan.decision.obligations.audit_content == "none":
            return {}
        texts = [s.text for s in plan.llm.texts]
        red = plan.redacted_texts if plan.redacted_texts is not None else (texts if not (plan.scan and plan.scan.findings) else None)
        out: dict[str, Any] = {"original": {str(i): t for i, t in enumerate(texts)}}
        if red is not None:
            out["redacted"] = {str(i): t for i, t in enumerate(red)}
        return out

    def record_outcome(
        self,
        plan: Plan,
        *,
        status: int | None,
        usage: tuple[int, int] | None,
        latency_ms: int,
        error: str | None = None,
        provider: str | None = None,
        response_hash: str | None = None,
        failovers: int = 0,
        via_relay: bool = False,
    ) -> None:
        """The second record of a request, plus budgets and cost. Never raises, never waits."""
        if plan.llm is None:
            return
        fwd = plan.forward
        target = provider or (fwd.provider if fwd else plan.provider)
        model = fwd.model if fwd else plan.llm.model
        cost_micro = None
        estimated = usage is None
        if self.router is not None and target and not via_relay:
            # The relay's failover chain feeds breakers itself; the direct path does it here.
            self._feed_breaker(target, status, error, latency_ms)
        if self.router is not None and fwd is not None and status is not None and status < 400:
            from govproxy.routing import Usage

            u = Usage(usage[0], usage[1]) if usage else Usage(plan.llm.token_estimate, 0, estimated=True)
            try:
                cost = self.router.record_usage(tenant=plan.llm.identity.tenant, provider=target or "", model=model, usage=u)
                cost_micro = cost.usd_micro
                if self._has_budget(plan.llm.identity.tenant, target or ""):
                    self._state_changed(plan.llm.identity.tenant)  # usage can move its budget flags
            except Exception as exc:  # budgets are advisory after the fact; the record still gets written
                log.warning("govproxy: usage accounting failed: %s", type(exc).__name__)
        if self.audit is None:
            return
        rec: dict[str, Any] = {
            "request_id": plan.request_id,
            "tenant": plan.llm.identity.tenant,
            "provider": target,
            "model": model,
            "status": status,
            "latency_ms": latency_ms,
            "failovers": failovers,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]} if usage else None,
            "usage_estimated": estimated,
            "cost_micro_usd": cost_micro,
            "response_sha256": response_hash,
            "error": error,
        }
        try:
            # Nobody waits for it: the decision record made the request durable; a failed
            # commit is logged by the audit writer.
            self.audit.append_nowait("outcome", rec)
        except Exception as exc:
            log.error("govproxy: outcome record failed: %s", type(exc).__name__)


def _persistent_key(path: Path) -> bytes:
    """Read a 32-byte secret, creating it (mode 0600) on first use."""
    import os
    import secrets

    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    log.warning("govproxy: generated the DLP hashing key %s (keep it with the audit keys)", path)
    return key


def _compatible_for(endpoint: Any) -> Any:
    """Which provider kinds can take this request: any translatable family for chat, else the same family."""
    from govproxy.policy import same_family
    from govproxy.rewrite import CHAT_ENDPOINTS
    from govproxy.translate.kinds import family

    if endpoint not in CHAT_ENDPOINTS:
        return same_family

    def chat_compatible(request_kind: str, provider_kind: str) -> bool:
        try:
            family(provider_kind)
            return True
        except Exception:
            return same_family(request_kind, provider_kind)

    return chat_compatible


def _translating(upstream: ProviderKind, client: ProviderKind) -> bool:
    from govproxy.translate.kinds import family

    try:
        return family(upstream) is not family(client)
    except Exception:
        return upstream != client


def load_pipeline_for_dry_run(settings: Settings, policies: Path | None = None) -> Pipeline:
    if policies is not None:
        settings = settings.model_copy(update={"policy": {**settings.policy, "path": str(policies)}})
    return Pipeline.from_settings(settings, live=False)


__all__ = ["Forward", "IncomingRequest", "Mode", "Pipeline", "Plan", "Sensitivity", "body_hash"]
