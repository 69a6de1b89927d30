"""Exceptions of the audit subsystem, in one place so callers can catch by meaning."""

from __future__ import annotations


class AuditError(Exception):
    """Base class for audit failures."""


class RecordRejected(AuditError, ValueError):
    """A payload that must not be recorded (float, huge integer, credential-like key …).

    Messages name the offending *path* inside the payload, never its value, so a rejected
    secret is not echoed into logs.
    """


class AuditClosed(AuditError):
    """Append after close(), or the writer thread died."""


class StoreError(AuditError):
    """The SQLite store cannot be used (wrong origin, locked by another writer, unreadable)."""


class KeyFileError(AuditError):
    """Key files: missing, malformed, would be overwritten."""


class ProofError(AuditError, ValueError):
    """A Merkle inclusion or consistency proof that does not verify."""


class NoteError(AuditError, ValueError):
    """A checkpoint / signed note that cannot be parsed."""
