"""``govproxy policy test|check|eval|schema``: the policy author's workflow, CI-friendly.

Exit codes: 0 success; 1 tests failed / check found errors / eval undefined with
``--fail``; 2 usage or load errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from govproxy.policy.config import default_policy_dir


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    policy = subparsers.add_parser("policy", help="test, check and evaluate Rego policies")
    sub = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    policy.set_defaults(func=lambda args: (policy.print_help(), 2)[1])

    t = sub.add_parser("test", help="run test_* rules in *_test.rego files")
    t.add_argument("dir", nargs="?", help="policy directory (default: the shipped policies)")
    t.add_argument("-q", "--quiet", action="store_true", help="print failures only (and the closing line)")
    t.add_argument("--coverage", action="store_true", help="report coverage (not supported by regopy)")
    t.set_defaults(func=cmd_test)

    c = sub.add_parser("check", help="compile and validate a policy directory (file:line errors)")
    c.add_argument("dir", nargs="?", help="policy directory (default: the shipped policies)")
    c.add_argument("--strict", action="store_true", help="treat warnings (regex dialect) as errors")
    c.set_defaults(func=cmd_check)

    e = sub.add_parser("eval", help="evaluate a query, like 'opa eval'")
    e.add_argument("query", help="Rego query, e.g. data.govproxy.decision")
    e.add_argument("-i", "--input", help="input JSON file")
    e.add_argument("-d", "--data", action="append", default=[],
                   help="policy directory, .rego file or data .json file (repeatable; default: shipped policies)")
    e.add_argument("--fail", action="store_true", help="exit 1 when the result is undefined")
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("schema", help="print the JSON Schema of policy input and decision")
    s.add_argument("which", nargs="?", choices=("input", "decision"), help="only one of the two")
    s.set_defaults(func=cmd_schema)


def _dir(arg: str | None) -> Path:
    return Path(arg) if arg else default_policy_dir()


def cmd_test(args: argparse.Namespace) -> int:
    from govproxy.policy.authoring import run_tests
    from govproxy.policy.source import PolicySourceError

    if args.coverage:
        print("coverage: not available: regopy exposes no evaluation trace", file=sys.stderr)
    try:
        report = run_tests(_dir(args.dir))
    except PolicySourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for issue in report.issues:
        print(f"ERROR {issue}")
    for o in report.outcomes:
        if o.passed:
            if not args.quiet:
                print(f"PASS {o.name} ({o.file}:{o.line})")
        else:
            print(f"FAIL {o.name} ({o.file}:{o.line}){': ' + o.detail if o.detail else ''}")
    failed = report.failed + (1 if report.issues else 0)
    print(f"{report.passed} passed, {failed} failed")
    return 0 if report.ok else 1


def cmd_check(args: argparse.Namespace) -> int:
    from govproxy.policy.authoring import check
    from govproxy.policy.source import PolicySourceError

    try:
        errors, warnings = check(_dir(args.dir), _sample_input())
    except PolicySourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in warnings:
        print(f"warning: {w}")
    for e in errors:
        print(f"error: {e}")
    bad = bool(errors) or (args.strict and bool(warnings))
    print(f"{len(errors)} errors, {len(warnings)} warnings")
    return 1 if bad else 0


def _sample_input() -> dict[str, Any]:
    from govproxy.policy.inputs import sample_policy_input

    return json.loads(sample_policy_input().model_dump_json())


def cmd_eval(args: argparse.Namespace) -> int:
    from regopy import RegoError  # type: ignore[import-untyped]
    from regopy.rego_shared import (  # type: ignore[import-untyped]
        rego_free_output,
        rego_output_ok,
        rego_output_string,
        rego_query,
    )

    from govproxy.policy.rego import new_interpreter, parse_error_tree
    from govproxy.policy.source import PolicySourceError, load_source

    interp = new_interpreter()
    sources: dict[str, str] = {}
    try:
        for item in args.data or [str(default_policy_dir())]:
            p = Path(item)
            if p.is_dir():
                src = load_source(p)
                for rel, text in src.modules.items():  # policies, not their tests
                    sources[str(p / rel)] = text
                if src.data:
                    interp.add_data(src.data)
            elif p.suffix == ".rego":
                sources[str(p)] = p.read_text(encoding="utf-8")
            elif p.suffix == ".json":
                interp.add_data_json(p.read_text(encoding="utf-8"))
            else:
                print(f"error: {p}: expected a directory, .rego or .json file", file=sys.stderr)
                return 2
        for name, text in sources.items():
            interp.add_module(name, text)
        if args.input:
            interp.set_input_term(Path(args.input).read_text(encoding="utf-8"))
        impl = rego_query(interp._impl, args.query)
        try:
            ok, text = rego_output_ok(impl), rego_output_string(impl)
        finally:
            rego_free_output(impl)
    except (OSError, PolicySourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RegoError as exc:
        for issue in parse_error_tree(str(exc), sources):
            print(f"error: {issue}", file=sys.stderr)
        return 2
    if not ok or text.startswith("(error"):
        print(f"error: {text.strip()[:2000]}", file=sys.stderr)
        return 2
    if text == "undefined":
        print("undefined")
        return 1 if args.fail else 0
    parsed = json.loads(text)
    print(json.dumps({"result": parsed if isinstance(parsed, list) else [parsed]}, indent=2, sort_keys=True))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from govproxy.policy.schema import schemas

    doc = schemas()
    print(json.dumps(doc[args.which] if args.which else doc, indent=2, sort_keys=True))
    return 0
