"""The one pipeline: parse → inspect → decide → transform → record, returning a Plan.

It knows nothing about mitmproxy. The proxy addon turns a flow into an
:class:`IncomingRequest`, calls :meth:`Pipeline.process`, and applies the :class:`Plan`;
dry-run calls the very same method with ``record=False`` and prints the plan. So a
dry-run answer is, by construction, what the live proxy would do.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from govproxy.config import Settings
from govproxy.models import Identity, LLMRequest, ProviderKind
from govproxy.providers.errors import ErrorResponse, error_response
from govproxy.providers.parse import parse_request
from govproxy.providers.registry import ProviderMatch, ProviderRegistry

Mode = Literal["proxy", "gateway", "dry-run"]


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    """What the transport saw, already decoded (content-encoding removed)."""

    method: str
    scheme: str
    host: str
    port: int
    path: str  # including the query string
    headers: tuple[tuple[str, str], ...]
    body: bytes
    identity: Identity = Identity()
    mode: Mode = "proxy"
    body_error: str | None = None  # the transport could not decode the body (bad gzip …)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    @property
    def query(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        _, _, q = self.path.partition("?")
        return dict(parse_qsl(q, keep_blank_values=True))


@dataclass(frozen=True, slots=True)
class Forward:
    """Where and what to send. ``body`` None means: the original bytes, untouched."""

    scheme: str
    host: str
    port: int
    path: str
    body: bytes | None = None
    set_headers: tuple[tuple[str, str], ...] = ()
    remove_headers: tuple[str, ...] = ()


@dataclass(slots=True)
class Plan:
    request_id: str
    action: Literal["pass", "respond", "forward"]
    llm: LLMRequest | None = None
    response: ErrorResponse | None = None
    forward: Forward | None = None
    provider: str | None = None
    reasons: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # what dry-run prints

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"request_id": self.request_id, "action": self.action, "provider": self.provider}
        if self.llm is not None:
            out["request"] = {
                "provider_kind": self.llm.provider_kind.value,
                "endpoint": self.llm.endpoint.value,
                "model": self.llm.model,
                "stream": self.llm.stream,
                "token_estimate": self.llm.token_estimate,
                "texts": len(self.llm.texts),
                "images": self.llm.images,
                "tenant": self.llm.identity.tenant,
                "parse_error": self.llm.parse_error,
            }
        if self.response is not None:
            out["response"] = {"status": self.response.status, "body": json.loads(self.response.body or b"null")}
        if self.forward is not None:
            out["forward"] = {
                "url": f"{self.forward.scheme}://{self.forward.host}:{self.forward.port}{self.forward.path}",
                "body_changed": self.forward.body is not None,
            }
        out["reasons"] = self.reasons
        out.update(self.details)
        return out


def body_hash(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Pipeline:
    """Builds plans. One instance per process; safe to share across concurrent requests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = ProviderRegistry(settings.providers)

    def match(self, host: str, port: int) -> ProviderMatch | None:
        return self.registry.match(host, port)

    async def process(self, req: IncomingRequest, *, record: bool = True) -> Plan:
        request_id = uuid.uuid4().hex
        match = self.match(req.host, req.port)
        if match is None:
            return Plan(request_id, "pass")
        kind = match.config.kind
        if req.body_error:
            return self._refuse(request_id, match, kind, 400, f"govproxy: cannot decode request body: {req.body_error}", "bad_request")
        if len(req.body) > self.settings.proxy.max_body_bytes:
            return self._refuse(
                request_id,
                match,
                kind,
                413,
                f"govproxy: request body of {len(req.body)} bytes exceeds the limit of {self.settings.proxy.max_body_bytes}",
                "request_too_large",
            )
        llm, _body = parse_request(
            provider=match.name,
            kind=kind,
            method=req.method,
            scheme=req.scheme,
            host=req.host,
            port=req.port,
            path=req.path,
            body=req.body,
            identity=req.identity,
            content_type=req.header("content-type"),
            query=req.query,
        )
        if llm.parse_error and llm.method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            plan = self._refuse(request_id, match, kind, 400, f"govproxy: {llm.parse_error}", "bad_request")
            plan.llm = llm
            return plan
        return Plan(
            request_id,
            "forward",
            llm=llm,
            provider=match.name,
            forward=Forward(req.scheme, req.host, req.port, req.path),
        )

    def _refuse(
        self, request_id: str, match: ProviderMatch, kind: ProviderKind, status: int, message: str, code: str
    ) -> Plan:
        return Plan(
            request_id,
            "respond",
            provider=match.name,
            response=error_response(kind, status, message, code),
            reasons=[code],
        )
