"""The ``opa`` engine: a real OPA server through its REST Data API.

``POST {opa_url}/v1/data/{decision_path}`` with ``{"input": ...}``; OPA answers
``{"result": ...}``, or ``{}`` (no ``result``) when the decision is undefined, or an
error body ``{"code": ..., "message": ...}`` with a 4xx/5xx status. Connections are
pooled (one keep-alive client for async callers, one for sync callers) and every call
carries the per-decision deadline.
"""

from __future__ import annotations

import threading
import time

import json
from pathlib import Path
from typing import Any

import httpx

from govproxy.policy.engine import PolicyEngineError
from govproxy.policy.source import PolicySourceError, load_source


class OpaEngine:
    name = "opa"

    def __init__(self, opa_url: str, decision_path: str, *, policy_dir: str | Path | None = None,
                 max_connections: int = 16) -> None:
        self.url = f"{opa_url.rstrip('/')}/v1/data/{decision_path.strip('/')}"
        package = decision_path.strip("/").rsplit("/", 1)[0]
        self._ignore_url = f"{opa_url.rstrip('/')}/v1/data/{package}/cache_ignore"
        self._cache_ignore: tuple[str, ...] | None = None
        self._ignore_fetch: threading.Thread | None = None
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._async: httpx.AsyncClient | None = None
        self._async_loop: Any = None
        self._limits = limits
        self._sync = httpx.Client(limits=limits, trust_env=False)
        # OPA serves the same directory as a bundle (opa/README.md); its hash identifies
        # the policy set in audit records. Unknown when the directory is not local.
        self._bundle_hash = ""
        if policy_dir is not None:
            try:
                self._bundle_hash = load_source(policy_dir).bundle_hash
            except PolicySourceError:
                self._bundle_hash = ""

    @property
    def bundle_hash(self) -> str:
        return self._bundle_hash

    @property
    def cache_ignore(self) -> tuple[str, ...]:
        """The policy set's list of input fields it does not read, asked of the server.

        Never asked on the request path: a background thread fetches it (and retries while
        OPA does not answer); until then the conservative default applies.
        """
        from govproxy.policy.embedded import DEFAULT_CACHE_IGNORE

        if self._cache_ignore is not None:
            return self._cache_ignore
        if self._ignore_fetch is None or not self._ignore_fetch.is_alive():
            self._ignore_fetch = threading.Thread(target=self._fetch_cache_ignore, name="govproxy-opa-cache-ignore", daemon=True)
            self._ignore_fetch.start()
        return DEFAULT_CACHE_IGNORE

    def _fetch_cache_ignore(self) -> None:
        from govproxy.policy.embedded import DEFAULT_CACHE_IGNORE, valid_cache_ignore

        for attempt in range(60):
            try:
                resp = self._sync.post(self._ignore_url, content=b"{}", timeout=1.0, headers={"content-type": "application/json"})
                value = resp.json().get("result") if resp.status_code == 200 else None
            except RuntimeError:
                return  # the engine was closed meanwhile (its client with it): nothing to learn
            except (httpx.HTTPError, ValueError, AttributeError):
                time.sleep(min(30.0, 0.5 * 2**attempt))
                continue
            self._cache_ignore = valid_cache_ignore(value) or DEFAULT_CACHE_IGNORE
            return

    def _body(self, input_json: bytes) -> bytes:
        return b'{"input":' + input_json + b"}"

    def _result(self, resp: httpx.Response) -> Any:
        if resp.status_code != 200:
            try:
                err = resp.json()
                detail = f"{err.get('code', 'error')}: {err.get('message', '')}".strip()
            except ValueError:
                detail = resp.text[:200]
            raise PolicyEngineError("error", f"OPA returned HTTP {resp.status_code}: {detail}")
        try:
            body = resp.json()
        except ValueError:
            raise PolicyEngineError("malformed", "OPA returned a non-JSON body") from None
        if not isinstance(body, dict):
            raise PolicyEngineError("malformed", "OPA returned a body that is not an object")
        if "result" not in body:
            raise PolicyEngineError("undefined", f"{self.url} is undefined for this input")
        return body["result"]

    @staticmethod
    def _translate(exc: Exception) -> PolicyEngineError:
        if isinstance(exc, httpx.TimeoutException):
            return PolicyEngineError("timeout", f"OPA did not answer in time ({exc.__class__.__name__})")
        return PolicyEngineError("unavailable", f"OPA unreachable ({exc.__class__.__name__})")

    def evaluate_json_sync(self, input_json: bytes, timeout: float) -> Any:
        try:
            resp = self._sync.post(self.url, content=self._body(input_json),
                                   headers={"content-type": "application/json"}, timeout=timeout)
        except httpx.HTTPError as exc:
            raise self._translate(exc) from None
        return self._result(resp)

    async def evaluate_json(self, input_json: bytes, timeout: float) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            # A pooled client belongs to one event loop.
            self._async = httpx.AsyncClient(limits=self._limits, trust_env=False)
            self._async_loop = loop
        try:
            resp = await self._async.post(self.url, content=self._body(input_json),
                                          headers={"content-type": "application/json"}, timeout=timeout)
        except httpx.HTTPError as exc:
            raise self._translate(exc) from None
        return self._result(resp)

    def evaluate_sync(self, input_doc: dict[str, Any], timeout: float) -> Any:
        return self.evaluate_json_sync(json.dumps(input_doc).encode(), timeout)

    async def evaluate(self, input_doc: dict[str, Any], timeout: float) -> Any:
        return await self.evaluate_json(json.dumps(input_doc).encode(), timeout)

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None

    def close(self) -> None:
        self._sync.close()
        # An AsyncClient bound to a finished loop cannot be awaited any more; dropping it
        # closes its sockets with the loop.
        self._async = None
