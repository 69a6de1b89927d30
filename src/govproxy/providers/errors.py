"""Error responses in each provider's own wire format.

A request govproxy refuses must fail in the app exactly like a provider error would, so
the official SDKs raise their usual typed exception (``PermissionDeniedError`` …) with our
message instead of a JSON decode error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from govproxy.models import ProviderKind

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found_error",
    407: "proxy_authentication_required",
    413: "request_too_large",
    429: "rate_limit_exceeded",
    451: "permission_denied",
    500: "server_error",
    502: "server_error",
    503: "server_error",
    504: "timeout",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    407: "authentication_error",
    413: "request_too_large",
    429: "rate_limit_error",
    451: "permission_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    407: "UNAUTHENTICATED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    451: "PERMISSION_DENIED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def error_response(kind: ProviderKind | None, status: int, message: str, code: str = "govproxy_denied") -> ErrorResponse:
    """Build the provider-shaped error for ``status``; ``code`` is machine-readable (e.g. the rule)."""
    body: dict[str, object]
    if kind == ProviderKind.ANTHROPIC:
        body = {"type": "error", "error": {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message}}
    elif kind == ProviderKind.GEMINI:
        body = {
            "error": {
                "code": status,
                "message": message,
                "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code, "domain": "govproxy"}],
            }
        }
    elif kind == ProviderKind.COHERE:
        body = {"message": message}
    else:
        body = {"error": {"message": message, "type": _OPENAI_TYPES.get(status, "api_error"), "param": None, "code": code}}
    headers = {"content-type": "application/json", "x-govproxy-error": code}
    return ErrorResponse(status, headers, json.dumps(body).encode())
