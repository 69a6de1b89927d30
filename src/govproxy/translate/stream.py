"""Incremental SSE translation between API formats, with the text-transform seam.

Per upstream chunk: parse complete SSE events → decode to neutral events → run text
channels through their transforms → encode in the client's dialect. Nothing is held
except an unfinished SSE line, text a transform holds back, and (for Gemini clients) a
tool call's arguments, which Gemini can only express whole.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from govproxy.models import ProviderKind
from govproxy.translate.errors import TranslationError
from govproxy.translate.events import (
    BlockStart,
    BlockStop,
    Delta,
    End,
    Event,
    StreamError,
)
from govproxy.translate.ir import Usage
from govproxy.translate.kinds import Family, family
from govproxy.translate.sse import SSEEvent, SSEParser, encode_raw
from govproxy.translate.stream_anthropic import (
    AnthropicDecoder,
    AnthropicEncoder,
    AnthropicRewriter,
)
from govproxy.translate.stream_gemini import (
    GeminiDecoder,
    GeminiEncoder,
    GeminiRewriter,
)
from govproxy.translate.stream_openai import (
    OpenAIDecoder,
    OpenAIEncoder,
    OpenAIRewriter,
)
from govproxy.translate.transform import TextTransform, TransformFactory


class _Decoder(Protocol):
    usage: Usage | None

    def decode(self, ev: SSEEvent) -> list[Event]: ...

    def finish(self) -> list[Event]: ...


class _Encoder(Protocol):
    def encode(self, e: Event) -> bytes: ...


class _Rewriter(Protocol):
    usage: Usage | None

    def rewrite(self, ev: SSEEvent) -> bytes: ...

    def finish(self) -> bytes: ...


_DECODERS: dict[Family, type] = {
    Family.OPENAI: OpenAIDecoder,
    Family.ANTHROPIC: AnthropicDecoder,
    Family.GEMINI: GeminiDecoder,
}
_REWRITERS: dict[Family, type] = {
    Family.OPENAI: OpenAIRewriter,
    Family.ANTHROPIC: AnthropicRewriter,
    Family.GEMINI: GeminiRewriter,
}


def _encoder(fam: Family, model: str, include_usage: bool) -> _Encoder:
    if fam is Family.OPENAI:
        return OpenAIEncoder(model, include_usage)
    if fam is Family.ANTHROPIC:
        return AnthropicEncoder(model)
    return GeminiEncoder(model)


class _NullParser(SSEParser):
    """Stands in for the parser once a body turned out not to be SSE."""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return []

    def finish(self) -> list[SSEEvent]:
        return []


class _Channels:
    """One transform per content block; flushed into a last delta before the block closes."""

    __slots__ = ("args_factory", "factory", "open")

    def __init__(
        self, factory: TransformFactory, args_factory: TransformFactory
    ) -> None:
        self.factory = factory
        self.args_factory = args_factory
        self.open: dict[int, TextTransform] = {}

    def apply(self, events: list[Event]) -> list[Event]:
        out: list[Event] = []
        for e in events:
            if isinstance(e, Delta):
                t = self.open.get(e.index)
                if t is None:
                    t = self.open[e.index] = self.factory()
                text = t.feed(e.text)
                if text:
                    out.append(Delta(e.index, text))
                continue
            if isinstance(e, BlockStart):
                make = self.args_factory if e.is_tool else self.factory
                self.open[e.index] = make()
            elif isinstance(e, BlockStop):
                t = self.open.pop(e.index, None)
                rest = t.flush() if t is not None else ""
                if rest:
                    out.append(Delta(e.index, rest))
            elif isinstance(e, (End, StreamError)):
                for index in list(self.open):
                    rest = self.open.pop(index).flush()
                    if rest:
                        out.append(Delta(index, rest))
            out.append(e)
        return out


class StreamTranslator:
    """Translate an upstream SSE response body into the client's SSE dialect, chunk by chunk.

    ``upstream`` is the format the target provider streams, ``client`` the format the app
    called. With the same family on both sides nothing is translated: without a transform
    the bytes pass through untouched (parsed only to read usage); with one, only text
    deltas are rewritten.

    ``include_usage`` concerns OpenAI-format clients and the usage-only final chunk (empty
    ``choices``) that they receive only if they asked for it: pass
    ``wants_stream_usage(original_request_body)``. ``True`` emits it; ``False`` also strips
    it from a same-family upstream (use this when :func:`request_stream_usage` asked the
    upstream for usage on the client's behalf); ``None`` leaves a same-family stream as the
    upstream sent it and emits no usage chunk when translating.

    ``arguments_transform_factory`` (default: the text one) is used for tool-call argument
    channels, whose text is JSON: a restored value containing quotes must be JSON-escaped
    there (e.g. ``lambda: StreamRestorer(vault, json_escape=True)``).

    Feed it only a successful (2xx) ``text/event-stream`` body; error responses go
    through :func:`translate_error`.
    """

    def __init__(
        self,
        upstream: ProviderKind,
        client: ProviderKind,
        *,
        requested_model: str,
        text_transform_factory: TransformFactory | None = None,
        arguments_transform_factory: TransformFactory | None = None,
        include_usage: bool | None = None,
    ) -> None:
        self._parser = SSEParser()
        up, down = family(upstream), family(client)
        self.passthrough = up is down
        # Tool-call arguments stream as JSON text: a transform may need to know (escaping).
        args_factory = arguments_transform_factory or text_transform_factory
        strip_usage = up is Family.OPENAI and include_usage is False
        self._raw = (
            self.passthrough and text_transform_factory is None and not strip_usage
        )
        self._rewriter: _Rewriter | None = None
        self._decoder: _Decoder | None = None
        self._channels: _Channels | None = None
        if self.passthrough:
            if up is Family.OPENAI:
                self._rewriter = OpenAIRewriter(
                    text_transform_factory, args_factory, strip_usage
                )
            else:
                self._rewriter = _REWRITERS[up](text_transform_factory, args_factory)
        else:
            self._decoder = _DECODERS[up]()
            self._encoder = _encoder(down, requested_model, bool(include_usage))
            if text_transform_factory is not None:
                self._channels = _Channels(
                    text_transform_factory, args_factory or text_transform_factory
                )
        self._finished = False
        self.skipped_events = (
            0  # upstream events that could not be decoded (for metrics)
        )
        # Gemini without alt=sse streams one JSON array, not SSE: pass it through as is.
        self._sniff = self.passthrough and up is Family.GEMINI and not self._raw

    @property
    def usage(self) -> Usage | None:
        """The latest usage the upstream reported (final once the stream ended), or None."""
        if self._rewriter is not None:
            return self._rewriter.usage
        assert self._decoder is not None
        return self._decoder.usage

    def feed(self, chunk: bytes) -> bytes:
        if self._sniff:
            head = chunk.lstrip()
            if not head:
                return chunk
            self._sniff = False
            if head[:1] == b"[":
                self._raw, self._parser = True, _NullParser()
                return chunk
        events = self._parser.feed(chunk)
        if self._rewriter is not None:
            if self._raw:
                for ev in events:
                    self._rewrite(ev)
                return chunk
            return b"".join([self._rewrite(ev) for ev in events])
        return self._translate(events, final=False)

    def finish(self) -> bytes:
        """End of the upstream body: flush held text and close the client's stream properly."""
        if self._finished:
            return b""
        self._finished = True
        # An event left without its blank line means the upstream connection was cut:
        # deliver it if it is whole, drop it if it was truncated mid-JSON.
        events = [ev for ev in self._parser.finish() if _is_whole(ev)]
        if self._rewriter is not None:
            if self._raw:
                for ev in events:
                    self._rewrite(ev)
                return b""
            return (
                b"".join([self._rewrite(ev) for ev in events]) + self._rewriter.finish()
            )
        return self._translate(events, final=True)

    def _rewrite(self, ev: SSEEvent) -> bytes:
        assert self._rewriter is not None
        try:
            return self._rewriter.rewrite(ev)
        except (AttributeError, TypeError, KeyError, ValueError):
            self.skipped_events += 1
            return encode_raw(ev)  # an event we cannot read is forwarded as it came

    def _translate(self, events: list[SSEEvent], final: bool) -> bytes:
        decoder = self._decoder
        assert decoder is not None
        neutral: list[Event] = []
        for ev in events:
            try:
                neutral.extend(decoder.decode(ev))
            except (TranslationError, AttributeError, TypeError, KeyError, ValueError):
                # One malformed upstream event must not kill the client's stream.
                self.skipped_events += 1
        if final:
            neutral.extend(decoder.finish())
        if self._channels is not None:
            neutral = self._channels.apply(neutral)
        encode = self._encoder.encode
        return b"".join([encode(e) for e in neutral])


def request_stream_usage(body: dict[str, Any], kind: ProviderKind) -> dict[str, Any]:
    """A copy of an OpenAI-family streaming request that asks for the final usage chunk,
    so the router can bill streams whose client did not ask (other formats always send
    usage). Pair it with ``StreamTranslator(..., include_usage=wants_stream_usage(body))``."""
    if family(kind) is not Family.OPENAI or not body.get("stream"):
        return body
    opts = body.get("stream_options")
    return {
        **body,
        "stream_options": {
            **(opts if isinstance(opts, dict) else {}),
            "include_usage": True,
        },
    }


def wants_stream_usage(request_body: dict[str, Any]) -> bool:
    """Did an OpenAI-format caller ask for the final usage chunk (``stream_options.include_usage``)?"""
    opts = request_body.get("stream_options")
    return bool(isinstance(opts, dict) and opts.get("include_usage"))


def _is_whole(ev: SSEEvent) -> bool:
    if ev.data is None or ev.data.strip() == "[DONE]":
        return True
    try:
        json.loads(ev.data)
    except ValueError:
        return False
    return True
