"""govproxy: policy-as-code governance for outbound LLM traffic.

Subsystems contribute their own subcommands through a ``register(subparsers)`` function
in their ``cli`` module, so each stays testable alone and this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

# Subsystem CLI modules; each exposes register(subparsers) adding parsers whose
# set_defaults(func=...) handler takes the parsed args and returns an exit code.
SUBSYSTEM_CLIS = (
    "govproxy.proxy_cli",
    "govproxy.dryrun",
    "govproxy.replay",
    "govproxy.standin.cli",
    "govproxy.demo",
    "govproxy.dlp.cli",
    "govproxy.policy.cli",
    "govproxy.audit.cli",
    "govproxy.routing.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govproxy", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBSYSTEM_CLIS:
        try:
            if importlib.util.find_spec(name) is None:
                continue
        except ModuleNotFoundError:  # the subsystem package itself is not there yet
            continue
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
