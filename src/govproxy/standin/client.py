"""``StandinClient``: drive a stand-in in another process over its ``/_standin`` control API.

Mirrors the observation and control methods of :class:`StandinServer`, so a test can be
written once and pointed at either an in-process server or a subprocess (the demo).
Control calls use a fresh connection each time and are not counted by the stand-in.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from govproxy.standin.faults import Fault, FaultKind
from govproxy.standin.recording import RecordedRequest


class StandinClient:
    def __init__(self, url: str, *, ca_file: str | Path | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self._verify = verify
        self._timeout = timeout

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        with httpx.Client(verify=self._verify, timeout=self._timeout, trust_env=False) as c:
            r = c.request(method, self.url + path, json=json)
        if r.status_code >= 400:
            raise RuntimeError(f"stand-in control {method} {path} failed: {r.status_code} {r.text}")
        return r.json()

    def health(self) -> bool:
        return bool(self._call("GET", "/_standin/health").get("ok"))

    @property
    def requests(self) -> list[RecordedRequest]:
        return [RecordedRequest.from_wire(r) for r in self._call("GET", "/_standin/requests")["requests"]]

    @property
    def connections(self) -> int:
        return int(self._call("GET", "/_standin/stats")["connections"])

    def stats(self) -> dict[str, int]:
        return dict(self._call("GET", "/_standin/stats"))

    def reset(self, *, faults: bool = True, options: bool = True) -> None:
        self._call("POST", "/_standin/reset", {"faults": faults, "options": options})

    def set_fault(self, kind: FaultKind | str = FaultKind.STATUS, **fields: Any) -> int:
        fault = Fault.model_validate({"kind": kind, **fields})
        return int(self._call("POST", "/_standin/faults", fault.model_dump(mode="json", exclude_none=True))["id"])

    def clear_fault(self, fault_id: int | None = None) -> None:
        self._call("DELETE", "/_standin/faults" if fault_id is None else f"/_standin/faults/{fault_id}")

    def configure(self, **options: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/_standin/config", options))
