"""Budgets per tenant and per provider: daily and monthly, in USD and tokens.

Usage is added to counters keyed by scope, name and calendar period (UTC day, UTC month),
so a new day simply starts new counters and nothing has to be reset. The router records;
the policy decides: :meth:`BudgetTracker.state` is what the policy input carries, and the
shipped policy denies or downgrades when ``exhausted``.

Spending is post-paid (a request's cost is known when it ends), so by default a budget can
be overrun by the requests in flight when it runs out. Where that matters, :meth:`reserve`
takes an estimate out of every applicable budget atomically before sending — two
instances sharing Redis can then never both take the last of a budget — and
:meth:`settle` corrects it to the real usage afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from govproxy.config import Budget, ProviderConfig, TenantConfig
from govproxy.routing.cost import MICRO, Usage
from govproxy.routing.store import CounterDelta, StateStore

Scope = Literal["tenant", "provider"]
Period = Literal["daily", "monthly"]

WARN_PERCENT = 80
_TTL = {"daily": 3 * 86400.0, "monthly": 62 * 86400.0}


def usd_to_micro(usd: float | None) -> int | None:
    if usd is None:
        return None
    return int((Decimal(str(usd)) * MICRO).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class BudgetWindow:
    """One counter against one limit. Money is integer micro-USD (``unit: usd_micro``)."""

    period: Period
    unit: Literal["usd_micro", "tokens"]
    used: int
    limit: int | None
    percent: int | None = None
    warn: bool = False
    exhausted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "unit": self.unit,
            "used": self.used,
            "limit": self.limit,
            "percent": self.percent,
            "warn": self.warn,
            "exhausted": self.exhausted,
        }


@dataclass(frozen=True, slots=True)
class ScopeBudget:
    scope: Scope
    name: str
    exhausted: bool
    warn: bool
    windows: dict[str, BudgetWindow]  # daily_usd, monthly_usd, daily_tokens, monthly_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "name": self.name,
            "exhausted": self.exhausted,
            "warn": self.warn,
            "windows": {k: w.to_dict() for k, w in self.windows.items()},
        }


@dataclass(frozen=True, slots=True)
class BudgetState:
    """What the policy sees: ``exhausted`` at 100 % of any limit, ``warn`` from 80 %.

    Plain dataclasses rather than pydantic: this is built for every candidate of every
    request, and its shape is published through :meth:`for_policy` (integers, no floats).
    """

    exhausted: bool
    warn: bool
    tenant: ScopeBudget
    provider: ScopeBudget

    def for_policy(self) -> dict[str, Any]:
        return {
            "exhausted": self.exhausted,
            "warn": self.warn,
            "tenant": self.tenant.to_dict(),
            "provider": self.provider.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Reservation:
    """Estimated usage taken from budgets before sending; give it back to :meth:`BudgetTracker.settle`."""

    tenant: str
    provider: str
    usd_micro: int
    tokens: int
    day: str
    month: str


class BudgetExceeded(Exception):
    """A reservation would pass a limit; ``key`` names the scope and window (never usage content)."""

    def __init__(self, scope: Scope, name: str, window: str) -> None:
        super().__init__(f"{scope} {name!r}: {window} budget would be exceeded")
        self.scope, self.name, self.window = scope, name, window


@lru_cache(maxsize=8)
def _periods_of_day(day_number: int) -> tuple[str, str]:
    dt = datetime.fromtimestamp(day_number * 86400, UTC)
    return dt.strftime("%Y-%m-%d"), dt.strftime("%Y-%m")


def _periods(now: float) -> tuple[str, str]:
    """(UTC day, UTC month) stamps naming the counters in force at ``now``."""
    return _periods_of_day(int(now // 86400))


def _key(scope: Scope, name: str, period: Period, stamp: str) -> str:
    return f"budget:{scope}:{name}:{'d' if period == 'daily' else 'm'}:{stamp}"


def _window(period: Period, unit: Literal["usd_micro", "tokens"], used: int, limit: int | None) -> BudgetWindow:
    if limit is None:
        return BudgetWindow(period=period, unit=unit, used=used, limit=None)
    percent = 100 if limit <= 0 else (used * 100) // limit
    return BudgetWindow(
        period=period,
        unit=unit,
        used=used,
        limit=limit,
        percent=percent,
        warn=used * 100 >= WARN_PERCENT * limit,
        exhausted=used >= limit,
    )


class BudgetTracker:
    def __init__(
        self,
        store: StateStore,
        *,
        providers: Mapping[str, ProviderConfig],
        tenants: Mapping[str, TenantConfig],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._providers = providers
        self._tenants = tenants
        self._clock = clock
        self._limit_cache: dict[tuple[Scope, str], tuple[int | None, int | None, int | None, int | None]] = {}

    def _budget(self, scope: Scope, name: str) -> Budget | None:
        cfg = (self._tenants if scope == "tenant" else self._providers).get(name)
        return cfg.budget if cfg is not None else None

    def _limits(self, scope: Scope, name: str) -> tuple[int | None, int | None, int | None, int | None]:
        """(daily µUSD, monthly µUSD, daily tokens, monthly tokens), converted once per name."""
        key = (scope, name)
        hit = self._limit_cache.get(key)
        if hit is None:
            b = self._budget(scope, name) or Budget()
            hit = (usd_to_micro(b.daily_usd), usd_to_micro(b.monthly_usd), b.daily_tokens, b.monthly_tokens)
            self._limit_cache[key] = hit
        return hit

    def _deltas(
        self, tenant: str, provider: str, usd_micro: int, tokens: int, day: str, month: str, *, limits: bool
    ) -> list[CounterDelta]:
        out = []
        for scope, name in (("tenant", tenant), ("provider", provider)):
            d_usd, m_usd, d_tok, m_tok = self._limits(scope, name)  # type: ignore[arg-type]
            for period, stamp in (("daily", day), ("monthly", month)):
                lim_usd = lim_tok = None
                if limits:
                    lim_usd, lim_tok = (d_usd, d_tok) if period == "daily" else (m_usd, m_tok)
                out.append(
                    CounterDelta(
                        _key(scope, name, period, stamp),  # type: ignore[arg-type]
                        usd_micro,
                        tokens,
                        _TTL[period],
                        lim_usd,
                        lim_tok,
                    )
                )
        return out

    def record(self, tenant: str, provider: str, usage: Usage, cost_usd_micro: int) -> None:
        """Add one finished request's usage and cost to the tenant's and the provider's budgets."""
        if cost_usd_micro < 0:
            raise ValueError("cost cannot be negative")
        day, month = _periods(self._clock())
        self._store.incr_counters(
            self._deltas(tenant, provider, cost_usd_micro, usage.total_tokens, day, month, limits=False)
        )

    def reserve(self, tenant: str, provider: str, est_tokens: int, est_usd_micro: int) -> Reservation:
        """Take an estimate out of all applicable budgets at once, or raise :class:`BudgetExceeded`."""
        day, month = _periods(self._clock())
        deltas = self._deltas(tenant, provider, est_usd_micro, est_tokens, day, month, limits=True)
        failed = self._store.reserve(deltas)
        if failed is not None:
            _, scope, name_and_rest = failed.split(":", 2)
            name, letter, _stamp = name_and_rest.rsplit(":", 2)
            delta = next(d for d in deltas if d.key == failed)
            period = "daily" if letter == "d" else "monthly"
            usd_hit = delta.limit_usd_micro is not None
            used = self._store.get_counters([failed])[failed]
            if usd_hit and used[0] + delta.usd_micro > delta.limit_usd_micro:  # type: ignore[operator]
                unit = "usd"
            else:
                unit = "tokens"
            raise BudgetExceeded(scope, name, f"{period}_{unit}")  # type: ignore[arg-type]
        return Reservation(tenant, provider, est_usd_micro, est_tokens, day, month)

    def settle(self, reservation: Reservation, usage: Usage | None, cost_usd_micro: int) -> None:
        """Replace a reservation by the real usage (``usage`` None: the request never ran; refund it)."""
        tokens = usage.total_tokens if usage is not None else 0
        if usage is None:
            cost_usd_micro = 0
        self._store.incr_counters(
            self._deltas(
                reservation.tenant,
                reservation.provider,
                cost_usd_micro - reservation.usd_micro,
                tokens - reservation.tokens,
                reservation.day,
                reservation.month,
                limits=False,
            )
        )

    def state(self, tenant: str, provider: str) -> BudgetState:
        return self.states(tenant, [provider])[provider]

    def states(self, tenant: str, providers: Iterable[str]) -> dict[str, BudgetState]:
        """Budget state of the tenant combined with each provider, read in one round trip."""
        names = list(dict.fromkeys(providers))
        day, month = _periods(self._clock())
        keys = [_key("tenant", tenant, "daily", day), _key("tenant", tenant, "monthly", month)]
        for p in names:
            keys += [_key("provider", p, "daily", day), _key("provider", p, "monthly", month)]
        counters = self._store.get_counters(keys)
        tenant_scope = self._scope("tenant", tenant, counters[keys[0]], counters[keys[1]])
        out = {}
        for i, p in enumerate(names):
            prov = self._scope("provider", p, counters[keys[2 + 2 * i]], counters[keys[3 + 2 * i]])
            out[p] = BudgetState(
                exhausted=tenant_scope.exhausted or prov.exhausted,
                warn=tenant_scope.warn or prov.warn,
                tenant=tenant_scope,
                provider=prov,
            )
        return out

    def _scope(self, scope: Scope, name: str, daily: tuple[int, int], monthly: tuple[int, int]) -> ScopeBudget:
        d_usd, m_usd, d_tok, m_tok = self._limits(scope, name)
        windows = {
            "daily_usd": _window("daily", "usd_micro", daily[0], d_usd),
            "monthly_usd": _window("monthly", "usd_micro", monthly[0], m_usd),
            "daily_tokens": _window("daily", "tokens", daily[1], d_tok),
            "monthly_tokens": _window("monthly", "tokens", monthly[1], m_tok),
        }
        return ScopeBudget(
            scope=scope,
            name=name,
            exhausted=any(w.exhausted for w in windows.values()),
            warn=any(w.warn for w in windows.values()),
            windows=windows,
        )
