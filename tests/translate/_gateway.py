"""A loopback translating gateway for SDK tests.

It receives an official SDK's request in the client's format, translates it to the
upstream format (recording what would be sent), answers from a canned upstream response
in the upstream's format, and translates that back — bytes on a real socket, so the SDK
parses exactly what the translator produced.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from govproxy.models import ProviderKind
from govproxy.translate import (
    StreamTranslator,
    TranslatedRequest,
    translate_error,
    translate_request,
    translate_response,
    wants_stream_usage,
)

# (status, body bytes) in the upstream's format, given the translated request
Upstream = Callable[[TranslatedRequest], tuple[int, bytes]]


@dataclass
class Gateway:
    client: ProviderKind
    upstream: ProviderKind
    answer: Upstream
    target_model: str = "upstream-model"
    transform: Any = None
    chunk_size: int = 7
    seen: list[TranslatedRequest] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                stream = (
                    bool(body.get("stream")) or "streamGenerateContent" in self.path
                )
                tr = translate_request(
                    body,
                    gw.client,
                    gw.upstream,
                    target_model=gw.target_model,
                    stream=stream,
                )
                gw.seen.append(tr)
                status, payload = gw.answer(tr)
                if status != 200:
                    status, err = translate_error(
                        status, json.loads(payload), gw.upstream, gw.client
                    )
                    self._send(status, "application/json", json.dumps(err).encode())
                elif stream:
                    st = StreamTranslator(
                        gw.upstream,
                        gw.client,
                        requested_model=body.get("model", "gemini-requested"),
                        text_transform_factory=gw.transform,
                        include_usage=wants_stream_usage(body),
                    )
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.end_headers()
                    for i in range(0, len(payload), gw.chunk_size):
                        self.wfile.write(st.feed(payload[i : i + gw.chunk_size]))
                        self.wfile.flush()
                    self.wfile.write(st.finish())
                else:
                    out = translate_response(
                        json.loads(payload),
                        gw.upstream,
                        gw.client,
                        requested_model=body.get("model", ""),
                    )
                    self._send(200, "application/json", json.dumps(out).encode())

            def _send(self, status: int, ctype: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
