"""Offline verification of a store or an export bundle with nothing but a public key.

Principles (after sigstore-python): hash the bytes before parsing them; never trust a
stored hash, root or key id without re-deriving it; keep going after a failure so one run
lists every problem; separate *warnings* (an uncheckpointed tail is normal for a live log)
from *errors* (anything that means the trail was modified).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import gc
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from govproxy.audit.canonical import NonCanonical, parse_canonical
from govproxy.audit.checkpoint_files import read_checkpoint_files
from govproxy.audit.errors import NoteError, ProofError, StoreError
from govproxy.audit.merkle import (
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from govproxy.audit.note import (
    SignatureCache,
    SignedCheckpoint,
    VerifierKey,
    check_signatures,
    parse_signed_checkpoint,
)
from govproxy.audit.store import StoreReader, _as_bytes, connect_readonly

ZERO = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
RECORD_KEYS = frozenset(
    {"content", "kind", "origin", "payload", "prev", "seq", "ts", "v"}
)
MANIFEST = "manifest.dsse.json"
PARALLEL_THRESHOLD = (
    50_000  # below this, starting worker processes costs more than it saves
)
DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class Code(StrEnum):
    HASH_MISMATCH = (
        "HASH_MISMATCH"  # stored hash / content digest differs from the bytes
    )
    CHAIN_BREAK = "CHAIN_BREAK"  # prev does not name the preceding record
    SEQ_GAP = "SEQ_GAP"  # a sequence number is missing or out of order
    SEQ_DUP = "SEQ_DUP"  # a sequence number appears twice
    ROOT_MISMATCH = (
        "ROOT_MISMATCH"  # a signed root (or inclusion proof) disagrees with the records
    )
    SIG_INVALID = "SIG_INVALID"  # a trusted key's signature does not verify
    UNKNOWN_KEY = "UNKNOWN_KEY"  # signed only by keys we do not trust
    TRUNCATED = "TRUNCATED"  # a signed checkpoint covers records that are not there
    UNCHECKPOINTED_TAIL = (
        "UNCHECKPOINTED_TAIL"  # warning: newest records not yet signed
    )
    INCONSISTENT_CHECKPOINTS = (
        "INCONSISTENT_CHECKPOINTS"  # signed checkpoints that cannot share one history
    )
    NONCANONICAL = "NONCANONICAL"  # bytes are not RFC 8785 canonical JSON
    MANIFEST_DIGEST = (
        "MANIFEST_DIGEST"  # bundle file missing, extra or not matching the manifest
    )
    ORIGIN_MISMATCH = (
        "ORIGIN_MISMATCH"  # record or checkpoint from another log/instance
    )
    MALFORMED = "MALFORMED"  # canonical JSON but not a valid record/checkpoint
    NO_CHECKPOINT = "NO_CHECKPOINT"  # records exist but nothing signed covers them


WARNINGS = frozenset({Code.UNCHECKPOINTED_TAIL})


@dataclass(frozen=True)
class Problem:
    code: Code
    where: str
    message: str

    @property
    def warning(self) -> bool:
        return self.code in WARNINGS

    def line(self) -> str:
        return f"{'WARNING' if self.warning else 'ERROR'} {self.code.value} {self.where}: {self.message}"


@dataclass
class Report:
    source: str
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    checkpoints: int = 0
    trusted_checkpoints: int = 0
    covered: int = 0  # records covered by a verified checkpoint
    origin: str | None = None

    def add(self, code: Code, where: str, message: str) -> None:
        self.problems.append(Problem(code, where, message))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def codes(self) -> set[str]:
        return {p.code.value for p in self.problems}

    def summary(self) -> str:
        verdict = "VALID" if self.valid else "TAMPERED"
        return (
            f"{verdict}: {self.records} records, {self.checkpoints} checkpoints "
            f"({self.trusted_checkpoints} verified), {self.covered} records covered by a signed root, "
            f"{len(self.errors)} errors, {len(self.problems) - len(self.errors)} warnings"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "valid": self.valid,
            "origin": self.origin,
            "records": self.records,
            "checkpoints": self.checkpoints,
            "trusted_checkpoints": self.trusted_checkpoints,
            "covered": self.covered,
            "problems": [
                {**asdict(p), "code": p.code.value, "warning": p.warning}
                for p in self.problems
            ],
        }


@dataclass
class _Note:
    label: str
    text: str
    ordered: bool  # part of a sequence whose sizes must not go backwards


# ---------------------------------------------------------------------- records


@dataclass
class _RecordScan:
    leaves: list[bytes] = field(default_factory=list)
    seqs: list[int | None] = field(default_factory=list)
    rotations: list[tuple[int, str, str]] = field(
        default_factory=list
    )  # (seq, old, new)
    encrypted: list[tuple[int, str]] = field(default_factory=list)  # (seq, sha256)
    origin: tuple[str, str] | None = None


# What one record says, found without looking at any other record (so it can run in
# parallel): (label, leaf hash, stored hash differs, non-canonical reason or None,
# well formed, seq or None, stored seq, prev, deployment, instance, epoch,
# rotation (old, new) or None, encrypted content digest or None)
_Facts = tuple[
    str,
    bytes,
    bool,
    str | None,
    bool,
    int | None,
    int | None,
    str,
    str,
    str,
    int,
    tuple[str, str] | None,
    str | None,
]


def _examine(
    label: str, body: bytes, stored_hash: bytes | None, stored_seq: int | None
) -> _Facts:
    h = leaf_hash(body)  # bytes first
    noncanon = None
    try:
        rec = parse_canonical(body)
    except NonCanonical as exc:
        noncanon = str(exc)
        try:
            rec = json.loads(body)
        except ValueError:
            rec = None
    hash_bad = stored_hash is not None and stored_hash != h
    if not isinstance(rec, dict) or not _well_formed(rec):
        seq = rec.get("seq") if isinstance(rec, dict) else None
        seq = seq if type(seq) is int else None
        return (
            label,
            h,
            hash_bad,
            noncanon,
            False,
            seq,
            stored_seq,
            "",
            "",
            "",
            0,
            None,
            None,
        )
    origin = rec["origin"]
    rotation = None
    if rec["kind"] == "key_rotation":
        p = rec["payload"]
        if isinstance(p.get("old_key"), str) and isinstance(p.get("new_key"), str):
            rotation = (p["old_key"], p["new_key"])
    content = rec.get("content")
    digest = None
    if isinstance(content, dict) and content.get("mode") == "encrypted":
        digest = str(content.get("sha256"))
    return (
        label, h, hash_bad, noncanon, True, rec["seq"], stored_seq, rec["prev"],
        origin["deployment"], origin["instance"], origin["epoch"], rotation, digest,
    )  # fmt: skip


# One signature cache per verification run (checkpoints are checked again as keys are learnt).
_SIG_CACHE: contextvars.ContextVar[SignatureCache | None] = contextvars.ContextVar(
    "_SIG_CACHE", default=None
)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Millions of small tuples and no cycles: the cyclic GC would only rescan them.
    Also scopes the signature cache to one verification run."""
    enabled = gc.isenabled()
    gc.disable()
    token = _SIG_CACHE.set({})
    try:
        yield
    finally:
        _SIG_CACHE.reset(token)
        if enabled:
            gc.enable()


def _examine_store_range(db_path: str, lo: int | None, hi: int | None) -> list[_Facts]:
    """Worker: examine the rows with lo ≤ seq < hi (None = unbounded) of a store."""
    gc.disable()  # worker processes: see _no_gc (the parent restores its own state)
    conn = connect_readonly(Path(db_path))
    try:
        where, args = [], []
        if lo is not None:
            where.append("seq >= ?")
            args.append(lo)
        if hi is not None:
            where.append("seq < ?")
            args.append(hi)
        sql = "SELECT seq, hash, body FROM records" + (
            " WHERE " + " AND ".join(where) if where else ""
        )
        cur = conn.execute(sql + " ORDER BY seq", args)
        out = []
        while rows := cur.fetchmany(20000):
            for seq, h, body in rows:
                out.append(
                    _examine(
                        f"record seq={seq}",
                        _as_bytes(body),
                        bytes(h) if h is not None else b"",
                        seq,
                    )
                )
        return out
    finally:
        conn.close()


def _examine_store(db_path: Path, workers: int | None = None) -> Iterator[_Facts]:
    """All rows in seq order; large stores are examined by one process per core."""
    conn = connect_readonly(db_path)
    try:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM records ORDER BY seq")]
    finally:
        conn.close()
    cores = workers or os.cpu_count() or 1
    if cores < 2 or len(seqs) < PARALLEL_THRESHOLD:
        yield from _examine_store_range(str(db_path), None, None)
        return
    chunks = cores * 4
    bounds = [seqs[len(seqs) * i // chunks] for i in range(1, chunks)]
    bounds = sorted(set(bounds))
    ranges = list(zip([None, *bounds], [*bounds, None], strict=True))
    with ProcessPoolExecutor(max_workers=cores) as pool:
        futures = [
            pool.submit(_examine_store_range, str(db_path), lo, hi) for lo, hi in ranges
        ]
        for fut in futures:
            yield from fut.result()


def _scan_records(
    facts: Iterable[_Facts], report: Report, *, contiguous: bool
) -> _RecordScan:
    """Seq continuity, prev chain and origin over examined records, in one ordered pass.

    ``contiguous``: the rows are the whole log (store / full bundle); else a filtered
    subset where gaps are expected and the chain is checked between neighbours only.
    """
    scan = _RecordScan()
    prev_hash = ZERO
    last_seq: int | None = None
    last_epoch = 0
    seen = bytearray()
    add = report.add
    leaves, seqs = scan.leaves, scan.seqs
    for (
        where,
        h,
        hash_bad,
        noncanon,
        ok,
        seq,
        stored_seq,
        prev,
        dep,
        inst,
        epoch,
        rotation,
        digest,
    ) in facts:
        leaves.append(h)
        if hash_bad:
            add(
                Code.HASH_MISMATCH, where, "stored hash does not match the record bytes"
            )
        if noncanon is not None:
            add(Code.NONCANONICAL, where, noncanon)
        if not ok or seq is None:
            add(Code.MALFORMED, where, "not a version-1 audit record")
            seqs.append(seq)
            prev_hash, last_seq = h.hex(), (seq if seq is not None else last_seq)
            continue
        seqs.append(seq)
        if stored_seq is not None and stored_seq != seq:
            add(
                Code.SEQ_GAP,
                where,
                f"row is filed under seq {stored_seq} but the record says {seq}",
            )
        # sequence
        if 0 <= seq < (1 << 27):
            byte, bit = divmod(seq, 8)
            if byte >= len(seen):
                seen.extend(bytes(byte - len(seen) + 1024))
            dup = seen[byte] & (1 << bit)
            seen[byte] |= 1 << bit
        else:
            dup = 0
        expected = 0 if last_seq is None else last_seq + 1
        if dup:
            add(Code.SEQ_DUP, where, f"seq {seq} appears more than once")
        elif contiguous and seq != expected:
            add(Code.SEQ_GAP, where, f"seq {seq} where {expected} was expected")
        elif not contiguous and last_seq is not None and seq < last_seq:
            add(Code.SEQ_GAP, where, f"seq {seq} after {last_seq}: out of order")
        # chain
        linked = (
            contiguous
            or (last_seq is not None and seq == last_seq + 1)
            or (last_seq is None and seq == 0)
        )
        if linked and prev != prev_hash:
            add(
                Code.CHAIN_BREAK,
                where,
                "prev does not match the hash of the preceding record",
            )
        # origin
        ident = (dep, inst)
        if scan.origin is None:
            scan.origin = ident
        elif ident != scan.origin:
            add(
                Code.ORIGIN_MISMATCH,
                where,
                f"record from {dep}/{inst} in the log of {scan.origin[0]}/{scan.origin[1]}",
            )
        elif epoch < last_epoch:
            add(
                Code.ORIGIN_MISMATCH,
                where,
                f"epoch went back from {last_epoch} to {epoch}",
            )
        last_epoch = max(last_epoch, epoch)
        if rotation is not None:
            scan.rotations.append((seq, rotation[0], rotation[1]))
        if digest is not None:
            scan.encrypted.append((seq, digest))
        prev_hash, last_seq = h.hex(), seq
    report.records = len(leaves)
    if scan.origin:
        report.origin = f"{scan.origin[0]}/{scan.origin[1]}"
    return scan


def _well_formed(rec: dict[str, Any]) -> bool:
    origin = rec.get("origin")
    prev = rec.get("prev")
    return (
        rec.keys() <= RECORD_KEYS
        and rec.get("v") == 1
        and isinstance(rec.get("seq"), int)
        and not isinstance(rec.get("seq"), bool)
        and rec["seq"] >= 0
        and isinstance(prev, str)
        and _HEX64.fullmatch(prev) is not None
        and isinstance(rec.get("ts"), str)
        and isinstance(rec.get("kind"), str)
        and isinstance(rec.get("payload"), dict)
        and isinstance(origin, dict)
        and isinstance(origin.get("deployment"), str)
        and isinstance(origin.get("instance"), str)
        and isinstance(origin.get("epoch"), int)
    )


# ---------------------------------------------------------------------- checkpoints


@dataclass
class _Parsed:
    note: _Note
    signed: SignedCheckpoint


def _parse_notes(notes: list[_Note], report: Report) -> list[_Parsed]:
    parsed = []
    for n in notes:
        try:
            parsed.append(_Parsed(n, parse_signed_checkpoint(n.text)))
        except NoteError as exc:
            report.add(Code.MALFORMED, n.label, f"unparseable checkpoint: {exc}")
    return parsed


def _trusted_keys(
    base: list[VerifierKey],
    parsed: list[_Parsed],
    scan: _RecordScan,
    tree: MerkleTree | None,
) -> dict[tuple[str, bytes], VerifierKey]:
    """Start from the keys the verifier holds; add keys named in a rotation record that a
    checkpoint signed by an already trusted key commits to (the cross-signed handover)."""
    trusted = {(k.name, k.hash): k for k in base}
    while True:
        covered = 0
        for p in parsed:
            cp = p.signed.checkpoint
            if (
                tree is not None
                and cp.size <= tree.size
                and check_signatures(p.signed, trusted, _SIG_CACHE.get()).trusted_valid
                and tree.root(cp.size) == cp.root
            ):
                covered = max(covered, cp.size)
        added = False
        for seq, old, new in scan.rotations:
            if seq >= covered:
                continue
            for text in (old, new):
                try:
                    key = VerifierKey.decode(text)
                except NoteError:
                    continue
                if (key.name, key.hash) not in trusted:
                    trusted[(key.name, key.hash)] = key
                    added = True
        if not added:
            return trusted


def _check_checkpoints(
    parsed: list[_Parsed],
    trusted: dict[tuple[str, bytes], VerifierKey],
    report: Report,
    origin: str | None,
    tree: MerkleTree | None,
) -> list[_Parsed]:
    """Signatures, origin, roots against the records, forks and ordering. Returns the verified ones."""
    good: list[_Parsed] = []
    last_ordered: _Parsed | None = None
    for p in parsed:
        cp, where = p.signed.checkpoint, p.note.label
        if origin is not None and cp.origin != origin:
            report.add(
                Code.ORIGIN_MISMATCH,
                where,
                f"checkpoint of origin {cp.origin!r}, log is {origin!r}",
            )
            continue
        check = check_signatures(p.signed, trusted, _SIG_CACHE.get())
        for key_id in check.invalid:
            report.add(
                Code.SIG_INVALID,
                where,
                f"signature by trusted key {key_id} does not verify",
            )
        if not check.trusted_valid:
            if not check.invalid:
                report.add(
                    Code.UNKNOWN_KEY,
                    where,
                    f"signed only by untrusted keys {', '.join(check.unknown) or '(none)'}",
                )
            continue
        good.append(p)
        if p.note.ordered:
            if (
                last_ordered is not None
                and cp.size < last_ordered.signed.checkpoint.size
            ):
                report.add(
                    Code.INCONSISTENT_CHECKPOINTS,
                    where,
                    f"size {cp.size} is smaller than the checkpoint signed before it "
                    f"({last_ordered.signed.checkpoint.size}): checkpoint replaced or reordered",
                )
            last_ordered = p
    report.trusted_checkpoints = len(good)
    # same size, different roots: two histories, whatever the records say
    by_size: dict[int, bytes] = {}
    for p in good:
        cp = p.signed.checkpoint
        if cp.size in by_size and by_size[cp.size] != cp.root:
            report.add(
                Code.INCONSISTENT_CHECKPOINTS,
                p.note.label,
                f"two signed roots for size {cp.size} (fork)",
            )
        by_size.setdefault(cp.size, cp.root)
    if tree is None:
        return good
    matching = [
        p
        for p in good
        if p.signed.checkpoint.size <= tree.size
        and tree.root(p.signed.checkpoint.size) == p.signed.checkpoint.root
    ]
    biggest_match = max((p.signed.checkpoint.size for p in matching), default=-1)
    for p in good:
        cp, where = p.signed.checkpoint, p.note.label
        if cp.size > tree.size:
            report.add(
                Code.TRUNCATED,
                where,
                f"signed checkpoint covers {cp.size} records, only {tree.size} present",
            )
        elif p not in matching:
            report.add(
                Code.ROOT_MISMATCH,
                where,
                f"signed root for size {cp.size} differs from the records' root",
            )
            if biggest_match >= cp.size:
                report.add(
                    Code.INCONSISTENT_CHECKPOINTS,
                    where,
                    f"not a prefix of the verified checkpoint of size {biggest_match} (fork)",
                )
    report.covered = max(report.covered, max(0, biggest_match))
    return good


def _check_held(
    held: str | None,
    trusted: dict[tuple[str, bytes], VerifierKey],
    report: Report,
    origin: str | None,
    tree: MerkleTree | None,
    known: dict[int, bytes],
) -> None:
    """``--since-checkpoint``: the store must still contain what this checkpoint vouched for."""
    if held is None:
        return
    where = "held checkpoint"
    try:
        signed = parse_signed_checkpoint(held)
    except NoteError as exc:
        report.add(Code.MALFORMED, where, f"unparseable: {exc}")
        return
    check = check_signatures(signed, trusted, _SIG_CACHE.get())
    for key_id in check.invalid:
        report.add(
            Code.SIG_INVALID,
            where,
            f"signature by trusted key {key_id} does not verify",
        )
    if not check.trusted_valid:
        if not check.invalid:
            report.add(Code.UNKNOWN_KEY, where, "not signed by a trusted key")
        return
    cp = signed.checkpoint
    if origin is not None and cp.origin != origin:
        report.add(
            Code.ORIGIN_MISMATCH,
            where,
            f"checkpoint of origin {cp.origin!r}, log is {origin!r}",
        )
        return
    size_now = tree.size if tree is not None else max(known, default=0)
    if cp.size > size_now:
        report.add(
            Code.TRUNCATED,
            where,
            f"store was rolled back: held checkpoint covers {cp.size}, store has {size_now}",
        )
    elif tree is not None and tree.root(cp.size) != cp.root:
        report.add(
            Code.INCONSISTENT_CHECKPOINTS,
            where,
            f"held root for size {cp.size} differs from the store's (fork or rewrite)",
        )
    elif tree is None and cp.size in known and known[cp.size] != cp.root:
        report.add(
            Code.INCONSISTENT_CHECKPOINTS,
            where,
            f"held root for size {cp.size} differs from the bundle's",
        )


def _finish(
    report: Report, scan: _RecordScan, good: list[_Parsed], parsed: list[_Parsed]
) -> None:
    n = report.records
    if n and not good and not parsed:
        report.add(Code.NO_CHECKPOINT, "log", f"{n} records and no signed checkpoint")
    elif n > report.covered and good:
        report.add(
            Code.UNCHECKPOINTED_TAIL,
            "log",
            f"{n - report.covered} newest records are not yet covered by a signed checkpoint",
        )


def _note_origin(
    scan: _RecordScan, parsed: list[_Parsed], meta: dict[str, str] | None = None
) -> str | None:
    if meta and meta.get("deployment") and meta.get("instance"):
        return f"{meta['deployment']}/{meta['instance']}"
    if scan.origin:
        return f"{scan.origin[0]}/{scan.origin[1]}"
    return parsed[0].signed.checkpoint.origin if parsed else None


# ---------------------------------------------------------------------- store


def verify_store(
    db_path: Path,
    pubkeys: list[VerifierKey],
    *,
    checkpoint_dir: Path | None = None,
    since_checkpoint: str | None = None,
    workers: int | None = None,
) -> Report:
    """Verify a SQLite store. ``checkpoint_dir``: also check the signed checkpoint files kept
    outside it. ``workers``: processes for examining records (default: one per core)."""
    with _no_gc():
        return _verify_store(
            db_path,
            pubkeys,
            checkpoint_dir=checkpoint_dir,
            since_checkpoint=since_checkpoint,
            workers=workers,
        )


def _verify_store(
    db_path: Path,
    pubkeys: list[VerifierKey],
    *,
    checkpoint_dir: Path | None = None,
    since_checkpoint: str | None = None,
    workers: int | None = None,
    all_checkpoint_files: bool = False,
) -> Report:
    report = Report(str(db_path))
    conn = connect_readonly(db_path)
    try:
        reader = StoreReader(conn)
        try:
            # Checkpoints before records: on a live store, records only grow, so every
            # checkpoint read here covers records that the scan below will see.
            meta = reader.meta()
            stored = reader.checkpoints()
            origin = _note_origin(_RecordScan(), [], meta)
            files = (
                read_checkpoint_files(
                    checkpoint_dir, origin, newest_only=not all_checkpoint_files
                )
                if checkpoint_dir and origin
                else None
            )
            scan = _scan_records(
                _examine_store(db_path, workers), report, contiguous=True
            )
            blobs = reader.content_blobs() if scan.encrypted else {}
        except Exception as exc:  # noqa: BLE001 - sqlite3 raises many types on a damaged file
            raise StoreError(
                f"{db_path}: cannot read the store ({type(exc).__name__}: {exc})"
            ) from None
    finally:
        conn.close()
    for seq, digest in scan.encrypted:
        blob = blobs.get(seq)
        if blob is None or hashlib.sha256(blob).hexdigest() != digest:
            report.add(
                Code.HASH_MISMATCH,
                f"content seq={seq}",
                "encrypted content blob missing or altered",
            )
    notes = [_Note(f"checkpoint id={c.id}", c.note, True) for c in stored]
    origin = origin or _note_origin(scan, [], None)
    if checkpoint_dir is not None and origin:
        if files is None:
            files = read_checkpoint_files(
                checkpoint_dir, origin, newest_only=not all_checkpoint_files
            )
        notes += [_Note(f"checkpoint file {p.name}", text, False) for p, text in files]
    parsed = _parse_notes(notes, report)
    report.checkpoints = len(parsed)
    tree = MerkleTree(scan.leaves)
    trusted = _trusted_keys(pubkeys, parsed, scan, tree)
    good = _check_checkpoints(parsed, trusted, report, origin, tree)
    _check_held(since_checkpoint, trusted, report, origin, tree, {})
    _finish(report, scan, good, parsed)
    return report


# ---------------------------------------------------------------------- bundle


def dsse_pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def _bundle_files(root: Path) -> Iterator[Path]:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield p


def _check_manifest(
    root: Path, digests: dict[str, str], report: Report
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Digest comparison (bytes only). Returns (statement, envelope) for the signature check later."""
    raw = (root / MANIFEST).read_bytes() if (root / MANIFEST).is_file() else None
    if raw is None:
        report.add(Code.MANIFEST_DIGEST, MANIFEST, "bundle has no signed manifest")
        return None, None
    try:
        env = json.loads(raw)
        payload = base64.b64decode(env["payload"], validate=True)
        statement = json.loads(payload)
        subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    except (ValueError, KeyError, TypeError, binascii.Error):
        report.add(
            Code.MANIFEST_DIGEST, MANIFEST, "manifest is not a DSSE in-toto statement"
        )
        return None, None
    for name, digest in sorted(digests.items()):
        if name == MANIFEST:
            continue
        if name not in subjects:
            report.add(Code.MANIFEST_DIGEST, name, "file is not listed in the manifest")
        elif subjects[name] != digest:
            report.add(Code.MANIFEST_DIGEST, name, "sha256 differs from the manifest")
    for name in sorted(subjects.keys() - digests.keys()):
        report.add(Code.MANIFEST_DIGEST, name, "listed in the manifest but missing")
    return statement, env


def _check_envelope(
    env: dict[str, Any], trusted: dict[tuple[str, bytes], VerifierKey], report: Report
) -> None:
    try:
        payload = base64.b64decode(env["payload"], validate=True)
        sigs = [
            (s["keyid"], base64.b64decode(s["sig"], validate=True))
            for s in env["signatures"]
        ]
        ptype = env["payloadType"]
    except (KeyError, TypeError, binascii.Error):
        report.add(Code.MANIFEST_DIGEST, MANIFEST, "malformed DSSE envelope")
        return
    by_id = {k.key_id: k for k in trusted.values()}
    ok = False
    for key_id, sig in sigs:
        key = by_id.get(key_id)
        if key is None:
            continue
        if key.verify(dsse_pae(ptype, payload), sig):
            ok = True
        else:
            report.add(
                Code.SIG_INVALID,
                MANIFEST,
                f"manifest signature by trusted key {key_id} does not verify",
            )
    if not ok and not any(
        p.where == MANIFEST and p.code is Code.SIG_INVALID for p in report.problems
    ):
        report.add(Code.UNKNOWN_KEY, MANIFEST, "manifest not signed by a trusted key")


def verify_bundle(
    bundle: Path, pubkeys: list[VerifierKey], *, since_checkpoint: str | None = None
) -> Report:
    report = Report(str(bundle))
    if not bundle.is_dir():
        raise StoreError(f"{bundle}: not a bundle directory")
    digests: dict[str, str] = {}
    contents: dict[str, bytes] = {}
    for p in _bundle_files(bundle):
        data = p.read_bytes()
        name = p.relative_to(bundle).as_posix()
        digests[name] = hashlib.sha256(data).hexdigest()
        contents[name] = data
    statement, env = _check_manifest(bundle, digests, report)
    predicate = statement.get("predicate", {}) if isinstance(statement, dict) else {}
    filtered = bool(predicate.get("filtered")) if isinstance(predicate, dict) else False
    if "proofs.jsonl" in contents:
        filtered = True
    raw = contents.get("records.jsonl", b"")
    if "records.jsonl" not in contents:
        report.add(Code.MANIFEST_DIGEST, "records.jsonl", "bundle has no records.jsonl")
    if raw and not raw.endswith(b"\n"):
        report.add(
            Code.NONCANONICAL,
            "records.jsonl",
            "last line lacks its newline (file cut?)",
        )
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    facts = (
        _examine(f"records.jsonl:{i + 1}", line, None, None)
        for i, line in enumerate(lines)
    )
    scan = _scan_records(facts, report, contiguous=not filtered)
    notes = [
        _Note(name, data.decode("utf-8", errors="replace"), True)
        for name, data in sorted(contents.items())
        if name.startswith("checkpoints/")
    ]
    parsed = _parse_notes(notes, report)
    report.checkpoints = len(parsed)
    origin = _note_origin(scan, parsed)
    if not filtered:
        tree = MerkleTree(scan.leaves)
        trusted = _trusted_keys(pubkeys, parsed, scan, tree)
        good = _check_checkpoints(parsed, trusted, report, origin, tree)
        _check_held(since_checkpoint, trusted, report, origin, tree, {})
    else:
        trusted = {(k.name, k.hash): k for k in pubkeys}
        good = _check_checkpoints(parsed, trusted, report, origin, None)
        known = {p.signed.checkpoint.size: p.signed.checkpoint.root for p in good}
        _check_filtered(contents, scan, lines, good, report)
        _check_held(since_checkpoint, trusted, report, origin, None, known)
    if env is not None:
        _check_envelope(env, trusted, report)
    _finish(report, scan, good, parsed)
    return report


def _b64list(items: Any) -> list[bytes]:
    if not isinstance(items, list):
        raise TypeError("proof must be a list")
    return [base64.b64decode(x, validate=True) for x in items]


def _check_filtered(
    contents: dict[str, bytes],
    scan: _RecordScan,
    lines: list[bytes],
    good: list[_Parsed],
    report: Report,
) -> None:
    """Filtered bundles: each record is proven into the head checkpoint; checkpoints into each other."""
    if not good:
        return
    head = max((p.signed.checkpoint for p in good), key=lambda c: c.size)
    roots = {p.signed.checkpoint.size: p.signed.checkpoint.root for p in good}
    proofs: dict[int, dict[str, Any]] = {}
    for i, line in enumerate(contents.get("proofs.jsonl", b"").splitlines()):
        try:
            entry = json.loads(line)
            proofs[int(entry["seq"])] = entry
        except (ValueError, KeyError, TypeError):
            report.add(
                Code.MALFORMED, f"proofs.jsonl:{i + 1}", "unparseable inclusion proof"
            )
    covered = 0
    for i, (leaf, seq) in enumerate(zip(scan.leaves, scan.seqs, strict=True)):
        where = f"records.jsonl:{i + 1}"
        if seq is None:
            continue
        if seq >= head.size:
            continue  # tail; reported by _finish
        entry = proofs.get(seq)
        try:
            if entry is None:
                raise ProofError("no inclusion proof")
            size = int(entry["tree_size"])
            if size not in roots:
                raise ProofError(f"no verified checkpoint of size {size}")
            verify_inclusion(seq, size, leaf, _b64list(entry["proof"]), roots[size])
            covered += 1
        except (ProofError, ValueError, KeyError, TypeError, binascii.Error) as exc:
            report.add(
                Code.ROOT_MISMATCH,
                where,
                f"record seq={seq} is not proven in the signed tree: {exc}",
            )
    proven = {head.size}
    for i, line in enumerate(contents.get("consistency.jsonl", b"").splitlines()):
        where = f"consistency.jsonl:{i + 1}"
        try:
            entry = json.loads(line)
            s1, s2 = int(entry["size1"]), int(entry["size2"])
            if s1 not in roots or s2 != head.size:
                continue
            verify_consistency(s1, s2, _b64list(entry["proof"]), roots[s1], roots[s2])
            proven.add(s1)
        except (ProofError, ValueError, KeyError, TypeError, binascii.Error) as exc:
            report.add(
                Code.INCONSISTENT_CHECKPOINTS,
                where,
                f"checkpoints do not extend each other: {exc}",
            )
    for size in sorted(roots.keys() - proven):
        report.add(
            Code.INCONSISTENT_CHECKPOINTS,
            f"checkpoint size={size}",
            "not proven to be a prefix of the newest checkpoint",
        )
    report.covered = sum(1 for s in scan.seqs if s is not None and s < head.size)
