"""The isolated evaluation process: ``python -m govproxy.policy.worker``.

regopy runs native code that can segfault (a backtracking regex on a large string) or
spin (a policy that enumerates a huge range). Either would take the proxy down if it ran
in-process, so the proxy talks to this process over a pipe instead: a crash or a hang
costs one request (which fails closed) and one process, never the proxy.

Wire protocol (stdin/stdout, binary): each frame is a 4-byte big-endian length then a
payload whose first byte is the operation.

    parent -> worker   b"L" + JSON {"modules", "data", "ref"}     load and compile
                       b"E" + JSON input                          evaluate
    worker -> parent   b"K"                                       loaded
                       b"C" + JSON [issue, ...]                   compile failed
                       b"V" + JSON value | b"U" | b"X" + JSON [issue, ...]
"""

from __future__ import annotations

import json
import os
import struct
import sys
from dataclasses import asdict
from typing import BinaryIO, Protocol

HEADER = struct.Struct(">I")


class _Reader(Protocol):
    def read(self, n: int) -> bytes: ...


def read_frame(stream: _Reader) -> bytes | None:
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (n,) = HEADER.unpack(head)
    body = stream.read(n)
    if len(body) < n:
        return None
    return body


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


def _issues_json(issues: list) -> bytes:
    return json.dumps([asdict(i) for i in issues]).encode()


def serve(inp: _Reader, out: BinaryIO) -> int:
    from govproxy.policy.rego import CompiledPolicy, PolicyCompileError, PolicyIssue

    compiled: CompiledPolicy | None = None
    while True:
        frame = read_frame(inp)
        if frame is None:
            return 0
        op, body = frame[:1], frame[1:]
        if op == b"L":
            spec = json.loads(body)
            try:
                compiled = CompiledPolicy(spec["modules"], spec.get("data") or {}, spec["ref"], spec.get("display"))
            except PolicyCompileError as exc:
                compiled = None
                write_frame(out, b"C" + _issues_json(exc.issues))
                continue
            except Exception as exc:  # noqa: BLE001 - any failure to load is reported, never fatal
                compiled = None
                write_frame(out, b"C" + _issues_json([PolicyIssue(f"{type(exc).__name__}: {exc}")]))
                continue
            write_frame(out, b"K")
        elif op == b"E":
            if compiled is None:
                write_frame(out, b"X" + _issues_json([PolicyIssue("no policy set loaded")]))
                continue
            try:
                result = compiled.evaluate(json.loads(body))
            except Exception as exc:  # noqa: BLE001
                write_frame(out, b"X" + _issues_json([PolicyIssue(f"{type(exc).__name__}: {exc}")]))
                continue
            if result.kind == "value":
                write_frame(out, b"V" + json.dumps(result.value, separators=(",", ":")).encode())
            elif result.kind == "undefined":
                write_frame(out, b"U")
            else:
                write_frame(out, b"X" + _issues_json(result.errors))
        else:
            write_frame(out, b"X" + _issues_json([PolicyIssue(f"unknown operation {op!r}")]))


def main() -> int:
    # The frame channel is a private duplicate of stdout; fd 1 itself goes to stderr so
    # nothing native code prints can corrupt a frame.
    channel = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    inp = os.fdopen(os.dup(0), "rb", buffering=0)
    return serve(_Exact(inp), channel)


class _Exact:
    """Unbuffered reads that return exactly n bytes (or fewer only at EOF)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw

    def read(self, n: int) -> bytes:
        chunks = []
        while n > 0:
            chunk = self.raw.read(n)
            if not chunk:
                break
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)


if __name__ == "__main__":
    sys.exit(main())
