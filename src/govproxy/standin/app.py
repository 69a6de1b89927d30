"""Request dispatch: control API, recording, faults, auth, JSON parsing, endpoint routing.

The order matters and mirrors what a client can observe: every provider request is
recorded first (so a test sees even requests that were then failed on purpose), then a
matching fault takes over, then the provider's own checks (route, key, JSON) run as the
real API would, and only then the endpoint answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from govproxy.standin import anthropic_api, cohere_api, gemini_api, openai_api
from govproxy.standin.call import Call
from govproxy.standin.control import ControlApi
from govproxy.standin.echo import EchoOptions
from govproxy.standin.errors import Family, error_response, stream_error_event
from govproxy.standin.faults import Fault, FaultKind, FaultTable
from govproxy.standin.http11 import (
    GarbageBytes,
    HttpRequest,
    Reply,
    ResetConnection,
    Response,
    StreamingResponse,
)
from govproxy.standin.recording import RecordedRequest, Recorder

EndpointFn = Callable[[Call], Reply]

FOREVER = 10**9


@dataclass
class FaultEffects:
    """How a matched fault changes an otherwise normal answer (faults that replace it return early)."""

    first_byte_delay: float = 0.0
    reset_after_chunks: int | None = None
    stall: tuple[int, float] | None = None  # (after_chunks, seconds)
    stream_error: tuple[int, bytes] | None = None  # (after_chunks, error event bytes)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    family: Family
    handler: EndpointFn
    json_body: bool = True


def _r(method: str, regex: str, family: Family, handler: EndpointFn, json_body: bool = True) -> Route:
    return Route(method, re.compile(regex), family, handler, json_body)


O, A, G, C = Family.OPENAI, Family.ANTHROPIC, Family.GEMINI, Family.COHERE

# Order matters: specific shapes before the generic OpenAI-compatible suffix rules.
ROUTES: tuple[Route, ...] = (
    _r("POST", r"^/v1/messages/count_tokens$", A, anthropic_api.count_tokens),
    _r("POST", r"^/v1/messages$", A, anthropic_api.messages),
    _r("POST", r"^/(?:v1|v1beta)/(?:models|tunedModels)/(?P<model>[^/:]+):generateContent$", G, gemini_api.generate_content),
    _r("POST", r"^/(?:v1|v1beta)/(?:models|tunedModels)/(?P<model>[^/:]+):streamGenerateContent$", G, gemini_api.stream_generate_content),
    _r("POST", r"^/(?:v1|v1beta)/models/(?P<model>[^/:]+):embedContent$", G, gemini_api.embed_content),
    _r("POST", r"^/(?:v1|v1beta)/models/(?P<model>[^/:]+):batchEmbedContents$", G, gemini_api.batch_embed_contents),
    _r("POST", r"^/(?:v1|v1beta)/models/(?P<model>[^/:]+):countTokens$", G, gemini_api.count_tokens),
    _r("POST", r"^/v2/chat$", C, cohere_api.chat),
    _r("POST", r"^/v2/embed$", C, cohere_api.embed),
    _r("GET", r"^/v1beta/models$", G, gemini_api.list_models, json_body=False),
    _r("GET", r"^/v1beta/models/(?P<model>[^/:]+)$", G, gemini_api.get_model, json_body=False),
    _r("POST", r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions$", O, openai_api.chat_completions),
    _r("POST", r"^/openai/deployments/(?P<deployment>[^/]+)/completions$", O, openai_api.completions),
    _r("POST", r"^/openai/deployments/(?P<deployment>[^/]+)/embeddings$", O, openai_api.embeddings),
    _r("POST", r"^(?:/[\w.-]+)*/chat/completions$", O, openai_api.chat_completions),
    _r("POST", r"^(?:/[\w.-]+)*/completions$", O, openai_api.completions),
    _r("POST", r"^(?:/[\w.-]+)*/responses$", O, openai_api.responses),
    _r("POST", r"^(?:/[\w.-]+)*/embeddings$", O, openai_api.embeddings),
    # /v1/models is shared by OpenAI, Anthropic and Gemini v1: the family is chosen from the headers.
    _r("GET", r"^(?:/[\w.-]+)*/models$", O, openai_api.list_models, json_body=False),
    _r("GET", r"^(?:/[\w.-]+)*/models/(?P<model>[^/]+)$", O, openai_api.retrieve_model, json_body=False),
)

_BY_HEADERS: dict[tuple[Family, EndpointFn], EndpointFn] = {
    (Family.ANTHROPIC, openai_api.list_models): anthropic_api.list_models,
    (Family.ANTHROPIC, openai_api.retrieve_model): anthropic_api.retrieve_model,
    (Family.GEMINI, openai_api.list_models): gemini_api.list_models,
    (Family.GEMINI, openai_api.retrieve_model): gemini_api.get_model,
}

_GEMINI_PATH = re.compile(r"^/(?:v1|v1beta)/(?:models|tunedModels)/(?P<model>[^/:]+)(?::|$)")


def guess_family(req: HttpRequest) -> Family:
    """Which provider a request addresses, from its path and headers (for errors on unknown paths)."""
    path = req.path
    if path.startswith("/v1beta") or ":generateContent" in path or ":streamGenerateContent" in path:
        return Family.GEMINI
    if path.startswith("/v1/messages") or req.header("anthropic-version") or req.header("x-api-key"):
        return Family.ANTHROPIC
    if req.header("x-goog-api-key") or req.query_param("key"):
        return Family.GEMINI
    host = (req.conn.sni or req.header("host") or "").lower()
    if "anthropic" in host:
        return Family.ANTHROPIC
    if "googleapis" in host:
        return Family.GEMINI
    if "cohere" in host or path.startswith("/v2/"):
        return Family.COHERE
    return Family.OPENAI


def presented_key(family: Family, req: HttpRequest) -> str | None:
    """The API key the request carries in its family's usual places, or None."""
    auth = (req.header("authorization") or "").strip()
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if family is Family.ANTHROPIC:
        candidates = [req.header("x-api-key"), bearer]
    elif family is Family.GEMINI:
        candidates = [req.header("x-goog-api-key"), req.query_param("key"), bearer]
    else:
        candidates = [bearer, req.header("api-key")]  # api-key: Azure OpenAI
    for c in candidates:
        if c:
            return c.strip()
    return None


def _masked(key: str) -> str:
    return key[:3] + "*" * 4 + key[-2:] if len(key) > 8 else "****"


def _invalid_key_error(family: Family, key: str) -> Response:
    if family is Family.COHERE:
        return error_response(family, 401, "invalid api token")
    if family is Family.ANTHROPIC:
        return error_response(family, 401, "invalid x-api-key")
    if family is Family.GEMINI:
        return error_response(family, 400, "API key not valid. Please pass a valid API key.")
    return error_response(
        family,
        401,
        f"Incorrect API key provided: {_masked(key)}. You can find your API key at https://platform.openai.com/account/api-keys.",
    )


def _missing_key_message(family: Family) -> tuple[int, str]:
    if family is Family.COHERE:
        return 401, "no api key supplied"
    if family is Family.ANTHROPIC:
        return 401, "x-api-key header is required"
    if family is Family.GEMINI:
        return (
            403,
            (
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API."
            ),
        )
    return (
        401,
        (
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        ),
    )


def _not_found(family: Family, req: HttpRequest) -> Response:
    if family is Family.ANTHROPIC:
        return error_response(family, 404, "Not Found")
    if family is Family.GEMINI:
        return error_response(family, 404, f"Requested entity was not found. ({req.method} {req.path})")
    if family is Family.COHERE:
        return error_response(family, 404, f"404 page not found ({req.method} {req.path})")
    return error_response(family, 404, f"Invalid URL ({req.method} {req.path})")


def _model_hint(req: HttpRequest, body: Any) -> str | None:
    m = _GEMINI_PATH.match(req.path)
    if m:
        return m.group("model")
    m2 = re.match(r"^/openai/deployments/([^/]+)/", req.path)
    if m2:
        return m2.group(1)
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        return str(body["model"])
    return None


class StandinApp:
    """The request handler the HTTP layer calls; owns options, faults and the record."""

    def __init__(self, options: EchoOptions, recorder: Recorder, faults: FaultTable) -> None:
        self.options = options
        self.initial_options = dataclasses.replace(options)
        self.recorder = recorder
        self.faults = faults
        self.control = ControlApi(self)

    async def __call__(self, req: HttpRequest) -> Reply:
        conn = req.conn
        if req.path.startswith("/_standin/") or req.path == "/_standin":
            if conn.counted and conn.provider_requests == 0:
                conn.counted = False
                self.recorder.uncount_connection()
            return self.control.handle(req)
        conn.provider_requests += 1
        if not conn.counted:
            conn.counted = True
            self.recorder.recount_connection()
        self.recorder.add(
            RecordedRequest(
                seq=self.recorder.next_seq(),
                connection_id=req.conn.id,
                method=req.method,
                path=req.path,
                query=req.query,
                headers=tuple(req.headers),
                body=req.body,
                time=req.received_at,
                sni=req.conn.sni,
                tls=req.conn.tls,
                client=req.conn.client,
            )
        )
        parsed: Any = None
        parse_error: str | None = None
        if req.body:
            try:
                parsed = json.loads(req.body)
            except (ValueError, UnicodeDecodeError) as exc:
                parse_error = str(exc)

        route, params = self._route(req)
        family = route.family if route else guess_family(req)
        fault = self.faults.take(req.path, _model_hint(req, parsed), presented_key(family, req))
        effects = FaultEffects()
        if fault is not None:
            early = await self._apply_fault(fault, family, req, effects)
            if early is not None:
                early.first_byte_delay += self.options.latency
                return early
        reply = self._dispatch(req, route, params, family, parsed, parse_error)
        reply.first_byte_delay = self.options.latency + effects.first_byte_delay
        if self.options.gzip and isinstance(reply, Response) and "gzip" in (req.header("accept-encoding") or ""):
            reply = _gzipped(reply)
        return _with_effects(reply, effects)

    def _route(self, req: HttpRequest) -> tuple[Route | None, dict[str, str]]:
        for route in ROUTES:
            m = route.pattern.match(req.path)
            if m and (route.method == req.method or (route.method == "GET" and req.method == "HEAD")):
                params = {k: v for k, v in m.groupdict().items() if v is not None}
                family = guess_family(req)
                alt = _BY_HEADERS.get((family, route.handler))
                if alt is not None:
                    route = Route(route.method, route.pattern, family, alt, route.json_body)
                return route, params
        return None, {}

    async def _apply_fault(self, fault: Fault, family: Family, req: HttpRequest, effects: FaultEffects) -> Reply | None:
        """Either a reply that replaces the normal answer, or None with ``effects`` filled in."""
        if fault.kind is FaultKind.STATUS:
            retry_after = fault.retry_after if fault.retry_after is not None else (1.0 if fault.status == 429 else None)
            return error_response(family, fault.status, fault.message, retry_after=retry_after)
        if fault.kind is FaultKind.RESET:
            return ResetConnection()
        if fault.kind is FaultKind.GARBAGE:
            return GarbageBytes()
        if fault.kind is FaultKind.HANG:
            await asyncio.sleep(FOREVER if fault.delay is None else fault.delay)
            return None
        if fault.kind is FaultKind.SLOW_FIRST_BYTE:
            effects.first_byte_delay = fault.delay or 0.0
        elif fault.kind is FaultKind.RESET_MID_STREAM:
            effects.reset_after_chunks = fault.after_chunks
        elif fault.kind is FaultKind.STALL_MID_STREAM:
            effects.stall = (fault.after_chunks, FOREVER if fault.delay is None else fault.delay)
        elif fault.kind is FaultKind.STREAM_ERROR:
            sse = family is not Family.GEMINI or req.query_param("alt") == "sse"
            event = stream_error_event(family, fault.status, fault.message, sse=sse, first=fault.after_chunks == 0)
            effects.stream_error = (fault.after_chunks, event)
        return None

    def _dispatch(
        self,
        req: HttpRequest,
        route: Route | None,
        params: dict[str, str],
        family: Family,
        parsed: Any,
        parse_error: str | None,
    ) -> Reply:
        if route is None:
            return _not_found(family, req)
        if self.options.require_api_key:
            key = presented_key(family, req)
            if key is None:
                status, message = _missing_key_message(family)
                return error_response(family, status, message)
            accepted = self.options.accepted_keys
            if accepted is not None and key not in accepted:
                return _invalid_key_error(family, key)
        if self.options.strict_headers and family is Family.ANTHROPIC and not req.header("anthropic-version"):
            return error_response(family, 400, "anthropic-version: header is required")
        body: dict[str, Any] = {}
        if route.json_body:
            if parse_error is not None or not req.body:
                return error_response(family, 400, _bad_json_message(family, parse_error))
            if not isinstance(parsed, dict):
                return error_response(family, 400, "The request body must be a JSON object.")
            body = parsed
        call = Call(
            request=req,
            body=body,
            options=self.options,
            family=family,
            path_params=params,
        )
        try:
            return route.handler(call)
        except Exception as exc:  # noqa: BLE001 - a stand-in bug must surface as a 500, not a dropped connection
            return error_response(family, 500, f"stand-in internal error: {type(exc).__name__}")


def _with_effects(reply: Reply, effects: FaultEffects) -> Reply:
    if isinstance(reply, StreamingResponse):
        if effects.stall is not None:
            reply.chunks = _stall(reply.chunks, *effects.stall)
        if effects.stream_error is not None:
            reply.chunks = _cut_with_error(reply.chunks, *effects.stream_error)
        if effects.reset_after_chunks is not None:
            reply.reset_after_chunks = effects.reset_after_chunks
    elif isinstance(reply, Response) and effects.reset_after_chunks is not None:
        reply.reset_after_bytes = len(reply.body) // 2 if effects.reset_after_chunks else 0
    return reply


async def _stall(chunks: Any, after: int, seconds: float) -> AsyncIterator[bytes]:
    """The first ``after`` chunks, then silence for ``seconds``, then the rest."""
    for i, chunk in enumerate(chunks):
        if i == after:
            await asyncio.sleep(seconds)
        yield chunk


def _gzipped(reply: Response) -> Response:
    if not reply.body or reply.reset_after_bytes is not None:
        return reply
    body = gzip.compress(reply.body, compresslevel=5, mtime=0)
    headers = [*reply.headers, ("content-encoding", "gzip"), ("vary", "Accept-Encoding")]
    return Response(reply.status, headers, body, reply.first_byte_delay)


def _cut_with_error(chunks: Any, after: int, event: bytes) -> Iterator[bytes]:
    """The first ``after`` chunks of a stream, then ``event``, then a clean end of body."""
    for i, chunk in enumerate(chunks):
        if i >= after:
            break
        yield chunk
    yield event


def _bad_json_message(family: Family, detail: str | None) -> str:
    if family is Family.GEMINI:
        return "Invalid JSON payload received."
    if family is Family.ANTHROPIC:
        return "There was an error parsing the body of your request as JSON."
    return (
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
        "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON."
    )
