"""``govproxy keys rotate``: hand over from one signing key to the next, verifiably.

The writer appends a ``key_rotation`` record naming both verifier keys and signs the
checkpoint covering it with *both* keys. A verifier holding either key can therefore
follow the handover: the checkpoint its key signed commits to a record naming the other.
Steps are ordered so a crash leaves either the old key in place or a recoverable
``.new`` file, never a lost key.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from govproxy.audit.checkpoint_files import atomic_write
from govproxy.audit.config import AuditConfig
from govproxy.audit.errors import KeyFileError
from govproxy.audit.keys import (
    _write_new,
    encode_private,
    load_signer,
    public_path,
    retired_dir,
)
from govproxy.audit.log import AuditLog, SignedState
from govproxy.audit.note import Signer, VerifierKey


def rotate_signing_key(
    config: AuditConfig,
) -> tuple[VerifierKey, VerifierKey, SignedState]:
    """Returns (old verifier, new verifier, the dual-signed checkpoint). Needs the writer lock."""
    key_path = config.signing_key
    old = load_signer(key_path)
    pending = key_path.with_name(key_path.name + ".new")
    if pending.exists():
        raise KeyFileError(
            f"{pending}: an earlier rotation did not finish; inspect and remove it first"
        )
    new = Signer(old.name, Ed25519PrivateKey.generate())
    _write_new(pending, encode_private(new), 0o600)
    log = AuditLog(config, old)
    try:
        state = log.rotate(new)
    finally:
        log.close()
    retired = retired_dir(key_path)
    retired.mkdir(mode=0o700, exist_ok=True)
    os.replace(key_path, retired / f"{old.verifier.hash.hex()}.key")
    os.replace(pending, key_path)
    atomic_write(public_path(key_path), (new.verifier.encode() + "\n").encode())
    if state is None:  # pragma: no cover - rotate() raises instead
        raise KeyFileError("rotation checkpoint was not signed")
    return old.verifier, new.verifier, state
