"""The pipeline's decision memo: reused only where the policy input would be the same."""

from __future__ import annotations

import asyncio
import itertools
import random
import shutil
from pathlib import Path

from govproxy.config import settings_from_dict
from govproxy.models import EndpointKind, Identity, LLMRequest, ProviderKind
from govproxy.pipeline import Pipeline
from govproxy.policy import PolicyInput

REPO = Path(__file__).resolve().parents[2]

SETTINGS = {
    "tenants": {"eu": {"residency": ["eu"]}, "locked": {"deny_providers": ["openai"]}},
}


def _requests(n: int, seed: int = 7) -> list[tuple[LLMRequest, str, dict[str, int], tuple[str, ...], bool, str]]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        provider, kind, host, path = rnd.choice([
            ("openai", ProviderKind.OPENAI, "api.openai.com", "/v1/chat/completions"),
            ("anthropic", ProviderKind.ANTHROPIC, "api.anthropic.com", "/v1/messages"),
        ])
        llm = LLMRequest(
            provider=provider, provider_kind=kind, endpoint=EndpointKind.CHAT, method="POST", scheme="https",
            host=host, port=443, path=path, model=rnd.choice(["m-a", "m-b"]), stream=rnd.random() < 0.5,
            images=rnd.choice([0, 1]), token_estimate=rnd.choice([10, 900]),
            parse_error=rnd.choice([None, None, "truncated"]),
            identity=Identity(tenant=rnd.choice(["default", "eu", "locked"]), app=rnd.choice([None, "app1"]),
                              source=rnd.choice(["127.0.0.1:1", "127.0.0.1:2"]), authenticated=rnd.random() < 0.5),
        )
        counts = rnd.choice([{}, {"EMAIL": 1}, {"EMAIL": 2}, {"PRIVATE_KEY": 1, "EMAIL": 1}])
        categories = tuple(sorted(rnd.choice([set(), {"pii"}, {"pii", "secret"}])))
        out.append((llm, rnd.choice(["public", "internal", "confidential", "critical"]), counts, categories,
                    rnd.random() < 0.2, rnd.choice(["proxy", "gateway"])))
    return out


def test_equal_memo_keys_always_mean_equal_cache_keys(tmp_path: Path) -> None:
    """Soundness: a memo hit may only ever return a decision for the same (relevant) input."""
    pl = Pipeline.from_settings(settings_from_dict(SETTINGS), live=False)
    try:
        built: list[PolicyInput] = []
        original = pl.decider.decide_keyed

        async def capture(key, build):  # type: ignore[no-untyped-def]
            built.append(build())
            return None

        pl.decider.decide_keyed = capture  # type: ignore[method-assign]
        rows = []
        for llm, sens, counts, cats, err, mode in _requests(400):
            asyncio.run(pl.decide(llm, sensitivity=sens, counts=counts, categories=cats, dlp_error=err, mode=mode))  # type: ignore[arg-type]
            pin = built[-1]
            memo = pl._decision_key(llm, sens, counts, cats, err, mode, 0)  # type: ignore[arg-type]
            payload = pin.model_dump_json().encode()
            rows.append((memo, pl.decider._cache_key(pin, payload)))
        pl.decider.decide_keyed = original  # type: ignore[method-assign]
        shared = 0
        for (m1, c1), (m2, c2) in itertools.combinations(rows, 2):
            if m1 == m2:
                shared += 1
                assert c1 == c2
        # Not vacuous: requests differing only in fields the shipped set ignores share a key.
        assert shared > 0
        assert len({m for m, _ in rows}) < len(rows)
    finally:
        pl.close()


def test_memo_skips_building_the_input_until_state_or_policy_changes(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Routing state is re-read every 250 ms; a slow machine must not turn that into a rebuild here.
    monkeypatch.setattr("govproxy.pipeline.STATE_CACHE_S", 60.0)
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    pl = Pipeline.from_settings(settings_from_dict({
        **SETTINGS,
        "policy": {"path": str(policies), "reload_interval_s": 0.1},
        "state": {"path": str(tmp_path / "state.sqlite3")},
        "audit": {"path": str(tmp_path / "audit" / "govproxy.db"), "signing_key": str(tmp_path / "audit" / "signing.key")},
    }))
    try:
        builds = 0
        real = pl.decider.decide_keyed

        async def counting(key, build):  # type: ignore[no-untyped-def]
            def counted():  # type: ignore[no-untyped-def]
                nonlocal builds
                builds += 1
                return build()
            return await real(key, counted)

        pl.decider.decide_keyed = counting  # type: ignore[method-assign]
        llm = _requests(1)[0][0].model_copy(update={"parse_error": None})

        def decide(tokens: int = 10, fresh_state: bool = False) -> object:
            if fresh_state:
                pl._state_changed()  # what a circuit transition or this tenant's usage does
            req = llm.model_copy(update={"token_estimate": tokens})
            return asyncio.run(pl.decide(req, sensitivity="internal", counts={"EMAIL": 1}, categories=("pii",),
                                         dlp_error=False, mode="proxy"))

        first = decide()
        assert builds == 1
        again = decide(tokens=500)  # a field the shipped set declares unread
        assert builds == 1 and again.model_dump() == first.model_dump()  # type: ignore[attr-defined]
        assert pl.decider.counters["cache_hits"] >= 1
        decide(fresh_state=True)  # circuit or budget state read afresh: the input is built again
        assert builds == 2
        # A policy change (new bundle hash) must not be answered from the memo.
        before = pl.decider.bundle_hash
        (policies / "govproxy" / "extra.rego").write_text("package govproxy.extra\n\nimport rego.v1\n\nmarker := 1\n")
        deadline = asyncio.run(_wait_for(lambda: pl.decider.bundle_hash != before))
        assert deadline, "policy set was not reloaded"
        decide()
        assert builds == 3
    finally:
        pl.close()


async def _wait_for(pred, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if pred():
            return True
        await asyncio.sleep(0.05)
    return False
