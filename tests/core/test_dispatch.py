"""govproxy run's hook dispatch calls exactly what mitmproxy's own would, in the same order."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from mitmproxy import exceptions, options
from mitmproxy.master import Master
from mitmproxy.proxy.layers import http as http_layer
from mitmproxy.test import tflow

from govproxy.dispatch import CachedDispatch, install
from govproxy.master import GovernedMaster


class Recorder:
    """A top-level addon with a sync and an async hook and two levels of sub-addons."""

    def __init__(self, name: str, calls: list[str], *, fail: bool = False, halt: bool = False, kids: int = 2) -> None:
        self.name = name
        self.calls = calls
        self.fail = fail
        self.halt = halt
        self.addons = [Child(f"{name}.{i}", calls) for i in range(kids)]

    def request(self, flow: Any) -> None:
        self.calls.append(f"{self.name}:request")
        if self.fail:
            raise ValueError("boom")
        if self.halt:
            raise exceptions.AddonHalt()

    async def response(self, flow: Any) -> None:
        await asyncio.sleep(0)
        self.calls.append(f"{self.name}:response")


class Child:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls
        self.addons = [Leaf(name + ".leaf", calls)]

    async def request(self, flow: Any) -> None:
        self.calls.append(f"{self.name}:request")


class Leaf:
    log = logging  # a module under a hook's name is skipped, as mitmproxy skips it

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls

    def request(self, flow: Any) -> None:
        self.calls.append(f"{self.name}:request")

    def update(self, flows: Any) -> None:
        self.calls.append(f"{self.name}:update")


def _run(cached: bool, build: Any) -> list[str]:
    async def go() -> list[str]:
        master = Master(options.Options())
        if cached:
            install(master)
        calls: list[str] = []
        for addon in build(calls):
            master.addons.add(addon)
        flow = tflow.tflow(resp=True)
        await master.addons.handle_lifecycle(http_layer.HttpRequestHook(flow))
        await master.addons.handle_lifecycle(http_layer.HttpResponseHook(flow))
        await master.addons.handle_lifecycle(http_layer.HttpErrorHook(flow))  # nobody handles it
        await master.done()  # uninstalls the master's log handler, bound to this loop
        return calls

    return asyncio.run(go())


def _same(build: Any) -> list[str]:
    stock, ours = _run(False, build), _run(True, build)
    assert ours == stock
    return ours


def test_calls_and_their_order_match_mitmproxy() -> None:
    calls = _same(lambda c: [Recorder("a", c), Recorder("b", c, kids=0), Recorder("c", c, kids=1)])
    assert calls[:4] == ["a:request", "a.0:request", "a.0.leaf:request", "a.1:request"]
    assert calls.count("a.0.leaf:update") == 3  # an update event follows each flow event
    assert "b:response" in calls


def test_an_error_is_logged_and_skips_only_the_rest_of_that_addon(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        calls = _same(lambda c: [Recorder("a", c, fail=True), Recorder("b", c)])
    assert "a.0:request" not in calls and "b:request" in calls and "b.1.leaf:request" in calls
    errors = [r for r in caplog.records if "Addon error: boom" in r.getMessage()]
    assert len(errors) == 2  # once per run: stock, then ours, logged the same way
    assert all(r.exc_info is not None for r in errors)


def test_addon_halt_stops_the_event() -> None:
    calls = _same(lambda c: [Recorder("a", c, halt=True), Recorder("b", c)])
    assert "b:request" not in calls and "b:response" in calls


def test_the_table_follows_addons_added_and_removed_at_run_time() -> None:
    async def go() -> list[str]:
        master = Master(options.Options())
        mgr = install(master)
        calls: list[str] = []
        first = Recorder("a", calls, kids=0)
        mgr.add(first)
        flow = tflow.tflow()
        await mgr.handle_lifecycle(http_layer.HttpRequestHook(flow))
        mgr.add(Recorder("b", calls, kids=0))
        await mgr.handle_lifecycle(http_layer.HttpRequestHook(flow))
        mgr.remove(first)
        await mgr.handle_lifecycle(http_layer.HttpRequestHook(flow))
        mgr.chain = list(reversed(mgr.chain))  # what GovernedMaster does when it drops addons
        await mgr.handle_lifecycle(http_layer.HttpRequestHook(flow))
        await master.done()
        return calls

    assert asyncio.run(go()) == ["a:request", "a:request", "b:request", "b:request", "b:request"]


def test_govproxy_run_master_uses_it_and_keeps_its_addons() -> None:
    async def build() -> tuple[Any, list[str]]:
        master = GovernedMaster(options.Options())
        names = [type(a).__name__ for a in master.addons.chain]
        await master.done()
        return master.addons, names

    mgr, names = asyncio.run(build())
    assert isinstance(mgr, CachedDispatch)
    assert "Proxyserver" in names and "ScriptLoader" in names
    assert mgr.handlers("request") and not mgr.handlers("update")  # nobody in govproxy run handles update


def test_an_unexpected_addon_manager_keeps_mitmproxys_own_dispatch(caplog: pytest.LogCaptureFixture) -> None:
    """If a mitmproxy release changes the manager's internals, nothing breaks: it is left as is."""

    async def go() -> tuple[Any, Any, Any]:
        master = Master(options.Options())
        mgr = install(master)
        assert mgr is not None
        again = install(master)  # already ours: not the class it expects
        await master.done()
        return mgr, again, master.addons

    with caplog.at_level(logging.WARNING):
        mgr, again, current = asyncio.run(go())
    assert again is None and current is mgr
    assert "using its own dispatch" in caplog.text
