"""``govproxy scan`` through the real command-line entry point."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from govproxy.cli import main

TEXT = "Contact bob@example.com, card 4111 1111 1111 1111.\n"


def test_scan_file_prints_findings_sensitivity_and_redacted_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "prompt.txt"
    f.write_text(TEXT, encoding="utf-8")
    assert main(["scan", str(f)]) == 0
    out = capsys.readouterr().out
    assert "sensitivity: confidential" in out
    assert "EMAIL_ADDRESS" in out and "CREDIT_CARD" in out
    assert "Contact [EMAIL_1], card [CREDIT_CARD_1]." in out
    # the table does not print values unless asked
    table = out.split("--- redacted text ---")[0]
    assert "bob@example.com" not in table


def test_scan_json_from_stdin_with_action_override(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(TEXT))
    assert main(["scan", "--json", "--action", "EMAIL_ADDRESS=mask", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sensitivity"] == "confidential"
    assert data["counts"] == {"EMAIL_ADDRESS": 1, "CREDIT_CARD": 1}
    assert data["redacted"].startswith("Contact [EMAIL], card [CREDIT_CARD_1]")
    assert data["actions"]["EMAIL_ADDRESS"] == "mask"
    assert "bob@example.com" not in json.dumps(
        {k: v for k, v in data.items() if k != "redacted"}
    )


def test_scan_uses_config_file_and_fail_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "govproxy.yaml"
    cfg.write_text(
        "dlp:\n  dictionaries:\n    - entity_type: CODENAME\n      terms: [Nightjar]\n",
        encoding="utf-8",
    )
    f = tmp_path / "p.txt"
    f.write_text("Project Nightjar ships Friday", encoding="utf-8")
    assert main(["scan", "-c", str(cfg), "--fail-on", "confidential", str(f)]) == 1
    assert "Project [CODENAME_1] ships Friday" in capsys.readouterr().out


def test_bad_input_gives_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err
    f = tmp_path / "p.txt"
    f.write_text("x", encoding="utf-8")
    assert main(["scan", "--action", "EMAIL_ADDRESS=shred", str(f)]) == 2
    assert "mask, hash, pseudonymise, allow" in capsys.readouterr().err
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "dlp:\n  custom:\n    - entity_type: X1\n      pattern: '(a+)+'\n",
        encoding="utf-8",
    )
    assert main(["scan", "-c", str(cfg), str(f)]) == 2
    assert "dlp.custom.0.pattern" in capsys.readouterr().err


def test_installed_console_script_reads_stdin() -> None:
    exe = Path(sys.executable).with_name("govproxy")
    if not exe.exists():
        pytest.skip("govproxy console script not installed in this environment")
    proc = subprocess.run(
        [str(exe), "scan", "-"],
        input=TEXT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[EMAIL_1]" in proc.stdout
