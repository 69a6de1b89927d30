"""``govproxy demo`` is a newcomer's first contact and an installation smoke test: run the
real command as a subprocess and require that every step it promises actually happened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

from govproxy import cli

# `govproxy demo` once the lead lists govproxy.demo in SUBSYSTEM_CLIS; the same handler before.
_CMD = [sys.executable, "-m", "govproxy.cli", "demo"] if "govproxy.demo" in cli.SUBSYSTEM_CLIS else [sys.executable, "-m", "govproxy.demo"]


def _run_demo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("https_proxy", "http_proxy", "all_proxy", "no_proxy")}
    env.pop("SSL_CERT_FILE", None)
    return subprocess.run([*_CMD, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env, check=False)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    work = tmp_path_factory.mktemp("demo") / "kept"
    return _run_demo("--keep", str(work), cwd=work.parent), work


def test_every_step_behaves_and_the_exit_status_says_so(demo_run):
    proc, _ = demo_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo: 6/6 steps behaved as expected" in proc.stdout
    assert "✘" not in proc.stdout


def test_the_output_shows_what_the_provider_saw_versus_what_the_app_got(demo_run):
    out = demo_run[0].stdout
    pii = out.split("2. A prompt with PII", 1)[1].split("\n3. ", 1)[0]
    received = next(line for line in pii.splitlines() if "provider received:" in line)
    got_back = next(line for line in pii.splitlines() if "app got back:" in line)
    assert "[EMAIL_1]" in received and "jane.doe@example.com" not in received
    assert "jane.doe@example.com" in got_back and "[EMAIL_1]" not in got_back
    assert "the cloud provider saw nothing" in out
    assert "rerouted in-region to the EU provider (api.mistral.ai, mistral-large-latest)" in out
    assert "openai.PermissionDeniedError: Error code: 403" in out and "budget" in out


def test_the_audit_bundle_verifies_and_the_tampered_copy_does_not(demo_run):
    proc, work = demo_run
    assert "VALID: 11 records" in proc.stdout
    assert "ERROR CHAIN_BREAK" in proc.stdout and "TAMPERED:" in proc.stdout
    # The kept bundles are real: the verifier, run again by hand, reaches the same verdicts.
    pub = work / "proxy" / "audit" / "keys" / "signing.key.pub"

    def verify(bundle: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "govproxy.cli", "audit", "verify", str(work / bundle), "--pubkey", str(pub)],
                              capture_output=True, text=True, timeout=60, check=False)

    assert verify("audit-bundle").returncode == 0
    assert verify("audit-bundle-tampered").returncode == 1
    kinds = [json.loads(line)["kind"] for line in (work / "audit-bundle" / "records.jsonl").read_text().splitlines()]
    assert kinds.count("decision") == 6 and kinds.count("outcome") == 5  # the denied requests have no outcome


def test_keep_refuses_a_used_directory(demo_run):
    _, work = demo_run
    proc = _run_demo("--keep", str(work), cwd=work.parent)
    assert proc.returncode == 2 and "not empty" in proc.stderr
