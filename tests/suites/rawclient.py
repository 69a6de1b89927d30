"""Raw HTTP/1.1 through a CONNECT tunnel + TLS: bytes exactly as written, one response read back.

Libraries normalise what they send; a fuzz case must reach the proxy as crafted.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass


@dataclass
class RawResult:
    status: int | None  # None: no HTTP response (connection closed or timed out)
    head: bytes
    body: bytes
    seconds: float
    error: str | None = None
    timed_out: bool = False


def _read_response(sock: socket.socket, deadline: float, head_only: bool = False) -> tuple[bytes, bytes, bool]:
    """One response (head, body); stops at its end, at EOF, or at the deadline (timed_out)."""
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, b"", True
        except (ssl.SSLError, OSError):
            return data, b"", False
        if not chunk:
            return data, b"", False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if head_only:
        return head, body, False
    lower = head.lower()
    length = None
    for line in lower.split(b"\r\n")[1:]:
        if line.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1].strip())
    chunked = b"transfer-encoding: chunked" in lower
    while True:
        if length is not None and len(body) >= length:
            return head, body[:length], False
        if chunked and body.endswith(b"0\r\n\r\n"):
            return head, body, False
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return head, body, True
        except (ssl.SSLError, OSError):
            return head, body, False
        if not chunk:
            return head, body, False
        body += chunk


def send_raw(proxy_port: int, raw: bytes, ctx: ssl.SSLContext, *, host: str = "api.openai.com", timeout: float = 15.0,
             proxy_auth: str | None = None) -> RawResult:
    t0 = time.monotonic()
    deadline = t0 + timeout
    try:
        s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    except OSError as exc:
        return RawResult(None, b"", b"", time.monotonic() - t0, f"connect: {type(exc).__name__}")
    try:
        head = f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n"
        if proxy_auth:
            head += f"Proxy-Authorization: {proxy_auth}\r\n"
        s.sendall((head + "\r\n").encode())
        h, _, to = _read_response(s, deadline, head_only=True)
        if not h.startswith(b"HTTP/1.1 200"):
            return RawResult(None, h, b"", time.monotonic() - t0, "CONNECT refused", to)
        tls = ctx.wrap_socket(s, server_hostname=host)
        try:
            tls.sendall(raw)
        except OSError as exc:  # the proxy may answer and close before reading everything
            err = type(exc).__name__
        else:
            err = None
        h, body, to = _read_response(tls, deadline)
        status = int(h.split(b" ", 2)[1]) if h.startswith(b"HTTP/") else None
        return RawResult(status, h, body, time.monotonic() - t0, err if status is None else None, to)
    finally:
        s.close()
