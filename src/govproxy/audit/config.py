"""The ``audit`` section of the configuration.

Kept in the audit package so the store's knobs are validated where they are used; the
top-level settings only need to embed :class:`AuditConfig` under the YAML key ``audit``.
"""

from __future__ import annotations

import re
import socket
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class ContentMode(StrEnum):
    NONE = "none"  # hashes only
    REDACTED = "redacted"  # the redacted text the pipeline produced
    ENCRYPTED = "encrypted"  # original text, AES-GCM under a per-tenant data key


class Synchronous(StrEnum):
    NORMAL = "normal"  # durable against process crash (kill -9); checkpoints force an fsync first
    FULL = "full"  # every grouped commit is fsynced: durable against power loss


def _default_instance() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:64].strip(".-")
    return host or "instance"


class AuditConfig(BaseModel):
    """Where and how the tamper-evident trail is kept (YAML key ``audit``)."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(
        default=Path("audit/govproxy.db"), description="SQLite store (WAL)"
    )
    signing_key: Path = Field(
        default=Path("audit/keys/signing.key"), description="Ed25519 checkpoint key"
    )
    checkpoint_dir: Path | None = Field(
        default=None,
        description="signed checkpoints kept outside the DB; default: 'checkpoints' beside the DB",
    )
    content_keys: Path | None = Field(
        default=None,
        description="per-tenant data keys for content: encrypted; default: '<db>.content-keys.db' beside the DB",
    )
    content: ContentMode = ContentMode.NONE
    synchronous: Synchronous = Synchronous.NORMAL
    checkpoint_every_records: int = Field(default=1000, ge=1)
    checkpoint_every_seconds: float = Field(default=1.0, gt=0)
    deployment: str = Field(
        default="govproxy", description="origin: the deployment this log belongs to"
    )
    instance: str = Field(
        default_factory=_default_instance,
        description="origin: this writer process/host",
    )
    max_batch: int = Field(
        default=2000, ge=1, description="records per grouped commit at most"
    )
    deferred_flush_ms: float = Field(
        default=50.0,
        ge=0,
        le=10_000,
        description=(
            "how long a record nobody waits for (a request's outcome) may wait to share the"
            " next commit; 0 commits each at once"
        ),
    )

    @field_validator("deployment", "instance")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                "use 1-128 characters from A-Z a-z 0-9 . _ : - (no '/', spaces or '+')"
            )
        return v

    @property
    def origin(self) -> str:
        """The checkpoint origin line: one log per deployment instance."""
        return f"{self.deployment}/{self.instance}"

    @property
    def resolved_checkpoint_dir(self) -> Path:
        return (
            self.checkpoint_dir
            if self.checkpoint_dir is not None
            else self.path.parent / "checkpoints"
        )

    @property
    def resolved_content_keys(self) -> Path:
        if self.content_keys is not None:
            return self.content_keys
        return self.path.with_name(self.path.stem + ".content-keys.db")
