"""What the stand-in saw: every request and every accepted TCP connection.

Tests of govproxy prove things by what reached the "provider": the exact bytes forwarded
(pseudonymised, re-keyed, re-routed) and whether a connection was opened at all. So the
record keeps raw bodies and headers as received, plus a connection counter that is bumped
at accept time, before TLS, so even a failed handshake counts.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request exactly as the stand-in received it."""

    seq: int
    connection_id: int
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    time: float
    sni: str | None
    tls: bool
    client: str | None = None

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None

    @property
    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body)

    def to_wire(self) -> dict[str, Any]:
        """JSON-safe form used by ``GET /_standin/requests`` (body base64-encoded)."""
        return {
            "seq": self.seq,
            "connection_id": self.connection_id,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": [list(h) for h in self.headers],
            "body_b64": base64.b64encode(self.body).decode("ascii"),
            "time": self.time,
            "sni": self.sni,
            "tls": self.tls,
            "client": self.client,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RecordedRequest:
        """Inverse of :meth:`to_wire`, for processes reading a subprocess stand-in's record."""
        return cls(
            seq=int(data["seq"]),
            connection_id=int(data["connection_id"]),
            method=str(data["method"]),
            path=str(data["path"]),
            query=str(data["query"]),
            headers=tuple((str(k), str(v)) for k, v in data["headers"]),
            body=base64.b64decode(data["body_b64"]),
            time=float(data["time"]),
            sni=data.get("sni"),
            tls=bool(data.get("tls")),
            client=data.get("client"),
        )


@dataclass
class Recorder:
    """Thread-safe store shared by the server's event loop and the test thread.

    ``max_requests`` bounds memory for benchmarks; the oldest requests are dropped first,
    while the totals keep counting.
    """

    max_requests: int = 10_000
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _requests: deque[RecordedRequest] = field(init=False, repr=False)
    _connections: int = 0
    _open_connections: int = 0
    _total_requests: int = 0

    def __post_init__(self) -> None:
        self._requests = deque(maxlen=self.max_requests)

    def connection_opened(self) -> int:
        """Count an accepted TCP connection; returns its id (1-based)."""
        with self._lock:
            self._connections += 1
            self._open_connections += 1
            return self._connections

    def uncount_connection(self) -> None:
        """Take back a connection that turned out to carry only control-API calls."""
        with self._lock:
            self._connections -= 1

    def recount_connection(self) -> None:
        with self._lock:
            self._connections += 1

    def connection_closed(self) -> None:
        with self._lock:
            self._open_connections -= 1

    def next_seq(self) -> int:
        with self._lock:
            self._total_requests += 1
            return self._total_requests

    def add(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def connections(self) -> int:
        """Accepted TCP connections since start or the last reset."""
        with self._lock:
            return self._connections

    @property
    def open_connections(self) -> int:
        with self._lock:
            return self._open_connections

    @property
    def total_requests(self) -> int:
        with self._lock:
            return self._total_requests

    def reset(self) -> None:
        """Forget requests and zero the counters (open connections stay open and counted as open)."""
        with self._lock:
            self._requests.clear()
            self._connections = 0
            self._total_requests = 0
