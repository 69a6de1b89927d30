"""Tamper-evident audit trail: canonical records, hash chain, Merkle checkpoints, export, verify.

The public surface the pipeline needs:

* :class:`AuditConfig` – the ``audit`` YAML section.
* :class:`AuditLog` – ``AuditLog.open(cfg, generate_key=True)``; ``await log.append("decision", payload)``.
* :func:`ensure_signing_key` – generate a missing key on ``govproxy run`` with a clear message.
* :func:`verify_store` / :func:`verify_bundle` and :func:`export_bundle` for tooling.
"""

from govproxy.audit.config import AuditConfig, ContentMode, Synchronous
from govproxy.audit.errors import AuditClosed, AuditError, RecordRejected, StoreError
from govproxy.audit.keys import ensure_signing_key
from govproxy.audit.log import AuditLog, RecordRef, SignedState

__all__ = [
    "AuditClosed",
    "AuditConfig",
    "AuditError",
    "AuditLog",
    "ContentMode",
    "RecordRef",
    "RecordRejected",
    "SignedState",
    "StoreError",
    "Synchronous",
    "ensure_signing_key",
]
