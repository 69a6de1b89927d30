"""Crash safety: kill -9 the writer process mid-append, again and again, then reopen.

After every kill the store must verify, every acknowledged record must be stored, no signed
checkpoint may cover a record that is not stored, and appends must continue.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from govproxy.audit import AuditLog
from govproxy.audit.keys import init_key, load_signer
from govproxy.audit.verify import verify_store

from .conftest import make_config, payload

CHILD = r"""
import asyncio, random, sys
from govproxy.audit import AuditConfig, AuditLog
cfg = AuditConfig.model_validate_json(sys.argv[1])
log = AuditLog.open(cfg)
print("ready", log.size, flush=True)
async def main():
    i = 0
    while True:
        k = random.randint(1, 60)
        refs = await asyncio.gather(*(log.append("decision", {"tenant": "t", "n": i + j}) for j in range(k)))
        i += k
        print("acked", max(r.seq for r in refs), flush=True)
        await asyncio.sleep(0.002)  # keep the store small: each cycle verifies all of it
asyncio.run(main())
"""


def _kill_cycles(tmp_path: Path, cycles: int) -> None:
    cfg = make_config(
        tmp_path, checkpoint_every_records=150, checkpoint_every_seconds=0.02
    )
    init_key(cfg.signing_key, "govproxy.test")
    pub = [load_signer(cfg.signing_key).verifier]
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    rng = random.Random(1234)
    stored = 0
    for cycle in range(cycles):
        proc = subprocess.Popen(
            [sys.executable, str(script), cfg.model_dump_json()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = proc.stdout.readline().split()
        assert ready and ready[0] == "ready", proc.stderr.read()
        assert int(ready[1]) >= stored, (
            "records acknowledged before the last kill were lost"
        )
        time.sleep(rng.uniform(0.02, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        complete = out.split("\n")[:-1]  # the kill may cut the last line short
        acked = [int(line.split()[1]) for line in complete if line.startswith("acked ")]
        report = verify_store(cfg.path, pub, checkpoint_dir=cfg.resolved_checkpoint_dir)
        assert report.valid, (cycle, [p.line() for p in report.problems])
        assert not report.codes - {"UNCHECKPOINTED_TAIL"}
        stored = report.records
        if acked:
            assert max(acked) < stored, (
                "an acknowledged record is missing after kill -9"
            )
    with AuditLog.open(cfg) as log:
        ref = log.append_sync("decision", payload(1))
    assert ref.seq == stored
    report = verify_store(cfg.path, pub, checkpoint_dir=cfg.resolved_checkpoint_dir)
    assert report.valid and report.problems == [] and report.records == stored + 1


def test_kill_minus_nine_during_appends(tmp_path):
    _kill_cycles(tmp_path, cycles=10)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_kill_minus_nine_many_times(tmp_path):
    _kill_cycles(tmp_path, cycles=60)
