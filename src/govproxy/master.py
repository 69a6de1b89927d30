"""The mitmproxy master behind ``govproxy run``: mitmdump without the addons a governance proxy must not have.

Stock mitmdump loads ~35 addons and offers every one of them each request and response,
whether or not it is configured; that dispatch is a large share of mitmproxy's own cost
per request. Several of them also work against what govproxy promises:

- ``save``, ``savehar``, ``dumper`` and ``readfile`` write or print raw flows (prompts,
  PII, API keys in URLs) outside the audit trail;
- ``mapremote``, ``maplocal``, ``modifybody``, ``modifyheaders``, ``anticache``,
  ``anticomp``, ``stickycookie``, ``stickyauth`` rewrite traffic outside the pipeline, so
  what is sent would differ from what was decided and recorded;
- ``serverplayback``, ``clientplayback``, ``onboarding`` (the mitm.it page), ``browser``,
  ``cut``, ``export``, ``comment``, ``commandhistory`` serve interactive use.

:class:`GovernedMaster` removes them after they registered their options (so mitmdump's
command line keeps parsing) and refuses to start when one of their traffic-changing or
flow-writing options is set, rather than ignoring it silently. It also dispatches
events through :mod:`govproxy.dispatch` (the same calls in the same order, without
mitmproxy's per-addon bookkeeping). ``mitmdump -s addons/govproxy.py`` still runs
govproxy inside stock mitmdump for those who need the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mitmproxy import exceptions, options
from mitmproxy.addonmanager import _get_name
from mitmproxy.tools.dump import DumpMaster

from govproxy.dispatch import install as install_cached_dispatch

DROPPED_ADDONS = (
    "anticache", "anticomp", "browser", "clientplayback", "commandhistory", "comment", "cut",
    "dumper", "export", "maplocal", "mapremote", "modifybody", "modifyheaders", "onboarding",
    "readfilestdin", "save", "savehar", "serverplayback", "stickyauth", "stickycookie",
)

# Options of the dropped addons that change traffic or write flows: setting one is an error.
REFUSED_OPTIONS = (
    "anticache", "anticomp", "client_replay", "hardump", "map_local", "map_remote", "modify_body",
    "modify_headers", "rfile", "save_stream_file", "server_replay", "stickyauth", "stickycookie",
)


class _RefuseDroppedFeatures:
    """Fails option loading when a feature govproxy removed is asked for."""

    name = "govproxy-dropped-features"

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx

        for key in sorted(updated & set(REFUSED_OPTIONS)):
            value = getattr(ctx.options, key)
            if value != ctx.options.default(key):
                raise exceptions.OptionsError(
                    f"govproxy run does not support {key!r}: it would change or store traffic outside "
                    "the governance pipeline (use `mitmdump -s addons/govproxy.py` if you need it)"
                )


class GovernedMaster(DumpMaster):
    def __init__(self, opts: options.Options, loop: Any = None) -> None:
        super().__init__(opts, loop=loop, with_termlog=True, with_dumper=True)
        # Removed before they ever ran, so without their (sometimes async) ``done`` event,
        # which AddonManager.remove would call synchronously.
        dropped = [a for a in self.addons.chain if _get_name(a) in DROPPED_ADDONS]
        self.addons.chain = [a for a in self.addons.chain if a not in dropped]
        for addon in dropped:
            self.addons.lookup.pop(_get_name(addon), None)
        self.addons.add(_RefuseDroppedFeatures())
        install_cached_dispatch(self)


def run_governed(argv: Sequence[str]) -> None:
    """``mitmdump argv`` on :class:`GovernedMaster` (same command line, same signals)."""
    from mitmproxy.tools import cmdline
    from mitmproxy.tools.main import run

    run(GovernedMaster, cmdline.mitmdump, list(argv))
