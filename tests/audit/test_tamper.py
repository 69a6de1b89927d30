"""The tamper suite: build a real store through the API, attack the file or the bundle,
and require the verifier to name the attack with the right reason code.

Attacks on the database edit it the way an intruder with file access would: raw bytes in
the SQLite file, or SQL after dropping our append-only triggers (recomputing the stored
hash column, since an attacker can). Only the verifier key is trusted.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from govproxy.audit import AuditLog
from govproxy.audit.checkpoint_files import origin_dir
from govproxy.audit.export import export_bundle
from govproxy.audit.keys import load_signer
from govproxy.audit.merkle import leaf_hash
from govproxy.audit.note import (
    Signer,
    parse_signed_checkpoint,
    sign_checkpoint,
)
from govproxy.audit.store import APPEND_ONLY_TABLES
from govproxy.audit.verify import Report, verify_bundle, verify_store

from .conftest import Built, build_store, payload


def attacker(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    for table in APPEND_ONLY_TABLES:
        for op in ("update", "delete"):
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
    return conn


def body(conn: sqlite3.Connection, seq: int) -> bytes:
    return bytes(
        conn.execute("SELECT body FROM records WHERE seq=?", (seq,)).fetchone()[0]
    )


def put(conn: sqlite3.Connection, seq: int, data: bytes) -> None:
    """Replace a record's bytes and, like a careful attacker, its stored hash too."""
    conn.execute(
        "UPDATE records SET body=?, hash=? WHERE seq=?", (data, leaf_hash(data), seq)
    )


def check(built: Built, *, files: bool = False, held: str | None = None) -> Report:
    return verify_store(
        built.db,
        [built.pubkey],
        checkpoint_dir=built.checkpoint_dir if files else None,
        since_checkpoint=held,
    )


def assert_detected(report: Report, *codes: str) -> None:
    assert not report.valid, report.summary()
    assert set(codes) <= report.codes, (
        f"expected {codes}, got {[p.line() for p in report.problems]}"
    )


def test_untouched_store_verifies(store):
    report = check(store, files=True)
    assert (
        report.valid
        and report.problems == []
        and report.records == 30
        and report.covered == 30
    )
    assert report.trusted_checkpoints >= 3


@pytest.mark.parametrize("seq", [0, 15, 29])
def test_one_byte_changed_in_the_file(store, seq):
    conn = sqlite3.connect(store.db)
    target = body(conn, seq)
    conn.close()
    raw = bytearray(store.db.read_bytes())
    at = raw.find(target)
    assert at >= 0 and raw.count(target) == 1
    at += target.index(b'"app":"chat"') + len(b'"app":"c')
    raw[at] ^= 0x01  # 'h' -> 'i': still canonical JSON, different bytes
    store.db.write_bytes(bytes(raw))
    assert_detected(check(store), "HASH_MISMATCH")


@pytest.mark.parametrize(
    "seq, code", [(0, "CHAIN_BREAK"), (15, "CHAIN_BREAK"), (29, "ROOT_MISMATCH")]
)
def test_field_edited_and_recanonicalised(store, seq, code):
    conn = attacker(store.db)
    value = json.loads(body(conn, seq))
    value["payload"]["decision"] = "deny"
    put(conn, seq, rfc8785.dumps(value))
    report = check(store)
    assert_detected(report, code, "ROOT_MISMATCH")
    assert "NONCANONICAL" not in report.codes and "HASH_MISMATCH" not in report.codes


@pytest.mark.parametrize(
    "seq, codes",
    [
        (0, {"SEQ_GAP", "CHAIN_BREAK"}),
        (15, {"SEQ_GAP", "CHAIN_BREAK"}),
        (29, {"TRUNCATED"}),
    ],
)
def test_record_deleted(store, seq, codes):
    attacker(store.db).execute("DELETE FROM records WHERE seq=?", (seq,))
    assert_detected(check(store), *codes)


def test_forged_record_inserted_with_correct_prev(store, tmp_path):
    out = tmp_path / "bundle"
    export_bundle(store.db, load_signer(store.cfg.signing_key), out)
    lines = (out / "records.jsonl").read_bytes().splitlines(keepends=True)
    prev = json.loads(lines[9])
    forged = dict(
        prev, seq=10, prev=leaf_hash(lines[9][:-1]).hex(), payload=payload(99)
    )
    lines.insert(10, rfc8785.dumps(forged) + b"\n")
    (out / "records.jsonl").write_bytes(b"".join(lines))
    assert_detected(
        verify_bundle(out, [store.pubkey]), "SEQ_DUP", "CHAIN_BREAK", "MANIFEST_DIGEST"
    )


def test_forged_record_inserted_into_the_store(store):
    """Insert a forged record at seq 12 with the right prev and renumber everything after it."""
    conn = attacker(store.db)
    bodies = [body(conn, s) for s in range(30)]
    forged = json.loads(bodies[12])
    forged["payload"] = payload(77)
    new = bodies[:12] + [rfc8785.dumps(forged)] + bodies[12:]
    conn.execute("DELETE FROM records")
    prev = "0" * 64
    for seq, data in enumerate(new):
        value = json.loads(data)
        if seq <= 12:
            value["prev"] = prev
        data = rfc8785.dumps(value)
        conn.execute(
            "INSERT INTO records (seq, hash, body, kind, ts) VALUES (?,?,?,?,?)",
            (seq, leaf_hash(data), data, "x", "t"),
        )
        prev = leaf_hash(data).hex()
    assert_detected(check(store), "CHAIN_BREAK", "SEQ_GAP", "ROOT_MISMATCH")


def test_two_records_swapped(store):
    conn = attacker(store.db)
    a, b = body(conn, 7), body(conn, 8)
    put(conn, 7, b)
    put(conn, 8, a)
    assert_detected(check(store), "CHAIN_BREAK", "SEQ_GAP")


def test_two_lines_swapped_in_a_bundle(store, tmp_path):
    out = tmp_path / "bundle"
    export_bundle(store.db, load_signer(store.cfg.signing_key), out)
    lines = (out / "records.jsonl").read_bytes().splitlines(keepends=True)
    lines[4], lines[5] = lines[5], lines[4]
    (out / "records.jsonl").write_bytes(b"".join(lines))
    assert_detected(
        verify_bundle(out, [store.pubkey]), "CHAIN_BREAK", "SEQ_GAP", "MANIFEST_DIGEST"
    )


def test_record_deleted_and_chain_rebuilt_without_the_key(store):
    """Every hash, prev and seq is recomputed: only signed roots can tell."""
    conn = attacker(store.db)
    bodies = [body(conn, s) for s in range(30) if s != 13]
    conn.execute("DELETE FROM records")
    prev = "0" * 64
    for seq, data in enumerate(bodies):
        value = json.loads(data)
        value["seq"], value["prev"] = seq, prev
        data = rfc8785.dumps(value)
        conn.execute(
            "INSERT INTO records (seq, hash, body, kind, ts) VALUES (?,?,?,?,?)",
            (seq, leaf_hash(data), data, "x", "t"),
        )
        prev = leaf_hash(data).hex()
    report = check(store)
    assert_detected(report, "ROOT_MISMATCH", "TRUNCATED")
    assert not report.codes & {
        "CHAIN_BREAK",
        "SEQ_GAP",
        "SEQ_DUP",
        "HASH_MISMATCH",
        "NONCANONICAL",
    }


def test_records_cut_after_a_checkpoint_with_its_successors_removed(store):
    held = parse_signed_checkpoint(
        (
            origin_dir(store.checkpoint_dir, store.cfg.origin) / "latest.checkpoint"
        ).read_text()
    )
    conn = attacker(store.db)
    conn.execute("DELETE FROM records WHERE seq >= 20")
    conn.execute("DELETE FROM checkpoints WHERE size > 20")
    # the database alone now looks like a shorter, valid log ...
    assert check(store).valid
    # ... but the checkpoint files kept outside it, and a checkpoint the auditor holds, say otherwise
    assert_detected(check(store, files=True), "TRUNCATED")
    assert_detected(check(store, held=held.text), "TRUNCATED")


def test_latest_checkpoint_replaced_by_an_older_one(store):
    conn = attacker(store.db)
    notes = conn.execute("SELECT id, note FROM checkpoints ORDER BY id").fetchall()
    conn.execute(
        "UPDATE checkpoints SET note=? WHERE id=?", (notes[0][1], notes[-1][0])
    )
    assert_detected(check(store), "INCONSISTENT_CHECKPOINTS")


def test_latest_checkpoint_file_replaced_in_a_bundle(store, tmp_path):
    out = tmp_path / "bundle"
    export_bundle(store.db, load_signer(store.cfg.signing_key), out)
    files = sorted((out / "checkpoints").iterdir())
    shutil.copy(files[0], files[-1])
    assert_detected(
        verify_bundle(out, [store.pubkey]),
        "INCONSISTENT_CHECKPOINTS",
        "MANIFEST_DIGEST",
    )


def test_two_forked_checkpoints(tmp_path):
    a = build_store(tmp_path / "a", n=20)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    b_cfg = a.cfg.model_copy(update={"path": tmp_path / "b" / "audit" / "govproxy.db"})
    for cfg, tag in ((a.cfg, "A"), (b_cfg, "B")):
        with AuditLog.open(cfg) as log:
            for i in range(7):
                log.append_sync("decision", payload(i, tenant=f"fork-{tag}"))
    fork = (
        sqlite3.connect(b_cfg.path)
        .execute("SELECT note FROM checkpoints ORDER BY id DESC")
        .fetchone()[0]
    )
    conn = attacker(a.db)
    conn.execute(
        "INSERT INTO checkpoints (size, root, note, created) VALUES (?,?,?,?)",
        (27, b"x" * 32, fork, "t"),
    )
    assert_detected(check(a), "INCONSISTENT_CHECKPOINTS", "ROOT_MISMATCH")


def test_fork_detected_against_a_held_checkpoint(tmp_path):
    a = build_store(tmp_path / "a", n=20)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    b_cfg = a.cfg.model_copy(update={"path": tmp_path / "b" / "audit" / "govproxy.db"})
    for cfg, tag in ((a.cfg, "A"), (b_cfg, "B")):
        with AuditLog.open(cfg) as log:
            for i in range(10):
                log.append_sync("decision", payload(i, tenant=f"fork-{tag}"))
    held_b = (
        sqlite3.connect(b_cfg.path)
        .execute("SELECT note FROM checkpoints ORDER BY id DESC")
        .fetchone()[0]
    )
    assert_detected(check(a, held=held_b), "INCONSISTENT_CHECKPOINTS")


def test_bad_signature_by_a_known_key(store):
    conn = attacker(store.db)
    cid, note = conn.execute(
        "SELECT id, note FROM checkpoints ORDER BY id LIMIT 1"
    ).fetchone()
    head, sig = note.rsplit(" ", 1)
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    conn.execute("UPDATE checkpoints SET note=? WHERE id=?", (f"{head} {flipped}", cid))
    assert_detected(check(store), "SIG_INVALID")


def test_signed_only_by_an_unknown_key(store):
    conn = attacker(store.db)
    cid, note = conn.execute(
        "SELECT id, note FROM checkpoints ORDER BY id DESC LIMIT 1"
    ).fetchone()
    cp = parse_signed_checkpoint(note).checkpoint
    impostor = Signer(
        "govproxy.test", Ed25519PrivateKey.generate()
    )  # same name, different key
    conn.execute(
        "UPDATE checkpoints SET note=? WHERE id=?",
        (sign_checkpoint(cp, [impostor]), cid),
    )
    assert_detected(check(store), "UNKNOWN_KEY")
    # a log whose every checkpoint is signed by strangers fails outright
    other = Signer("govproxy.test", Ed25519PrivateKey.generate())
    for cid, note in conn.execute("SELECT id, note FROM checkpoints").fetchall():
        conn.execute(
            "UPDATE checkpoints SET note=? WHERE id=?",
            (sign_checkpoint(parse_signed_checkpoint(note).checkpoint, [other]), cid),
        )
    report = check(store)
    assert_detected(report, "UNKNOWN_KEY")
    assert report.trusted_checkpoints == 0


def test_records_from_another_instance_mixed_in(tmp_path):
    a = build_store(tmp_path / "a")
    b = build_store(tmp_path / "b", instance="test-2")
    foreign = body(sqlite3.connect(b.db), 11)
    conn = attacker(a.db)
    put(conn, 11, foreign)
    assert_detected(check(a), "ORIGIN_MISMATCH", "CHAIN_BREAK")


def _noncanonical_variants(data: bytes) -> dict[str, bytes]:
    value = json.loads(data)
    return {
        "whitespace": data.replace(b'","seq"', b'", "seq"'),
        "key_order": json.dumps(
            dict(reversed(list(value.items()))), separators=(",", ":")
        ).encode(),
        "duplicate_key": b'{"v":1,' + data[1:],
        "u_escape": data.replace(b'"app":"chat"', b'"app":"\\u0063hat"'),
        "huge_integer": data.replace(b'"n":15', b'"n":123456789012345678901'),
        "float": data.replace(b'"n":15', b'"n":15.0'),
    }


@pytest.mark.parametrize(
    "variant",
    ["whitespace", "key_order", "duplicate_key", "u_escape", "huge_integer", "float"],
)
def test_noncanonical_bytes(store, variant):
    conn = attacker(store.db)
    data = _noncanonical_variants(body(conn, 15))[variant]
    assert data != body(conn, 15)
    put(conn, 15, data)
    assert_detected(check(store), "NONCANONICAL")


@pytest.mark.parametrize(
    "attack",
    [
        "edit_records",
        "edit_checkpoint",
        "extra_file",
        "missing_file",
        "bad_envelope_sig",
    ],
)
def test_manifest_digest_mismatch(store, tmp_path, attack):
    out = tmp_path / "bundle"
    export_bundle(store.db, load_signer(store.cfg.signing_key), out)
    assert verify_bundle(out, [store.pubkey]).valid
    expected = "MANIFEST_DIGEST"
    if attack == "edit_records":
        raw = (out / "records.jsonl").read_bytes()
        (out / "records.jsonl").write_bytes(
            raw.replace(b'"app":"chat"', b'"app":"chit"', 1)
        )
    elif attack == "edit_checkpoint":
        cp = min((out / "checkpoints").iterdir())
        cp.write_text(cp.read_text() + "\n")
    elif attack == "extra_file":
        (out / "notes.txt").write_text("added later")
    elif attack == "missing_file":
        min((out / "checkpoints").iterdir()).unlink()
    else:
        env = json.loads((out / "manifest.dsse.json").read_text())
        sig = env["signatures"][0]["sig"]
        env["signatures"][0]["sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]
        (out / "manifest.dsse.json").write_text(json.dumps(env))
        expected = "SIG_INVALID"
    assert_detected(verify_bundle(out, [store.pubkey]), expected)


def test_filtered_bundle_verifies_and_detects_edits(store, tmp_path):
    out = tmp_path / "bundle"
    summary = export_bundle(
        store.db, load_signer(store.cfg.signing_key), out, tenant="tenant-1"
    )
    assert summary.filtered and summary.records == 10
    report = verify_bundle(out, [store.pubkey])
    assert report.valid and report.covered == 10, [p.line() for p in report.problems]
    lines = (out / "records.jsonl").read_bytes().splitlines(keepends=True)
    value = json.loads(lines[3])
    value["payload"]["decision"] = "deny"
    lines[3] = rfc8785.dumps(value) + b"\n"
    (out / "records.jsonl").write_bytes(b"".join(lines))
    assert_detected(
        verify_bundle(out, [store.pubkey]), "ROOT_MISMATCH", "MANIFEST_DIGEST"
    )


def test_verifier_without_the_right_key_fails(store, tmp_path):
    stranger = Signer("govproxy.test", Ed25519PrivateKey.generate()).verifier
    report = verify_store(store.db, [stranger])
    assert_detected(report, "UNKNOWN_KEY")


def test_parallel_examination_reports_the_same_problems(store, monkeypatch):
    """Large stores are examined by several processes; the verdict must not depend on it."""
    import govproxy.audit.verify as verify_module

    conn = attacker(store.db)
    conn.execute("DELETE FROM records WHERE seq = 17")
    put(conn, 5, body(conn, 5).replace(b'"app":"chat"', b'"app" :"chat"'))
    single = verify_store(store.db, [store.pubkey], workers=1)
    monkeypatch.setattr(verify_module, "PARALLEL_THRESHOLD", 10)
    parallel = verify_store(store.db, [store.pubkey], workers=2)
    assert [p.line() for p in parallel.problems] == [p.line() for p in single.problems]
    assert {"SEQ_GAP", "CHAIN_BREAK", "NONCANONICAL"} <= parallel.codes
