"""``govproxy scan FILE|-``: show policy authors what the proxy's DLP sees in a text."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from govproxy.dlp.config import DlpConfig, HmacKeyError
from govproxy.dlp.model import Action, ScanResult, Sensitivity
from govproxy.dlp.scanner import Scanner
from govproxy.dlp.vault import PseudonymVault


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "scan",
        help="scan a file (or - for stdin) with the DLP detectors",
        description="Print findings, sensitivity and the redacted text the model would receive.",
    )
    p.add_argument("file", nargs="?", help="text file to scan, or - for stdin")
    p.add_argument(
        "-c",
        "--config",
        help="govproxy.yaml whose 'dlp' section configures the scanner",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--action",
        action="append",
        default=[],
        metavar="TYPE=ACTION",
        help="override the action for an entity type (mask|hash|pseudonymise|allow); repeatable",
    )
    p.add_argument("--tenant", default="default", help="tenant whose key 'hash' uses")
    p.add_argument(
        "--sensitivity",
        help="raise the result like an X-Govproxy-Sensitivity header would",
    )
    p.add_argument(
        "--show-values",
        action="store_true",
        help="print matched values in the table (local use only)",
    )
    p.add_argument(
        "--fail-on",
        choices=[s.value for s in Sensitivity],
        help="exit 1 when sensitivity is at least this",
    )
    p.add_argument(
        "--list-detectors",
        action="store_true",
        help="list the configured detectors and exit",
    )
    p.set_defaults(func=run_scan)


def _load_config(path: str | None) -> tuple[DlpConfig, Path | None]:
    if path is None:
        return DlpConfig(), None
    from govproxy.config import load_settings

    settings = load_settings(path)
    return DlpConfig.from_section(settings.dlp, str(path)), Path(path).resolve().parent


def _parse_actions(items: list[str]) -> dict[str, Action]:
    out: dict[str, Action] = {}
    for item in items:
        name, sep, action = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--action {item!r}: expected TYPE=ACTION")
        try:
            out[name.strip().upper()] = Action(action.strip().lower())
        except ValueError:
            raise ValueError(
                f"--action {item!r}: action must be one of mask, hash, pseudonymise, allow"
            ) from None
    return out


def _line_col(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{col}"


def run_scan(args: argparse.Namespace) -> int:
    try:
        config, base_dir = _load_config(args.config)
        actions = _parse_actions(args.action)
        scanner = Scanner(config, base_dir=base_dir)
    except (ValueError, HmacKeyError, OSError) as exc:
        print(f"govproxy scan: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001  ConfigError from govproxy.config, reported not raised
        print(f"govproxy scan: {exc}", file=sys.stderr)
        return 2
    if args.list_detectors:
        for d in scanner.detectors:
            print(
                f"{d.name:<24} {d.entity_type:<24} {d.category.value:<7} {d.description}"
            )
        return 0
    if not args.file:
        print("govproxy scan: give a FILE or - for stdin", file=sys.stderr)
        return 2
    try:
        text = (
            sys.stdin.read()
            if args.file == "-"
            else Path(args.file).read_text(encoding="utf-8")
        )
    except (OSError, UnicodeDecodeError) as exc:
        print(f"govproxy scan: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    result = scanner.scan([text])
    try:
        result = result.raised_to(args.sensitivity)
    except ValueError as exc:
        print(f"govproxy scan: --sensitivity: {exc}", file=sys.stderr)
        return 2
    vault = PseudonymVault()
    redacted = scanner.redact([text], result, actions, vault, tenant=args.tenant)[0]
    merged = scanner.default_actions()
    merged.update(actions)
    if args.json:
        out = result.to_dict()
        out["actions"] = {t: merged.get(t, Action.MASK).value for t in result.counts}
        out["redacted"] = redacted
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        _print_human(text, result, redacted, merged, args.show_values)
    if args.fail_on and result.sensitivity >= Sensitivity(args.fail_on):
        return 1
    return 0


def _print_human(
    text: str,
    result: ScanResult,
    redacted: str,
    actions: dict[str, Action],
    show_values: bool,
) -> None:
    print(f"sensitivity: {result.sensitivity.value}")
    if result.errors:
        print("errors (the request would fail closed):")
        for e in result.errors:
            print(f"  - {e}")
    if result.findings:
        header = f"{'#':>3}  {'entity type':<24} {'category':<8} {'at':>8} {'len':>5}  {'action':<12} {'hash':<12}"
        print(f"\n{len(result.findings)} finding(s):")
        print(header + ("  value" if show_values else ""))
        for i, f in enumerate(result.findings, 1):
            line = (
                f"{i:>3}  {f.entity_type:<24} {f.category.value:<8} {_line_col(text, f.start):>8} {f.end - f.start:>5}  "
                f"{actions.get(f.entity_type, Action.MASK).value:<12} {f.value_hash[:12]:<12}"
            )
            if show_values:
                line += f"  {text[f.start : f.end]!r}"
            print(line)
    else:
        print("\nno findings")
    print(f"\nscanned {result.chars} characters in {result.elapsed_us:.0f} us")
    print("\n--- redacted text ---")
    print(redacted)
