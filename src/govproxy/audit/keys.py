"""Ed25519 signing-key files for checkpoints.

Private keys use the signed-note text form ``PRIVATE+KEY+<name>+<hash>+<base64(0x01‖seed)>``
in a 0600 file; the public ``<name>+<hash>+<base64>`` verifier key sits beside it as
``<key>.pub``. Rotated-out keys move to ``retired/`` beside the key so the writer can still
recognise checkpoints they signed.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from govproxy.audit.errors import KeyFileError
from govproxy.audit.note import ALG_ED25519, Signer, VerifierKey

log = logging.getLogger("govproxy.audit")
_PREFIX = "PRIVATE+KEY+"


def encode_private(signer: Signer) -> str:
    seed = signer.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    b64 = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
    return f"{_PREFIX}{signer.verifier.key_id}+{b64}\n"


def decode_private(text: str) -> Signer:
    text = text.strip()
    if not text.startswith(_PREFIX):
        raise KeyFileError("not a govproxy signing key (expected 'PRIVATE+KEY+…')")
    parts = text[len(_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise KeyFileError("malformed signing key")
    name, hexhash, b64 = parts
    try:
        raw = base64.b64decode(b64, validate=True)
    except binascii.Error:
        raise KeyFileError("malformed signing key (base64)") from None
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise KeyFileError("signing key is not Ed25519")
    signer = Signer(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if signer.verifier.hash.hex() != hexhash:
        raise KeyFileError("signing key hash does not match its key")
    return signer


def public_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".pub")


def retired_dir(key_path: Path) -> Path:
    return key_path.parent / "retired"


def load_signer(key_path: Path) -> Signer:
    try:
        text = key_path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyFileError(
            f"{key_path}: no signing key; create one with 'govproxy keys init'"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{key_path}: cannot read signing key: {exc}") from None
    return decode_private(text)


def _write_new(path: Path, text: str, mode: int) -> None:
    """Create ``path`` exclusively (never overwrite), write, fsync."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, mode)  # umask may have narrowed/widened nothing we want


def write_signer(key_path: Path, signer: Signer) -> None:
    if key_path.exists():
        raise KeyFileError(
            f"{key_path}: already exists; refusing to overwrite a signing key"
        )
    _write_new(key_path, encode_private(signer), 0o600)
    pub = public_path(key_path)
    if pub.exists():
        pub.unlink()
    _write_new(pub, signer.verifier.encode() + "\n", 0o644)


def init_key(key_path: Path, name: str) -> VerifierKey:
    """``govproxy keys init``: a new Ed25519 key; refuses to overwrite an existing one."""
    if key_path.exists():
        raise KeyFileError(
            f"{key_path}: already exists; refusing to overwrite a signing key"
        )
    signer = Signer(name, Ed25519PrivateKey.generate())
    write_signer(key_path, signer)
    return signer.verifier


def ensure_signing_key(key_path: Path, name: str) -> tuple[Signer, bool]:
    """Load the key, generating it on first start. Returns (signer, created).

    Called by ``govproxy run`` so a fresh deployment records from the first request; the
    message tells the operator where the verifier key is, because auditors will need it.
    """
    if key_path.exists():
        return load_signer(key_path), False
    verifier = init_key(key_path, name)
    log.warning(
        "audit: no signing key at %s; generated a new Ed25519 key %s. "
        "Give auditors the public key in %s (or 'govproxy keys public') and back up the private key.",
        key_path,
        verifier.key_id,
        public_path(key_path),
    )
    return load_signer(key_path), True


def known_verifiers(key_path: Path) -> list[VerifierKey]:
    """The current key's verifier plus those of retired keys (for checkpoints they signed)."""
    keys = []
    if key_path.exists():
        keys.append(load_signer(key_path).verifier)
    rdir = retired_dir(key_path)
    if rdir.is_dir():
        for p in sorted(rdir.glob("*.key")):
            keys.append(load_signer(p).verifier)
    return keys


def read_verifier_keys(path: Path) -> list[VerifierKey]:
    """Verifier keys from a file: one ``name+hash+base64`` per line (blank lines and # ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read public key: {exc}") from None
    keys = [
        VerifierKey.decode(line)
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if not keys:
        raise KeyFileError(f"{path}: no verifier key in file")
    return keys
