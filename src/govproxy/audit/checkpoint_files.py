"""Signed checkpoints kept as files outside the database.

A restore of the database from a backup cannot also roll these back (unless the attacker
has the file system too), so they are what lets the writer and the verifier notice that
the store lost records it had already signed for. Each write is atomic: temp file, fsync,
rename, fsync of the directory.

Layout: ``<dir>/<origin>/latest.checkpoint`` plus every checkpoint as
``<dir>/<origin>/<YYYY-MM-DD>/<size:015d>-<sha256(note)[:12]>.checkpoint`` (one folder per
UTC day keeps folders small when a checkpoint is signed every second). Rollback detection
only needs the *largest* checkpoints, so startup reads ``latest`` and the newest file of
each day rather than every file.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LATEST = "latest.checkpoint"


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
    day = time.strftime("%Y-%m-%d", time.gmtime())
    path = directory / day / checkpoint_file_name(size, note)
    atomic_write(path, note.encode())
    atomic_write(directory / LATEST, note.encode())
    return path


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def read_checkpoint_files(
    checkpoint_dir: Path, origin: str, *, newest_only: bool = False
) -> list[tuple[Path, str]]:
    """Stored checkpoint files of ``origin`` (unreadable ones skipped).

    ``newest_only``: ``latest.checkpoint`` and the largest checkpoint of each day, which
    is all that rollback detection needs; otherwise every file.
    """
    directory = origin_dir(checkpoint_dir, origin)
    if not directory.is_dir():
        return []
    paths: list[Path] = []
    days = sorted(p for p in directory.iterdir() if p.is_dir() and _DAY.match(p.name))
    for day in days:
        names = sorted(
            n for n in os.listdir(day) if n.endswith(".checkpoint") and n[:1].isdigit()
        )
        if names:
            paths += [day / n for n in (names[-1:] if newest_only else names)]
    paths += sorted(
        p for p in directory.glob("[0-9]*.checkpoint")
    )  # flat layout of early versions
    if (directory / LATEST).is_file():
        paths.append(directory / LATEST)
    out = []
    for path in paths:
        text = _read(path)
        if text is not None:
            out.append((path, text))
    return out
