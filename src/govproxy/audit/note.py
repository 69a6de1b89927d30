"""Checkpoints in the C2SP ``tlog-checkpoint`` format, signed as C2SP ``signed-note`` s.

A checkpoint body is three lines, ``<origin>\\n<size>\\n<base64 root>\\n``; the signed note
appends a blank line and one ``— <key name> <base64(key hash ‖ Ed25519 signature)>`` line
per signature. Keys are identified like Go's ``golang.org/x/mod/sumdb/note``: the 4-byte
key hash is ``SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)[:4]`` and a verifier key is written
``<name>+<hex key hash>+<base64(0x01 ‖ public key)>``, so standard tooling can check them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from govproxy.audit.errors import NoteError

ALG_ED25519 = 0x01
_SIG_PREFIX = "\u2014 "
_KEY_NAME = re.compile(r"^[^\s+]+$")


def _raw_public(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_hash(name: str, pub: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(
        name.encode() + b"\n" + bytes([ALG_ED25519]) + _raw_public(pub)
    ).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A public key under a name, as a signed-note verifier sees it."""

    name: str
    public: Ed25519PublicKey = field(compare=False)
    hash: bytes

    @classmethod
    def of(cls, name: str, pub: Ed25519PublicKey) -> VerifierKey:
        if not _KEY_NAME.match(name):
            raise NoteError("key name must be non-empty without spaces or '+'")
        return cls(name, pub, key_hash(name, pub))

    @property
    def key_id(self) -> str:
        return f"{self.name}+{self.hash.hex()}"

    def encode(self) -> str:
        return f"{self.key_id}+{base64.b64encode(bytes([ALG_ED25519]) + _raw_public(self.public)).decode()}"

    @classmethod
    def decode(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("verifier key must be '<name>+<hash>+<base64 key>'")
        name, hexhash, b64 = parts
        try:
            raw = base64.b64decode(b64, validate=True)
            want = bytes.fromhex(hexhash)
        except (binascii.Error, ValueError):
            raise NoteError("verifier key has bad hex or base64") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("verifier key is not an Ed25519 key")
        key = cls.of(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if key.hash != want:
            raise NoteError("verifier key hash does not match its name and key")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    name: str
    private: Ed25519PrivateKey = field(repr=False)

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey.of(self.name, self.private.public_key())

    def signature_line(self, message: bytes) -> str:
        sig = self.private.sign(message)
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(self.verifier.hash + sig).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return "".join(line + "\n" for line in lines)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    hash: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    text: str  # the exact note text
    signatures: tuple[NoteSignature, ...]

    @property
    def message(self) -> bytes:
        return self.checkpoint.body().encode()


def sign_checkpoint(cp: Checkpoint, signers: list[Signer]) -> str:
    if not signers:
        raise NoteError("a checkpoint needs at least one signer")
    body = cp.body()
    return body + "\n" + "".join(s.signature_line(body.encode()) for s in signers)


def parse_signed_checkpoint(text: str) -> SignedCheckpoint:
    """Parse strictly; signatures are *not* checked here (see :func:`check_signatures`)."""
    if not text.endswith("\n"):
        raise NoteError("note must end with a newline")
    head, sep, sigs = text.partition("\n\n")
    if not sep:
        raise NoteError("note has no signature block")
    lines = head.split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint body needs origin, size and root lines")
    origin, size_text, root_text, *ext = lines
    if not origin or not re.fullmatch(r"0|[1-9][0-9]{0,18}", size_text):
        raise NoteError("checkpoint origin empty or size not a decimal integer")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise NoteError("checkpoint root is not base64") from None
    if len(root) != 32 or any(not e for e in ext):
        raise NoteError(
            "checkpoint root is not 32 bytes or has an empty extension line"
        )
    signatures = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(_SIG_PREFIX):
            raise NoteError("malformed signature line")
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise NoteError("signature is not base64") from None
        if not name or len(raw) < 5:
            raise NoteError("signature line too short")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    cp = Checkpoint(origin, int(size_text), root, tuple(ext))
    return SignedCheckpoint(cp, text, tuple(signatures))


@dataclass
class SignatureCheck:
    trusted_valid: list[VerifierKey]  # trusted keys whose signature verified
    invalid: list[str]  # key ids of trusted keys whose signature did NOT verify
    unknown: list[str]  # key ids of signatures by keys we do not trust


SignatureCache = dict[tuple[str, str, bytes, bytes], bool]


def check_signatures(
    note: SignedCheckpoint,
    trusted: dict[tuple[str, bytes], VerifierKey],
    cache: SignatureCache | None = None,
) -> SignatureCheck:
    """Which signatures are by trusted keys and verify. ``cache`` avoids re-verifying the
    same signature when a verifier checks thousands of checkpoints against growing key sets."""
    result = SignatureCheck([], [], [])
    for sig in note.signatures:
        key = trusted.get((sig.name, sig.hash))
        if key is None:
            result.unknown.append(f"{sig.name}+{sig.hash.hex()}")
            continue
        ident = (note.text, sig.name, sig.hash, sig.signature)
        ok = cache.get(ident) if cache is not None else None
        if ok is None:
            ok = key.verify(note.message, sig.signature)
            if cache is not None:
                cache[ident] = ok
        if ok:
            result.trusted_valid.append(key)
        else:
            result.invalid.append(key.key_id)
    return result
