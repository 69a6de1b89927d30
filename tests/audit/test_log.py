"""AuditLog behaviour the pipeline relies on: durable-before-return, never blocking the
event loop, gap-free chains across restarts, checkpoints, rollback refusal, content modes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import shutil
import sqlite3
import time

import pytest

from govproxy.audit import AuditLog, RecordRejected, StoreError
from govproxy.audit.checkpoint_files import read_checkpoint_files
from govproxy.audit.content import ContentKeyStore, ContentShredded
from govproxy.audit.keys import init_key
from govproxy.audit.merkle import leaf_hash
from govproxy.audit.note import parse_signed_checkpoint
from govproxy.audit.store import connect_for_wal_checkpoints
from govproxy.audit.verify import verify_store

from .conftest import build_store, make_config, payload


def _open(tmp_path, **kw) -> AuditLog:
    cfg = make_config(tmp_path, **kw)
    if not cfg.signing_key.exists():
        init_key(cfg.signing_key, "govproxy.test")
    return AuditLog.open(cfg)


def _rows(db) -> list[tuple[int, bytes, bytes]]:
    conn = sqlite3.connect(db)
    try:
        return [
            (s, bytes(h), bytes(b))
            for s, h, b in conn.execute(
                "SELECT seq, hash, body FROM records ORDER BY seq"
            )
        ]
    finally:
        conn.close()


def test_append_returns_only_when_durable_and_never_blocks_the_loop(tmp_path):
    log = _open(tmp_path)
    log.append_sync("decision", payload(0))
    blocker = sqlite3.connect(log.config.path, isolation_level=None)

    async def scenario() -> None:
        blocker.execute(
            "BEGIN IMMEDIATE"
        )  # another writer holds the database: commits must wait
        task = asyncio.create_task(log.append("decision", payload(1)))
        ticks = 0
        for _ in range(20):  # the loop keeps serving other work meanwhile
            await asyncio.sleep(0.005)
            ticks += 1
        assert ticks == 20 and not task.done()
        assert (
            len(_rows(log.config.path)) == 1
        )  # not yet stored, so not yet acknowledged
        blocker.execute("COMMIT")
        ref = await task
        rows = _rows(log.config.path)
        assert (
            ref.seq == 1
            and rows[1][0] == 1
            and rows[1][1].hex() == ref.hash == leaf_hash(rows[1][2]).hex()
        )

    asyncio.run(scenario())
    blocker.close()
    log.close()


def test_concurrent_appends_form_one_gap_free_chain(tmp_path):
    log = _open(tmp_path, checkpoint_every_records=100)

    async def burst():
        return await asyncio.gather(
            *(log.append("outcome", payload(i)) for i in range(600))
        )

    refs = asyncio.run(burst())
    log.close()
    assert sorted(r.seq for r in refs) == list(range(600))
    rows = _rows(log.config.path)
    assert [r[0] for r in rows] == list(range(600))
    report = verify_store(log.config.path, [log.verifier])
    assert report.valid and report.problems == [], [p.line() for p in report.problems]


def test_append_nowait_records_join_the_chain_and_are_stored_by_close(tmp_path):
    log = _open(tmp_path, checkpoint_every_records=100)

    async def mixed():
        refs = []
        for i in range(200):
            if i % 2:
                log.append_nowait("outcome", payload(i))  # nobody waits for outcomes
            else:
                refs.append(await log.append("decision", payload(i)))
        return refs

    waited = asyncio.run(mixed())
    with pytest.raises(RecordRejected):
        log.append_nowait("checkpoint", payload(0))  # not a public kind
    log.close()
    rows = _rows(log.config.path)
    assert [r[0] for r in rows] == list(range(200)), "every queued record is stored, gap-free"
    assert len(waited) == 100
    report = verify_store(log.config.path, [log.verifier])
    assert report.valid and report.problems == [], [p.line() for p in report.problems]


def test_a_deferred_outcome_rides_with_the_next_durable_record(tmp_path):
    """Outcomes share the next decision's commit: once that decision is acknowledged, the
    outcome queued before it is durable too, in submission order, however long the window."""
    log = _open(tmp_path, deferred_flush_ms=10_000)

    async def scenario() -> None:
        await log.append("decision", payload(0))
        log.append_nowait("outcome", payload(1))
        await asyncio.sleep(0.05)
        assert len(_rows(log.config.path)) == 1  # waiting for company, not yet written
        await log.append("decision", payload(2))
        rows = _rows(log.config.path)
        assert [json.loads(b)["payload"]["n"] for _, _, b in rows] == [0, 1, 2]

    asyncio.run(scenario())
    log.close()
    assert verify_store(log.config.path, [log.verifier]).valid


def test_a_deferred_outcome_is_stored_within_its_window_when_traffic_stops(tmp_path):
    """No further request comes (the last response of the day, or a stream ending after a
    quiet spell): the writer, asleep, is woken and stores the outcome by the window."""
    log = _open(tmp_path, deferred_flush_ms=50)

    async def scenario() -> None:
        await log.append("decision", payload(0))
        await asyncio.sleep(1.3)  # past the writer's active spell: it sleeps until woken
        log.append_nowait("outcome", payload(1))
        for _ in range(200):
            if len(_rows(log.config.path)) == 2:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the deferred outcome was not stored within 2 s")

    asyncio.run(scenario())
    log.close()


@pytest.mark.slow
def test_a_decision_waits_one_busy_timeout_even_behind_deferred_outcomes(tmp_path):
    """Another process holds the database past SQLite's busy timeout (5 s). Outcomes whose
    window passes meanwhile must not spend that timeout first: the decision queued after
    them is refused after one timeout (the caller then refuses the request), not left
    waiting behind them (the old behaviour stored it once the lock went, here at 9 s)."""
    log = _open(tmp_path, deferred_flush_ms=20)
    blocker = sqlite3.connect(log.config.path, isolation_level=None)

    async def scenario() -> None:
        await log.append("decision", payload(0))
        blocker.execute("BEGIN IMMEDIATE")
        locked = time.monotonic()
        log.append_nowait("outcome", payload(1))
        await asyncio.sleep(0.2)  # the outcome's window passes while the database is locked
        task = asyncio.create_task(log.append("decision", payload(2)))
        while not task.done() and time.monotonic() - locked < 9.0:
            await asyncio.sleep(0.05)
        blocker.execute("COMMIT")
        with pytest.raises(StoreError):
            await task
        # refused after about one busy timeout, not when the lock went (9 s)
        assert time.monotonic() - locked < 8.5

    asyncio.run(scenario())
    blocker.close()
    log.close()
    assert verify_store(log.config.path, [log.verifier]).valid


def test_inline_append_is_durable_on_return_and_joins_one_chain(tmp_path):
    """A lone request commits its record on its own thread; mixed with queued and deferred
    records the chain stays gap-free and verifiable, and its seq/hash are the stored ones."""
    log = _open(tmp_path, checkpoint_every_records=50)

    async def scenario() -> list:
        refs = []
        for i in range(120):
            ref = await log.append("decision", payload(i), inline=True)
            row = _rows(log.config.path)[ref.seq]
            assert row[1].hex() == ref.hash == leaf_hash(row[2]).hex()  # durable when returned
            refs.append(ref)
            log.append_nowait("outcome", payload(1000 + i))
            if i % 10 == 0:  # some concurrency: these go through the writer
                refs += await asyncio.gather(*(log.append("decision", payload(2000 + i + k)) for k in range(3)))
        return refs

    refs = asyncio.run(scenario())
    log.close()
    rows = _rows(log.config.path)
    assert [r[0] for r in rows] == list(range(len(rows))) and len(rows) == 120 + 36 + 120
    assert len({r.seq for r in refs}) == len(refs)
    report = verify_store(log.config.path, [log.verifier])
    assert report.valid and report.problems == [], [p.line() for p in report.problems]
    assert log.last_signed is not None and log.last_signed.size == len(rows)


def test_inline_append_never_waits_on_a_locked_database(tmp_path):
    """Another process holds the write lock: an inline append must not block the event loop
    for SQLite's busy timeout; it falls back to the writer and completes after the lock."""
    log = _open(tmp_path)
    log.append_sync("decision", payload(0))
    blocker = sqlite3.connect(log.config.path, isolation_level=None)

    async def scenario() -> None:
        blocker.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        task = asyncio.create_task(log.append("decision", payload(1), inline=True))
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0.005)
            ticks += 1
        # SQLite's busy timeout is 5 s; ~0.1 s means nothing on the loop waited for it
        assert time.monotonic() - started < 2.5
        assert ticks == 20 and not task.done()
        blocker.execute("COMMIT")
        ref = await task
        assert ref.seq == 1 and len(_rows(log.config.path)) == 2

    asyncio.run(scenario())
    blocker.close()
    log.close()
    assert verify_store(log.config.path, [log.verifier]).valid


def test_inline_appends_still_get_a_timed_checkpoint(tmp_path):
    """Inline commits bypass the writer; it must still learn of them and sign on time."""
    log = _open(tmp_path, checkpoint_every_seconds=0.05, checkpoint_every_records=1000)

    async def scenario() -> None:
        for i in range(3):
            await log.append("decision", payload(i), inline=True)
        for _ in range(200):
            if log.last_signed is not None and log.last_signed.size == 3:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("no checkpoint over the inline records")

    asyncio.run(scenario())
    log.close()


def test_inline_append_with_encrypted_content_is_stored_with_its_blob(tmp_path):
    log = _open(tmp_path, content="encrypted")

    async def scenario() -> None:
        await log.append("decision", payload(0, tenant="acme"), original={"request": CANARY}, inline=True)

    asyncio.run(scenario())
    log.close()
    conn = sqlite3.connect(log.config.path)
    assert conn.execute("SELECT count(*) FROM contents").fetchone()[0] == 1
    conn.close()
    assert CANARY.encode() not in log.config.path.read_bytes()
    assert verify_store(log.config.path, [log.verifier]).valid


def test_checkpoints_every_n_records_and_at_close(tmp_path):
    log = _open(tmp_path, checkpoint_every_records=10)
    for i in range(25):
        log.append_sync("decision", payload(i))
    log.close()
    conn = sqlite3.connect(log.config.path)
    sizes = [s for (s,) in conn.execute("SELECT size FROM checkpoints ORDER BY id")]
    # the first is due exactly at 10; later ones as soon as the signer is free; the last at close
    assert (
        sizes[0] == 10
        and sizes[-1] == 25
        and sizes == sorted(set(sizes))
        and len(sizes) >= 2
    )
    notes = [n for (n,) in conn.execute("SELECT note FROM checkpoints ORDER BY id")]
    files = read_checkpoint_files(log.config.resolved_checkpoint_dir, log.config.origin)
    # every checkpoint also lives outside the database, and latest.checkpoint is the newest
    assert sorted(text for p, text in files if p.name != "latest.checkpoint") == sorted(
        notes
    )
    assert [text for p, text in files if p.name == "latest.checkpoint"] == [notes[-1]]
    cp = parse_signed_checkpoint(notes[-1]).checkpoint
    assert cp.origin == "govproxy/test-1" and cp.size == 25


def test_checkpoint_after_the_time_interval(tmp_path):
    log = _open(tmp_path, checkpoint_every_seconds=0.05, checkpoint_every_records=1000)
    log.append_sync("decision", payload(0))
    for _ in range(200):
        if log.last_signed is not None:
            break
        asyncio.run(asyncio.sleep(0.02))
    assert log.last_signed is not None and log.last_signed.size == 1
    log.close()


def test_store_refuses_update_and_delete(store):
    conn = sqlite3.connect(store.db)
    for sql in (
        "UPDATE records SET kind='x'",
        "DELETE FROM records",
        "DELETE FROM checkpoints",
        "UPDATE meta SET value='x'",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)


def test_reopen_continues_the_chain_with_a_new_epoch(store):
    with AuditLog.open(store.cfg) as log:
        ref = log.append_sync("decision", payload(100))
    assert ref.seq == 30
    import json

    rows = _rows(store.db)
    last, before = json.loads(rows[-1][2]), rows[-2]
    assert last["prev"] == before[1].hex() and last["origin"]["epoch"] == 2
    assert verify_store(
        store.db, [store.pubkey], checkpoint_dir=store.checkpoint_dir
    ).valid


def test_rollback_from_backup_is_refused_loudly(store, tmp_path, caplog):
    backup = tmp_path / "backup.db"
    shutil.copy(store.db, backup)
    with AuditLog.open(store.cfg) as log:
        for i in range(5):
            log.append_sync("decision", payload(i))
    shutil.copy(backup, store.db)  # operator restores last night's backup
    for suffix in ("-wal", "-shm"):
        (store.db.parent / (store.db.name + suffix)).unlink(missing_ok=True)
    caplog.set_level(logging.CRITICAL, logger="govproxy.audit")
    log = AuditLog.open(store.cfg)
    assert log.rollback_detected and "rolled back" in log.rollback_detected
    assert any("ROLLBACK" in r.getMessage() for r in caplog.records)
    log.append_sync("decision", payload(1))  # the proxy keeps recording ...
    assert (
        log.checkpoint_now() is None
    )  # ... but never signs over the rolled-back history
    log.close()
    sizes = [
        s for (s,) in sqlite3.connect(store.db).execute("SELECT size FROM checkpoints")
    ]
    assert max(sizes) == 30


@pytest.mark.parametrize(
    "bad",
    [
        {"cost_usd": 0.01},
        {"authorization": "x"},
        {"big": 2**60},
        {"h": {"X-Api-Key": "k"}},
    ],
)
def test_rejected_payloads_are_not_recorded(tmp_path, bad):
    log = _open(tmp_path)
    with pytest.raises(RecordRejected):
        log.append_sync("decision", bad)
    with pytest.raises(RecordRejected):
        log.append_sync("audit-me", {"ok": 1})  # type: ignore[arg-type]
    log.close()
    assert _rows(log.config.path) == []


def test_one_writer_per_store(tmp_path):
    log = _open(tmp_path)
    with pytest.raises(StoreError, match="another process"):
        _open(tmp_path)
    log.close()
    with pytest.raises(StoreError, match="origin"):
        _open(tmp_path, instance="someone-else")


CANARY = "canary-4111111111111111-jane.doe@example.com"


def test_content_none_keeps_hashes_only(tmp_path):
    log = _open(tmp_path)
    log.append_sync(
        "decision",
        payload(0),
        redacted={"request": "[EMAIL]"},
        original={"request": CANARY},
    )
    log.close()
    assert b'"content"' not in _rows(log.config.path)[0][2]
    assert CANARY.encode() not in log.config.path.read_bytes()


def test_content_redacted_stores_the_redacted_text(tmp_path):
    log = _open(tmp_path, content="redacted")
    log.append_sync(
        "decision",
        payload(0),
        redacted={"request": "mail [EMAIL_1]"},
        original={"request": CANARY},
    )
    log.close()
    body = _rows(log.config.path)[0][2]
    assert b'"content":{"mode":"redacted","parts":{"request":"mail [EMAIL_1]"}}' in body
    assert CANARY.encode() not in log.config.path.read_bytes()


def test_content_encrypted_and_crypto_shredded(tmp_path):
    log = _open(tmp_path, content="encrypted")
    log.append_sync("decision", payload(0, tenant="acme"), original={"request": CANARY})
    log.append_sync(
        "decision", payload(1, tenant="globex"), original={"request": "globex text"}
    )
    log.close()
    db_bytes = log.config.path.read_bytes()
    assert CANARY.encode() not in db_bytes
    conn = sqlite3.connect(log.config.path)
    blobs = {
        t: (k, bytes(b))
        for t, k, b in conn.execute("SELECT tenant, key_id, blob FROM contents")
    }
    keys = ContentKeyStore(log.config.resolved_content_keys)
    assert keys.decrypt("acme", *blobs["acme"]) == {"request": CANARY}
    assert keys.shred("acme") == 1
    with pytest.raises(ContentShredded):
        keys.decrypt("acme", *blobs["acme"])
    assert keys.decrypt("globex", *blobs["globex"]) == {"request": "globex text"}
    keys.close()
    key_bytes = log.config.resolved_content_keys.read_bytes()
    assert CANARY.encode() not in key_bytes
    report = verify_store(log.config.path, [log.verifier])
    assert report.valid, [
        p.line() for p in report.problems
    ]  # the chain commits to ciphertext hashes


def test_encrypted_blob_tampering_is_detected(tmp_path):
    log = _open(tmp_path, content="encrypted")
    log.append_sync("decision", payload(0, tenant="acme"), original={"request": CANARY})
    log.close()
    conn = sqlite3.connect(log.config.path, isolation_level=None)
    conn.execute("DROP TRIGGER contents_no_update")
    conn.execute("UPDATE contents SET blob = zeroblob(40)")
    report = verify_store(log.config.path, [log.verifier])
    assert "HASH_MISMATCH" in report.codes


@pytest.mark.parametrize("state", ["empty", "rolled_back"])
def test_idle_writer_still_serves_close_after_the_checkpoint_interval(tmp_path, state):
    """Regression: with nothing to sign (empty store, or signing refused) the writer once
    spun without reading its queue, so close() never returned."""
    if state == "rolled_back":
        built = build_store(tmp_path, n=12)
        backup = tmp_path / "backup.db"
        shutil.copy(built.db, backup)
        with AuditLog.open(built.cfg) as log:
            log.append_sync("decision", payload(0))
        shutil.copy(backup, built.db)
        cfg = built.cfg.model_copy(update={"checkpoint_every_seconds": 0.02})
        log = AuditLog.open(cfg)
        assert log.rollback_detected
        log.append_sync("decision", payload(1))
    else:
        log = _open(tmp_path, checkpoint_every_seconds=0.02)
    asyncio.run(asyncio.sleep(0.2))
    log.close(timeout=10)


def test_verifying_a_live_store_while_it_grows(tmp_path):
    """An operator may run `audit verify --db` beside the running proxy: no false alarms."""
    import threading

    log = _open(tmp_path, checkpoint_every_records=7, checkpoint_every_seconds=0.01)
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            log.append_sync("decision", payload(i))
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        while (
            log.last_signed is None
        ):  # a log younger than its first checkpoint fails (NO_CHECKPOINT)
            stop.wait(0.01)
        for _ in range(8):
            report = verify_store(
                log.config.path,
                [log.verifier],
                checkpoint_dir=log.config.resolved_checkpoint_dir,
            )
            assert report.valid, [p.line() for p in report.problems]
            assert report.codes <= {"UNCHECKPOINTED_TAIL"}
    finally:
        stop.set()
        t.join()
        log.close()


def test_writer_memory_does_not_grow_with_the_log(tmp_path):
    """Issue 7: the live writer keeps O(log n) tree state, not 64 bytes per record."""
    import gc
    import tracemalloc

    log = _open(tmp_path, checkpoint_every_records=500, max_batch=500)

    def burst(start: int, n: int) -> None:
        futs = [log.submit("decision", payload(i)) for i in range(start, start + n)]
        for f in futs:
            f.result(30)
        log.checkpoint_now()  # a control round trip: the writer has let go of the batch
        gc.collect()

    burst(0, 2000)  # warm caches (statements, rfc3339, ...)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    burst(2000, 20000)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    log.close()
    # a per-record tree would hold 20,000 x 64 B = 1.28 MB more
    assert grown < 256_000, grown
    report = verify_store(
        log.config.path,
        [log.verifier],
        checkpoint_dir=log.config.resolved_checkpoint_dir,
    )
    assert report.valid and report.records == 22000


def test_a_tree_that_does_not_extend_the_signed_one_is_not_signed(tmp_path, caplog):
    """The writer proves every new checkpoint consistent with the last one it signed; state
    that diverged from it (a bug, memory corruption) is refused, not signed."""
    from govproxy.audit.merkle import CompactRange

    log = _open(tmp_path)
    for i in range(7):
        log.append_sync("decision", payload(i))
    assert log.checkpoint_now().size == 7
    forged = CompactRange()
    for i in range(7):
        forged.append(leaf_hash(b"not what was signed %d" % i))
    log._signed_frontier = forged  # the writer is idle: no checkpoint is due
    caplog.set_level(logging.CRITICAL, logger="govproxy.audit")
    log.append_sync("decision", payload(7))
    assert log.checkpoint_now() is None
    assert log.rollback_detected and "does not extend" in log.rollback_detected
    log.close()
    sizes = [
        s
        for (s,) in sqlite3.connect(log.config.path).execute(
            "SELECT size FROM checkpoints"
        )
    ]
    assert max(sizes) == 7


def test_a_close_that_times_out_says_where_the_writer_is(tmp_path, caplog):
    """A close that cannot finish must not be silent: it reports each audit thread's stack."""
    log = _open(tmp_path)
    log.append_sync("decision", payload(0))
    log._state_lock.acquire()  # the writer cannot take it to finish
    try:
        with caplog.at_level(logging.CRITICAL), pytest.raises(concurrent.futures.TimeoutError):
            log.close(timeout=0.5)
    finally:
        log._state_lock.release()
    log._thread.join(10)
    report = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL)
    assert "did not finish within 0.5 s" in report
    assert "govproxy-audit-writer:" in report and "in _run" in report
    assert verify_store(log.config.path, [log.verifier]).valid  # it finished once released


def test_the_signer_opens_its_connection_even_while_another_process_holds_the_lock(tmp_path):
    """The checkpoint signer's connection needs no write lock: opened while another process
    holds the database (it once ran schema creation, failed after the busy timeout, and the
    signer thread died, so close() waited for it for ever), it still copies the WAL."""
    log = _open(tmp_path)
    log.append_sync("decision", payload(0))
    blocker = sqlite3.connect(log.config.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        conn = connect_for_wal_checkpoints(log.config.path)  # busy timeout 0: would raise if it waited
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        conn.close()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert busy == 0
    log.close()
    assert verify_store(log.config.path, [log.verifier]).valid


def test_a_signature_never_waits_for_a_signer_that_has_stopped(tmp_path):
    """Were the signer thread gone, a checkpoint (and so close) must fail, not hang."""
    log = _open(tmp_path)
    log.append_sync("decision", payload(0))
    log._stop_publisher()
    assert not log._publisher.is_alive()
    log.append_sync("decision", payload(1))
    with pytest.raises(StoreError, match="signer thread has stopped"):  # a hang would be TimeoutError
        log.checkpoint_now(timeout=30)
    with pytest.raises(StoreError):
        log.close(timeout=30)
