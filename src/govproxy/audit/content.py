"""Per-tenant data keys for ``content: encrypted``, and crypto-shredding.

The chain commits to the SHA-256 of each ciphertext blob, never to plaintext, so deleting a
tenant's keys makes its content unreadable (crypto-shredding) while every record, root and
signature still verifies. Keys live in their own small SQLite file beside the audit DB with
``secure_delete`` on, so a deleted key is overwritten on disk rather than left in a free page.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from govproxy.audit.canonical import canonical, parse_canonical
from govproxy.audit.errors import AuditError

ALGORITHM = "AES-256-GCM"
_AAD_PREFIX = b"govproxy-audit-content-v1\x00"


class ContentShredded(AuditError):
    """The tenant's data key was deleted: the content is gone for good."""


def _aad(tenant: str, key_id: str) -> bytes:
    return _AAD_PREFIX + tenant.encode() + b"\x00" + key_id.encode()


class ContentKeyStore:
    """Tenant → AES-256 data keys. Thread-safe; one connection guarded by a lock."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        if new:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.execute("PRAGMA journal_mode=DELETE")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS data_keys (key_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, key BLOB NOT NULL)"
        )
        self._lock = threading.Lock()
        self._active: dict[str, tuple[str, bytes]] = {}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def active_key(self, tenant: str) -> tuple[str, bytes]:
        with self._lock:
            hit = self._active.get(tenant)
            if hit:
                return hit
            row = self._conn.execute(
                "SELECT key_id, key FROM data_keys WHERE tenant=? ORDER BY rowid DESC LIMIT 1",
                (tenant,),
            ).fetchone()
            if row is None:
                row = (os.urandom(8).hex(), AESGCM.generate_key(bit_length=256))
                self._conn.execute(
                    "INSERT INTO data_keys VALUES (?,?,?)", (row[0], tenant, row[1])
                )
            self._active[tenant] = (row[0], bytes(row[1]))
            return self._active[tenant]

    def key(self, tenant: str, key_id: str) -> bytes:
        with self._lock:
            row = self._conn.execute(
                "SELECT key FROM data_keys WHERE key_id=? AND tenant=?",
                (key_id, tenant),
            ).fetchone()
        if row is None:
            raise ContentShredded(
                f"data key {key_id} of this tenant was deleted (content crypto-shredded)"
            )
        return bytes(row[0])

    def shred(self, tenant: str) -> int:
        """Delete every data key of ``tenant``; returns how many were deleted."""
        with self._lock:
            self._active.pop(tenant, None)
            cur = self._conn.execute("DELETE FROM data_keys WHERE tenant=?", (tenant,))
            self._conn.execute("VACUUM")
            return cur.rowcount

    def encrypt(self, tenant: str, parts: Mapping[str, str]) -> tuple[str, bytes]:
        """Returns (key_id, nonce ‖ ciphertext) of the canonical JSON of ``parts``."""
        key_id, key = self.active_key(tenant)
        nonce = os.urandom(12)
        return key_id, nonce + AESGCM(key).encrypt(
            nonce, canonical(dict(parts)), _aad(tenant, key_id)
        )

    def decrypt(self, tenant: str, key_id: str, blob: bytes) -> dict[str, str]:
        key = self.key(tenant, key_id)
        try:
            plain = AESGCM(key).decrypt(blob[:12], blob[12:], _aad(tenant, key_id))
        except InvalidTag:
            raise AuditError(
                "content does not decrypt under its tenant key (tampered blob)"
            ) from None
        value = parse_canonical(plain)
        if not isinstance(value, dict):
            raise AuditError("decrypted content is not an object")
        return value


def blob_digest(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()
