"""``StandinServer``: the stand-in provider, running on its own event loop in a thread.

Tests and benchmarks use it as a context manager; the subprocess entry point
(``python -m govproxy.standin``) runs the same object. One loop in one thread serves all
connections concurrently (streaming responses and hangs do not block other clients).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from govproxy.standin.app import StandinApp
from govproxy.standin.certs import CertBundle
from govproxy.standin.echo import EchoOptions
from govproxy.standin.faults import Fault, FaultKind, FaultTable
from govproxy.standin.http11 import Http11Server
from govproxy.standin.recording import RecordedRequest, Recorder


class StandinServer:
    """A loopback stand-in for OpenAI, Anthropic, Gemini, Azure OpenAI and OpenAI-compatible APIs.

    >>> with StandinServer() as s:            # plain HTTP on 127.0.0.1:<ephemeral>
    ...     s.url                              # 'http://127.0.0.1:PORT'

    ``tls=True`` needs ``certs`` (see :func:`govproxy.standin.certs.make_test_certs`).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        certs: CertBundle | None = None,
        chunk_size: int = 8,
        chunk_delay: float = 0.0,
        require_api_key: bool = True,
        max_recorded: int = 10_000,
        http2: bool = False,
    ) -> None:
        if tls and certs is None:
            raise ValueError("tls=True needs certs=CertBundle(...) (see make_test_certs)")
        if http2 and not tls:
            raise ValueError("http2=True needs tls=True (HTTP/2 is negotiated with ALPN)")
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        if chunk_delay < 0:
            raise ValueError("chunk_delay must be >= 0")
        self.host = host
        self.tls = tls
        self.certs = certs
        self.http2 = http2
        self.options = EchoOptions(chunk_size=chunk_size, chunk_delay=chunk_delay, require_api_key=require_api_key)
        self._initial_options = dataclasses.replace(self.options)
        self.recorder = Recorder(max_requests=max_recorded)
        self.faults = FaultTable()
        self._requested_port = port
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._http: Http11Server | None = None
        self._stopped: asyncio.Event | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Start serving; returns once the socket is listening (errors are raised here)."""
        if self._thread is not None:
            raise RuntimeError("stand-in server already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._main(ready))
            except BaseException as exc:  # noqa: BLE001 - surface startup errors to the caller's thread
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="standin-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    async def _main(self, ready: threading.Event) -> None:
        alpn = ("h2", "http/1.1") if self.http2 else ("http/1.1",)
        ssl_ctx = self.certs.server_context(alpn) if self.tls and self.certs else None
        app = StandinApp(self.options, self.recorder, self.faults)
        self._http = Http11Server(app, self.recorder, host=self.host, port=self._requested_port, ssl_context=ssl_ctx)
        await self._http.start()
        self._port = self._http.port
        self._stopped = asyncio.Event()
        ready.set()
        await self._stopped.wait()
        await self._http.close()

    def stop(self) -> None:
        """Stop serving: close the listener and every open connection (hanging ones included)."""
        if self._thread is None:
            return
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopped.set)
            except RuntimeError:
                pass
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("stand-in server not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``https://127.0.0.1:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def resolve_pins(self, hosts: list[str] | None = None, port: int = 443) -> dict[str, str]:
        """``{"api.openai.com:443": "127.0.0.1:PORT", ...}`` for govproxy's ``proxy.resolve``.

        Sends every built-in provider host (or ``hosts``) to this stand-in, so govproxy
        connects, verifies TLS and sends SNI exactly as for the real host. Wildcard
        patterns (``*.openai.azure.com``) cannot be pinned and are skipped: pass concrete
        names such as ``myres.openai.azure.com``.
        """
        from govproxy.standin.certs import provider_hostnames

        names = hosts if hosts is not None else provider_hostnames()
        return {f"{h}:{port}": f"{self.host}:{self.port}" for h in names if "*" not in h}

    @property
    def ca_file(self) -> Path | None:
        return self.certs.ca_cert if self.certs else None

    # ------------------------------------------------------------ observation

    @property
    def requests(self) -> list[RecordedRequest]:
        """Provider requests received so far (control-API calls excluded), oldest first."""
        return self.recorder.requests

    @property
    def connections(self) -> int:
        """Accepted TCP connections (control-only connections excluded)."""
        return self.recorder.connections

    @property
    def open_connections(self) -> int:
        return self.recorder.open_connections

    def last_request(self) -> RecordedRequest:
        reqs = self.recorder.requests
        if not reqs:
            raise LookupError("the stand-in has received no request")
        return reqs[-1]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``count`` provider requests were recorded; return them.

        For tests whose client returns before the upstream request happened (asynchronous
        proxies, fire-and-forget). Raises TimeoutError naming what was seen instead.
        """
        deadline = time.monotonic() + timeout
        while True:
            reqs = self.recorder.requests
            if len(reqs) >= count:
                return reqs
            if time.monotonic() >= deadline:
                raise TimeoutError(f"stand-in saw {len(reqs)} request(s), expected {count}: {[r.path for r in reqs]}")
            time.sleep(0.005)

    def reset(self, *, faults: bool = True, options: bool = True) -> None:
        """Forget recorded requests and zero the counters; by default also remove all faults
        and restore the options given to the constructor (so a shared server starts each
        test the same way)."""
        self.recorder.reset()
        if faults:
            self.faults.clear()
        if options:
            self.options.restore(self._initial_options)

    # ------------------------------------------------------------ control

    def set_fault(self, kind: FaultKind | str = FaultKind.STATUS, **fields: Any) -> int:
        """Add a fault rule (see :class:`Fault` for fields); returns its id for :meth:`clear_fault`.

        >>> s.set_fault("status", status=429, times=2, path_prefix="/v1/chat")
        >>> s.set_fault("reset_mid_stream", after_chunks=3, model="gpt-4o")
        """
        fault = Fault.model_validate({"kind": kind, **fields})
        return self.faults.add(fault)

    def clear_fault(self, fault_id: int | None = None) -> None:
        """Remove one fault by id, or all of them."""
        if fault_id is None:
            self.faults.clear()
        else:
            self.faults.remove(fault_id)

    def configure(
        self,
        *,
        chunk_size: int | None = None,
        chunk_delay: float | None = None,
        require_api_key: bool | None = None,
        echo_prefix: str | None = None,
        embedding_dimensions: int | None = None,
        accepted_keys: list[str] | None | bool = False,
        latency: float | None = None,
        gzip: bool | None = None,
        strict_headers: bool | None = None,
        honour_max_tokens: bool | None = None,
    ) -> None:
        """Change response knobs at run time (takes effect for the next request).

        ``accepted_keys``: a list makes only those API keys valid (others get the provider's
        invalid-key error); None accepts any non-empty key again; False (default) leaves it.
        ``latency``: seconds before the first byte of every provider response.
        ``gzip``: gzip non-streaming responses for clients sending ``Accept-Encoding: gzip``.
        ``strict_headers``: reject requests lacking headers the real API requires
        (Anthropic's ``anthropic-version``); on by default.
        ``honour_max_tokens``: cut text replies at the request's output-token limit (chars/4)
        and report each provider's "length" stop reason; off by default (full echo).
        """
        if chunk_size is not None:
            if chunk_size < 1:
                raise ValueError("chunk_size must be >= 1")
            self.options.chunk_size = chunk_size
        if chunk_delay is not None:
            if chunk_delay < 0:
                raise ValueError("chunk_delay must be >= 0")
            self.options.chunk_delay = chunk_delay
        if require_api_key is not None:
            self.options.require_api_key = require_api_key
        if echo_prefix is not None:
            self.options.echo_prefix = echo_prefix
        if embedding_dimensions is not None:
            self.options.embedding_dimensions = embedding_dimensions
        if latency is not None:
            if latency < 0:
                raise ValueError("latency must be >= 0")
            self.options.latency = latency
        if gzip is not None:
            self.options.gzip = gzip
        if strict_headers is not None:
            self.options.strict_headers = strict_headers
        if honour_max_tokens is not None:
            self.options.honour_max_tokens = honour_max_tokens
        if accepted_keys is not False:
            self.options.accepted_keys = list(accepted_keys) if isinstance(accepted_keys, list) else None


@contextmanager
def standin_server(**kwargs: Any) -> Iterator[StandinServer]:
    """Context-manager factory: ``with standin_server(tls=True, certs=b) as s: ...``."""
    server = StandinServer(**kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()
