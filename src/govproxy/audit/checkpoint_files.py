"""Signed checkpoints kept as files outside the database.

A restore of the database from a backup cannot also roll these back (unless the attacker
has the file system too), so they are what lets the writer and the verifier notice that
the store lost records it had already signed for. Each write is atomic: temp file, fsync,
rename, fsync of the directory.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def origin_dir(checkpoint_dir: Path, origin: str) -> Path:
    return checkpoint_dir / _SAFE.sub("_", origin)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def checkpoint_file_name(size: int, note: str) -> str:
    return f"{size:015d}-{hashlib.sha256(note.encode()).hexdigest()[:12]}.checkpoint"


def write_checkpoint_file(
    checkpoint_dir: Path, origin: str, size: int, note: str
) -> Path:
    directory = origin_dir(checkpoint_dir, origin)
    path = directory / checkpoint_file_name(size, note)
    atomic_write(path, note.encode())
    atomic_write(directory / "latest.checkpoint", note.encode())
    return path


def read_checkpoint_files(checkpoint_dir: Path, origin: str) -> list[tuple[Path, str]]:
    """Every stored checkpoint file of ``origin`` in size order (unreadable files are skipped)."""
    directory = origin_dir(checkpoint_dir, origin)
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("[0-9]*.checkpoint")):
        try:
            out.append((path, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return out
