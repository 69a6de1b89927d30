"""Same-request failover, streaming included, behind mitmproxy.

mitmproxy sends each request to exactly one upstream and cannot retry it elsewhere or
stream a response an addon produced. When the policy allows alternatives, the addon
points the flow at this loopback relay instead; the relay sends it with the router's
failover chain (connection errors, timeouts, 429 and 5xx move on to the next allowed
candidate, Retry-After honoured) and streams back the first response worth delivering.
mitmproxy then applies the usual response side (translation, pseudonym restore) to it,
told by a header which candidate answered. Requests with a single target skip the relay
and keep mitmproxy's byte-exact forwarding.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govproxy.pipeline import Forward, Plan
from govproxy.providers.errors import error_response

if TYPE_CHECKING:
    from govproxy.routing import Outcome, RankedCandidate, Router
    from govproxy.routing.upstream import UpstreamClient

log = logging.getLogger("govproxy.relay")

UPSTREAM_HEADER = "x-govproxy-upstream"
FAILOVERS_HEADER = "x-govproxy-failovers"
RELAY_PATH = "/govproxy-relay/"
_DROP_REQUEST = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade", "content-encoding"})
_DROP_RESPONSE = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass(slots=True)
class RelayJob:
    plan: Plan
    method: str
    headers: list[tuple[str, str]]
    body: bytes  # the decoded original body, for targets that keep it
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Relay:
    def __init__(self, router: Router, client: UpstreamClient) -> None:
        self.router = router
        self.client = client
        self._jobs: dict[str, RelayJob] = {}
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.client.aclose()

    def register(self, job: RelayJob) -> str:
        token = secrets.token_urlsafe(18)
        self._jobs[token] = job
        return RELAY_PATH + token

    def forget(self, path: str) -> None:
        self._jobs.pop(path.removeprefix(RELAY_PATH), None)

    # --- the loopback HTTP/1.1 side (mitmproxy is the only client) -----------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length:
                    await reader.readexactly(length)  # the job holds the real body
                job = self._jobs.pop(target.removeprefix(RELAY_PATH), None)
                if job is None:
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                await self._relay(job, writer)
        except Exception:
            log.exception("govproxy relay connection failed")
        finally:
            writer.close()

    async def _relay(self, job: RelayJob, writer: asyncio.StreamWriter) -> None:
        plan = job.plan
        assert plan.forward is not None and plan.llm is not None
        targets = {f.provider: f for f in [plan.forward, *plan.alternatives]}
        ranked = self.router.rank(
            list(targets), requested_model=plan.llm.model, token_estimate=plan.llm.token_estimate, preferred=plan.forward.provider,
        )
        by_name = {f.provider: f for f in targets.values()}

        async def send(cand: RankedCandidate) -> Outcome:
            fwd = by_name[cand.name]
            return await self.client.send(job.method, fwd.url, self._headers(job, fwd), fwd.body if fwd.body is not None else job.body)

        final = await self.router.attempt_chain(ranked, send, request_id=plan.request_id)
        if final.outcome is None or final.outcome.response is None:
            kind = plan.llm.provider_kind
            msg = f"govproxy: no allowed provider could answer ({len(final.attempts)} attempts)"
            err = error_response(kind, final.client_status, msg, "upstream_unavailable")
            headers = dict(err.headers)
            if final.retry_after_s:
                headers["retry-after"] = str(final.retry_after_s)
            headers[FAILOVERS_HEADER] = str(final.failovers)
            writer.write(_head(err.status, list(headers.items()), len(err.body)) + err.body)
            await writer.drain()
            return
        resp = final.outcome.response
        assert final.candidate is not None
        headers = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in _DROP_RESPONSE]
        headers += [(UPSTREAM_HEADER, final.candidate.name), (FAILOVERS_HEADER, str(final.failovers)), ("transfer-encoding", "chunked")]
        writer.write(_head(resp.status, headers, None))
        try:
            async for chunk in resp.aiter_bytes():
                if chunk:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except Exception:
            # Streaming had started: stay on this target (no failover mid-stream); count it.
            self.router.report_stream_failure(final.candidate.name)
            raise
        finally:
            await resp.aclose()

    @staticmethod
    def _headers(job: RelayJob, fwd: Forward) -> list[tuple[str, str]]:
        remove = set(fwd.remove_headers) | _DROP_REQUEST | {k for k, _ in fwd.set_headers}
        out = [(k, v) for k, v in job.headers if k.lower() not in remove]
        out += list(fwd.set_headers)
        return out


def _head(status: int, headers: list[tuple[str, str]], length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if length is not None:
        lines.append(f"content-length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def make_upstream_client(pins: dict[tuple[str, int], tuple[str, int]], verify: ssl.SSLContext | bool) -> UpstreamClient:
    """The router's pooled client, honouring ``proxy.resolve`` pins like mitmproxy's path does.

    The pin changes only where the TCP connection goes; TLS still presents and verifies
    the original host name, exactly as for the direct path.
    """
    import httpcore
    import httpx

    from govproxy.routing.upstream import UpstreamClient

    class PinnedBackend(httpcore.AsyncNetworkBackend):
        def __init__(self) -> None:
            self.inner = httpcore.AnyIOBackend()

        async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[no-untyped-def]
            host, port = pins.get((host.lower(), port), (host, port))
            return await self.inner.connect_tcp(host, port, timeout=timeout, local_address=local_address, socket_options=socket_options)

        async def connect_unix_socket(self, path, timeout=None, socket_options=None):  # type: ignore[no-untyped-def]
            return await self.inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)

        async def sleep(self, seconds: float) -> None:
            await self.inner.sleep(seconds)

    upstream = UpstreamClient(verify=verify)
    ctx = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
    transport = httpx.AsyncHTTPTransport(verify=ctx)
    transport._pool = httpcore.AsyncConnectionPool(ssl_context=ctx, max_connections=200, network_backend=PinnedBackend())
    old = upstream._client
    upstream._client = httpx.AsyncClient(transport=transport, timeout=old.timeout, follow_redirects=False, trust_env=False)
    upstream._client.headers.clear()  # send the app's headers, not httpx's defaults
    return upstream
