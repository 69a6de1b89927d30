"""A hook dispatch for ``govproxy run`` that does per event what mitmproxy does, at a fraction of the cost.

mitmproxy's :class:`~mitmproxy.addonmanager.AddonManager` offers every event to every addon
in its chain: per event and per addon it walks the addon's sub-addons with a generator, looks
the hook up with ``getattr``, builds a coroutine (``invoke_addon``) and enters a
``contextlib`` context manager (``safecall``), and it rebuilds the event's arguments for each
handler. A flow event is then offered a second time as an ``update`` event. Under load with
eight clients that bookkeeping was a fifth of the proxy process's GIL time (py-spy, see
``bench/RESULTS.md``), most of it for addons that have no handler for the event at all.

:class:`CachedDispatch` keeps, per event name, the handlers in the order mitmproxy would
call them, grouped by top-level addon, and calls only those. What it keeps the same:

- the order of calls (chain order, each addon before its sub-addons);
- error isolation: an exception in a handler is logged exactly as mitmproxy logs it (through
  mitmproxy's own ``safecall``) and skips the rest of that top-level addon's handlers for this
  event, as before; ``AddonHalt`` stops the event; ``OptionsError`` propagates;
- async and sync handlers, awaited alike.

The table is rebuilt after anything that can change the chain: ``add``, ``register``,
``remove``, ``clear``, assigning ``chain``, and every option change (the script loader
reorders or reloads scripts while configuring).
"""

from __future__ import annotations

import inspect
import logging
import types
from collections.abc import Callable
from typing import Any

from mitmproxy import exceptions, hooks
from mitmproxy.addonmanager import AddonManager, safecall, traverse

_Group = tuple[Callable[..., Any], ...]
logger = logging.getLogger(__name__)


class CachedDispatch(AddonManager):
    """An AddonManager whose asynchronous events go straight to the addons that handle them."""

    _table: dict[str, list[_Group]]

    def __init__(self, master: Any) -> None:
        self._table = {}
        super().__init__(master)

    # -- keeping the table true -----------------------------------------------------------
    @property  # type: ignore[override]
    def chain(self) -> list[Any]:
        return self._chain

    @chain.setter
    def chain(self, value: list[Any]) -> None:
        self._chain = value
        self._table = {}

    def _configure_all(self, updated: Any) -> None:
        self._table = {}
        try:
            super()._configure_all(updated)
        finally:
            self._table = {}

    def register(self, addon: Any) -> Any:
        try:
            return super().register(addon)
        finally:
            self._table = {}

    def add(self, *addons: Any) -> None:
        try:
            super().add(*addons)
        finally:
            self._table = {}

    def remove(self, addon: Any) -> None:
        try:
            super().remove(addon)
        finally:
            self._table = {}

    def clear(self) -> None:
        try:
            super().clear()
        finally:
            self._table = {}

    def handlers(self, name: str) -> list[_Group]:
        """The handlers of event ``name``, one group per top-level addon that has any
        (found as mitmproxy's ``_iter_hooks`` finds them)."""
        groups = self._table.get(name)
        if groups is None:
            groups = []
            for top in self._chain:
                found: list[Callable[..., Any]] = []
                for addon in traverse([top]):
                    func = getattr(addon, name, None)
                    if not func or isinstance(func, types.ModuleType):
                        continue  # a module imported under a hook's name is not a handler
                    if not callable(func):
                        raise exceptions.AddonManagerError(f"Addon handler {name} ({addon}) not callable")
                    found.append(func)
                if found:
                    groups.append(tuple(found))
            self._table[name] = groups
        return groups

    # -- dispatch -------------------------------------------------------------------------
    async def trigger_event(self, event: hooks.Hook) -> None:
        groups = self.handlers(event.name)
        if not groups:
            return
        args = event.args()
        for group in groups:
            try:
                for func in group:
                    res = func(*args)
                    if res is not None and inspect.isawaitable(res):
                        await res
            except exceptions.AddonHalt:
                return
            except exceptions.OptionsError:
                raise
            except Exception:
                with safecall():  # logged by mitmproxy's own handler, exactly as before
                    raise


def install(master: Any) -> CachedDispatch | None:
    """Turn ``master.addons`` into a :class:`CachedDispatch`, in place: the same object with
    the same addons in the same order (addons that keep a reference to it keep working).

    This leans on AddonManager's internals (a ``chain`` list, ``_configure_all`` connected to
    option changes). If a mitmproxy release changes them, mitmproxy's own dispatch stays in
    place (slower, never wrong) and a warning says so."""
    mgr: AddonManager = master.addons
    if type(mgr) is not AddonManager or not isinstance(mgr.__dict__.get("chain"), list):
        logger.warning("govproxy: mitmproxy's addon manager is not the one expected; using its own dispatch")
        return None
    master.options.changed.disconnect(mgr._configure_all)
    chain = mgr.__dict__.pop("chain")
    mgr.__class__ = CachedDispatch
    assert isinstance(mgr, CachedDispatch)
    mgr._chain = chain
    mgr._table = {}
    master.options.changed.connect(mgr._configure_all)
    return mgr
