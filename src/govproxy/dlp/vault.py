"""Reversible pseudonyms: ``[EMAIL_1]`` stands for a value only within one request or conversation.

The vault is the only place the original values live after redaction, and it lives in
memory only. It resolves only placeholders it issued itself, so text that merely looks
like a placeholder (a user typing ``[EMAIL_1]``, or a model echoing another request's
placeholder) is never turned into somebody else's value.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

# Anything shaped like one of our placeholders (issued or not).
PLACEHOLDER_RE = re.compile(r"\[[A-Z][A-Z0-9_]{0,40}_[0-9]{1,6}\]")
PLACEHOLDER_MAX_LEN = 50

LABELS: dict[str, str] = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IP_ADDRESS": "IP",
    "MAC_ADDRESS": "MAC",
    "STREET_ADDRESS": "ADDRESS",
    "IBAN_CODE": "IBAN",
}


@functools.lru_cache(maxsize=1024)
def label_for(entity_type: str) -> str:
    """The placeholder label of a type (cached: called for every redacted finding)."""
    return LABELS.get(entity_type, entity_type)[:40]


class PseudonymVault:
    """value ↔ placeholder for one request or conversation; same value → same placeholder."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self._reserved: set[str] = set()
        self._prefixes: set[str] = set()
        self._prefixes_stale = False

    def __len__(self) -> int:
        return len(self._by_placeholder)

    def __repr__(self) -> str:  # never the values
        return f"PseudonymVault({len(self)} placeholders)"

    def reserve_existing(self, texts: Iterable[str]) -> None:
        """Never issue a placeholder that already appears literally in the request.

        Otherwise a prompt containing ``[EMAIL_1]`` as text would, after a model echoes
        it, be "restored" into an email the user never wrote there.
        """
        for t in texts:
            if "[" in t:
                self._reserved.update(PLACEHOLDER_RE.findall(t))

    def placeholder_for(self, entity_type: str, value: str) -> str:
        key = (entity_type, value)
        existing = self._by_value.get(key)
        if existing is not None:
            return existing
        label = label_for(entity_type)
        n = self._counters.get(label, 0)
        while True:
            n += 1
            placeholder = f"[{label}_{n}]"
            if (
                placeholder not in self._reserved
                and placeholder not in self._by_placeholder
            ):
                break
        self._counters[label] = n
        self._by_value[key] = placeholder
        self._by_placeholder[placeholder] = value
        self._prefixes_stale = True
        return placeholder

    def issued(self, placeholder: str) -> bool:
        return placeholder in self._by_placeholder

    def is_prefix(self, s: str) -> bool:
        """True if ``s`` is a proper prefix of a placeholder this vault issued."""
        if (
            self._prefixes_stale
        ):  # built on first use: only streaming restore needs them
            self._prefixes = {
                p[:i] for p in self._by_placeholder for i in range(1, len(p))
            }
            self._prefixes_stale = False
        return s in self._prefixes

    def restore_text(self, s: str, *, json_escape: bool = False) -> str:
        """Replace issued placeholders by their values; anything else stays as written.

        ``json_escape`` is for text that is itself JSON source (tool-call arguments):
        the value is escaped so the result still parses.
        """
        if not self._by_placeholder or "[" not in s:
            return s
        lookup = self._by_placeholder

        def sub(m: re.Match[str]) -> str:
            value = lookup.get(m.group())
            if value is None:
                return m.group()
            return json.dumps(value, ensure_ascii=False)[1:-1] if json_escape else value

        return PLACEHOLDER_RE.sub(sub, s)

    def restore_json(self, obj: Any) -> Any:
        """Walk a decoded JSON document and restore every string.

        Strings that are themselves JSON documents (function-call ``arguments``) are
        restored with JSON escaping so they stay valid JSON.
        """
        if not self._by_placeholder:
            return obj
        return _walk(obj, self._restore_string)

    def _restore_string(self, s: str) -> str:
        if "[" not in s:
            return s
        stripped = s.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                json.loads(s)
            except ValueError:
                pass
            else:
                return self.restore_text(s, json_escape=True)
        return self.restore_text(s)


def _walk(obj: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, list):
        return [_walk(x, fn) for x in obj]
    if isinstance(obj, dict):
        return {k: _walk(v, fn) for k, v in obj.items()}
    return obj


class VaultCache:
    """Conversation-scoped vaults kept in memory for ``ttl`` seconds after last use (LRU-bounded).

    Lets a follow-up turn that sends back ``[EMAIL_1]`` (from the assistant's earlier reply)
    keep the same placeholder for the same value. Nothing is persisted.
    """

    def __init__(
        self,
        ttl_seconds: float = 3600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0 or max_entries < 1:
            raise ValueError("VaultCache needs ttl_seconds > 0 and max_entries >= 1")
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, PseudonymVault]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, conversation_id: str) -> PseudonymVault:
        """The vault for this conversation, new if absent or expired."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            entry = self._items.pop(conversation_id, None)
            vault = entry[1] if entry is not None else PseudonymVault()
            self._items[conversation_id] = (now, vault)
            while len(self._items) > self._max:
                self._items.popitem(last=False)
            return vault

    def drop(self, conversation_id: str) -> None:
        with self._lock:
            self._items.pop(conversation_id, None)

    def _expire(self, now: float) -> None:
        while self._items:
            _key, (ts, _) = next(iter(self._items.items()))
            if now - ts < self._ttl:
                break
            self._items.popitem(last=False)
