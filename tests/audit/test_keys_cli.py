"""Keys and the command line: file modes, no overwrite, rotation, exit codes."""

from __future__ import annotations

import json
import logging
import sqlite3
import stat

import pytest
import yaml

from govproxy.audit import AuditLog, ensure_signing_key
from govproxy.audit.errors import KeyFileError
from govproxy.audit.keys import init_key, read_verifier_keys
from govproxy.audit.note import parse_signed_checkpoint
from govproxy.audit.rotation import rotate_signing_key
from govproxy.audit.verify import verify_store
from govproxy.cli import main

from .conftest import build_store, make_config, payload


def _write_config(tmp_path, cfg) -> str:
    path = tmp_path / "govproxy.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "audit": {
                    "path": str(cfg.path),
                    "signing_key": str(cfg.signing_key),
                    "instance": cfg.instance,
                }
            }
        )
    )
    return str(path)


def test_init_writes_a_private_0600_key_and_refuses_to_overwrite(tmp_path):
    key = tmp_path / "keys" / "signing.key"
    verifier = init_key(key, "govproxy.test")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert read_verifier_keys(key.with_name("signing.key.pub")) == [verifier]
    before = key.read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        init_key(key, "govproxy.test")
    assert key.read_bytes() == before


def test_missing_key_is_generated_on_first_start_with_a_message(tmp_path, caplog):
    key = tmp_path / "k" / "signing.key"
    caplog.set_level(logging.WARNING, logger="govproxy.audit")
    signer, created = ensure_signing_key(key, "govproxy.test")
    assert created and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert any("generated a new Ed25519 key" in r.getMessage() for r in caplog.records)
    again, created_again = ensure_signing_key(key, "govproxy.test")
    assert not created_again and again.verifier == signer.verifier


def test_rotation_is_signed_by_both_keys_and_either_key_verifies(tmp_path):
    built = build_store(tmp_path, n=15)
    old = built.pubkey
    _, new, state = rotate_signing_key(built.cfg)
    note = parse_signed_checkpoint(state.note)
    assert {(s.name, s.hash) for s in note.signatures} == {
        (old.name, old.hash),
        (new.name, new.hash),
    }
    with AuditLog.open(built.cfg) as log:  # the new key signs from now on
        for i in range(12):
            log.append_sync("decision", payload(i))
    for trusted in ([old], [new]):
        report = verify_store(built.db, trusted, checkpoint_dir=built.checkpoint_dir)
        assert report.valid and report.covered == 28, [
            p.line() for p in report.problems
        ]
    # a stranger's key is not enough
    stranger = init_key(tmp_path / "other.key", "govproxy.test")
    assert not verify_store(built.db, [stranger]).valid


def test_cli_keys_init_and_public(tmp_path, capsys):
    cfg = make_config(tmp_path)
    conf = _write_config(tmp_path, cfg)
    assert main(["keys", "init", "-c", conf]) == 0
    printed = capsys.readouterr().out.strip()
    assert main(["keys", "init", "-c", conf]) == 2  # refuses to overwrite
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["keys", "public", "-c", conf]) == 0
    assert capsys.readouterr().out.strip() == printed
    assert "PRIVATE" not in printed


def test_cli_verify_export_exit_codes(tmp_path, capsys):
    built = build_store(tmp_path, n=20)
    conf = _write_config(tmp_path, built.cfg)
    pub = str(built.pubkey_file)
    assert main(["audit", "verify", "--db", str(built.db), "--pubkey", pub]) == 0
    assert "VALID" in capsys.readouterr().out
    out = tmp_path / "bundle"
    assert main(["audit", "export", "-c", conf, "--out", str(out)]) == 0
    assert main(["audit", "verify", str(out), "--pubkey", pub, "--json"]) == 0
    report = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert report["valid"] and report["records"] == 20
    filtered = tmp_path / "filtered"
    assert (
        main(
            [
                "audit",
                "export",
                "-c",
                conf,
                "--out",
                str(filtered),
                "--tenant",
                "tenant-0",
                "--since",
                "2000-01-01",
            ]
        )
        == 0
    )
    assert main(["audit", "verify", str(filtered), "--pubkey", pub]) == 0
    capsys.readouterr()
    # tampered → 1, one line per problem with its reason code and a summary
    conn = sqlite3.connect(built.db, isolation_level=None)
    conn.execute("DROP TRIGGER records_no_delete")
    conn.execute("DELETE FROM records WHERE seq = 5")
    conn.close()
    assert main(["audit", "verify", "--db", str(built.db), "--pubkey", pub]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("ERROR SEQ_GAP") for line in lines) and lines[
        -1
    ].startswith("TAMPERED")
    # usage / IO errors → 2
    assert (
        main(
            [
                "audit",
                "verify",
                "--db",
                str(built.db),
                "--pubkey",
                str(tmp_path / "missing.pub"),
            ]
        )
        == 2
    )
    assert (
        main(["audit", "verify", "--db", str(tmp_path / "nope.db"), "--pubkey", pub])
        == 2
    )
    assert (
        main(["audit", "verify", str(out), "--db", str(built.db), "--pubkey", pub]) == 2
    )
    with pytest.raises(SystemExit) as info:
        main(["audit", "verify", "--db", str(built.db)])  # no trusted key: refused
    assert info.value.code == 2


def test_cli_since_checkpoint_detects_rollback(tmp_path, capsys):
    built = build_store(tmp_path, n=20)
    held = tmp_path / "held.checkpoint"
    held.write_text(
        sqlite3.connect(built.db)
        .execute("SELECT note FROM checkpoints ORDER BY id DESC")
        .fetchone()[0]
    )
    conn = sqlite3.connect(built.db, isolation_level=None)
    for t in ("records", "checkpoints"):
        conn.execute(f"DROP TRIGGER {t}_no_delete")
    conn.execute("DELETE FROM records WHERE seq >= 10")
    conn.execute("DELETE FROM checkpoints WHERE size > 10")
    conn.close()
    args = [
        "audit",
        "verify",
        "--db",
        str(built.db),
        "--pubkey",
        str(built.pubkey_file),
        "--no-checkpoint-files",
    ]
    assert main(args) == 0
    assert main([*args, "--since-checkpoint", str(held)]) == 1
    assert "TRUNCATED" in capsys.readouterr().out


def test_cli_tail_and_show(tmp_path, capsys):
    built = build_store(tmp_path, n=6)
    conf = _write_config(tmp_path, built.cfg)
    assert main(["audit", "tail", "-c", conf, "-n", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        len(lines) == 2 and lines[0].startswith("4 ") and "request_id=req-2" in lines[0]
    )
    assert main(["audit", "show", "-c", conf, "req-1"]) == 0
    shown = capsys.readouterr().out
    assert '"seq": 2' in shown and '"seq": 3' in shown
    assert main(["audit", "show", "-c", conf, "5"]) == 0
    assert json.loads(capsys.readouterr().out)["record"]["seq"] == 5
    assert main(["audit", "show", "-c", conf, "no-such-request"]) == 2


def test_export_time_window_and_signed_statement(tmp_path):
    import base64

    from govproxy.audit.export import export_bundle
    from govproxy.audit.keys import load_signer
    from govproxy.audit.verify import DSSE_PAYLOAD_TYPE, dsse_pae, verify_bundle

    built = build_store(tmp_path, n=12)
    conn = sqlite3.connect(built.db)
    stamps = [ts for (ts,) in conn.execute("SELECT ts FROM records ORDER BY seq")]
    out = tmp_path / "window"
    summary = export_bundle(
        built.db,
        load_signer(built.cfg.signing_key),
        out,
        since=stamps[3],
        until=stamps[8],
    )
    lines = (out / "records.jsonl").read_bytes().splitlines()
    assert summary.records == 5 and [json.loads(x)["seq"] for x in lines] == [
        3,
        4,
        5,
        6,
        7,
    ]
    env = json.loads((out / "manifest.dsse.json").read_text())
    payload = base64.b64decode(env["payload"])
    assert env["payloadType"] == DSSE_PAYLOAD_TYPE
    built.pubkey.public.verify(
        base64.b64decode(env["signatures"][0]["sig"]),
        dsse_pae(DSSE_PAYLOAD_TYPE, payload),
    )
    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert {s["name"] for s in statement["subject"]} >= {
        "records.jsonl",
        "proofs.jsonl",
        "consistency.jsonl",
    }
    assert verify_bundle(out, [built.pubkey]).valid
    with pytest.raises(ValueError, match="RFC 3339"):
        export_bundle(
            built.db,
            load_signer(built.cfg.signing_key),
            tmp_path / "bad",
            since="yesterday",
        )
