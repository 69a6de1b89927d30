"""Plain helpers shared by the issue-7 suites (fixtures live in conftest.py).

Everything here observes the real thing: the audit store is read with sqlite3 straight from
the proxy's working directory and verified with the real ``govproxy audit verify`` command.
"""

from __future__ import annotations

import json
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from govproxy.launcher import ProxyProcess

CHAT = "https://api.openai.com/v1/chat/completions"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDx\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
PRIVATE_KEY_MARK = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE"


def chat_body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **extra}


def client(proxy: ProxyProcess, bundle: Path, *, timeout: float = 20.0, **kw: Any) -> httpx.Client:
    return httpx.Client(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(bundle)), timeout=timeout, trust_env=False, **kw)


def cli(*args: str, cwd: Path | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "govproxy.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)


def audit_db(proxy: ProxyProcess) -> Path:
    path = Path(proxy.config.get("audit", {}).get("path", "audit/govproxy.db"))
    return path if path.is_absolute() else proxy.workdir / path


def audit_pubkey(proxy: ProxyProcess) -> Path:
    key = Path(proxy.config.get("audit", {}).get("signing_key", "audit/keys/signing.key"))
    key = key if key.is_absolute() else proxy.workdir / key
    return key.with_name(key.name + ".pub")


def audit_records(db: Path) -> list[dict[str, Any]]:
    """Every record as stored: ``seq``, ``kind`` and the parsed canonical body."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT seq, kind, body FROM records ORDER BY seq").fetchall()
    finally:
        con.close()
    out = []
    for seq, kind, body in rows:
        rec = json.loads(body)
        out.append({"seq": seq, "kind": kind, "body": rec})
    return out


def record_field(rec: dict[str, Any], name: str) -> Any:
    """A field of a record body, wherever the store nests the payload."""
    body = rec["body"]
    for holder in (body, body.get("data") or {}, body.get("payload") or {}, body.get("record") or {}):
        if isinstance(holder, dict) and name in holder:
            return holder[name]
    return None


def decision_ids(db: Path) -> set[str]:
    return {record_field(r, "request_id") for r in audit_records(db) if r["kind"] == "decision"}


def verify_store(proxy: ProxyProcess) -> subprocess.CompletedProcess[str]:
    return cli("audit", "verify", "--db", str(audit_db(proxy)), "--pubkey", str(audit_pubkey(proxy)), cwd=proxy.workdir)


def alive(proxy: ProxyProcess) -> bool:
    return proxy.proc is not None and proxy.proc.poll() is None


@dataclass
class Sent:
    """One request of a load run, as the client saw it."""

    marker: str
    critical: bool
    status: int | None = None
    request_id: str | None = None
    error: str | None = None
    seconds: float = 0.0


def run_load(
    proxy: ProxyProcess,
    bundle: Path,
    *,
    threads: int = 3,
    per_thread: int = 30,
    timeout: float = 20.0,
    critical_every: int = 5,
    tag: str = "load",
    url: str = CHAT,
    during: Callable[[], None] | None = None,
    keepalive: bool = True,
    stream: bool = False,
) -> list[Sent]:
    """Bounded load: ``threads`` × ``per_thread`` chat requests, every ``critical_every``-th
    carrying a private key. Each prompt holds a unique marker so the stand-in's record can
    be matched to the client's view. ``during()`` runs in the calling thread while the load
    runs (inject the fault there). Clients keep their connection alive, as SDKs do;
    ``keepalive=False`` gives each request a fresh connection.
    """
    results: list[Sent] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        limits = httpx.Limits() if keepalive else httpx.Limits(max_keepalive_connections=0)
        with client(proxy, bundle, timeout=timeout, limits=limits) as c:
            for i in range(per_thread):
                marker = f"{tag}-{t}-{i}-mk"
                critical = critical_every > 0 and i % critical_every == critical_every - 1
                text = f"{marker} please answer" + (f"\n{PRIVATE_KEY}" if critical else "")
                s = Sent(marker, critical)
                t0 = time.monotonic()
                try:
                    r = c.post(url, json=chat_body(text, **({"stream": True} if stream else {})), headers={"authorization": "Bearer sk-load"})
                    s.status, s.request_id = r.status_code, r.headers.get("x-govproxy-request-id")
                except httpx.HTTPError as exc:
                    s.error = type(exc).__name__
                s.seconds = time.monotonic() - t0
                with lock:
                    results.append(s)

    pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for th in pool:
        th.start()
    if during is not None:
        during()
    for th in pool:
        th.join(timeout * per_thread + 30)
    assert not any(th.is_alive() for th in pool), "a load thread hung beyond every timeout"
    return results
