"""The append-only audit log: one writer thread, grouped commits, periodic signed checkpoints.

Why a thread: the proxy is a single asyncio loop, and a durable SQLite commit is a disk
wait. Callers canonicalise their payload (cheap, and errors surface at the call site),
hand it to a queue and await a future; the writer drains everything queued into one
transaction, so N concurrent requests cost one commit, then resolves the futures. A
record's future resolves only after its transaction committed: "append returned" means
"the record is in the store" (against process crash with ``synchronous: normal``,
against power loss with ``full``).

Checkpoints are signed by the same thread after a commit, never before, so no signature
can cover a record the store does not have. Before each signature the writer proves, with
an RFC 6962 consistency proof, that the tree extends the last signed checkpoint; if the
store was rolled back it refuses to sign and logs at CRITICAL.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import json
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self

from govproxy.audit.canonical import canonical, canonical_payload, parse_canonical
from govproxy.audit.checkpoint_files import read_checkpoint_files, write_checkpoint_file
from govproxy.audit.config import AuditConfig, ContentMode, Synchronous
from govproxy.audit.content import ALGORITHM, ContentKeyStore, blob_digest
from govproxy.audit.errors import (
    AuditClosed,
    NoteError,
    ProofError,
    RecordRejected,
    StoreError,
)
from govproxy.audit.keys import ensure_signing_key, known_verifiers, load_signer
from govproxy.audit.merkle import (
    CompactRange,
    consistency_proof_from_ranges,
    leaf_hash,
    verify_consistency,
)
from govproxy.audit.note import (
    Checkpoint,
    Signer,
    VerifierKey,
    parse_signed_checkpoint,
    sign_checkpoint,
)
from govproxy.audit.store import (
    BUSY_TIMEOUT_MS,
    StoreReader,
    WriterLock,
    connect,
    connect_for_wal_checkpoints,
)

log = logging.getLogger("govproxy.audit")

RECORD_VERSION = 1
ZERO_HASH = "0" * 64
PUBLIC_KINDS = frozenset({"decision", "outcome"})
KEY_ROTATION = "key_rotation"

RecordKind = Literal["decision", "outcome"]
_KIND_BYTES = {k: f'"{k}"'.encode() for k in (*PUBLIC_KINDS, KEY_ROTATION)}
_INSERT_RECORD = (
    "INSERT INTO records (seq, hash, body, kind, ts, tenant, request_id) "
    "VALUES (?,?,?,?,?,?,?)"
)


@dataclass(frozen=True)
class RecordRef:
    """Where a durable record sits: its sequence number (= Merkle leaf index) and hash."""

    seq: int
    hash: str  # hex of SHA256(0x00 ‖ bytes)


@dataclass(frozen=True)
class SignedState:
    size: int
    root: bytes
    note: str


def rfc3339_now() -> str:
    return rfc3339(time.time_ns())


_second_cache: list[Any] = [None, ""]


def rfc3339(ns: int) -> str:
    """RFC 3339 UTC with microseconds; the date part is cached per second (hot path)."""
    sec, rest = divmod(ns, 1_000_000_000)
    if _second_cache[0] != sec:
        _second_cache[1] = datetime.fromtimestamp(sec, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
        _second_cache[0] = sec
    return f"{_second_cache[1]}.{rest // 1000:06d}Z"


@dataclass
class _Pending:
    kind: str
    payload: bytes
    tenant: str | None
    request_id: str | None
    redacted: bytes | None
    original: dict[str, str] | None
    future: concurrent.futures.Future[RecordRef] | None  # sync callers
    submitted_ns: int = 0
    afuture: asyncio.Future[RecordRef] | None = (
        None  # async callers: settled in bulk per loop
    )
    loop: asyncio.AbstractEventLoop | None = None
    deferred_at: float = 0.0  # monotonic; set when the record waits to share a commit

    def accept(self) -> bool:
        """False when a sync caller cancelled before the writer took the record."""
        return (
            self.future.set_running_or_notify_cancel()
            if self.future is not None
            else True
        )


def _is_busy(exc: BaseException) -> bool:
    """SQLite said another connection holds the lock (SQLITE_BUSY / SQLITE_LOCKED)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _submitted(item: _Pending) -> int:
    return item.submitted_ns


@dataclass
class _Control:
    action: str  # "checkpoint" | "rotate" | "close"
    future: concurrent.futures.Future[Any]
    args: dict[str, Any] = field(default_factory=dict)


def _text_parts(value: Mapping[str, str] | None, name: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise RecordRejected(f"{name}: content must map part names to strings")
    return dict(value)


class AuditLog:
    """Open once per process (``AuditLog.open(config)``), append from anywhere, ``close()`` at exit."""

    def __init__(self, config: AuditConfig, signer: Signer) -> None:
        self.config = config
        self.origin = config.origin
        self._signer = signer
        self._lock = WriterLock(config.path)
        self._lock.acquire()
        try:
            self._conn = connect(config.path, config.synchronous.value)
            self._conn.execute(
                "PRAGMA wal_autocheckpoint=0"
            )  # the publisher checkpoints the WAL
            self._load_state()
            self._keys = (
                ContentKeyStore(config.resolved_content_keys)
                if config.content is ContentMode.ENCRYPTED
                else None
            )
        except BaseException:
            self._lock.release()
            raise
        # None: a wake-up (the publisher finished a checkpoint, or a deferred record
        # arrived while the writer was asleep)
        self._queue: queue.SimpleQueue[_Pending | _Control | None] = queue.SimpleQueue()
        # Records nobody waits for (outcomes) wait here to share the next commit: a request
        # then costs one commit and one writer wake-up instead of two.
        self._deferred: collections.deque[_Pending] = collections.deque()
        self._defer_s = config.deferred_flush_ms / 1000
        self._writer_asleep = False  # True while the writer would not look at _deferred in time
        self._active_until = 0.0  # monotonic: poll _deferred (no wake-ups needed) until then
        # The writer's state (chain head, tree ranges, checkpoint timer, the connection) is
        # changed by the writer thread, or by a caller committing inline (append(inline=True))
        # while the writer is idle; this lock makes them take turns.
        self._state_lock = threading.Lock()
        self._inline_allowed = config.synchronous is not Synchronous.FULL  # no fsync on the loop
        self._closed = False
        # Signing I/O (fsync, checkpoint files, checkpoint row, WAL checkpoint) runs on a
        # publisher thread with its own connection, so commits never wait for a disk flush.
        self._publish_queue: queue.SimpleQueue[
            tuple[int, bytes, list[Signer], concurrent.futures.Future[SignedState]]
            | str
            | None
        ] = queue.SimpleQueue()
        self._inflight: concurrent.futures.Future[SignedState] | None = None
        self._publisher = threading.Thread(
            target=self._publish_loop, name="govproxy-audit-signer", daemon=True
        )
        self._publisher.start()
        self._thread = threading.Thread(
            target=self._run, name="govproxy-audit-writer", daemon=True
        )
        self._thread.start()
        atexit.register(self.close)

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, config: AuditConfig, *, generate_key: bool = False) -> AuditLog:
        """Open the store for writing. ``generate_key=True`` (``govproxy run``) creates a missing key."""
        if generate_key:
            signer, _ = ensure_signing_key(
                config.signing_key, config.origin.replace("/", ".")
            )
        else:
            signer = load_signer(config.signing_key)
        return cls(config, signer)

    def _load_state(self) -> None:
        reader = StoreReader(self._conn)
        meta = reader.meta()
        want = {
            "schema": "1",
            "deployment": self.config.deployment,
            "instance": self.config.instance,
        }
        if not meta:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO meta VALUES (?,?)", sorted(want.items())
            )
            self._conn.execute("COMMIT")
        elif any(meta.get(k) != v for k, v in want.items()):
            raise StoreError(
                f"{self.config.path}: store belongs to origin "
                f"{meta.get('deployment')}/{meta.get('instance')}, not {self.origin}; one store per instance"
            )
        signed = self._signed_checkpoints(reader)
        self._load_tree(reader, {cp.size for cp, _ in signed})
        last = reader.last_record()
        self._prev = ZERO_HASH
        self._epoch = 1
        if last is not None:
            if last.seq != self.size - 1 or leaf_hash(last.body) != last.hash:
                raise StoreError(
                    f"{self.config.path}: store is damaged (last record does not match); run 'govproxy audit verify'"
                )
            self._prev = last.hash.hex()
            try:
                self._epoch = int(json.loads(last.body)["origin"]["epoch"]) + 1
            except (ValueError, KeyError, TypeError):
                raise StoreError(
                    f"{self.config.path}: last record is unreadable; run 'govproxy audit verify'"
                ) from None
        self._origin_bytes = canonical(
            {
                "deployment": self.config.deployment,
                "epoch": self._epoch,
                "instance": self.config.instance,
            }
        )
        self._rollback: str | None = None
        self._last_signed: SignedState | None = None
        self._check_signed_history(signed)
        self._pending_since: float | None = None
        self._last_alarm = 0.0
        if self.size > (self._last_signed.size if self._last_signed else 0):
            self._pending_since = time.monotonic()

    def _signed_checkpoints(self, reader: StoreReader) -> list[tuple[Checkpoint, str]]:
        """The largest checkpoints we ever signed (DB and files), signature-checked.

        The largest ones are enough: a rollback or rewrite of anything they cover shows in
        their size or root. Reading only those keeps startup fast after months of
        one-per-second checkpoints.
        """
        verifiers = {
            (k.name, k.hash): k
            for k in [self._signer.verifier, *known_verifiers(self.config.signing_key)]
        }
        notes = reader.newest_checkpoint_notes()
        notes += [
            text
            for _, text in read_checkpoint_files(
                self.config.resolved_checkpoint_dir, self.origin, newest_only=True
            )
        ]
        out: list[tuple[Checkpoint, str]] = []
        for text in notes:
            try:
                note = parse_signed_checkpoint(text)
            except NoteError:
                continue
            if note.checkpoint.origin == self.origin and any(
                (k := verifiers.get((s.name, s.hash))) is not None
                and k.verify(note.message, s.signature)
                for s in note.signatures
            ):
                out.append((note.checkpoint, text))
        return out

    def _load_tree(self, reader: StoreReader, sizes: set[int]) -> None:
        """Stream the stored leaf hashes once, keeping only compact ranges (O(log n) hashes).

        Kept: the frontier ``[0, n)`` (the root), the frontier at each signed size we must
        check (``self._frontiers_at``), and ``[m, n)`` from the largest signed size ``m``
        (with the frontier at ``m`` it yields the consistency proof of the next signature).
        """
        frontier = CompactRange()
        at: dict[int, CompactRange] = {}
        largest = max(sizes, default=0)
        since: CompactRange | None = None
        for h in reader.iter_hashes():
            if frontier.end in sizes:
                at[frontier.end] = frontier.copy()
            if frontier.end == largest:
                since = CompactRange(largest)
            frontier.append(h)
            if since is not None:
                since.append(h)
        if frontier.end in sizes:
            at[frontier.end] = frontier.copy()
        if frontier.end == largest and since is None:
            since = CompactRange(largest)
        self._frontier = frontier
        self._size = frontier.end
        self._frontiers_at = at
        self._signed_frontier: CompactRange | None = (
            at.get(largest) if largest else None
        )
        self._since_signed = since if since is not None else CompactRange(0)
        # while a checkpoint is being published: (frontier at its size, [its size, n))
        self._publishing_ranges: tuple[CompactRange, CompactRange] | None = None

    def _check_signed_history(self, signed: list[tuple[Checkpoint, str]]) -> None:
        """Compare the largest checkpoints we signed with the stored tree; alarm on a mismatch."""
        for cp, text in signed:
            if cp.size > self.size:
                self._alarm(
                    f"store holds {self.size} records but a checkpoint we signed covers {cp.size}: "
                    "the store was rolled back or truncated"
                )
            elif self._frontiers_at[cp.size].root() != cp.root:
                self._alarm(
                    f"the stored tree at size {cp.size} differs from the checkpoint we signed: fork or rewrite"
                )
            if self._last_signed is None or cp.size > self._last_signed.size:
                self._last_signed = SignedState(cp.size, cp.root, text)
        self._frontiers_at = {}  # only needed for the checks above

    def _alarm(self, reason: str) -> None:
        self._rollback = self._rollback or reason
        log.critical(
            "AUDIT ROLLBACK DETECTED in %s: %s. Refusing to sign checkpoints.",
            self.config.path,
            reason,
        )

    # ------------------------------------------------------------------ public API

    @property
    def content_mode(self) -> ContentMode:
        return self.config.content

    @property
    def size(self) -> int:
        """Records durably stored so far (read from the writer's state; approximate while appending)."""
        return self._size

    @property
    def rollback_detected(self) -> str | None:
        """Why signing is refused, or None when the store extends everything we signed."""
        return self._rollback

    @property
    def verifier(self) -> VerifierKey:
        return self._signer.verifier

    @property
    def last_signed(self) -> SignedState | None:
        return self._last_signed

    def submit(
        self,
        kind: RecordKind,
        payload: Mapping[str, Any],
        *,
        redacted: Mapping[str, str] | None = None,
        original: Mapping[str, str] | None = None,
    ) -> concurrent.futures.Future[RecordRef]:
        """Queue a record; the future resolves once it is durable. Raises RecordRejected at once."""
        if kind not in PUBLIC_KINDS:
            raise RecordRejected(f"kind must be one of {sorted(PUBLIC_KINDS)}")
        fut: concurrent.futures.Future[RecordRef] = concurrent.futures.Future()
        self._enqueue(kind, payload, redacted, original, fut, None)
        return fut

    def _enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        redacted: Mapping[str, str] | None,
        original: Mapping[str, str] | None,
        fut: concurrent.futures.Future[RecordRef] | None,
        afut: asyncio.Future[RecordRef] | None,
        *,
        defer: bool = False,
        inline: list[_Pending] | None = None,
    ) -> None:
        if self._closed:
            raise AuditClosed("audit log is closed")
        if not isinstance(payload, Mapping):
            raise RecordRejected("payload must be an object")
        body = canonical_payload(payload)
        tenant = payload.get("tenant")
        request_id = payload.get("request_id")
        mode = self.config.content
        red_bytes = None
        orig = None
        if mode is ContentMode.REDACTED:
            parts = _text_parts(redacted, "redacted")
            if parts is not None:
                red_bytes = canonical({"mode": "redacted", "parts": parts}, "redacted")
        elif mode is ContentMode.ENCRYPTED:
            orig = _text_parts(original, "original")
        item = _Pending(
            kind,
            body,
            tenant if isinstance(tenant, str) else None,
            str(request_id) if isinstance(request_id, str | int) else None,
            red_bytes,
            orig,
            fut,
            time.time_ns(),
            afut,
            afut.get_loop() if afut is not None else None,
        )
        if inline is not None:
            inline.append(item)
            return
        if not defer:
            self._queue.put(item)
            return
        item.deferred_at = time.monotonic()
        self._deferred.append(item)
        if self._writer_asleep:
            # The writer is in a long wait and would not see the record in time.
            self._writer_asleep = False
            self._queue.put(None)

    async def append(
        self,
        kind: RecordKind,
        payload: Mapping[str, Any],
        *,
        redacted: Mapping[str, str] | None = None,
        original: Mapping[str, str] | None = None,
        inline: bool = False,
    ) -> RecordRef:
        """Append and wait (without blocking the event loop) until the record is durable.

        The writer settles all of a grouped commit's futures of one loop with a single
        ``call_soon_threadsafe``, so the loop pays one wake-up per commit, not per record.

        ``inline=True`` (the proxy's decision records): if the writer is idle, the record is
        committed on this thread, which saves two thread hand-offs and a loop wake-up.
        It never waits for a lock held by anyone else: when the writer is busy, records
        are queued, or the database is locked, the record takes the normal queued path.
        """
        if kind not in PUBLIC_KINDS:
            raise RecordRejected(f"kind must be one of {sorted(PUBLIC_KINDS)}")
        if inline and self._inline_allowed and self._queue.empty() and self._state_lock.acquire(blocking=False):
            try:
                built: list[_Pending] = []
                self._enqueue(kind, payload, redacted, original, None, None, inline=built)
                ref = self._commit_inline(built[0])
            finally:
                self._state_lock.release()
            if ref is not None:
                return ref
            item = built[0]  # not stored: hand the same record to the writer
            afut: asyncio.Future[RecordRef] = asyncio.get_running_loop().create_future()
            item.afuture, item.loop = afut, afut.get_loop()
            self._queue.put(item)
            return await afut
        afut = asyncio.get_running_loop().create_future()
        self._enqueue(kind, payload, redacted, original, None, afut)
        return await afut

    def _commit_inline(self, item: _Pending) -> RecordRef | None:
        """Caller's thread, holding the state lock: store one record now, or return None
        (nothing changed) so that it goes to the writer, which reports any failure."""
        if self._closed or not self._thread.is_alive():
            raise AuditClosed("audit log is closed")
        if not self._queue.empty():
            return None  # the writer has work: keep the order, join its next commit
        if item.original is not None and self._keys is not None:
            return None  # encrypted content (two tables): the writer's grouped path
        try:
            refs, hashes = self._store([item], wait_for_lock=False)  # never wait on the loop
        except sqlite3.Error:
            return None
        armed = self._pending_since is not None
        self._active_until = time.monotonic() + 1.0
        self._advance([item], refs, hashes)
        if not armed or self._checkpoint_due():  # the writer arms its checkpoint timer, or signs
            self._queue.put(None)
        return refs[0]

    def append_nowait(self, kind: RecordKind, payload: Mapping[str, Any]) -> None:
        """Queue a record nobody waits for (an outcome: the decision record already made the
        request durable). The writer logs a failed commit; no future means no wake-up of
        the caller's event loop per record. Raises RecordRejected / AuditClosed at once."""
        if kind not in PUBLIC_KINDS:
            raise RecordRejected(f"kind must be one of {sorted(PUBLIC_KINDS)}")
        self._enqueue(kind, payload, None, None, None, None, defer=self._defer_s > 0)

    def append_sync(
        self,
        kind: RecordKind,
        payload: Mapping[str, Any],
        *,
        redacted: Mapping[str, str] | None = None,
        original: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
    ) -> RecordRef:
        """Blocking variant for the CLI and tests (never call it on the event loop)."""
        return self.submit(kind, payload, redacted=redacted, original=original).result(
            timeout
        )

    def checkpoint_now(self, timeout: float | None = 30.0) -> SignedState | None:
        """Sign a checkpoint over everything appended so far (None if refused or nothing new)."""
        return self._control("checkpoint").result(timeout)

    def rotate(
        self, new_signer: Signer, timeout: float | None = 30.0
    ) -> SignedState | None:
        """Record a key rotation and sign a checkpoint with both the old and the new key."""
        return self._control("rotate", signer=new_signer).result(timeout)

    def shred_tenant(self, tenant: str) -> int:
        """Crypto-shred ``tenant``'s encrypted content by deleting its data keys."""
        if self._keys is None:
            raise StoreError("content is not encrypted in this store; nothing to shred")
        return self._keys.shred(tenant)

    def close(self, timeout: float | None = 60.0) -> None:
        """Flush, sign a final checkpoint, release the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._thread.is_alive():
                fut: concurrent.futures.Future[None] = concurrent.futures.Future()
                self._queue.put(_Control("close", fut))
                try:
                    fut.result(timeout)
                except concurrent.futures.TimeoutError:
                    # Say where the threads are: a close that never ends is otherwise silent.
                    log.critical("audit: closing %s did not finish within %s s; threads:\n%s",
                                 self.config.path, timeout, self._thread_stacks())
                    raise
                self._thread.join(timeout)
        finally:
            if self._keys is not None:
                self._keys.close()
            self._lock.release()
            atexit.unregister(self.close)

    def _thread_stacks(self) -> str:
        frames = sys._current_frames()
        out = []
        for thread in (self._thread, self._publisher):
            frame = frames.get(thread.ident or -1)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "  (not running)\n"
            out.append(f"{thread.name}:\n{stack}")
        return "".join(out)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _control(self, action: str, **args: Any) -> concurrent.futures.Future[Any]:
        if self._closed or not self._thread.is_alive():
            raise AuditClosed("audit log is closed")
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue.put(_Control(action, fut, args))
        return fut

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        closing: _Control | None = None
        try:
            while closing is None:
                with self._state_lock:
                    if self._inflight is not None and self._inflight.done():
                        self._collect_published()
                    timeout = self._wait_timeout()
                try:
                    if timeout is None:
                        first = self._queue.get()
                    elif timeout > 0:
                        first = self._queue.get(timeout=timeout)
                    else:
                        first = self._queue.get_nowait()
                except queue.Empty:
                    first = None
                finally:
                    self._writer_asleep = False
                batch: list[_Pending] = []
                controls: list[_Control] = []
                item = first
                while item is not None:
                    if isinstance(item, _Control):
                        controls.append(item)
                        if item.action == "close":
                            closing = item
                    elif item.accept():
                        batch.append(item)
                    if len(batch) >= self.config.max_batch:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        item = None
                with self._state_lock:
                    if self._deferred and (batch or controls):
                        batch = self._take_deferred(batch)
                    elif self._deferred and self._deferred_due():
                        self._active_until = time.monotonic() + 1.0
                        self._flush_deferred()
                    if batch:
                        self._active_until = time.monotonic() + 1.0
                        self._commit(batch)
                    for ctl in controls:
                        if ctl.action != "close":
                            self._run_control(ctl)
                    if self._checkpoint_due():
                        self._sign(wait=False)
            with self._state_lock:
                self._finish(closing)
            closing.future.set_result(None)
        except BaseException as exc:  # the writer must never die silently
            log.critical("audit writer stopped: %s", type(exc).__name__, exc_info=True)
            self._closed = True
            self._stop_publisher()
            self._fail_queued(exc)
            if closing is not None and not closing.future.done():
                closing.future.set_exception(exc)

    def _finish(self, closing: _Control) -> None:
        """Writer thread, at close: store everything still queued, sign, release the store."""
        while self._deferred:
            self._commit(self._take_deferred([]))
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Pending) and item.accept():
                self._commit([item])
            elif isinstance(item, _Control) and item is not closing:
                item.future.set_exception(AuditClosed("audit log is closing"))
        if self._last_signed is None or self._last_signed.size < self.size:
            self._sign()
        self._stop_publisher()
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    def _fail_queued(self, exc: BaseException) -> None:
        if self._deferred:
            log.error("audit: %d outcome records not stored (writer stopped)", len(self._deferred))
            self._deferred.clear()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            err = AuditClosed(f"audit writer stopped ({type(exc).__name__})")
            if item is None:
                continue
            if isinstance(item, _Pending):
                _settle([(item, None, err)])
            elif not item.future.done():
                item.future.set_exception(err)

    def _stop_publisher(self) -> None:
        if self._publisher.is_alive():
            self._publish_queue.put(None)
            self._publisher.join(60)

    def _publishing(self) -> bool:
        return self._inflight is not None and not self._inflight.done()

    def _wait_timeout(self) -> float | None:
        """The writer's next wait: until a checkpoint is due, a deferred record must be
        committed, or (while traffic flows) the next look at the deferred records.

        Polling while active lets deferred records join commits without waking the
        writer; after a quiet second the writer sleeps and an appender wakes it instead.
        """
        timeout = self._time_to_checkpoint()
        if self._defer_s <= 0:
            return timeout
        now = time.monotonic()
        if self._deferred:
            wait = max(0.0, self._deferred[0].deferred_at + self._defer_s - now)
        elif now < self._active_until:
            wait = self._defer_s
        else:
            wait = None
        if wait is not None and (timeout is None or wait < timeout):
            timeout = wait
        if timeout is None or timeout > self._defer_s:
            self._writer_asleep = True
            if self._deferred:  # arrived before the flag was up: do not sleep past it
                self._writer_asleep = False
                return 0.0
        return timeout

    def _deferred_due(self) -> bool:
        return time.monotonic() >= self._deferred[0].deferred_at + self._defer_s

    def _take_deferred(self, batch: list[_Pending]) -> list[_Pending]:
        """Deferred records join ``batch``, all in submission order (timestamps stay ordered)."""
        room = max(1, self.config.max_batch - len(batch))
        taken: list[_Pending] = []
        while self._deferred and len(taken) < room:
            item = self._deferred.popleft()
            if item.accept():
                taken.append(item)
        if not batch:
            return taken
        merged = taken + batch
        merged.sort(key=_submitted)
        return merged

    def _time_to_checkpoint(self) -> float | None:
        """How long the writer may sleep when idle; None: until something is queued
        (a record, a control, or the publisher's wake-up when its checkpoint is done)."""
        if self._pending_since is None or self._publishing():
            return None
        return max(
            0.0,
            self._pending_since
            + self.config.checkpoint_every_seconds
            - time.monotonic(),
        )

    def _checkpoint_due(self) -> bool:
        if self._publishing():
            return False
        signed = self._last_signed.size if self._last_signed else 0
        pending = self.size - signed
        if pending <= 0:
            self._pending_since = None  # nothing to sign: disarm the timer
            return False
        if pending >= self.config.checkpoint_every_records:
            return True
        return (
            self._pending_since is not None
            and time.monotonic() - self._pending_since
            >= self.config.checkpoint_every_seconds
        )

    def _build(
        self, item: _Pending, seq: int, prev: str
    ) -> tuple[bytes, str, tuple[Any, ...] | None]:
        content = item.redacted
        content_row = None
        if item.original is not None and self._keys is not None:
            tenant = item.tenant or "_default"
            key_id, blob = self._keys.encrypt(tenant, item.original)
            content = canonical(
                {
                    "alg": ALGORITHM,
                    "key": key_id,
                    "mode": "encrypted",
                    "sha256": blob_digest(blob),
                }
            )
            content_row = (seq, tenant, key_id, blob)
        ts = rfc3339(item.submitted_ns or time.time_ns())
        body = b"".join(
            [
                b"{",
                (b'"content":' + content + b",") if content is not None else b"",
                b'"kind":',
                _KIND_BYTES.get(item.kind) or canonical(item.kind),
                b',"origin":',
                self._origin_bytes,
                b',"payload":',
                item.payload,
                b',"prev":"',
                prev.encode(),
                b'","seq":',
                str(seq).encode(),
                b',"ts":"',
                ts.encode(),
                b'","v":',
                str(RECORD_VERSION).encode(),
                b"}",
            ]
        )
        return body, ts, content_row

    def _commit(self, batch: list[_Pending], *, wait_for_lock: bool = True) -> bool:
        """Store ``batch`` in one transaction, wake its callers, then grow the tree.

        Nothing of the writer's state changes before COMMIT succeeds, so a failed commit
        leaves nothing to undo. The Merkle bookkeeping runs after the callers are woken:
        it is not part of "durable", so it stays off the request's latency path.
        ``wait_for_lock=False``: when another process holds the database, return False at
        once (nothing stored, nothing settled) instead of waiting out the busy timeout.
        """
        try:
            refs, hashes = self._store(batch, wait_for_lock)
        except Exception as exc:  # noqa: BLE001 - any failure must reach the waiting callers
            if not wait_for_lock and _is_busy(exc):
                return False
            log.error(
                "audit: grouped commit of %d records failed: %s",
                len(batch),
                type(exc).__name__,
            )
            err = StoreError(f"audit record not stored ({type(exc).__name__})")
            _settle([(item, None, err) for item in batch])
            return True
        self._advance(batch, refs, hashes)
        return True

    def _store(
        self, batch: list[_Pending], wait_for_lock: bool
    ) -> tuple[list[RecordRef], list[bytes]]:
        """Build and store ``batch`` in one transaction; raises, changing nothing, on failure."""
        rows, contents, refs, hashes = [], [], [], []
        seq, prev = self._size, self._prev
        for item in batch:
            body, ts, content_row = self._build(item, seq, prev)
            h = leaf_hash(body)
            rows.append((seq, h, body, item.kind, ts, item.tenant, item.request_id))
            if content_row:
                contents.append(content_row)
            prev = h.hex()
            refs.append(RecordRef(seq, prev))
            hashes.append(h)
            seq += 1
        if wait_for_lock:
            self._store_rows(rows, contents)
        else:
            self._conn.execute("PRAGMA busy_timeout=0")
            try:
                self._store_rows(rows, contents)
            finally:
                self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return refs, hashes

    def _advance(
        self, batch: list[_Pending], refs: list[RecordRef], hashes: list[bytes]
    ) -> None:
        """After COMMIT: move the chain head, arm the checkpoint timer, wake the callers,
        then grow the tree (not part of "durable", so off the latency path)."""
        self._prev, self._size = refs[-1].hash, refs[-1].seq + 1
        if self._pending_since is None:
            self._pending_since = time.monotonic()
        _settle([(item, ref, None) for item, ref in zip(batch, refs, strict=True)])
        self._grow(hashes)

    def _flush_deferred(self) -> None:
        """Commit the deferred records on their own. Nobody waits for them, so they never
        hold the writer through a lock held by another process (records somebody waits for
        would queue behind them): locked, they stay deferred for another window."""
        items = self._take_deferred([])
        if not items or self._commit(items, wait_for_lock=False):
            return
        now = time.monotonic()
        for item in reversed(items):
            item.deferred_at = now
            self._deferred.appendleft(item)

    def _grow(self, hashes: list[bytes]) -> None:
        """Append stored leaves to the compact ranges, in place (amortised one node hash each)."""
        ranges = [self._frontier, self._since_signed]
        if self._publishing_ranges is not None:
            ranges.append(self._publishing_ranges[1])
        for r in ranges:
            for h in hashes:
                r.append(h)

    def _store_rows(
        self, rows: list[tuple[Any, ...]], contents: list[tuple[Any, ...]]
    ) -> None:
        """One transaction. A lone record (the common case when idle) is a single
        autocommit INSERT: one statement is atomic by itself and saves the BEGIN/COMMIT
        round trips (each one also gives up and re-takes the GIL) on the latency path."""
        if len(rows) == 1 and not contents:
            self._conn.execute(_INSERT_RECORD, rows[0])
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(_INSERT_RECORD, rows)
            if contents:
                self._conn.executemany(
                    "INSERT INTO contents (seq, tenant, key_id, blob) VALUES (?,?,?,?)",
                    contents,
                )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def _run_control(self, ctl: _Control) -> None:
        try:
            if ctl.action == "checkpoint":
                ctl.future.set_result(self._sign(force=True))
            elif ctl.action == "rotate":
                new: Signer = ctl.args["signer"]
                old = self._signer
                item = _Pending(
                    KEY_ROTATION,
                    canonical(
                        {
                            "new_key": new.verifier.encode(),
                            "old_key": old.verifier.encode(),
                        }
                    ),
                    None,
                    None,
                    None,
                    None,
                    concurrent.futures.Future(),
                )
                item.accept()
                self._commit([item])
                item.future.result(0)  # type: ignore[union-attr]
                state = self._sign(force=True, extra=[new])
                if state is None:
                    raise StoreError("rotation checkpoint refused (see CRITICAL log)")
                self._signer = new
                ctl.future.set_result(state)
            else:
                raise ValueError(ctl.action)
        except Exception as exc:  # noqa: BLE001 - reported to the caller through its future
            ctl.future.set_exception(exc)

    def _fsync_store(self) -> None:
        """Make every committed frame durable before a signature vouches for it."""
        if self.config.synchronous is Synchronous.FULL:
            return
        for suffix in ("-wal", ""):
            path = Path(str(self.config.path) + suffix)
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _sign(
        self, force: bool = False, extra: list[Signer] | None = None, wait: bool = True
    ) -> SignedState | None:
        """Writer thread: decide and *prove* (consistency with the last signed checkpoint),
        then hand the I/O to the publisher. ``wait`` blocks until it is published."""
        if self._inflight is not None:
            if not wait and not self._inflight.done():
                return None
            self._await_published(self._inflight)
            self._collect_published()  # a failure was logged by the publisher; retried below
        size = self.size
        last = self._last_signed
        if size == 0 or (not force and last is not None and last.size == size):
            return last if size else None
        if last is not None and last.size == size and not extra:
            return last
        if self._rollback:
            # re-armed by the next commit (never spin on a refusal); keep the WAL bounded
            self._pending_since = None
            self._publish_queue.put("wal")
            now = time.monotonic()
            if now - self._last_alarm > 10:
                self._last_alarm = now
                log.critical(
                    "AUDIT: refusing to sign a checkpoint for %s: %s",
                    self.config.path,
                    self._rollback,
                )
            return None
        root = self._frontier.root()
        if last is not None:
            try:
                if last.size > size:
                    raise ProofError("tree is smaller than the last signed checkpoint")
                base = self._signed_frontier
                if base is None or base.end != last.size:
                    raise ProofError("no tree state for the last signed checkpoint")
                proof = consistency_proof_from_ranges(base, self._since_signed)
                verify_consistency(last.size, size, proof, last.root, root)
            except ProofError as exc:
                self._alarm(
                    f"new tree does not extend the last signed checkpoint ({exc})"
                )
                self._pending_since = None
                return None
        self._pending_since = None
        fut: concurrent.futures.Future[SignedState] = concurrent.futures.Future()
        self._inflight = fut
        self._publishing_ranges = (self._frontier.copy(), CompactRange(size))
        self._publish_queue.put((size, root, [self._signer, *(extra or [])], fut))
        if not wait:
            return None
        self._await_published(fut)
        try:
            fut.result()  # raises what the publisher hit
        finally:
            self._collect_published()
        if self._last_signed is None or self._last_signed.size != size:
            raise StoreError("the checkpoint row was not stored (see the error log)")
        return self._last_signed

    def _collect_published(self) -> None:
        """Writer thread, once the publisher is done: store the checkpoint row, then the
        signed size becomes ``last_signed`` and the base of the next consistency proof (its
        frontier and the range grown since). A failure is logged and dropped; the old base
        is kept, so the next signature still proves from it."""
        fut, self._inflight = self._inflight, None
        ranges, self._publishing_ranges = self._publishing_ranges, None
        if fut is None:
            return
        try:
            state = fut.result()
        except Exception:  # noqa: BLE001 - logged by the publisher
            return
        try:
            self._conn.execute(
                "INSERT INTO checkpoints (size, root, note, created) VALUES (?,?,?,?)",
                (state.size, state.root, state.note, rfc3339_now()),
            )
        except sqlite3.Error as exc:
            log.error(
                "audit: storing the checkpoint at size %d failed: %s", state.size, exc
            )
            return
        self._last_signed = state
        if ranges is not None and ranges[0].end == state.size:
            self._signed_frontier, self._since_signed = ranges

    def _publish_loop(self) -> None:
        """Publisher thread: make the records durable, sign, write the checkpoint file, and
        copy the WAL into the DB file, all off the commit path. It never takes the write
        lock: its connection only runs PASSIVE WAL checkpoints, which writers do not wait for.
        Nothing here may end the thread: the writer waits for its signatures."""
        conn: sqlite3.Connection | None = None
        try:
            while (job := self._publish_queue.get()) is not None:
                if isinstance(job, str):  # "wal": keep the WAL bounded while signing is refused
                    conn = self._copy_wal(conn)
                    continue
                size, root, signers, fut = job
                try:
                    self._fsync_store()  # only then may a signature vouch for these records
                    note = sign_checkpoint(Checkpoint(self.origin, size, root), signers)
                    write_checkpoint_file(
                        self.config.resolved_checkpoint_dir, self.origin, size, note
                    )
                    # The DB row is stored by the writer (see _collect_published): a second
                    # writing connection would make request commits wait on its lock, and
                    # SQLite's busy handler sleeps 1, 2, 5 ... ms between retries.
                    fut.set_result(SignedState(size, root, note))
                except Exception as exc:  # noqa: BLE001 - logged, reported, retried at the next checkpoint
                    log.error(
                        "audit: publishing the checkpoint at size %d failed: %s",
                        size,
                        exc,
                    )
                    fut.set_exception(exc)
                self._queue.put(None)  # wake the writer: it stores the row and re-arms
                conn = self._copy_wal(conn)  # the DB-file fsync happens here, off the commit path
        finally:
            if conn is not None:
                conn.close()

    def _copy_wal(self, conn: sqlite3.Connection | None) -> sqlite3.Connection | None:
        """Publisher thread: one PASSIVE WAL checkpoint, opening the connection on first use.
        A failure is only logged: the next checkpoint tries again."""
        try:
            if conn is None:
                conn = connect_for_wal_checkpoints(self.config.path, self.config.synchronous.value)
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.warning("audit: copying the WAL into %s failed: %s", self.config.path, exc)
        return conn

    def _await_published(self, fut: concurrent.futures.Future[SignedState]) -> None:
        """Writer thread: wait until the publisher has handled ``fut``; should the publisher
        thread be gone, raise instead of waiting for ever."""
        while not fut.done():
            try:
                fut.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                if not self._publisher.is_alive():
                    raise StoreError("the audit checkpoint signer thread has stopped") from None
            except Exception:  # noqa: BLE001 - the caller reads the outcome from fut
                return


def _settle(
    results: list[tuple[_Pending, RecordRef | None, BaseException | None]],
) -> None:
    """Resolve waiters: sync futures directly, asyncio futures in one callback per loop."""
    by_loop: dict[
        asyncio.AbstractEventLoop,
        list[tuple[asyncio.Future[RecordRef], RecordRef | None, BaseException | None]],
    ] = {}
    for item, ref, err in results:
        if item.future is not None:
            if err is not None:
                item.future.set_exception(err)
            else:
                item.future.set_result(ref)  # type: ignore[arg-type]
        elif item.afuture is not None and item.loop is not None:
            by_loop.setdefault(item.loop, []).append((item.afuture, ref, err))
    for loop, waiters in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_async, waiters)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _settle_async(
    waiters: list[
        tuple[asyncio.Future[RecordRef], RecordRef | None, BaseException | None]
    ],
) -> None:
    for fut, ref, err in waiters:
        if (
            fut.done()
        ):  # the awaiting task was cancelled; the record is stored regardless
            continue
        if err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(ref)  # type: ignore[arg-type]


def decode_record(body: bytes) -> dict[str, Any]:
    """Parse stored bytes, insisting they are canonical (for show/tail/export)."""
    value = parse_canonical(body)
    if not isinstance(value, dict):
        raise TypeError("record is not an object")
    return value
