"""Error responses in each provider's own format.

Clients (and govproxy's failover) branch on status codes, headers such as
``retry-after`` and the error body's type fields; the official SDKs turn them into
``RateLimitError``, ``AuthenticationError`` … So each family's envelope is reproduced:

* OpenAI / Azure / compatible: ``{"error": {"message", "type", "param", "code"}}``
* Anthropic: ``{"type": "error", "error": {"type", "message"}, "request_id"}``
* Gemini (Google APIs): ``{"error": {"code", "message", "status"}}``
* Cohere: ``{"id", "message"}``
"""

from __future__ import annotations

import math
import time
from enum import StrEnum

from govproxy.standin.echo import dumps
from govproxy.standin.http11 import Response, random_id


class Family(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    COHERE = "cohere"


_OPENAI_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", None),
    413: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
    504: ("server_error", None),
}

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}

_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_DEFAULT_MESSAGES = {
    400: "We could not parse the JSON body of your request.",
    401: "Missing or invalid API key.",
    404: "Not found.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request.",
    502: "Bad gateway.",
    503: "The service is temporarily overloaded. Please try again later.",
    504: "Gateway timeout.",
    529: "Overloaded",
}


def rate_limit_headers(family: Family, retry_after: float | None) -> list[tuple[str, str]]:
    """Rate-limit headers as the provider sends them on a 429 (plus Retry-After)."""
    ra = 1.0 if retry_after is None else retry_after
    ra_text = str(math.ceil(ra))  # HTTP Retry-After is whole seconds; retry-after-ms carries fractions
    headers = [("retry-after", ra_text)]
    if family is Family.OPENAI:
        headers += [
            ("retry-after-ms", str(int(ra * 1000))),
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", f"{ra_text}s"),
            ("x-ratelimit-limit-tokens", "30000"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", f"{ra_text}s"),
        ]
    elif family is Family.ANTHROPIC:
        reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + ra))
        headers += [
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", reset),
            ("anthropic-ratelimit-tokens-limit", "40000"),
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", reset),
        ]
    return headers


def request_id_header(family: Family) -> tuple[str, str]:
    if family is Family.ANTHROPIC:
        return ("request-id", random_id("req_", 24))
    if family is Family.GEMINI:
        return ("x-goog-request-id", random_id("", 16))
    if family is Family.COHERE:
        return ("x-trace-id", random_id("", 32))
    return ("x-request-id", random_id("req_", 32))


def error_response(
    family: Family,
    status: int,
    message: str | None = None,
    *,
    retry_after: float | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
) -> Response:
    """A complete error response for ``family``; 429 always carries rate-limit headers."""
    msg = message or _DEFAULT_MESSAGES.get(status, "Error.")
    rid = request_id_header(family)
    headers: list[tuple[str, str]] = [("content-type", "application/json"), rid]
    body: dict[str, object]
    if family is Family.OPENAI:
        etype, code = _OPENAI_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
        body = {"error": {"message": msg, "type": etype, "param": None, "code": code}}
    elif family is Family.ANTHROPIC:
        etype = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        body = {"type": "error", "error": {"type": etype, "message": msg}, "request_id": rid[1]}
    elif family is Family.COHERE:
        body = {"id": random_id("", 32), "message": msg}
    else:
        gstatus = _GEMINI_STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
        body = {"error": {"code": status, "message": msg, "status": gstatus}}
        headers[0] = ("content-type", "application/json; charset=UTF-8")
    if status == 429 or retry_after is not None:
        headers += rate_limit_headers(family, retry_after)
    if extra_headers:
        headers += extra_headers
    return Response(status=status, headers=headers, body=dumps(body))


def stream_error_event(
    family: Family, status: int, message: str | None = None, *, sse: bool = True, first: bool = False
) -> bytes:
    """The error a provider sends *inside* an SSE stream that already started with 200.

    Anthropic documents ``event: error`` (e.g. ``overloaded_error``); OpenAI sends a
    ``data:`` line whose JSON has an ``error`` object; Google sends its error envelope as a
    ``data:`` record (or, in its JSON-array stream, as the array's last element; ``first``
    says no element was written yet).
    """
    msg = message or _DEFAULT_MESSAGES.get(status, "Error.")
    if family is Family.ANTHROPIC:
        etype = _ANTHROPIC_TYPES.get(status, "api_error")
        return b"event: error\ndata: " + dumps({"type": "error", "error": {"type": etype, "message": msg}}) + b"\n\n"
    if family is Family.GEMINI:
        gstatus = _GEMINI_STATUS.get(status, "INTERNAL")
        if not sse:
            record = dumps({"error": {"code": status, "message": msg, "status": gstatus}})
            return (b"[" if first else b",\r\n") + record + b"]"
        return b"data: " + dumps({"error": {"code": status, "message": msg, "status": gstatus}}) + b"\r\n\r\n"
    if family is Family.COHERE:
        return sse_error_line({"id": random_id("", 32), "message": msg})
    etype, code = _OPENAI_TYPES.get(status, ("server_error", None))
    return b"data: " + dumps({"error": {"message": msg, "type": etype, "param": None, "code": code}}) + b"\n\n"


def sse_error_line(obj: dict[str, object]) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"
