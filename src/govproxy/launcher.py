"""Start ``govproxy run`` as a child process and wait until it listens.

Shared by the end-to-end tests, the benchmarks and ``govproxy demo`` so that all of them
exercise the real command a user runs, not an in-process imitation.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

_READY = re.compile(r"govproxy listening on (?P<addrs>[^;]+); CA certificate: (?P<ca>\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProxyProcess:
    """A running ``govproxy run``; use as a context manager.

    ``output`` collects everything the process printed (tests grep it for leaks).
    """

    def __init__(
        self,
        workdir: Path,
        config: Mapping[str, Any] | None = None,
        *,
        extra_args: Sequence[str] = (),
        mitm_options: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        command: Sequence[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.confdir = self.workdir / "confdir"
        self.config_path = self.workdir / "govproxy.yaml"
        self.config = dict(config or {})
        self.extra_args = list(extra_args)
        self.mitm_options = dict(mitm_options or {})
        self.env = dict(env or {})
        self.command = list(command) if command else None
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.gateway_ports: list[int] = []
        self.ca_cert: Path | None = None
        self._lines: list[str] = []
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def start(self) -> ProxyProcess:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        cmd = self.command or [sys.executable, "-m", "govproxy.cli"]
        cmd = [*cmd, "run", "--config", str(self.config_path), "--confdir", str(self.confdir), "--listen-port", "0"]
        for k, v in self.mitm_options.items():
            cmd += ["--set", f"{k}={v}"]
        cmd += self.extra_args
        env = {**os.environ, **self.env}
        # The proxy itself must never go through a proxy.
        for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
            env.pop(var, None)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(self.startup_timeout) or self.port == 0:
            self.stop()
            raise RuntimeError(f"govproxy did not start:\n{self.output}")
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.append(line)
            m = _READY.search(line)
            if m and not self._ready.is_set():
                addrs = [a.strip() for a in m.group("addrs").split(",")]
                # The forward-proxy address comes first; gateways are labelled "(gateway to …)".
                plain = [a for a in addrs if "(gateway" not in a]
                self.port = int(plain[0].rsplit(":", 1)[1]) if plain else 0
                self.gateway_ports = [int(a.split(" ")[0].rsplit(":", 1)[1]) for a in addrs if "(gateway" in a]
                self.ca_cert = Path(m.group("ca"))
                self._ready.set()
        self._ready.set()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def __enter__(self) -> ProxyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for_output(self, needle: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.output:
                return True
            time.sleep(0.05)
        return False
