"""Set a string inside a decoded JSON body by RFC 6901 pointer.

Parsing records where every text lives; redaction writes back exactly there, so no
API family needs a second walker that could disagree with the parser about what the
model reads.
"""

from __future__ import annotations

from typing import Any


def _tokens(pointer: str) -> list[str]:
    if not pointer:
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON pointer: {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def set_pointer(doc: Any, pointer: str, value: Any) -> None:
    tokens = _tokens(pointer)
    if not tokens:
        raise ValueError("cannot replace the whole document")
    target = doc
    for tok in tokens[:-1]:
        target = target[int(tok)] if isinstance(target, list) else target[tok]
    last = tokens[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


def get_pointer(doc: Any, pointer: str) -> Any:
    target = doc
    for tok in _tokens(pointer):
        target = target[int(tok)] if isinstance(target, list) else target[tok]
    return target
