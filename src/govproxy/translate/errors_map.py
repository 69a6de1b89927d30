"""Upstream error bodies → the caller's error format, so its SDK raises its usual exception type."""

from __future__ import annotations

from typing import Any

from govproxy.models import ProviderKind
from govproxy.translate.kinds import Family, family

# Neutral category per HTTP status; Anthropic's ``error.type`` refines it.
_BY_STATUS = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "too_large",
    422: "invalid_request",
    429: "rate_limit",
    500: "api_error",
    502: "api_error",
    503: "overloaded",
    504: "timeout",
    529: "overloaded",
}
_ANTHROPIC_IN = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "too_large",
    "rate_limit_error": "rate_limit",
    "api_error": "api_error",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
}
_ANTHROPIC_OUT = {v: k for k, v in _ANTHROPIC_IN.items()}
_OPENAI_OUT = {
    "invalid_request": ("invalid_request_error", None),
    "authentication": ("invalid_request_error", "invalid_api_key"),
    "permission": ("invalid_request_error", "permission_denied"),
    "not_found": ("invalid_request_error", "model_not_found"),
    "too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "api_error": ("server_error", None),
    "overloaded": ("server_error", "overloaded"),
    "timeout": ("server_error", "timeout"),
}
_GEMINI_OUT = {
    "invalid_request": "INVALID_ARGUMENT",
    "authentication": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "too_large": "INVALID_ARGUMENT",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "api_error": "INTERNAL",
    "overloaded": "UNAVAILABLE",
    "timeout": "DEADLINE_EXCEEDED",
}
_GEMINI_IN = {
    "INVALID_ARGUMENT": "invalid_request",
    "FAILED_PRECONDITION": "invalid_request",
    "UNAUTHENTICATED": "authentication",
    "PERMISSION_DENIED": "permission",
    "NOT_FOUND": "not_found",
    "RESOURCE_EXHAUSTED": "rate_limit",
    "INTERNAL": "api_error",
    "UNAVAILABLE": "overloaded",
    "DEADLINE_EXCEEDED": "timeout",
}
_STATUS_OF = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "too_large": 413,
    "rate_limit": 429,
    "api_error": 500,
    "overloaded": 503,
    "timeout": 504,
}


def read_error(status: int, body: Any, src: ProviderKind) -> tuple[str, str]:
    """(neutral category, message) from an upstream error body of any shape."""
    category = _BY_STATUS.get(status) or (
        "invalid_request" if 400 <= status < 500 else "api_error"
    )
    message = f"upstream error (HTTP {status})"
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        if isinstance(err.get("message"), str) and err["message"]:
            message = err["message"]
        fam = family(src)
        if fam is Family.ANTHROPIC:
            category = _ANTHROPIC_IN.get(err.get("type") or "", category)
        elif fam is Family.GEMINI:
            category = _GEMINI_IN.get(err.get("status") or "", category)
    elif (
        isinstance(err, str) and err
    ):  # some OpenAI-compatible servers send {"error": "text"}
        message = err
    return category, message


def write_error(
    category: str, message: str, status: int, dst: ProviderKind
) -> tuple[int, dict[str, Any]]:
    fam = family(dst)
    if status == 529 and fam is not Family.ANTHROPIC:
        status = 503  # 529 is Anthropic's own "overloaded"
    if status < 400:
        status = _STATUS_OF.get(category, 500)
    if fam is Family.ANTHROPIC:
        return status, {
            "type": "error",
            "error": {
                "type": _ANTHROPIC_OUT.get(category, "api_error"),
                "message": message,
            },
        }
    if fam is Family.GEMINI:
        return status, {
            "error": {
                "code": status,
                "message": message,
                "status": _GEMINI_OUT.get(category, "INTERNAL"),
            }
        }
    etype, code = _OPENAI_OUT.get(category, ("server_error", None))
    return status, {
        "error": {"message": message, "type": etype, "param": None, "code": code}
    }


def translate_error(
    status: int, body: Any, src: ProviderKind, dst: ProviderKind
) -> tuple[int, dict[str, Any]]:
    """An upstream (``src``-format) error response → (status, body) in the caller's (``dst``) format."""
    category, message = read_error(status, body, src)
    return write_error(category, message, status, dst)
