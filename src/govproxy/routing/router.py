"""The routing subsystem behind one object, built from settings: what the proxy wires in.

Per request the proxy calls, in order:

1. :meth:`Router.policy_view` — health, budget and price of each candidate, for the policy input;
2. :meth:`Router.rank` — the policy-allowed candidates, best first, each with a reason;
3. :meth:`Router.attempt_chain` — send with failover (the proxy supplies ``send``);
4. :meth:`Router.record_usage` — cost, budgets and metrics once usage is known
   (or, for strict budgets, :meth:`Router.reserve_budget` before sending and
   :meth:`Router.settle_budget` after).

Explanations are stored along the way under the request id for ``govproxy explain``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from govproxy.config import Settings
from govproxy.routing.breaker import Circuit, CircuitBreakers, Health
from govproxy.routing.budgets import BudgetState, BudgetTracker, Reservation
from govproxy.routing.config import RoutingSettings, load_routing_settings
from govproxy.routing.cost import Cost, PriceTable, Usage, cost_usd
from govproxy.routing.explain import ExplanationStore
from govproxy.routing.failover import FinalOutcome, Outcome, attempt_chain
from govproxy.routing.latency import LatencyTracker
from govproxy.routing.mapping import map_model
from govproxy.routing.metrics import GovproxyMetrics
from govproxy.routing.selection import RankedCandidate, rank_candidates
from govproxy.routing.coalesce import CoalescingStore
from govproxy.routing.store import JsonDoc, StateStore, open_state_store


class Router:
    def __init__(
        self,
        settings: Settings,
        *,
        routing: RoutingSettings | None = None,
        store: StateStore | None = None,
        metrics: GovproxyMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.config = routing or load_routing_settings(settings)
        if store is None:
            store = open_state_store(self.config.state, clock=clock)
            if self.config.state.usage_flush_ms > 0:
                store = CoalescingStore(store, flush_interval_s=self.config.state.usage_flush_ms / 1000)
        self.store = store
        # Always present, so callers need no "if metrics" around each observation; it is
        # only served over HTTP when the ``metrics`` section opts in.
        self.metrics: GovproxyMetrics = metrics or GovproxyMetrics()
        rc = self.config.routing
        self.prices = PriceTable(settings.providers, builtin=rc.builtin_prices)
        self.breakers = CircuitBreakers(
            self.store,
            rc.breaker,
            clock=clock,
            on_change=self.metrics.set_circuit_state,
        )
        self.latency = LatencyTracker(window=rc.latency_window, window_s=rc.latency_window_s)
        self.budgets = BudgetTracker(self.store, providers=settings.providers, tenants=settings.tenants, clock=clock)
        self.explanations = ExplanationStore(self.store, ttl_s=rc.explain_ttl_days * 86400.0)

    def start_metrics_server(self) -> int | None:
        """Start the opt-in ``/metrics`` endpoint if the ``metrics`` section asks for it."""
        if self.config.metrics is None:
            return None
        return self.metrics.start_server(self.config.metrics.host, self.config.metrics.port)

    # -- policy input --------------------------------------------------------------------
    def health(self, provider: str) -> Health:
        return self.breakers.health(provider)

    def budget_state(self, tenant: str, provider: str) -> BudgetState:
        return self.budgets.state(tenant, provider)

    def policy_view(
        self,
        tenant: str,
        candidates: Iterable[str],
        requested_model: str | None = None,
        *,
        health: Mapping[str, Health] | None = None,
    ) -> dict[str, Any]:
        """Per candidate: health, budget, mapped model and price (integers only) for the policy input.

        Read health once with ``router.breakers.health_many(candidates)`` and pass it here and
        to :meth:`rank` to spend one state read instead of two.
        """
        names = [c for c in dict.fromkeys(candidates) if c in self.settings.providers]
        missing = [n for n in names if health is None or n not in health]
        if missing:
            health = {**(health or {}), **self.breakers.health_many(missing)}
        assert health is not None
        budgets = self.budgets.states(tenant, names)
        out: dict[str, Any] = {}
        for n in names:
            cfg = self.settings.providers[n]
            try:
                model: str | None = map_model(cfg, requested_model)
            except ValueError:
                model = None
            price = self.prices.lookup(n, model)
            out[n] = {
                "health": health[n].for_policy(),
                "budget": budgets[n].for_policy(),
                "model": model,
                "price": {
                    "input_usd_micro_per_mtok": price.input_micro_per_mtok,
                    "output_usd_micro_per_mtok": price.output_micro_per_mtok,
                    "source": price.source,
                },
            }
        return out

    # -- selection and sending -----------------------------------------------------------
    def rank(
        self,
        candidates: Sequence[str],
        *,
        requested_model: str | None,
        token_estimate: int,
        preferred: str | None = None,
        health: Mapping[str, Health] | None = None,
    ) -> list[RankedCandidate]:
        """Rank; pass the ``health`` already read for the policy input to save a state read."""
        return rank_candidates(
            candidates,
            providers=self.settings.providers,
            requested_model=requested_model,
            token_estimate=token_estimate,
            config=self.config.routing,
            prices=self.prices,
            health=health if health is not None else self.breakers.health_many(candidates),
            latency=self.latency,
            preferred=preferred,
        )

    async def attempt_chain(
        self,
        ranked: Sequence[RankedCandidate],
        send: Callable[[RankedCandidate], Awaitable[Outcome]],
        *,
        request_id: str | None = None,
    ) -> FinalOutcome:
        """Send with failover; with a ``request_id`` the candidates and attempts go to ``explain``."""
        final = await attempt_chain(
            ranked,
            send,
            config=self.config.routing,
            breakers=self.breakers,
            latency=self.latency,
            observer=self.metrics,
        )
        if request_id is not None:
            self.record_explanation(
                request_id,
                {"routing": {"candidates": [c.to_record() for c in ranked], **final.to_record()}},
            )
        return final

    def report_stream_failure(self, provider: str) -> None:
        """A response that broke off mid-stream counts against the provider's circuit."""
        self.breakers.record_failure(provider)

    # -- after the response --------------------------------------------------------------
    def record_usage(
        self,
        *,
        tenant: str,
        provider: str,
        model: str | None,
        usage: Usage,
        request_id: str | None = None,
    ) -> Cost:
        """Price the usage, add it to budgets and metrics; returns the cost (integer micro-USD)."""
        cost = cost_usd(self.prices, provider, model, usage.input_tokens, usage.output_tokens, estimated=usage.estimated)
        self.budgets.record(tenant, provider, usage, cost.usd_micro)
        self._account(tenant, provider, model, cost, request_id)
        return cost

    def reserve_budget(
        self, *, tenant: str, provider: str, model: str | None, token_estimate: int
    ) -> Reservation:
        """Take the request's estimated cost out of the budgets before sending (strict budgets).

        Raises :class:`~govproxy.routing.budgets.BudgetExceeded` when any limit would be
        passed; nothing is taken then. Follow with :meth:`settle_budget` in every case.
        """
        est_out = self.config.routing.expected_output_tokens
        est = self.prices.lookup(provider, model).cost_micro(token_estimate, est_out)
        return self.budgets.reserve(tenant, provider, token_estimate + est_out, est)

    def settle_budget(
        self,
        reservation: Reservation,
        *,
        model: str | None,
        usage: Usage | None,
        request_id: str | None = None,
    ) -> Cost | None:
        """Replace a reservation by the real usage (``usage`` None: nothing was sent; refund)."""
        if usage is None:
            self.budgets.settle(reservation, None, 0)
            return None
        p = reservation.provider
        cost = cost_usd(self.prices, p, model, usage.input_tokens, usage.output_tokens, estimated=usage.estimated)
        self.budgets.settle(reservation, usage, cost.usd_micro)
        self._account(reservation.tenant, p, model, cost, request_id)
        return cost

    def _account(self, tenant: str, provider: str, model: str | None, cost: Cost, request_id: str | None) -> None:
        usage = cost.usage
        self.metrics.observe_usage(
            provider=provider,
            model=model,
            tenant=tenant,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd_micro=cost.usd_micro,
            estimated=cost.estimated,
        )
        if request_id is not None:
            self.record_explanation(
                request_id,
                {
                    "usage": {
                        "input_tokens": usage.input_tokens,
                        "output_tokens": usage.output_tokens,
                        "estimated": cost.estimated,
                        "cost_usd_micro": cost.usd_micro,
                        "price_source": cost.price_source,
                    }
                },
            )

    # -- explain -------------------------------------------------------------------------
    def record_explanation(self, request_id: str, doc: Mapping[str, Any]) -> None:
        """Add to a request's explanation; contributions from several stages are merged on read."""
        self.explanations.record(request_id, doc)

    def explanation(self, request_id: str) -> JsonDoc | None:
        return self.explanations.get(request_id)

    def circuit_states(self, providers: Iterable[str]) -> dict[str, Circuit]:
        return {p: h.circuit for p, h in self.breakers.health_many(providers).items()}

    def close(self) -> None:
        self.metrics.stop_server()
        self.store.close()
