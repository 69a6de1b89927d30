"""Parent side of the isolated regopy worker: spawn, load, call with a deadline, kill.

One ``WorkerProcess`` is one child running ``govproxy.policy.worker``. Calls are
request/response over pipes; the caller serialises them. A call that exceeds its
deadline kills the child (a hung native loop cannot be interrupted any other way) and a
child that dies mid-call is reported as a crash; either way the worker is finished and
the engine replaces it.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

from govproxy.policy.rego import PolicyIssue
from govproxy.policy.worker import HEADER


class WorkerFailure(Exception):
    """The worker crashed, hung or broke protocol; ``kind`` is crash | timeout | protocol."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class WorkerCompileError(Exception):
    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues))


def _issues(body: bytes) -> list[PolicyIssue]:
    try:
        return [PolicyIssue(**d) for d in json.loads(body)]
    except (ValueError, TypeError):
        return [PolicyIssue("unreadable error report from policy worker")]


class WorkerProcess:
    def __init__(self) -> None:
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "govproxy.policy.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._wfd = self.proc.stdin.fileno()
        self._rfd = self.proc.stdout.fileno()
        os.set_blocking(self._rfd, False)
        self._buf = bytearray()
        self.dead = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    # -- framing -------------------------------------------------------------------

    def _send(self, payload: bytes) -> None:
        try:
            self._send_all(HEADER.pack(len(payload)) + payload)
        except (BrokenPipeError, OSError) as exc:
            self.kill()
            raise WorkerFailure("crash", f"policy worker gone ({exc.__class__.__name__})") from None

    def _send_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._wfd, view)
            view = view[n:]

    def _take_frame(self) -> bytes | None:
        if len(self._buf) < HEADER.size:
            return None
        (n,) = HEADER.unpack_from(self._buf)
        if len(self._buf) < HEADER.size + n:
            return None
        frame = bytes(self._buf[HEADER.size : HEADER.size + n])
        del self._buf[: HEADER.size + n]
        return frame

    def _read_available(self) -> None:
        """Pull whatever the pipe holds; EOF means the child died."""
        while True:
            try:
                chunk = os.read(self._rfd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                try:
                    code = self.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    code = None
                reason = f"signal {-code}" if code is not None and code < 0 else f"exit {code}"
                raise WorkerFailure("crash", f"policy worker died ({reason})")
            self._buf += chunk
            if len(chunk) < 65536:
                return

    # -- calls ---------------------------------------------------------------------

    def call_sync(self, payload: bytes, timeout: float) -> bytes:
        if self.dead:
            raise WorkerFailure("crash", "policy worker is not running")
        self._send(payload)
        deadline = time.monotonic() + timeout
        while True:
            frame = self._take_frame()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerFailure("timeout", f"policy evaluation exceeded {timeout * 1000:.0f} ms")
            ready, _, _ = select.select([self._rfd], [], [], remaining)
            if ready:
                try:
                    self._read_available()
                except WorkerFailure:
                    self.kill()
                    raise

    async def call(self, payload: bytes, timeout: float) -> bytes:
        if self.dead:
            raise WorkerFailure("crash", "policy worker is not running")
        self._send(payload)
        frame = self._take_frame()
        if frame is not None:
            return frame
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes] = loop.create_future()

        def on_readable() -> None:
            if fut.done():
                return
            try:
                self._read_available()
            except WorkerFailure as exc:
                fut.set_exception(exc)
                return
            got = self._take_frame()
            if got is not None:
                fut.set_result(got)

        def on_deadline() -> None:
            if not fut.done():
                fut.set_exception(TimeoutError())

        # A plain timer on the future, not asyncio.wait_for: wait_for's timeout machinery
        # cost ~55 us per decision here, half of the whole pipe round trip.
        loop.add_reader(self._rfd, on_readable)
        deadline = loop.call_later(timeout, on_deadline)
        try:
            try:
                return await fut
            finally:
                deadline.cancel()
                # Unregister before the fd can be closed (and its number reused).
                loop.remove_reader(self._rfd)
        except TimeoutError:
            self.kill()
            raise WorkerFailure("timeout", f"policy evaluation exceeded {timeout * 1000:.0f} ms") from None
        except WorkerFailure:
            self.kill()
            raise
        except asyncio.CancelledError:
            # The caller gave up mid-call: the reply would desynchronise the next call.
            self.kill()
            raise

    def load(self, modules: dict[str, str], data: dict[str, Any], ref: str,
             display: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        """Compile a policy set in the child; raises WorkerCompileError with located issues."""
        spec = {"modules": modules, "data": data, "ref": ref, "display": display or {}}
        frame = self.call_sync(b"L" + json.dumps(spec).encode(), timeout)
        if frame[:1] == b"K":
            return
        if frame[:1] == b"C":
            raise WorkerCompileError(_issues(frame[1:]))
        raise WorkerFailure("protocol", f"unexpected reply to load: {frame[:1]!r}")

    def kill(self) -> None:
        if self.dead:
            return
        self.dead = True
        try:
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    close = kill


def parse_eval_reply(frame: bytes) -> tuple[str, Any, list[PolicyIssue]]:
    """(kind, value, issues) from an evaluation reply frame."""
    op, body = frame[:1], frame[1:]
    if op == b"V":
        return "value", json.loads(body), []
    if op == b"U":
        return "undefined", None, []
    if op == b"X":
        return "error", None, _issues(body)
    return "error", None, [PolicyIssue(f"unexpected reply {op!r} from policy worker")]
