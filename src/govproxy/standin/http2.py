"""HTTP/2 for the stand-in (opt-in via ALPN ``h2``), built on the ``h2`` state machine.

Real providers speak HTTP/2 to clients that offer it, and mitmproxy will use it upstream
when the server agrees; this lets tests cover that path. The same reply objects as for
HTTP/1.1 are executed, with HTTP/2 meanings: a mid-stream reset is an ``RST_STREAM``
for that stream (the connection and its other streams live on), a reset before the
response aborts the TCP connection, flow control is honoured for large and streamed bodies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from govproxy.standin.http11 import (
    ConnectionInfo,
    GarbageBytes,
    HttpRequest,
    Reply,
    ResetConnection,
    Response,
    StreamingResponse,
    _abort_with_rst,
    _aiter,
)

Handler = Callable[[HttpRequest], Awaitable[Reply]]
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"})


class _Stream:
    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.headers = headers
        self.body = bytearray()
        self.received_at = time.time()


class H2Connection:
    """Serves one HTTP/2 connection until the peer closes it or the server stops."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn: ConnectionInfo,
        handler: Handler,
        server_header: str,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._conn_info = conn
        self._handler = handler
        self._server_header = server_header
        self._h2 = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8", validate_inbound_headers=True)
        )
        self._streams: dict[int, _Stream] = {}
        self._window_open: dict[int, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._dead = False

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and not self._writer.transport.is_closing():
            self._writer.write(data)

    async def serve(self) -> None:
        self._h2.initiate_connection()
        self._flush()
        try:
            while not self._dead:
                data = await self._reader.read(65536)
                if not data:
                    break
                try:
                    events = self._h2.receive_data(data)
                except h2.exceptions.ProtocolError:
                    self._flush()
                    break
                for event in events:
                    self._on_event(event)
                self._flush()
                await self._writer.drain()
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            headers = [(str(k), str(v)) for k, v in (event.headers or [])]
            self._streams[event.stream_id] = _Stream(headers)
            if event.stream_ended is not None:
                self._dispatch(event.stream_id)
        elif isinstance(event, h2.events.DataReceived):
            stream = self._streams.get(event.stream_id)
            if stream is not None and event.data:
                stream.body += event.data
            self._h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            if event.stream_id in self._streams:
                self._dispatch(event.stream_id)
        elif isinstance(event, h2.events.WindowUpdated):
            if event.stream_id == 0:
                for ev in self._window_open.values():
                    ev.set()
            elif event.stream_id in self._window_open:
                self._window_open[event.stream_id].set()
        elif isinstance(event, h2.events.StreamReset):
            self._streams.pop(event.stream_id, None)
            if event.stream_id in self._window_open:
                self._window_open[event.stream_id].set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._dead = True

    def _dispatch(self, stream_id: int) -> None:
        task = asyncio.get_running_loop().create_task(self._handle(stream_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _request(self, stream_id: int, stream: _Stream) -> HttpRequest:
        pseudo = {k: v for k, v in stream.headers if k.startswith(":")}
        headers = [(k, v) for k, v in stream.headers if not k.startswith(":")]
        if ":authority" in pseudo and not any(k == "host" for k, _ in headers):
            headers.insert(0, ("host", pseudo[":authority"]))
        target = pseudo.get(":path", "/")
        path, _, query = target.partition("?")
        return HttpRequest(
            method=pseudo.get(":method", "GET"),
            target=target,
            version="HTTP/2",
            path=unquote(path),
            query=query,
            headers=headers,
            body=bytes(stream.body),
            conn=self._conn_info,
            received_at=stream.received_at,
        )

    async def _handle(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        self._conn_info.requests += 1
        reply = await self._handler(self._request(stream_id, stream))
        try:
            await self._send(stream_id, reply)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, ConnectionError):
            pass
        finally:
            self._streams.pop(stream_id, None)
            self._window_open.pop(stream_id, None)

    def _response_headers(self, status: int, headers: list[tuple[str, str]], extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
        out = [(":status", str(status))]
        names = {k.lower() for k, _ in headers}
        if "date" not in names:
            out.append(("date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())))
        if "server" not in names:
            out.append(("server", self._server_header))
        out += [(k.lower(), v) for k, v in [*headers, *extra] if k.lower() not in _HOP_BY_HOP]
        return out

    async def _send_data(self, stream_id: int, data: bytes) -> None:
        while data:
            window = min(self._h2.local_flow_control_window(stream_id), self._h2.max_outbound_frame_size)
            if window <= 0:
                ev = self._window_open.setdefault(stream_id, asyncio.Event())
                ev.clear()
                self._flush()
                await ev.wait()
                if stream_id not in self._streams:
                    return
                continue
            self._h2.send_data(stream_id, data[:window])
            data = data[window:]
            self._flush()
            await self._writer.drain()

    async def _send(self, stream_id: int, reply: Reply) -> None:
        if reply.first_byte_delay:
            await asyncio.sleep(reply.first_byte_delay)
        if isinstance(reply, ResetConnection):
            _abort_with_rst(self._writer)
            self._dead = True
            return
        if isinstance(reply, GarbageBytes):
            self._writer.write(reply.data)
            self._writer.close()
            self._dead = True
            return
        if isinstance(reply, Response):
            extra = [("content-length", str(len(reply.body)))]
            self._h2.send_headers(stream_id, self._response_headers(reply.status, reply.headers, extra))
            if reply.reset_after_bytes is not None:
                await self._send_data(stream_id, reply.body[: reply.reset_after_bytes])
                self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
                self._flush()
                return
            await self._send_data(stream_id, reply.body)
            self._h2.end_stream(stream_id)
            self._flush()
            return
        assert isinstance(reply, StreamingResponse)
        self._h2.send_headers(stream_id, self._response_headers(reply.status, reply.headers, []))
        self._flush()
        sent = 0
        async for chunk in _aiter(reply.chunks):
            if reply.reset_after_chunks is not None and sent >= reply.reset_after_chunks:
                break
            if sent and reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            if chunk:
                await self._send_data(stream_id, chunk)
                sent += 1
        if reply.reset_after_chunks is not None and sent >= reply.reset_after_chunks:
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
        else:
            self._h2.end_stream(stream_id)
        self._flush()
        await self._writer.drain()
