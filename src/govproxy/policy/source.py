"""A policy directory read into memory: modules, tests, data, and the hash the audit keeps.

A directory is read once into a ``PolicySource`` and everything downstream (compilation,
the worker, the audit record's ``bundle_hash``) works from that snapshot, so a file being
edited half-way through a reload can never mix two versions of a policy set.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEST_SUFFIX = "_test.rego"


class PolicySourceError(Exception):
    """The policy directory cannot be read (missing, unreadable, bad data file)."""


@dataclass(frozen=True)
class PolicySource:
    root: Path
    modules: dict[str, str]  # relative path -> text, policies only
    tests: dict[str, str]  # relative path -> text, *_test.rego
    data: dict[str, Any] = field(default_factory=dict)
    bundle_hash: str = ""
    fingerprint: tuple[tuple[str, int, int], ...] = ()

    def all_modules(self) -> dict[str, str]:
        return {**self.modules, **self.tests}

    def display(self, rel: str) -> str:
        """How a file is named in messages: the path a user would type."""
        return str(self.root / rel)


def _policy_files(root: Path) -> list[Path]:
    files = [p for p in root.rglob("*") if p.is_file() and (p.suffix == ".rego" or p.name == "data.json")]
    # Hidden folders (.git, .manifest dirs of tools) are not part of the policy set.
    return sorted(p for p in files if not any(part.startswith(".") for part in p.relative_to(root).parts))


def fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Cheap change detector for hot reload: names, sizes and mtimes, no reads."""
    out = []
    try:
        for p in _policy_files(root):
            st = p.stat()
            out.append((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    except OSError:
        return ()
    return tuple(out)


def _merge_data(target: dict[str, Any], rel_dir: str, value: Any, where: str) -> None:
    node = target
    parts = [p for p in rel_dir.split("/") if p and p != "."]
    for part in parts:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise PolicySourceError(f"{where}: data path {rel_dir!r} collides with a value")
    if parts:
        if not isinstance(value, dict):
            raise PolicySourceError(f"{where}: a nested data.json must hold an object")
        node.update(value)
    else:
        if not isinstance(value, dict):
            raise PolicySourceError(f"{where}: the root data.json must hold an object")
        target.update(value)


def load_source(root: str | Path) -> PolicySource:
    """Read every ``*.rego`` and ``data.json`` under ``root`` (OPA bundle layout)."""
    root = Path(root)
    if not root.is_dir():
        raise PolicySourceError(f"{root}: policy directory not found")
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    data: dict[str, Any] = {}
    digest = hashlib.sha256()
    fp = []
    for p in _policy_files(root):
        rel = p.relative_to(root).as_posix()
        try:
            raw = p.read_bytes()
            st = p.stat()
        except OSError as exc:
            raise PolicySourceError(f"{p}: cannot read: {exc.strerror or exc}") from exc
        fp.append((rel, st.st_size, st.st_mtime_ns))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicySourceError(f"{p}: not UTF-8") from exc
        if p.name == "data.json":
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise PolicySourceError(f"{p}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
            _merge_data(data, str(Path(rel).parent.as_posix()), value, str(p))
        elif rel.endswith(TEST_SUFFIX):
            tests[rel] = text
            continue  # tests do not change decisions: not part of the bundle hash
        else:
            modules[rel] = text
        digest.update(rel.encode() + b"\0" + hashlib.sha256(raw).digest())
    if not modules:
        raise PolicySourceError(f"{root}: no .rego policy files")
    return PolicySource(
        root=root,
        modules=modules,
        tests=tests,
        data=data,
        bundle_hash="sha256:" + digest.hexdigest(),
        fingerprint=tuple(fp),
    )
