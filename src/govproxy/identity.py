"""Who is calling: proxy authentication and the tenant header.

Proxy auth (``HTTPS_PROXY=http://TENANT:TOKEN@host:port``) proves a tenant; the
``X-Govproxy-Tenant`` header only names one, so it is honoured only when auth is not
required, and never overrides an authenticated tenant.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from govproxy.config import Settings

TENANT_HEADER = "x-govproxy-tenant"
APP_HEADER = "x-govproxy-app"
CONTROL_HEADER_PREFIX = "x-govproxy-"


@dataclass(frozen=True, slots=True)
class AuthResult:
    ok: bool
    tenant: str | None = None
    reason: str | None = None


def check_proxy_auth(header: str | None, settings: Settings) -> AuthResult:
    """Validate a ``Proxy-Authorization: Basic …`` value against the configured tenant tokens."""
    if not header:
        return AuthResult(False, reason="missing proxy credentials")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return AuthResult(False, reason="unsupported proxy auth scheme")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return AuthResult(False, reason="malformed proxy credentials")
    user, sep, password = decoded.partition(":")
    if not sep:
        return AuthResult(False, reason="malformed proxy credentials")
    tenant = settings.tenants.get(user)
    expected = tenant.token if tenant else None
    # Compare even when the tenant is unknown, so timing does not reveal which tenants exist.
    if not hmac.compare_digest((expected or "\0invalid").encode(), password.encode()) or expected is None:
        return AuthResult(False, reason="invalid proxy credentials")
    return AuthResult(True, tenant=user)
