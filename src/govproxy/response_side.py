"""What happens to a response on its way back: translate to the caller's format, restore pseudonyms.

Built by the pipeline with the request's plan, applied by whichever transport forwarded
it (mitmproxy directly, or the failover relay), so both paths give identical bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from govproxy.dlp import PseudonymVault, StreamRestorer
from govproxy.models import EndpointKind, ProviderKind
from govproxy.responses_stream import ResponsesStreamRestorer
from govproxy.translate import StreamTranslator, extract_usage, translate_error, translate_response
from govproxy.translate.errors import TranslationError

_CHAT = frozenset({EndpointKind.CHAT, EndpointKind.MESSAGES, EndpointKind.GENERATE_CONTENT})


@dataclass(slots=True)
class ResponseSide:
    client_kind: ProviderKind
    endpoint: EndpointKind
    requested_model: str
    vault: PseudonymVault | None = None
    upstream_kind: ProviderKind | None = None  # set once the target is known (failover may change it)
    translated: bool = False
    include_usage: bool = False  # the OpenAI-format client asked for the final usage chunk

    @property
    def restoring(self) -> bool:
        return self.vault is not None and len(self.vault) > 0

    def needs_work(self) -> bool:
        return self.translated or self.restoring

    # --- streaming ------------------------------------------------------------------------

    def stream_transformer(self) -> StreamHandle | None:
        """A chunk transformer for an SSE body, or None to pass bytes through untouched."""
        if not self.needs_work():
            return None
        up = self.upstream_kind or self.client_kind
        if self.endpoint in _CHAT:
            vault = self.vault
            texts = (lambda: StreamRestorer(vault)) if self.restoring else None  # type: ignore[arg-type]
            # Tool-call arguments stream as JSON text: restored values must be JSON-escaped there.
            args = (lambda: StreamRestorer(vault, json_escape=True)) if self.restoring else None  # type: ignore[arg-type]
            try:
                tr = StreamTranslator(
                    up, self.client_kind, requested_model=self.requested_model, text_transform_factory=texts,
                    arguments_transform_factory=args, include_usage=self.include_usage,
                )
            except TranslationError:
                tr = None
            if tr is not None:
                return StreamHandle(tr.feed, tr.finish, lambda: (tr.usage.input_tokens, tr.usage.output_tokens) if tr.usage else None)
        if self.restoring and not self.translated:
            if self.endpoint == EndpointKind.RESPONSES:
                rs = ResponsesStreamRestorer(self.vault)  # type: ignore[arg-type]
                return StreamHandle(rs.feed, rs.finish, rs.usage)
            return StreamHandle(*_event_restorer(self.vault))  # type: ignore[arg-type]
        return None

    # --- whole bodies ---------------------------------------------------------------------

    def transform_body(self, status: int, body: bytes) -> bytes | None:
        """New bytes for a buffered JSON response, or None to leave it alone."""
        if not self.needs_work() or not body:
            return None
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        up = self.upstream_kind or self.client_kind
        if self.translated:
            try:
                if status >= 400:
                    _, obj = translate_error(status, obj, up, self.client_kind)
                elif isinstance(obj, dict):
                    obj = translate_response(obj, up, self.client_kind, requested_model=self.requested_model)
            except TranslationError:
                pass
        if self.restoring and status < 400:
            obj = self.vault.restore_json(obj)  # type: ignore[union-attr]
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

    def usage_of(self, body: bytes) -> tuple[int, int] | None:
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        try:
            return extract_usage(obj, self.upstream_kind or self.client_kind)
        except Exception:  # usage is best effort; a shape we do not know is not an error
            return None


@dataclass(slots=True)
class StreamHandle:
    feed: Callable[[bytes], bytes]
    finish: Callable[[], bytes]
    usage: Callable[[], tuple[int, int] | None]  # (input, output) tokens, once the stream reported them

    def __call__(self, chunk: bytes) -> list[bytes]:
        """mitmproxy's ``response.stream`` protocol: b"" marks the end of the stream.

        Returns a list, never a bare b"": mitmproxy would send an empty chunk, which in
        HTTP/1.1 chunked encoding is the end-of-body marker and cuts the stream short.
        """
        out = self.feed(chunk) if chunk else self.finish()
        return [out] if out else []


def _event_restorer(vault: PseudonymVault) -> tuple[Callable[[bytes], bytes], Callable[[], bytes], Callable[[], None]]:
    """Restore placeholders inside each SSE event of a format we do not translate (Responses API).

    Events are rewritten whole (JSON strings restored), so a placeholder split across two
    events is not restored; chat formats use the channel-aware translator instead.
    """
    buf = bytearray()

    def rewrite(event: bytes) -> bytes:
        out = []
        for line in event.split(b"\n"):
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                try:
                    obj = json.loads(payload)
                except ValueError:
                    out.append(line)
                    continue
                out.append(b"data: " + json.dumps(vault.restore_json(obj), ensure_ascii=False).encode())
            else:
                out.append(line)
        return b"\n".join(out)

    def feed(chunk: bytes) -> bytes:
        buf.extend(chunk.replace(b"\r\n", b"\n"))
        out = bytearray()
        while (i := buf.find(b"\n\n")) >= 0:
            out += rewrite(bytes(buf[:i])) + b"\n\n"
            del buf[: i + 2]
        return bytes(out)

    def finish() -> bytes:
        rest = bytes(buf)
        buf.clear()
        return rewrite(rest) if rest else b""

    return feed, finish, lambda: None
