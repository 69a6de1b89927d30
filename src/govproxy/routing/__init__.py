"""Routing: candidate selection, failover, circuit breakers, budgets, cost, metrics.

Pure components with no mitmproxy imports; :class:`Router` composes them from settings.
"""

from govproxy.routing.breaker import Circuit, CircuitBreakers, Health
from govproxy.routing.budgets import BudgetExceeded, BudgetState, BudgetTracker, Reservation
from govproxy.routing.config import (
    MetricsConfig,
    RoutingConfig,
    RoutingSettings,
    StateConfig,
    load_routing_settings,
)
from govproxy.routing.cost import Cost, PriceTable, Usage, cost_usd, estimate_tokens, usage_or_estimate
from govproxy.routing.explain import ExplanationStore
from govproxy.routing.failover import Attempt, FinalOutcome, Outcome, OutcomeKind, attempt_chain, parse_retry_after
from govproxy.routing.latency import LatencyTracker
from govproxy.routing.mapping import ModelMappingError, map_model
from govproxy.routing.metrics import GovproxyMetrics
from govproxy.routing.router import Router
from govproxy.routing.selection import RankedCandidate, rank_candidates
from govproxy.routing.store import RedisStateStore, SQLiteStateStore, StateStore, StateStoreError, open_state_store

__all__ = [
    "Attempt",
    "BudgetExceeded",
    "BudgetState",
    "BudgetTracker",
    "Circuit",
    "CircuitBreakers",
    "Cost",
    "ExplanationStore",
    "FinalOutcome",
    "GovproxyMetrics",
    "Health",
    "LatencyTracker",
    "MetricsConfig",
    "ModelMappingError",
    "Outcome",
    "OutcomeKind",
    "PriceTable",
    "RankedCandidate",
    "RedisStateStore",
    "Reservation",
    "Router",
    "RoutingConfig",
    "RoutingSettings",
    "SQLiteStateStore",
    "StateConfig",
    "StateStore",
    "StateStoreError",
    "Usage",
    "attempt_chain",
    "cost_usd",
    "estimate_tokens",
    "load_routing_settings",
    "map_model",
    "open_state_store",
    "parse_retry_after",
    "rank_candidates",
    "usage_or_estimate",
]
