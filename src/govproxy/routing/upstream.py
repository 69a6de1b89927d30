"""Sending one attempt upstream with httpx: pooled, streaming, failures classified.

:meth:`UpstreamClient.send` returns an :class:`~govproxy.routing.failover.Outcome` as soon
as the response headers arrive, with the body left unread, so the caller can start
streaming to the client immediately — or close it and fail over, having sent nothing.
Transport errors become outcome kinds rather than exceptions, because for the failover
driver a refused connection is an ordinary result, not a crash. Error text is reduced to
the exception type: httpx messages can contain the URL, and some APIs put keys in it.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import httpx

from govproxy.routing.failover import Outcome, OutcomeKind

HeaderItems = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(slots=True)
class UpstreamResponse:
    """A response whose headers are in and whose body is still on the wire."""

    status: int
    headers: httpx.Headers
    _response: httpx.Response

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives (raw bytes, not decompressed: the client decodes it)."""
        return self._response.aiter_raw()

    async def aread(self) -> bytes:
        chunks = [c async for c in self._response.aiter_raw()]
        return b"".join(chunks)

    async def aclose(self) -> None:
        await self._response.aclose()


class UpstreamClient:
    """One pooled async HTTP client for all upstream attempts of a proxy instance."""

    def __init__(
        self,
        *,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 300.0,
        max_connections: int = 200,
        verify: ssl.SSLContext | str | bool = True,
        http2: bool = False,
    ) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=connect_timeout_s, read=read_timeout_s, write=read_timeout_s, pool=connect_timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            verify=verify,
            http2=http2,
            follow_redirects=False,
            trust_env=False,  # never route upstream calls back through a proxy from the environment
        )

    async def send(self, method: str, url: str, headers: HeaderItems, content: bytes | None = None) -> Outcome:
        """Send and wait for headers; never raises for network failures."""
        try:
            request = self._client.build_request(method, url, headers=headers, content=content)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            return Outcome(OutcomeKind.ERROR, error=type(exc).__name__)
        try:
            response = await self._client.send(request, stream=True)
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Outcome(OutcomeKind.TIMEOUT, error=type(exc).__name__)
        except httpx.TimeoutException as exc:
            return Outcome(OutcomeKind.TIMEOUT, error=type(exc).__name__)
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            # RemoteProtocolError: the server closed the connection before a full status line.
            return Outcome(OutcomeKind.CONNECT_ERROR, error=type(exc).__name__)
        except httpx.TransportError as exc:
            return Outcome(OutcomeKind.CONNECT_ERROR, error=type(exc).__name__)
        upstream = UpstreamResponse(response.status_code, response.headers, response)
        return Outcome(
            OutcomeKind.RESPONSE,
            status=response.status_code,
            headers=response.headers,
            response=upstream,
            aclose=upstream.aclose,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
