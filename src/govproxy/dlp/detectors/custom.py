"""Detectors built from configuration: user regexes and exact-match dictionaries."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from govproxy.dlp.config import CustomDetectorConfig, DictionaryConfig
from govproxy.dlp.detectors.base import Detector, Everywhere, Literal
from govproxy.dlp.validators import NAMED_VALIDATORS


def custom_detector(cfg: CustomDetectorConfig, index: int) -> Detector:
    flags = re.IGNORECASE if cfg.ignore_case else 0
    pattern = re.compile(cfg.pattern, flags)
    if cfg.keywords:
        anchor: Literal | Everywhere = Literal(
            tuple(k.lower() for k in cfg.keywords), ignore_case=True
        )
        before = after = cfg.max_length + cfg.context_window
    else:
        anchor = Everywhere()
        before = after = 0
    return Detector(
        name=f"custom:{cfg.entity_type.lower()}:{index}",
        entity_type=cfg.entity_type,
        category=cfg.category,
        anchor=anchor,
        pattern=pattern,
        before=before,
        after=after,
        group=cfg.group,
        validate=NAMED_VALIDATORS[cfg.validator] if cfg.validator else None,
        context=tuple(w.lower() for w in cfg.context),
        context_before=cfg.context_window,
        context_after=cfg.context_window,
        priority=70,
        description=f"custom pattern for {cfg.entity_type}",
    )


def _trie_regex(terms: Iterable[str]) -> str:
    """An alternation factored into a trie, so matching never tries the same prefix twice."""
    trie: dict[str, dict] = {}
    for term in terms:
        node = trie
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        ends = "" in node
        branches = [
            re.escape(ch) + emit(child)
            for ch, child in sorted(node.items())
            if ch != ""
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return emit(trie)


def _left_word_boundary(start: int, end: int, state) -> list[tuple[int, int]]:
    text = state.text
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        return []
    return [(start, end)]


def dictionary_detector(
    cfg: DictionaryConfig, index: int, base_dir: Path | None = None
) -> Detector | None:
    terms = sorted(set(cfg.load_terms(base_dir)))
    if not terms:
        return None
    if not cfg.case_sensitive:
        terms = sorted({t.lower() for t in terms})
    body = _trie_regex(terms)
    # no leading lookbehind (it would stop the engine skipping ahead); the left word boundary is checked in refine
    pattern = re.compile(
        rf"(?:{body})(?!\w)", 0 if cfg.case_sensitive else re.IGNORECASE
    )
    longest = max(len(t) for t in terms)
    # anchor on each term's first word; the trie regex then runs in a window around it
    # (a few str.find calls beat one regex pass; a long list is one trie-regex pass instead)
    firsts = tuple(sorted({t.split()[0] if t.split() else t for t in terms}))
    few = len(firsts) <= 24
    anchor: Literal | Everywhere = (
        Literal(firsts, ignore_case=not cfg.case_sensitive) if few else Everywhere()
    )
    return Detector(
        name=f"dictionary:{cfg.entity_type.lower()}:{index}",
        entity_type=cfg.entity_type,
        category=cfg.category,
        anchor=anchor,
        pattern=pattern,
        before=0,
        after=longest + 2 if few else 0,
        priority=72,
        anchored=few,
        refine=_left_word_boundary,
        description=f"dictionary of {len(terms)} terms for {cfg.entity_type}",
    )
