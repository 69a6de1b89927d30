"""A small HTTP/1.1 server on asyncio streams, built for misbehaving on purpose.

Off-the-shelf servers hide exactly what the stand-in must control: the moment a TCP
connection is accepted (to count it before TLS), the TLS SNI, sending a RST instead of a
response, stopping a chunked body half way, writing non-HTTP bytes. So this layer parses
requests itself (keep-alive, Content-Length and chunked bodies, ``Expect: 100-continue``)
and executes the reply objects the application returns.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, unquote

from govproxy.standin.recording import Recorder

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass
class ConnectionInfo:
    id: int
    tls: bool
    sni: str | None
    client: str | None
    alpn: str | None = None
    requests: int = 0  # requests read so far on this connection
    provider_requests: int = 0  # of which were not control-API calls
    counted: bool = True  # in Recorder.connections (control-only connections are not)


@dataclass
class HttpRequest:
    method: str
    target: str
    version: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    conn: ConnectionInfo
    received_at: float

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None

    @property
    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def query_param(self, name: str) -> str | None:
        values = self.query_params.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    first_byte_delay: float = 0.0
    reset_after_bytes: int | None = None  # fault: send the head and this many body bytes, then RST


@dataclass
class StreamingResponse:
    """A chunked response; each item of ``chunks`` is written (and flushed) separately."""

    status: int
    headers: list[tuple[str, str]]
    chunks: Iterable[bytes] | AsyncIterator[bytes]
    chunk_delay: float = 0.0
    first_byte_delay: float = 0.0
    reset_after_chunks: int | None = None  # fault: RST after this many chunks


@dataclass
class ResetConnection:
    """Abort the TCP connection with RST, before any response byte."""

    first_byte_delay: float = 0.0


@dataclass
class GarbageBytes:
    data: bytes = b"\x16\x03\x01\x00\xffGARBAGE\x00\x01\x02 not http at all\r\n\r\n"
    first_byte_delay: float = 0.0


Reply = Response | StreamingResponse | ResetConnection | GarbageBytes
Handler = Callable[[HttpRequest], Awaitable[Reply]]


class BadRequest(Exception):
    pass


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def _flush_then_rst(writer: asyncio.StreamWriter, limit: float = 2.0) -> None:
    """RST only after what was already written left the process: abort() drops buffered bytes,
    and a mid-stream reset must still deliver exactly the chunks promised before it."""
    await writer.drain()
    deadline = time.monotonic() + limit
    while writer.transport.get_write_buffer_size() > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    _abort_with_rst(writer)


class Http11Server:
    """Serves ``handler`` on one listening socket, plain or TLS, counting connections."""

    def __init__(
        self,
        handler: Handler,
        recorder: Recorder,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        server_header: str = "standin",
    ) -> None:
        self._handler = handler
        self._recorder = recorder
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self._server_header = server_header
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        if ssl_context is not None:
            ssl_context.sni_callback = self._on_sni

    @staticmethod
    def _on_sni(sslobj: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        # Kept on the connection's own SSLObject: nothing outlives a failed handshake.
        sslobj.standin_sni = name  # type: ignore[attr-defined]

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self._host, self._port, limit=MAX_HEAD_BYTES, backlog=1024
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except TimeoutError:
                pass

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn_id = self._recorder.connection_opened()
        cancelled = False
        try:
            await self._serve_connection(conn_id, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        except asyncio.CancelledError:  # server stopping: drop the connection, end the task quietly
            cancelled = True
        finally:
            self._recorder.connection_closed()
            self._tasks.discard(task)
            if cancelled:
                writer.transport.abort()
            elif not writer.transport.is_closing():
                writer.close()

    async def _serve_connection(
        self, conn_id: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        client = f"{peer[0]}:{peer[1]}" if peer else None
        sni: str | None = None
        alpn: str | None = None
        if self._ssl is not None:
            await writer.start_tls(self._ssl, ssl_handshake_timeout=10)
            sslobj = writer.get_extra_info("ssl_object")
            if sslobj is not None:
                sni = getattr(sslobj, "standin_sni", None)
                alpn = sslobj.selected_alpn_protocol()
        conn = ConnectionInfo(id=conn_id, tls=self._ssl is not None, sni=sni, client=client, alpn=alpn)
        if alpn == "h2":
            from govproxy.standin.http2 import H2Connection

            await H2Connection(reader, writer, conn, self._handler, self._server_header).serve()
            return
        while True:
            try:
                request = await self._read_request(reader, writer, conn)
            except BadRequest as exc:
                msg = str(exc).encode()
                writer.write(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                    + f"Content-Length: {len(msg)}\r\n\r\n".encode()
                    + msg
                )
                await writer.drain()
                return
            if request is None:
                return
            conn.requests += 1
            keep_alive = self._wants_keep_alive(request)
            reply = await self._handler(request)
            if request.method == "HEAD" and isinstance(reply, Response):
                reply = _without_body(reply)
            if not await self._send(writer, reply, keep_alive):
                return
            if not keep_alive:
                await writer.drain()
                return

    @staticmethod
    def _wants_keep_alive(request: HttpRequest) -> bool:
        connection = (request.header("connection") or "").lower()
        if request.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: ConnectionInfo
    ) -> HttpRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise BadRequest("incomplete request head") from None
            return None
        except asyncio.LimitOverrunError:
            raise BadRequest("request head too large") from None
        received_at = time.time()
        lines = head[:-4].decode("latin-1").split("\r\n")
        while lines and not lines[0]:
            lines.pop(0)  # tolerate stray CRLF between requests
        if not lines:
            return None
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest("malformed request line")
        method, target, version = parts
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise BadRequest("malformed header line")
            headers.append((name, value.strip()))
        lower = {k.lower(): v for k, v in headers}
        if lower.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(reader, lower)
        path, _, query = target.partition("?")
        if path.startswith(("http://", "https://")):  # absolute-form (proxy-style) target
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        return HttpRequest(
            method=method,
            target=target,
            version=version,
            path=unquote(path),
            query=query,
            headers=headers,
            body=body,
            conn=conn,
            received_at=received_at,
        )

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, lower: dict[str, str]) -> bytes:
        if "chunked" in lower.get("transfer-encoding", "").lower():
            out = bytearray()
            while True:
                size_line = await reader.readuntil(b"\r\n")
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise BadRequest("malformed chunk size") from None
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass  # trailers
                    return bytes(out)
                if len(out) + size > MAX_BODY_BYTES:
                    raise BadRequest("body too large")
                out += await reader.readexactly(size)
                await reader.readexactly(2)
        length = lower.get("content-length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            raise BadRequest("malformed Content-Length") from None
        if n < 0 or n > MAX_BODY_BYTES:
            raise BadRequest("bad Content-Length")
        return await reader.readexactly(n) if n else b""

    def _head(self, status: int, headers: list[tuple[str, str]], extra: list[tuple[str, str]]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        names = {k.lower() for k, _ in headers}
        if "date" not in names:
            lines.append("date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
        if "server" not in names:
            lines.append("server: " + self._server_header)
        lines.extend(f"{k}: {v}" for k, v in headers)
        lines.extend(f"{k}: {v}" for k, v in extra)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(self, writer: asyncio.StreamWriter, reply: Reply, keep_alive: bool) -> bool:
        """Write ``reply``; returns False when the connection must not be reused."""
        if reply.first_byte_delay:
            await asyncio.sleep(reply.first_byte_delay)
        conn_header = [] if keep_alive else [("connection", "close")]
        if isinstance(reply, ResetConnection):
            _abort_with_rst(writer)
            return False
        if isinstance(reply, GarbageBytes):
            writer.write(reply.data)
            await writer.drain()
            writer.close()
            return False
        if isinstance(reply, _HeadOnly):
            writer.write(self._head(reply.status, reply.headers, conn_header))
            await writer.drain()
            return True
        if isinstance(reply, Response):
            head = self._head(reply.status, reply.headers, [("content-length", str(len(reply.body))), *conn_header])
            if reply.reset_after_bytes is not None:
                writer.write(head + reply.body[: reply.reset_after_bytes])
                await _flush_then_rst(writer)
                return False
            writer.write(head + reply.body)
            await writer.drain()
            return True
        writer.write(self._head(reply.status, reply.headers, [("transfer-encoding", "chunked"), *conn_header]))
        sent = 0
        async for chunk in _aiter(reply.chunks):
            if reply.reset_after_chunks is not None and sent >= reply.reset_after_chunks:
                await _flush_then_rst(writer)
                return False
            if sent and reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            if chunk:
                writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += 1
        if reply.reset_after_chunks is not None and sent >= reply.reset_after_chunks:
            await _flush_then_rst(writer)
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


def _without_body(reply: Response) -> Response:
    """A HEAD answer: the GET answer's head (Content-Length included), no body bytes."""
    headers = [*reply.headers, ("content-length", str(len(reply.body)))]
    return _HeadOnly(reply.status, headers, b"", reply.first_byte_delay)


class _HeadOnly(Response):
    pass


async def _aiter(chunks: Iterable[bytes] | AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if hasattr(chunks, "__aiter__"):
        async for c in chunks:
            yield c
    else:
        for c in chunks:
            yield c


def random_id(prefix: str, n: int = 24) -> str:
    return prefix + os.urandom(n).hex()[:n]
