"""Issue 7, suite 5: the proxy's own security.

Key files are private, listeners are loopback by default, proxy authentication holds against
every bypass we could think of (sent as raw bytes, so no client library "fixes" the attempt),
and control headers cannot move an authenticated caller to another tenant or lower the
sensitivity of what it sends.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from govproxy.launcher import ProxyProcess, free_port
from govproxy.standin import CertBundle, StandinServer
from tests.e2e.helpers import trust_bundle
from tests.stack import make_proxy
from tests.suites.support import (
    CHAT,
    PRIVATE_KEY,
    PRIVATE_KEY_MARK,
    audit_db,
    audit_records,
    chat_body,
    record_field,
)

TOKENS = {"acme": "tok-acme-7f3e9c", "beta": "tok-beta-21ab44"}
METRICS_PORT = free_port()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def auth_proxy(tmp_path_factory: pytest.TempPathFactory, certs: CertBundle, cloud_server: StandinServer, local_server: StandinServer) -> Iterator[ProxyProcess]:
    cfg = {
        "proxy": {"require_auth": True},
        "tenants": {name: {"token": tok} for name, tok in TOKENS.items()},
        "metrics": {"port": METRICS_PORT},
    }
    p = make_proxy(tmp_path_factory.mktemp("security"), certs, cloud_server, local_server, cfg)
    p.start()
    yield p
    p.stop()


# --- key files and listeners ---------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_private_key_and_audit_signing_key_are_private(auth_proxy):
    ca_key = auth_proxy.confdir / "mitmproxy-ca.pem"
    signing = auth_proxy.workdir / "audit" / "keys" / "signing.key"
    assert ca_key.exists() and signing.exists()
    assert b"PRIVATE KEY" in ca_key.read_bytes()
    assert _mode(ca_key) == 0o600, oct(_mode(ca_key))
    assert _mode(signing) == 0o600, oct(_mode(signing))


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc, IPv4 and IPv6)."""
    out: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, _, p = local.rpartition(":")
            if state == "0A" and int(p, 16) == port:  # 0A = LISTEN
                if len(addr) == 8:
                    out.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
                else:
                    raw = bytes.fromhex(addr)
                    out.add(socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))
    return out


def test_metrics_and_proxy_listen_on_loopback_only_by_default(auth_proxy):
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc/net/tcp")
    assert auth_proxy.wait_for_output(f"metrics on http://127.0.0.1:{METRICS_PORT}")
    assert _listening_addresses(METRICS_PORT) == {"127.0.0.1"}
    assert _listening_addresses(auth_proxy.port) == {"127.0.0.1"}


# --- proxy authentication cannot be bypassed ----------------------------------------------------------


def _raw(proxy: ProxyProcess, head: str, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(head.encode("latin-1") + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def _status(resp: bytes) -> int:
    return int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/") else -1


CONNECT_ATTEMPTS = {
    "missing": None,
    "wrong-password": basic("acme", "not-the-token"),
    "other-tenants-token": basic("acme", TOKENS["beta"]),
    "unknown-tenant": basic("nobody", TOKENS["acme"]),
    "empty-password": basic("acme", ""),
    "malformed-base64": "Basic !!!not-base64!!!",
    "no-colon": "Basic " + base64.b64encode(b"acme" + TOKENS["acme"].encode()).decode(),
    "bearer-scheme": f"Bearer {TOKENS['acme']}",
    "digest-scheme": f'Digest username="acme", response="{TOKENS["acme"]}"',
    "token-as-raw-value": TOKENS["acme"],
    "basic-without-value": "Basic",
    "nul-in-user": "Basic " + base64.b64encode(f"acme\0:{TOKENS['acme']}".encode()).decode(),
    "token-prefix": basic("acme", TOKENS["acme"][:-1]),
    "token-with-suffix": basic("acme", TOKENS["acme"] + "x"),
}


@pytest.mark.parametrize("name", list(CONNECT_ATTEMPTS))
def test_connect_without_valid_credentials_gets_407_and_no_tunnel(auth_proxy, cloud, name):
    value = CONNECT_ATTEMPTS[name]
    head = "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n"
    if value is not None:
        head += f"Proxy-Authorization: {value}\r\n"
    resp = _raw(auth_proxy, head + "\r\n")
    assert _status(resp) == 407, resp[:200]
    assert b"proxy-authenticate" in resp.lower()
    assert cloud.connections == 0


def test_valid_credentials_open_the_tunnel(auth_proxy, cloud, certs):
    bundle = trust_bundle(auth_proxy, certs)
    url = auth_proxy.url.replace("http://", f"http://acme:{TOKENS['acme']}@")
    import httpx

    with httpx.Client(proxy=url, verify=ssl.create_default_context(cafile=str(bundle)), timeout=20, trust_env=False) as c:
        r = c.post(CHAT, json=chat_body("authenticated hello"), headers={"authorization": "Bearer k"})
    assert r.status_code == 200
    assert cloud.last_request().header("proxy-authorization") is None  # never forwarded upstream


def _tunnel(proxy: ProxyProcess, bundle: Path, connect_auth: str | None) -> ssl.SSLSocket:
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    head = "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n"
    if connect_auth:
        head += f"Proxy-Authorization: {connect_auth}\r\n"
    s.sendall((head + "\r\n").encode())
    resp = b""
    while b"\r\n\r\n" not in resp:
        resp += s.recv(4096)
    if _status(resp) != 200:
        s.close()
        raise PermissionError(_status(resp))
    ctx = ssl.create_default_context(cafile=str(bundle))
    return ctx.wrap_socket(s, server_hostname="api.openai.com")


def test_credentials_only_on_the_inner_request_do_not_open_a_tunnel(auth_proxy, certs, cloud):
    bundle = trust_bundle(auth_proxy, certs)
    with pytest.raises(PermissionError) as err:
        _tunnel(auth_proxy, bundle, None)  # the CONNECT itself carries nothing: refused before any TLS
    assert err.value.args[0] == 407
    assert cloud.connections == 0


def _inner_post(tls: ssl.SSLSocket, text: str, extra: dict[str, str]) -> tuple[int, bytes]:
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
    tls.sendall(head.encode() + b"\r\n" + body)
    data = b""
    while True:
        chunk = tls.recv(65536)
        if not chunk:
            break
        data += chunk
    return _status(data), data


def _tenant_of(proxy: ProxyProcess, request_id_marker: str) -> str | None:
    for rec in reversed(audit_records(audit_db(proxy))):
        if rec["kind"] == "decision" and record_field(rec, "request_id") == request_id_marker:
            return record_field(rec, "tenant")
    return None


def _request_id(raw: bytes) -> str:
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"x-govproxy-request-id:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError("no request id header")


def test_inner_credentials_and_tenant_header_cannot_switch_an_authenticated_tenant(auth_proxy, certs, cloud):
    bundle = trust_bundle(auth_proxy, certs)
    tls = _tunnel(auth_proxy, bundle, basic("acme", TOKENS["acme"]))
    with tls:
        status, raw = _inner_post(tls, "who am i", {"Proxy-Authorization": basic("beta", TOKENS["beta"]), "X-Govproxy-Tenant": "beta"})
    assert status == 200
    assert _tenant_of(auth_proxy, _request_id(raw)) == "acme"
    seen = cloud.last_request()
    assert seen.header("proxy-authorization") is None
    assert not any(k.lower().startswith("x-govproxy-") for k, _ in seen.headers)  # control headers never leave


def test_sensitivity_header_cannot_lower_what_dlp_found(auth_proxy, certs, cloud, local):
    bundle = trust_bundle(auth_proxy, certs)
    tls = _tunnel(auth_proxy, bundle, basic("acme", TOKENS["acme"]))
    with tls:
        status, _ = _inner_post(tls, f"debug this\n{PRIVATE_KEY}", {"X-Govproxy-Sensitivity": "public"})
    assert status in (200, 403)
    assert all(PRIVATE_KEY_MARK.encode() not in r.body for r in cloud.requests + local.requests)
    assert cloud.requests == []  # critical stays off the cloud whatever the header says


def test_plain_http_absolute_form_to_an_llm_host_needs_credentials(auth_proxy, cloud):
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"plain"}]}'
    resp = _raw(auth_proxy, f"POST http://api.openai.com/v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n", body)
    assert _status(resp) == 407
    assert cloud.requests == [] and cloud.connections == 0


def test_plain_http_absolute_form_to_any_host_needs_credentials(auth_proxy, local):
    """Not an open relay: a non-LLM host (here the local model, which must only be reached
    through governance) is refused without credentials too."""
    body = b'{"model":"llama3.1:8b","messages":[{"role":"user","content":"ungoverned"}]}'
    resp = _raw(auth_proxy, f"POST http://127.0.0.1:{local.port}/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{local.port}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n", body)
    assert _status(resp) == 407, resp[:120]
    assert local.requests == []
