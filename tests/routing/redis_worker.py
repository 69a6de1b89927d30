"""A separate govproxy process sharing state through Redis (driven by test_redis_shared.py).

Usage: python redis_worker.py REDIS_URL START_AT ACTION N
Prints one JSON line with what this process saw.
"""

from __future__ import annotations

import json
import sys
import time

from govproxy.config import settings_from_dict
from govproxy.routing import BudgetExceeded, Router, Usage


def main() -> None:
    url, start_at, action, n = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    settings = settings_from_dict(
        {
            "tenants": {"acme": {"budget": {"daily_tokens": 150}}},
            "state": {"backend": "redis", "redis_url": url, "key_prefix": "shared:"},
            "routing": {"breaker": {"failures_to_open": 3, "cooldown_s": 3}},
        }
    )
    router = Router(settings)
    while time.time() < start_at:  # start together with the other process
        time.sleep(0.001)
    out: dict[str, object] = {}
    if action == "record":
        for _ in range(n):
            router.record_usage(tenant="acme", provider="openai", model="gpt-4o-mini", usage=Usage(1, 0))
        # Alone this process spends 100 of 150 tokens: it sees "exhausted" only through the other's spend.
        deadline = time.time() + 20
        while not router.budget_state("acme", "openai").exhausted and time.time() < deadline:
            time.sleep(0.01)
    elif action == "reserve":
        won = 0
        for _ in range(n):
            try:
                router.budgets.reserve("acme", "openai", est_tokens=1, est_usd_micro=0)
                won += 1
            except BudgetExceeded:
                pass
        out["won"] = won
    elif action == "fail":
        for _ in range(n):
            router.breakers.record_failure("openai")
    elif action == "probe":
        out["probe"] = router.breakers.allow("openai").allowed
    out["exhausted"] = router.budget_state("acme", "openai").exhausted
    out["circuit"] = router.health("openai").circuit.value
    router.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
