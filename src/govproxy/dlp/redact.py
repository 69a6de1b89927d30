"""Apply the per-type action to each finding: mask, keyed hash, pseudonym or leave it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from govproxy.dlp.model import Action, ScanResult
from govproxy.dlp.vault import PseudonymVault, label_for


def keyed_hash(key: bytes, entity_type: str, value: str, length: int = 32) -> str:
    """HMAC-SHA256 over type and value, hex, truncated; stable for one key."""
    mac = hmac.new(
        key,
        entity_type.encode() + b"\x00" + value.encode("utf-8", "surrogatepass"),
        hashlib.sha256,
    )
    return mac.hexdigest()[:length]


class KeyedHasher:
    """Correlation hashes for findings: keyed BLAKE2b-128 (a MAC), key set up once.

    Findings are hashed on the hot path; BLAKE2b's keyed mode is a single pass, several
    times cheaper than HMAC-SHA256, with the same property that matters here: without the
    key nobody can test a guessed value against a recorded hash.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        self._base = hashlib.blake2b(key=key, digest_size=16, person=b"govproxy-dlp")
        self._prefixes: dict[
            str, bytes
        ] = {}  # one per entity type (a small, fixed set)

    def __call__(self, entity_type: str, value: str) -> str:
        h = self._base.copy()
        prefix = self._prefixes.get(entity_type)
        if prefix is None:  # "TYPE NUL" encoded once per type, not once per finding
            prefix = self._prefixes[entity_type] = entity_type.encode() + b"\x00"
        h.update(prefix + value.encode("utf-8", "surrogatepass"))
        return h.hexdigest()


def tenant_key(master_key: bytes, tenant: str) -> bytes:
    """A per-tenant key, so ``hash`` output cannot be correlated across tenants."""
    return hmac.new(
        master_key, b"govproxy-dlp-tenant\x00" + tenant.encode(), hashlib.sha256
    ).digest()


def redact_texts(
    texts: Sequence[str],
    result: ScanResult,
    actions: Mapping[str, Action],
    vault: PseudonymVault | None = None,
    *,
    hash_key: bytes | None = None,
    default: Action = Action.MASK,
) -> list[str]:
    """Return ``texts`` with every finding replaced according to ``actions[entity_type]``.

    A type missing from ``actions`` gets ``default`` (mask: the safe choice when a policy
    forgot a type). ``pseudonymise`` needs a vault, ``hash`` a key; without them the
    finding is masked rather than sent in clear.
    """
    by_text: dict[int, list[tuple[int, int, str]]] = {}
    for f in result.findings:
        by_text.setdefault(f.text_index, []).append((f.start, f.end, f.entity_type))
    out = list(texts)
    if vault is not None:
        vault.reserve_existing(texts)
    for idx, spans in by_text.items():
        text = texts[idx]
        spans.sort()
        parts: list[str] = []
        pos = 0
        for start, end, entity_type in spans:
            if start < pos:  # overlapping finding (should not happen after resolution)
                continue
            action = actions.get(entity_type, default)
            if action is Action.ALLOW:
                continue
            value = text[start:end]
            if action is Action.PSEUDONYMISE and vault is not None:
                replacement = vault.placeholder_for(entity_type, value)
            elif action is Action.HASH and hash_key is not None:
                label = label_for(entity_type)
                replacement = (
                    f"[{label}:{keyed_hash(hash_key, entity_type, value, 12)}]"
                )
            else:
                replacement = f"[{label_for(entity_type)}]"
            parts.append(text[pos:start])
            parts.append(replacement)
            pos = end
        parts.append(text[pos:])
        out[idx] = "".join(parts)
    return out


redact = redact_texts  # the name the pipeline calls
