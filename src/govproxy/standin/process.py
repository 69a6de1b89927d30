"""``StandinProcess``: run the stand-in as a child process (``python -m govproxy.standin``).

For tests that need the provider outside the test process: a govproxy subprocess under
``kill -9``, the demo, or a benchmark that must not share a GIL with its load generator.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from govproxy.standin.client import StandinClient


class StandinProcess:
    """Start on ``__enter__``/``start()``; ``url``, ``port`` and a control ``client`` once ready."""

    def __init__(
        self,
        *,
        port: int = 0,
        tls: bool = False,
        cert_dir: str | Path | None = None,
        chunk_size: int = 8,
        chunk_delay: float = 0.0,
        require_api_key: bool = True,
        http2: bool = False,
        extra_args: list[str] | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        if tls and cert_dir is None:
            raise ValueError("tls=True needs cert_dir (created with make_test_certs, or empty to create)")
        self._args = [sys.executable, "-m", "govproxy.standin", "--port", str(port)]
        self._args += ["--chunk-size", str(chunk_size), "--chunk-delay", str(chunk_delay)]
        if tls:
            self._args += ["--tls", "--cert-dir", str(cert_dir)]
        if not require_api_key:
            self._args.append("--no-require-key")
        if http2:
            self._args.append("--http2")
        self._args += extra_args or []
        self._timeout = startup_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.ca_file = Path(cert_dir) / "ca.pem" if tls and cert_dir else None

    def start(self) -> Self:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # stderr goes to a file, never an unread pipe: a long run that logs would otherwise block the child.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child; closed in stop()
        self._proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env)
        assert self._proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self._proc.stdout, selectors.EVENT_READ)
        if not sel.select(self._timeout):
            err = self.stderr_tail()
            self.stop()
            raise RuntimeError(f"stand-in subprocess did not report readiness in time: {err}")
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(5)
            err = self.stderr_tail()
            self.stop()
            raise RuntimeError(f"stand-in subprocess exited during startup: {err}")
        self.info = json.loads(line)
        return self

    def stderr_tail(self, limit: int = 2000) -> str:
        """The last ``limit`` characters the child wrote to stderr (for error messages)."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace").strip()[-limit:]

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def port(self) -> int:
        return int(self.info["port"])

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def client(self) -> StandinClient:
        return StandinClient(self.url, ca_file=self.ca_file)

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._proc.stdout:
            self._proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
