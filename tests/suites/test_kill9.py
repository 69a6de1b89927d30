"""Issue 7, suite 2: ``kill -9`` the proxy at random moments under load, restart, repeat.

After every crash the same working directory is reused. At the end the audit store must
verify, its sequence numbers must run without gaps, and every request that reached the
upstream stand-in (it records each body) must have a durable decision record: the stand-in
body's SHA-256 is the record's ``forwarded_body_sha256``.
"""

from __future__ import annotations

import hashlib
import random
import signal
import threading
import time

import httpx
import pytest

from tests.e2e.helpers import trust_bundle
from tests.stack import make_proxy
from tests.suites.support import (
    CHAT,
    alive,
    audit_db,
    audit_records,
    chat_body,
    client,
    record_field,
    verify_store,
)

pytestmark = pytest.mark.slow

KILLS = 8


class LoadUntilStopped:
    """A few threads sending uniquely marked prompts until stopped (or the proxy dies)."""

    def __init__(self, proxy, bundle, round_no: int, threads: int = 3) -> None:
        self.stop = threading.Event()
        self.sent = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(proxy, bundle, round_no, t), daemon=True) for t in range(threads)]
        for th in self._threads:
            th.start()

    def _run(self, proxy, bundle, round_no: int, t: int) -> None:
        i = 0
        with client(proxy, bundle, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as c:
            while not self.stop.is_set():
                try:
                    c.post(CHAT, json=chat_body(f"kill9-r{round_no}-t{t}-{i}-mk"), headers={"authorization": "Bearer k"})
                except httpx.HTTPError:
                    if not alive(proxy):
                        return
                with self._lock:
                    self.sent += 1
                i += 1

    def join(self) -> None:
        self.stop.set()
        for th in self._threads:
            th.join(20)
        assert not any(th.is_alive() for th in self._threads), "a client hung after the proxy died"


def test_kill9_under_load_keeps_a_verifiable_gapless_trail(tmp_path, certs, cloud, local):
    rng = random.Random(99)
    workdir = tmp_path / "proxy"
    proxy = None
    for round_no in range(KILLS):
        proxy = make_proxy(workdir, certs, cloud, local)
        proxy.start()
        bundle = trust_bundle(proxy, certs)
        load = LoadUntilStopped(proxy, bundle, round_no)
        deadline = time.monotonic() + 10
        while load.sent < 3 and time.monotonic() < deadline:  # let real traffic flow first
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.8))  # then a random moment, not a sleep used as an assertion
        proxy.stop(signal.SIGKILL)
        assert proxy.proc is not None and proxy.proc.returncode == -signal.SIGKILL
        load.join()
    # one clean run at the end: recovers the store and signs
    proxy = make_proxy(workdir, certs, cloud, local)
    proxy.start()
    bundle = trust_bundle(proxy, certs)
    with client(proxy, bundle) as c:
        assert c.post(CHAT, json=chat_body("after the crashes"), headers={"authorization": "Bearer k"}).status_code == 200
    proxy.stop()

    ver = verify_store(proxy)
    assert ver.returncode == 0, ver.stdout + ver.stderr
    records = audit_records(audit_db(proxy))
    seqs = [r["seq"] for r in records]
    assert seqs == list(range(len(seqs))), "sequence numbers have gaps or repeats"
    forwarded = {record_field(r, "forwarded_body_sha256") for r in records if r["kind"] == "decision"}
    reached = [r for r in cloud.requests if b"kill9-" in r.body]
    assert len(reached) >= KILLS * 3, "too little traffic reached the upstream to prove anything"
    missing = [r.body[:80] for r in reached if "sha256:" + hashlib.sha256(r.body).hexdigest() not in forwarded]
    assert not missing, f"{len(missing)} requests reached the upstream without a durable decision record: {missing[:3]}"
