"""The SQLite store: schema, append-only triggers, writer lock and read access.

Records are kept as the exact canonical bytes that were hashed (``body``), beside the
derived columns operators query by (kind, ts, tenant, request id). Triggers make UPDATE
and DELETE fail on every audit table, so a bug or a careless operator cannot rewrite
history through SQL; an attacker editing the file directly is what verification is for.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from govproxy.audit.errors import StoreError

SCHEMA_VERSION = "1"
BUSY_TIMEOUT_MS = 5000  # how long a commit waits for another process holding the database
APPEND_ONLY_TABLES = ("records", "checkpoints", "contents", "meta")


def create_schema(conn: sqlite3.Connection) -> None:
    db = sqlite_utils.Database(conn)
    if "records" in db.table_names():
        return
    db.table("records").create(
        {
            "seq": int,
            "hash": bytes,
            "body": bytes,
            "kind": str,
            "ts": str,
            "tenant": str,
            "request_id": str,
        },
        pk="seq",
        not_null={"hash", "body", "kind", "ts"},
    )
    db.table("records").create_index(["request_id"], index_name="records_request_id")
    db.table("checkpoints").create(
        {"id": int, "size": int, "root": bytes, "note": str, "created": str},
        pk="id",
        not_null={"size", "root", "note"},
    )
    db.table("contents").create(
        {"seq": int, "tenant": str, "key_id": str, "blob": bytes},
        pk="seq",
        not_null={"blob"},
    )
    db.table("meta").create({"key": str, "value": str}, pk="key")
    for table in APPEND_ONLY_TABLES:
        for op in ("UPDATE", "DELETE"):
            conn.execute(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit store is append-only: {op} on {table} refused'); END"
            )


def _synchronous_pragma(synchronous: str) -> str:
    return f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}"


def connect(path: Path, synchronous: str = "normal") -> sqlite3.Connection:
    """A read-write connection in WAL mode with explicit transactions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(_synchronous_pragma(synchronous))
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        create_schema(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return conn


def connect_for_wal_checkpoints(path: Path, synchronous: str = "normal") -> sqlite3.Connection:
    """A connection that only copies the WAL into the database file (PASSIVE checkpoints).

    Unlike :func:`connect` it creates no schema, so it never takes the write lock: another
    process holding the database cannot make opening it fail or wait. (The checkpoint
    signer once opened its connection with :func:`connect`; started while another process
    held the lock past the busy timeout, the thread died and every later signature waited
    for it forever.)"""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # The checkpoint's fsync of the database file follows this connection's setting.
    conn.execute(_synchronous_pragma(synchronous))
    return conn


def connect_readonly(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise StoreError(f"{path}: no audit store")
    try:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a readable SQLite audit store ({exc})") from None
    return conn


class WriterLock:
    """An exclusive flock beside the DB: one writer per store, across processes."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(
                f"{self.path}: another process is writing this audit store (stop it first)"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True)
class StoredRecord:
    seq: int
    hash: bytes
    body: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    id: int
    size: int
    root: bytes
    note: str


class StoreReader:
    """Read-side queries shared by the writer's startup, the CLI and the verifier."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.db = sqlite_utils.Database(conn)

    def meta(self) -> dict[str, str]:
        return {
            row["key"]: row["value"]
            for row in self.db.query("SELECT key, value FROM meta")
        }

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM records").fetchone()[0])

    def iter_records(
        self, start: int = 0, batch: int = 20000
    ) -> Iterator[StoredRecord]:
        """All rows in seq order, including rows whose seq column is not where it should be."""
        cur = self.conn.execute(
            "SELECT seq, hash, body FROM records WHERE seq >= ? ORDER BY seq", (start,)
        )
        while rows := cur.fetchmany(batch):
            for seq, h, body in rows:
                yield StoredRecord(
                    seq, bytes(h) if h is not None else b"", _as_bytes(body)
                )

    def iter_hashes(self) -> Iterator[bytes]:
        cur = self.conn.execute("SELECT hash FROM records ORDER BY seq")
        while rows := cur.fetchmany(50000):
            for (h,) in rows:
                yield bytes(h)

    def last_record(self) -> StoredRecord | None:
        row = self.conn.execute(
            "SELECT seq, hash, body FROM records ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return StoredRecord(row[0], bytes(row[1]), _as_bytes(row[2])) if row else None

    def record(self, seq: int) -> StoredRecord | None:
        row = self.conn.execute(
            "SELECT seq, hash, body FROM records WHERE seq=?", (seq,)
        ).fetchone()
        return StoredRecord(row[0], bytes(row[1]), _as_bytes(row[2])) if row else None

    def records_by_request(self, request_id: str) -> list[StoredRecord]:
        rows = self.conn.execute(
            "SELECT seq, hash, body FROM records WHERE request_id=? ORDER BY seq",
            (request_id,),
        ).fetchall()
        return [StoredRecord(r[0], bytes(r[1]), _as_bytes(r[2])) for r in rows]

    def tail(self, n: int) -> list[StoredRecord]:
        rows = self.conn.execute(
            "SELECT seq, hash, body FROM records ORDER BY seq DESC LIMIT ?", (n,)
        ).fetchall()
        return [
            StoredRecord(r[0], bytes(r[1]), _as_bytes(r[2])) for r in reversed(rows)
        ]

    def filtered_seqs(
        self, since: str | None, until: str | None, tenant: str | None
    ) -> list[int]:
        where, args = [], []
        if since:
            where.append("ts >= ?")
            args.append(since)
        if until:
            where.append("ts < ?")
            args.append(until)
        if tenant is not None:
            where.append("tenant = ?")
            args.append(tenant)
        sql = (
            "SELECT seq FROM records"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY seq"
        )
        return [r[0] for r in self.conn.execute(sql, args)]

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self.conn.execute(
            "SELECT id, size, root, note FROM checkpoints ORDER BY id"
        ).fetchall()
        return [StoredCheckpoint(r[0], r[1], bytes(r[2]), r[3]) for r in rows]

    def newest_checkpoint_notes(self) -> list[str]:
        """The last-signed and the largest checkpoint (what rollback detection needs)."""
        rows = self.conn.execute(
            "SELECT note FROM (SELECT note FROM checkpoints ORDER BY id DESC LIMIT 1) "
            "UNION ALL SELECT note FROM (SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1)"
        ).fetchall()
        return [r[0] for r in rows]

    def content(self, seq: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT tenant, key_id, blob FROM contents WHERE seq=?", (seq,)
        ).fetchone()
        return (
            {"tenant": row[0], "key_id": row[1], "blob": bytes(row[2])} if row else None
        )

    def content_blobs(self) -> dict[int, bytes]:
        return {
            r[0]: bytes(r[1])
            for r in self.conn.execute("SELECT seq, blob FROM contents")
        }


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(
        value, str
    ):  # an attacker may store TEXT; verification must still see its bytes
        return value.encode("utf-8", errors="surrogateescape")
    return bytes(value)
