"""Shared builders: every test makes a real store on disk through the public API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from govproxy.audit import AuditConfig, AuditLog
from govproxy.audit.keys import init_key
from govproxy.audit.note import VerifierKey


@dataclass
class Built:
    cfg: AuditConfig
    pubkey: VerifierKey
    refs: list

    @property
    def db(self) -> Path:
        return self.cfg.path

    @property
    def checkpoint_dir(self) -> Path:
        return self.cfg.resolved_checkpoint_dir

    @property
    def pubkey_file(self) -> Path:
        return self.cfg.signing_key.with_name(self.cfg.signing_key.name + ".pub")


def make_config(root: Path, **overrides) -> AuditConfig:
    base = {
        "path": root / "audit" / "govproxy.db",
        "signing_key": root / "audit" / "keys" / "signing.key",
        "instance": "test-1",
        "checkpoint_every_records": 10**9,
        "checkpoint_every_seconds": 3600,
    }
    base.update(overrides)
    return AuditConfig(**base)


def payload(i: int, tenant: str | None = None) -> dict:
    return {
        "tenant": tenant or f"tenant-{i % 3}",
        "app": "chat",
        "request_id": f"req-{i // 2}",
        "decision": "allow",
        "reasons": ["policy.default"],
        "findings": {"EMAIL": i % 4},
        "n": i,
    }


def build_store(
    root: Path, n: int = 30, checkpoint_every: int = 10, **overrides
) -> Built:
    """``n`` records with a checkpoint signed explicitly after every ``checkpoint_every``
    (deterministic sizes) and the final one at close."""
    cfg = make_config(root, **overrides)
    if not cfg.signing_key.exists():
        init_key(cfg.signing_key, "govproxy.test")
    refs = []
    with AuditLog.open(cfg) as log:
        for i in range(n):
            refs.append(
                log.append_sync("decision" if i % 2 == 0 else "outcome", payload(i))
            )
            if (i + 1) % checkpoint_every == 0:
                log.checkpoint_now()
    pub = VerifierKey.decode(cfg.signing_key.with_name("signing.key.pub").read_text())
    return Built(cfg, pub, refs)


@pytest.fixture
def store(tmp_path: Path) -> Built:
    """30 records, checkpoints signed at 10, 20 and 30."""
    return build_store(tmp_path)


@pytest.fixture
def builder(tmp_path: Path) -> Callable[..., Built]:
    return lambda sub="s", **kw: build_store(tmp_path / sub, **kw)
