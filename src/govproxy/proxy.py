"""The mitmproxy addon: a thin adapter between flows and the pipeline.

It decides per connection whether to intercept at all (only LLM hosts are), proves who is
calling, hands each LLM request to :class:`~govproxy.pipeline.Pipeline`, and applies the
returned plan to the flow. Everything that decides lives in the pipeline.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import ssl
import sys
import time
from pathlib import Path
from typing import Any

from mitmproxy import connection, ctx, http, tls
from mitmproxy.proxy import mode_specs, server_hooks

from govproxy.config import ConfigError, Settings, load_settings
from govproxy.identity import (
    APP_HEADER,
    CONTROL_HEADER_PREFIX,
    TENANT_HEADER,
    AuthResult,
    check_proxy_auth,
)
from govproxy.models import Identity
from govproxy.pipeline import IncomingRequest, Mode, Pipeline, Plan, _translating, body_hash
from govproxy.relay import FAILOVERS_HEADER, UPSTREAM_HEADER, Relay, RelayJob, make_upstream_client
from govproxy.providers.errors import error_response

log = logging.getLogger("govproxy")

REQUEST_ID_HEADER = "x-govproxy-request-id"
BUDGET_HEADER = "x-govproxy-budget"
PLAN_KEY = "govproxy.plan"
BODY_KEY = "govproxy.body"
RELAY_KEY = "govproxy.relay"
PROVIDER_KEY = "govproxy.provider"
FAILOVERS_KEY = "govproxy.failovers"
STREAM_KEY = "govproxy.stream"
STARTED_KEY = "govproxy.started"
_HOP_BY_HOP_AUTH = "proxy-authorization"
_CONTROL_CHARS = re.compile(r"[\r\n\x00]")


def ca_cert_path(confdir: str) -> Path:
    return Path(os.path.expanduser(confdir)) / "mitmproxy-ca-cert.pem"


class GovProxy:
    """One instance per mitmproxy process."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._fixed_settings = settings
        self.settings: Settings = settings or Settings()
        self.pipeline: Pipeline | None = None
        # Identity proven on a CONNECT applies to every request inside that tunnel.
        self._conn_identity: dict[str, AuthResult] = {}
        self._resolve: dict[tuple[str, int], tuple[str, int]] = {}
        self._pinned: dict[str, tuple[str, int]] = {}
        self.relay: Relay | None = None
        self._pending_outcomes = 0  # outcome records scheduled for the next loop iteration

    # --- lifecycle -----------------------------------------------------------------------

    def load(self, loader: Any) -> None:
        # httpx logs every request URL at INFO; URLs can carry keys (Gemini's ?key=).
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)
        loader.add_option("govproxy_config", str, "", "Path to the govproxy YAML configuration.")

    def configure(self, updated: set[str]) -> None:
        if "govproxy_config" in updated and self._fixed_settings is None:
            path = ctx.options.govproxy_config or None
            try:
                self.settings = load_settings(path)
            except ConfigError as exc:
                from mitmproxy import exceptions

                raise exceptions.OptionsError(str(exc)) from None
            if self.pipeline is not None:
                self.pipeline.close()
            self.pipeline = Pipeline.from_settings(self.settings)
        elif self.pipeline is None:
            self.pipeline = Pipeline.from_settings(self.settings)
        self._resolve = {}
        for src, dst in self.settings.proxy.resolve.items():
            shost, _, sport = src.rpartition(":")
            dhost, _, dport = dst.rpartition(":")
            self._resolve[(shost.lower(), int(sport))] = (dhost.strip("[]"), int(dport))
        # A governance proxy must not touch a destination before deciding (issue: no
        # connection before a decision), so upstream connections are opened lazily.
        if ctx.options.connection_strategy != "lazy":
            ctx.options.update(connection_strategy="lazy")

    async def done(self) -> None:
        """Shutdown: sign the final audit checkpoint and release the policy engine."""
        for _ in range(100):  # let scheduled outcome records reach the audit queue
            if not self._pending_outcomes:
                break
            await asyncio.sleep(0)
        if self.relay is not None:
            await self.relay.close()
            self.relay = None
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None

    def _pl(self) -> Pipeline:
        assert self.pipeline is not None, "govproxy addon used before configure()"
        return self.pipeline

    async def running(self) -> None:
        # Everything loaded at startup (mitmproxy, pydantic schemas, policies, DLP tables) lives
        # for the whole run: keep it out of the collector's way, so full collections stay short.
        gc.freeze()
        pl = self._pl()
        if pl.router is not None and pl.router.start_metrics_server() is not None:
            cfg = pl.router.config.metrics
            print(f"govproxy metrics on http://{cfg.host}:{cfg.port}/metrics", flush=True)
        if pl.router is not None and self.relay is None:
            self.relay = Relay(pl.router, make_upstream_client(self._resolve, self._upstream_verify()))
            await self.relay.start()
        # One line tools (and people) can rely on: the forward-proxy address first, then gateways.
        server = ctx.master.addons.get("proxyserver")
        proxies: list[str] = []
        gateways: list[str] = []
        for inst in server.servers if server else []:
            addrs = sorted({f"{a[0]}:{a[1]}" for a in inst.listen_addrs})
            if isinstance(inst.mode, mode_specs.ReverseMode):
                gateways += [f"{a} (gateway to {inst.mode.data})" for a in addrs]
            else:
                proxies += addrs
        ca = ca_cert_path(ctx.options.confdir)
        print(f"govproxy listening on {', '.join(proxies + gateways) or '?'}; CA certificate: {ca}", flush=True)

    # --- connection level ----------------------------------------------------------------

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        """Intercept TLS only for LLM hosts; tunnel everything else untouched."""
        if self.settings.proxy.intercept_unknown_hosts:
            return
        mode = data.context.client.proxy_mode
        if isinstance(mode, mode_specs.ReverseMode):
            return  # a gateway listener is for its provider only
        address = data.context.server.address
        host = data.client_hello.sni or (address[0] if address else None)
        port = address[1] if address else 443
        if not host or not self._pl().match(host, port):
            data.ignore_connection = True

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Apply ``proxy.resolve`` pins; SNI and Host stay the original name."""
        if self._resolve and data.server.address:
            host, port = data.server.address
            pinned = self._resolve.get((host.lower(), port))
            if pinned:
                self._pinned[data.server.id] = data.server.address
                data.server.address = pinned

    def server_connected(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Give a pinned connection its name back, so later requests to that host reuse it.

        mitmproxy matches reusable connections by ``address``; left at the pinned IP, every
        request would open a new connection (and stall at the per-destination limit).
        """
        original = self._pinned.pop(data.server.id, None)
        if original is not None:
            # mitmproxy guards `address` on open connections; here it is only the name used
            # for matching and display (the socket is already connected to the pin).
            object.__setattr__(data.server, "address", original)

    def server_connect_error(self, data: server_hooks.ServerConnectionHookData) -> None:
        self._pinned.pop(data.server.id, None)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        auth = self._authenticate(flow.request.headers.get(_HOP_BY_HOP_AUTH))
        if auth is not None and not auth.ok:
            flow.response = self._auth_required(auth.reason or "proxy authentication required")
            return
        if auth is not None:
            self._conn_identity[flow.client_conn.id] = auth

    def client_disconnected(self, client: connection.Client) -> None:
        self._conn_identity.pop(client.id, None)

    # --- request level -------------------------------------------------------------------

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.request.method == "CONNECT":
            return
        req = flow.request
        mode: Mode = "gateway" if isinstance(flow.client_conn.proxy_mode, mode_specs.ReverseMode) else "proxy"
        match = self._pl().match(req.host, req.port)
        auth = self._conn_identity.get(flow.client_conn.id)
        if auth is None and (req.headers.get(_HOP_BY_HOP_AUTH) is not None or self.settings.proxy.require_auth):
            # Not inside an authenticated CONNECT tunnel: plain-HTTP proxy requests and
            # gateway requests carry their own credentials (and need them when required).
            auth = self._authenticate(req.headers.get(_HOP_BY_HOP_AUTH))
            if auth is not None and not auth.ok:
                flow.response = self._auth_required(auth.reason or "proxy authentication required", match)
                return
        if match is None:
            return  # not LLM traffic: untouched
        if _HOP_BY_HOP_AUTH in req.headers:
            del req.headers[_HOP_BY_HOP_AUTH]
        bad = next((k for k, v in req.headers.items(multi=True) if _CONTROL_CHARS.search(v) or _CONTROL_CHARS.search(k)), None)
        if bad is not None:
            # RFC 9110 5.5: CR, LF and NUL are invalid in field values; forwarding them could
            # let a lenient upstream split headers. Refused, never forwarded.
            err = error_response(match.config.kind, 400, f"govproxy: header {bad[:40]!r} contains control characters", "bad_request")
            flow.response = http.Response.make(err.status, err.body, err.headers)
            return
        identity = self._identity(flow, auth)
        seen_headers = tuple((k, v) for k, v in req.headers.items(multi=True))
        for name in [k for k in req.headers if k.lower().startswith(CONTROL_HEADER_PREFIX)]:
            del req.headers[name]

        body_error: str | None = None
        try:
            body = req.content or b""
        except ValueError as exc:  # undecodable content-encoding
            body, body_error = req.raw_content or b"", str(exc)
        incoming = IncomingRequest(
            method=req.method,
            scheme=req.scheme,
            host=req.host,
            port=req.port,
            path=req.path,
            headers=seen_headers,
            body=body,
            identity=identity,
            mode=mode,
            body_error=body_error,
        )
        try:
            plan = await self._pl().process(incoming)
        except Exception:  # the pipeline must fail closed, never open
            log.exception("govproxy pipeline error; request refused")
            err = error_response(match.config.kind, 500, "govproxy: internal error while governing this request", "govproxy_error")
            flow.response = http.Response.make(err.status, err.body, err.headers)
            return
        flow.metadata[PLAN_KEY] = plan
        if plan.alternatives:
            flow.metadata[BODY_KEY] = body
        self._apply(flow, plan)

    def _apply(self, flow: http.HTTPFlow, plan: Plan) -> None:
        if plan.action == "respond" and plan.response is not None:
            flow.response = http.Response.make(plan.response.status, plan.response.body, {**plan.response.headers, REQUEST_ID_HEADER: plan.request_id})
            return
        fwd = plan.forward
        if plan.action != "forward" or fwd is None:
            return
        req = flow.request
        flow.metadata[STARTED_KEY] = time.monotonic()
        if plan.alternatives or (plan.response_side is not None and plan.response_side.needs_work()):
            # The response may be rewritten (restore, translate) or come from another
            # provider: ask for it uncompressed so streamed events can be transformed.
            req.headers["accept-encoding"] = "identity"
        if plan.alternatives and self.relay is not None:
            # Several allowed targets: the relay sends it with failover and streams back.
            job = RelayJob(plan, req.method, [(k, v) for k, v in req.headers.items(multi=True)], flow.metadata.pop(BODY_KEY, b""))
            path = self.relay.register(job)
            flow.metadata[RELAY_KEY] = path
            req.scheme, req.host, req.port, req.path = "http", "127.0.0.1", self.relay.port, path
            req.headers.pop("content-encoding", None)
            req.content = b""
            return
        if (fwd.scheme, fwd.host, fwd.port) != (req.scheme, req.host, req.port):
            req.scheme, req.host, req.port = fwd.scheme, fwd.host, fwd.port
        if fwd.path != req.path:
            req.path = fwd.path
        for name in fwd.remove_headers:
            req.headers.pop(name, None)
        for name, value in fwd.set_headers:
            req.headers[name] = value
        if fwd.body is not None:
            req.content = fwd.body  # re-encoded with the request's content-encoding, if any


    def responseheaders(self, flow: http.HTTPFlow) -> None:
        plan: Plan | None = flow.metadata.get(PLAN_KEY)
        if plan is None or flow.response is None:
            return
        flow.response.headers[REQUEST_ID_HEADER] = plan.request_id  # for `govproxy explain`
        if plan.budget_warn:
            flow.response.headers[BUDGET_HEADER] = "warn: 80% of a budget used"
        if RELAY_KEY in flow.metadata:
            self._from_relay(flow, plan)
        ctype = flow.response.headers.get("content-type", "")
        if not (ctype.startswith("text/event-stream") or "streamGenerateContent" in flow.request.path):
            return  # buffered: transformed in response()
        side = plan.response_side
        handle = side.stream_transformer() if side is not None and flow.response.status_code < 400 else None
        if handle is None:
            flow.response.stream = True
            return
        flow.metadata[STREAM_KEY] = handle
        flow.response.headers.pop("content-length", None)  # the transformed stream has another length
        flow.response.stream = handle

    def _from_relay(self, flow: http.HTTPFlow, plan: Plan) -> None:
        """The relay says which candidate answered: translate from that one's format."""
        assert flow.response is not None
        headers = flow.response.headers
        provider = headers.pop(UPSTREAM_HEADER, None)
        flow.metadata[FAILOVERS_KEY] = int(headers.pop(FAILOVERS_HEADER, "0") or 0)
        side = plan.response_side
        targets = {f.provider: f for f in [plan.forward, *plan.alternatives] if f is not None}
        if provider in targets and side is not None:
            flow.metadata[PROVIDER_KEY] = provider
            side.upstream_kind = targets[provider].kind
            side.translated = _translating(targets[provider].kind, side.client_kind)

    def response(self, flow: http.HTTPFlow) -> None:
        plan: Plan | None = flow.metadata.get(PLAN_KEY)
        if plan is None or flow.response is None or plan.action != "forward":
            return
        resp = flow.response
        handle = flow.metadata.get(STREAM_KEY)
        usage = None
        if handle is not None:
            usage = handle.usage()
        elif not resp.stream:
            side = plan.response_side
            try:
                body = resp.content or b""
            except ValueError:
                body = b""
            if side is not None:
                new = side.transform_body(resp.status_code, body)
                if new is not None:
                    resp.headers.pop("content-encoding", None)
                    resp.content = new
                usage = side.usage_of(body)
        started = flow.metadata.get(STARTED_KEY, time.monotonic())
        raw = resp.raw_content if not resp.stream else None
        self._after_response(
            plan=plan,
            status=resp.status_code,
            usage=usage,
            latency_ms=int((time.monotonic() - started) * 1000),
            response_hash=body_hash(raw) if raw is not None else None,
            provider=flow.metadata.get(PROVIDER_KEY),
            failovers=flow.metadata.get(FAILOVERS_KEY, 0),
            via_relay=RELAY_KEY in flow.metadata,
        )

    def error(self, flow: http.HTTPFlow) -> None:
        plan: Plan | None = flow.metadata.get(PLAN_KEY)
        if plan is None or plan.action != "forward":
            return
        started = flow.metadata.get(STARTED_KEY, time.monotonic())
        self._after_response(
            plan=plan,
            status=flow.response.status_code if flow.response else None,
            usage=None,
            latency_ms=int((time.monotonic() - started) * 1000),
            error="upstream_error",
        )

    # --- helpers -------------------------------------------------------------------------

    def _after_response(self, **outcome: Any) -> None:
        """Outcome record, usage and breaker feed: after the response is on its way.

        mitmproxy writes the response once the hook returns; work scheduled for the next
        loop iteration therefore never delays it (the decision record already made the
        request durable, and nothing here waits for the disk).
        """
        self._pending_outcomes += 1
        asyncio.get_running_loop().call_soon(self._record_outcome, outcome)

    def _record_outcome(self, outcome: dict[str, Any]) -> None:
        self._pending_outcomes -= 1
        if self.pipeline is not None:
            self.pipeline.record_outcome(**outcome)

    def _upstream_verify(self) -> ssl.SSLContext | bool:
        """The relay verifies upstreams exactly as mitmproxy's own connections do."""
        if ctx.options.ssl_insecure:
            return False
        cafile = ctx.options.ssl_verify_upstream_trusted_ca
        capath = ctx.options.ssl_verify_upstream_trusted_confdir
        if cafile or capath:
            return ssl.create_default_context(cafile=cafile or None, capath=capath or None)
        import certifi

        return ssl.create_default_context(cafile=certifi.where())

    def _authenticate(self, header: str | None) -> AuthResult | None:
        """None when auth is neither required nor attempted."""
        if header is None and not self.settings.proxy.require_auth:
            return None
        return check_proxy_auth(header, self.settings)

    def _identity(self, flow: http.HTTPFlow, auth: AuthResult | None) -> Identity:
        source = f"{flow.client_conn.peername[0]}:{flow.client_conn.peername[1]}" if flow.client_conn.peername else None
        app = flow.request.headers.get(APP_HEADER)
        if auth is not None and auth.ok and auth.tenant:
            return Identity(tenant=auth.tenant, app=app, source=source, authenticated=True)
        tenant = flow.request.headers.get(TENANT_HEADER) or "default"
        return Identity(tenant=tenant, app=app, source=source, authenticated=False)

    def _auth_required(self, reason: str, match: Any = None) -> http.Response:
        err = error_response(match.config.kind if match else None, 407, f"govproxy: {reason}", "proxy_auth_required")
        headers = dict(err.headers)
        headers["Proxy-Authenticate"] = 'Basic realm="govproxy"'
        return http.Response.make(407, err.body, headers)


def make_addons() -> list[Any]:
    """The addon list for ``mitmdump -s``; reads config from the ``govproxy_config`` option."""
    return [GovProxy()]


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run via: govproxy run, or mitmdump -s addons/govproxy.py")
