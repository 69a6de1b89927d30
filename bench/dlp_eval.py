"""Span-level precision/recall of govproxy's DLP on presidio-research's generated_large.json.

The data set was written outside this project (see ../shared/eval/README.md); it measures,
it does not train. A predicted span counts as a true positive when it has the same
(mapped) type as a labelled span and their overlap covers at least half of their union
(IoU ≥ 0.5); each labelled span is matched at most once. Exact-boundary figures are
printed alongside.

    .venv/bin/python bench/dlp_eval.py [--data PATH] [--errors TYPE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from govproxy.dlp import Scanner

DEFAULT_DATA = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "eval"
    / "presidio-research"
    / "generated_large.json"
)

# our entity type -> the data set's
TYPE_MAP = {
    "CREDIT_CARD": "CREDIT_CARD",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "DATE_OF_BIRTH": "DATE_TIME",
    "STREET_ADDRESS": "ADDRESS",
}
TARGET_TYPES = (
    "CREDIT_CARD",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "PHONE_NUMBER",
)
TARGET_PRECISION = 0.97
TARGET_RECALL = 0.95


@dataclass
class Stats:
    gold: int = 0
    predicted: int = 0
    tp: int = 0
    tp_exact: int = 0
    detected: bool = False

    @property
    def precision(self) -> float | None:
        return self.tp / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.tp / self.gold if self.gold else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    if inter <= 0:
        return 0.0
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def evaluate(
    records: list[dict],
    scanner: Scanner | None = None,
    collect_errors: str | None = None,
):
    """Return (stats per data-set type, seconds spent scanning, list of error examples)."""
    scanner = scanner or Scanner()
    stats: dict[str, Stats] = {}
    for rec in records:
        for sp in rec["spans"]:
            stats.setdefault(sp["entity_type"], Stats()).gold += 1
    for ours in TYPE_MAP.values():
        stats.setdefault(ours, Stats())
    for t in set(TYPE_MAP.values()):
        stats[t].detected = True
    errors: list[str] = []
    elapsed = 0.0
    for rec in records:
        text = rec["full_text"]
        t0 = time.perf_counter()
        result = scanner.scan([text])
        elapsed += time.perf_counter() - t0
        gold = [
            (sp["entity_type"], sp["start_position"], sp["end_position"])
            for sp in rec["spans"]
        ]
        used = [False] * len(gold)
        for f in result.findings:
            mapped = TYPE_MAP.get(f.entity_type)
            if mapped is None:
                continue
            st = stats[mapped]
            st.predicted += 1
            best, best_i = 0.0, -1
            for i, (gt, gs, ge) in enumerate(gold):
                if gt == mapped and not used[i]:
                    iou = _iou((f.start, f.end), (gs, ge))
                    if iou > best:
                        best, best_i = iou, i
            if best >= 0.5:
                used[best_i] = True
                st.tp += 1
                if (gold[best_i][1], gold[best_i][2]) == (f.start, f.end):
                    st.tp_exact += 1
            elif collect_errors == mapped:
                errors.append(
                    f"FP  {text[max(0, f.start - 40) : f.start]!r} <<{text[f.start : f.end]}>> {text[f.end : f.end + 20]!r}"
                )
        if collect_errors:
            for i, (gt, gs, ge) in enumerate(gold):
                if gt == collect_errors and not used[i]:
                    errors.append(
                        f"FN  {text[max(0, gs - 40) : gs]!r} <<{text[gs:ge]}>> {text[ge : ge + 20]!r}"
                    )
    return stats, elapsed, errors


def _fmt(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:5.3f}"


def format_table(stats: dict[str, Stats]) -> str:
    lines = [
        f"{'entity type':<18} {'gold':>5} {'pred':>5} {'tp':>5} {'prec':>6} {'recall':>6} {'f1':>6} {'exact-tp':>8}  target",
        "-" * 80,
    ]
    order = sorted(stats, key=lambda t: (t not in TARGET_TYPES, -stats[t].gold, t))
    for t in order:
        st = stats[t]
        target = ""
        if t in TARGET_TYPES:
            ok = (st.precision or 0) >= TARGET_PRECISION and (
                st.recall or 0
            ) >= TARGET_RECALL
            target = "ok" if ok else "MISSED"
        if not st.detected:
            lines.append(
                f"{t:<18} {st.gold:>5} {'-':>5} {'-':>5} {'  n/a':>6} {'  n/a':>6} {'  n/a':>6} {'-':>8}  (not detected by govproxy)"
            )
            continue
        lines.append(
            f"{t:<18} {st.gold:>5} {st.predicted:>5} {st.tp:>5} {_fmt(st.precision):>6} {_fmt(st.recall):>6} {_fmt(st.f1):>6} {st.tp_exact:>8}  {target}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument(
        "--errors",
        metavar="TYPE",
        help="print false positives/negatives for one data-set type",
    )
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(f"data set not found: {args.data}", file=sys.stderr)
        return 2
    records = load(args.data)
    stats, elapsed, errors = evaluate(records, collect_errors=args.errors)
    n_chars = sum(len(r["full_text"]) for r in records)
    print(
        f"presidio-research generated_large.json: {len(records)} texts, {sum(s.gold for s in stats.values())} labelled spans"
    )
    print(
        "match rule: same mapped type and IoU >= 0.5 (exact-tp: identical boundaries)\n"
    )
    print(format_table(stats))
    print(
        f"\nscan time: {elapsed * 1e3:.1f} ms total, {elapsed / len(records) * 1e6:.1f} us/text, {n_chars / elapsed / 1e6:.1f} MB/s"
    )
    missed = [
        t
        for t in TARGET_TYPES
        if not (
            (stats[t].precision or 0) >= TARGET_PRECISION
            and (stats[t].recall or 0) >= TARGET_RECALL
        )
    ]
    print(
        "targets (P >= 0.97, R >= 0.95):",
        "all met" if not missed else "missed for " + ", ".join(missed),
    )
    for e in errors:
        print(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
