"""Issue 2: set HTTPS_PROXY, change nothing else — through a real `govproxy run`."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import subprocess
import sys
import time
import zlib
from pathlib import Path

import anthropic
import brotli
import httpx
import openai
import pytest

from govproxy.launcher import ProxyProcess, free_port
from tests.e2e.helpers import base_config, trust_bundle

CHAT = "https://api.openai.com/v1/chat/completions"


def chat_body(text: str = "hello", **extra: object) -> dict:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **extra}


def client(proxy: ProxyProcess, bundle: Path, **kw) -> httpx.Client:
    return httpx.Client(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(bundle)), timeout=20, **kw)


# --- the official SDKs, configured only by environment --------------------------------------


def test_openai_sdk_chat_non_streaming(shared_proxy, certs, cloud, app_env):
    app_env(shared_proxy, certs)
    oai = openai.OpenAI(api_key="sk-test-key-123")
    resp = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "what is 2+2"}])
    assert "what is 2+2" in resp.choices[0].message.content
    seen = cloud.last_request()
    assert seen.sni == "api.openai.com" and seen.path == "/v1/chat/completions"
    assert seen.header("authorization") == "Bearer sk-test-key-123"  # the key is forwarded untouched
    assert seen.json()["messages"] == [{"role": "user", "content": "what is 2+2"}]


def test_openai_sdk_chat_streaming_arrives_incrementally(shared_proxy, certs, cloud, app_env):
    app_env(shared_proxy, certs)
    cloud.configure(chunk_size=4, chunk_delay=0.25)
    oai = openai.OpenAI(api_key="sk-test")
    t0 = time.monotonic()
    stream = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "stream this please"}], stream=True)
    arrivals, text = [], ""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - t0)
            text += chunk.choices[0].delta.content
    assert "stream this please" in text
    assert len(arrivals) >= 5
    # Buffering would deliver everything at once, after the last delay; streaming spreads it out.
    assert arrivals[-1] - arrivals[0] >= 0.25 * (len(arrivals) - 2)


def test_openai_sdk_responses_and_embeddings(shared_proxy, certs, cloud, app_env):
    app_env(shared_proxy, certs)
    oai = openai.OpenAI(api_key="sk-test")
    r = oai.responses.create(model="gpt-4.1", input="responses api text")
    assert "responses api text" in r.output_text
    e = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(e.data) == 2
    assert [r.path for r in cloud.requests] == ["/v1/responses", "/v1/embeddings"]


def test_anthropic_sdk_non_streaming_and_streaming(shared_proxy, certs, cloud, app_env):
    app_env(shared_proxy, certs)
    ac = anthropic.Anthropic(api_key="sk-ant-test")
    msg = ac.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi claude"}])
    assert "hi claude" in msg.content[0].text
    seen = cloud.last_request()
    # Newer SDKs send the key as a bearer token, older ones as x-api-key: either way, untouched.
    assert "sk-ant-test" in (seen.header("x-api-key") or "", seen.header("authorization") or "").__str__()
    with ac.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "streamed claude"}]) as s:
        text = "".join(s.text_stream)
    assert "streamed claude" in text
    assert cloud.last_request().sni == "api.anthropic.com"


def test_gemini_generate_content_and_sse(shared_proxy, certs, cloud, app_env):
    bundle = app_env(shared_proxy, certs)
    body = {"contents": [{"role": "user", "parts": [{"text": "gemini hello"}]}]}
    with client(shared_proxy, bundle) as c:
        r = c.post("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent", json=body, headers={"x-goog-api-key": "g-key"})
        assert r.status_code == 200, r.text
        assert "gemini hello" in r.json()["candidates"][0]["content"]["parts"][0]["text"]
        with c.stream("POST", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=body, headers={"x-goog-api-key": "g-key"}) as s:
            assert s.headers["content-type"].startswith("text/event-stream")
            events = [line for line in s.iter_lines() if line.startswith("data:")]
    assert len(events) >= 2


def test_curl_through_the_proxy(shared_proxy, certs, cloud):
    bundle = trust_bundle(shared_proxy, certs)
    out = subprocess.run(
        ["curl", "-sS", "--proxy", shared_proxy.url, "--cacert", str(bundle), CHAT,
         "-H", "Authorization: Bearer sk-curl", "-H", "content-type: application/json", "-d", json.dumps(chat_body("via curl"))],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "via curl" in json.loads(out.stdout)["choices"][0]["message"]["content"]


# --- interception only for LLM hosts --------------------------------------------------------


def _peer_issuer_via_connect(proxy: ProxyProcess, host: str, port: int, cafile: Path) -> str:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200"), head
        ctx = ssl.create_default_context(cafile=str(cafile))
        with ctx.wrap_socket(sock, server_hostname=host) as tls:
            cert = tls.getpeercert()
    return dict(x[0] for x in cert["issuer"])["commonName"]


def test_non_llm_host_is_tunnelled_with_its_own_certificate(shared_proxy, certs, cloud):
    bundle = trust_bundle(shared_proxy, certs)
    # localhost:<port> is not an LLM endpoint: the client must see the origin's certificate.
    assert _peer_issuer_via_connect(shared_proxy, "localhost", cloud.port, bundle) == "govproxy stand-in test CA"
    # api.openai.com is: the client sees govproxy's interception certificate.
    assert _peer_issuer_via_connect(shared_proxy, "api.openai.com", 443, bundle) == "mitmproxy"
    # And the tunnelled traffic is unmodified HTTP from the client's point of view.
    with client(shared_proxy, bundle) as c:
        r = c.post(f"https://localhost:{cloud.port}/v1/chat/completions", json=chat_body("tunnelled"), headers={"authorization": "Bearer k", "X-Govproxy-Tenant": "kept"})
    assert r.status_code == 200
    assert cloud.last_request().header("x-govproxy-tenant") == "kept"  # not touched: not LLM traffic for us


# --- faithful forwarding --------------------------------------------------------------------


def test_unchanged_request_reaches_upstream_byte_for_byte(shared_proxy, certs, cloud, app_env):
    bundle = app_env(shared_proxy, certs)
    raw = b'{"model":"gpt-4o",  "messages":[{"role":"user","content":"exact \\u00e9 bytes"}], "x_custom": [1, 2.50]}'
    headers = {"Authorization": "Bearer sk-exact", "Content-Type": "application/json", "X-Custom-Header": "v1", "OpenAI-Organization": "org-1"}
    with client(shared_proxy, bundle) as c:
        r = c.post(CHAT, content=raw, headers=headers)
    assert r.status_code == 200
    seen = cloud.last_request()
    assert seen.body == raw
    for k, v in headers.items():
        assert seen.header(k) == v
    assert seen.header("host") == "api.openai.com"


def test_local_model_over_plain_http(shared_proxy, local):
    with httpx.Client(proxy=shared_proxy.url, timeout=20) as c:
        r = c.post(f"{local.url}/v1/chat/completions", json=chat_body("local hi", model="llama3.1:8b"))
    assert r.status_code == 200 and "local hi" in r.json()["choices"][0]["message"]["content"]
    assert local.last_request().path == "/v1/chat/completions"


# --- gateway mode ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["config", "cli-flag"])
def test_gateway_mode_reverse_proxy_for_apps_that_cannot_trust_a_ca(start_proxy, cloud, monkeypatch, how):
    port = free_port()
    if how == "config":
        proxy = start_proxy({"gateways": [{"listen_port": port, "provider": "openai"}]})
    else:
        proxy = start_proxy(extra_args=["--gateway", f"openai={port}"])
    assert proxy.gateway_ports == [port]
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "SSL_CERT_FILE"):
        monkeypatch.delenv(var, raising=False)
    oai = openai.OpenAI(api_key="sk-gw", base_url=f"http://127.0.0.1:{port}/v1")
    resp = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "through the gateway"}])
    assert "through the gateway" in resp.choices[0].message.content
    assert cloud.last_request().sni == "api.openai.com"
    assert cloud.last_request().header("authorization") == "Bearer sk-gw"
    assert proxy.port != port


# --- no connection before a decision --------------------------------------------------------


def test_request_answered_by_the_pipeline_opens_no_upstream_connection(shared_proxy, certs, cloud, app_env):
    bundle = app_env(shared_proxy, certs)
    before = cloud.connections
    with client(shared_proxy, bundle) as c:
        r = c.post(CHAT, content=b"{broken json", headers={"content-type": "application/json", "authorization": "Bearer k"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_request" and "malformed JSON" in r.json()["error"]["message"]
    assert cloud.connections == before and cloud.requests == []


# --- caller identity ------------------------------------------------------------------------


def test_proxy_auth_required_identifies_tenant_and_rejects_bad_credentials(start_proxy, certs, cloud):
    proxy = start_proxy({"proxy": {"require_auth": True}, "tenants": {"acme": {"token": "tok-1"}}})
    bundle = trust_bundle(proxy, certs)
    ctx = ssl.create_default_context(cafile=str(bundle))
    for bad in (proxy.url, f"http://acme:wrong@127.0.0.1:{proxy.port}", f"http://ghost:tok-1@127.0.0.1:{proxy.port}"):
        with httpx.Client(proxy=bad, verify=ctx, timeout=10) as c:
            with pytest.raises(httpx.ProxyError, match="407"):
                c.post(CHAT, json=chat_body())
    assert cloud.requests == []
    with httpx.Client(proxy=f"http://acme:tok-1@127.0.0.1:{proxy.port}", verify=ctx, timeout=10) as c:
        r = c.post(CHAT, json=chat_body("authed"), headers={"authorization": "Bearer k", "X-Govproxy-Tenant": "someone-else"})
    assert r.status_code == 200
    seen = cloud.last_request()
    assert seen.header("proxy-authorization") is None and seen.header("x-govproxy-tenant") is None


def test_tenant_header_is_stripped_before_forwarding(shared_proxy, certs, cloud, app_env):
    bundle = app_env(shared_proxy, certs)
    with client(shared_proxy, bundle) as c:
        r = c.post(CHAT, json=chat_body(), headers={"authorization": "Bearer k", "X-Govproxy-Tenant": "team-a", "X-Govproxy-App": "bot"})
    assert r.status_code == 200
    names = {k.lower() for k, _ in cloud.last_request().headers}
    assert not any(n.startswith("x-govproxy-") for n in names)


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "status", "needle"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "malformed JSON"),
        (b"", {"content-type": "application/json"}, 400, "empty body"),
        (b"\xff\xfe\x00garbage", {"content-type": "application/json"}, 400, "not UTF-8"),
        (b"plain words", {"content-type": "text/plain"}, 400, "unexpected content type"),
        (b"\x1f\x8b\x08\x00broken-gzip", {"content-type": "application/json", "content-encoding": "gzip"}, 400, "cannot decode"),
    ],
    ids=["malformed-json", "empty", "non-utf8", "wrong-content-type", "corrupt-gzip"],
)
def test_bad_bodies_get_a_clear_provider_format_error(shared_proxy, certs, cloud, app_env, body, headers, status, needle):
    bundle = app_env(shared_proxy, certs)
    with client(shared_proxy, bundle) as c:
        r = c.post(CHAT, content=body, headers={"authorization": "Bearer k", **headers})
    assert r.status_code == status
    err = r.json()["error"]
    assert needle in err["message"] and err["type"] == "invalid_request_error"
    assert cloud.requests == []


def test_anthropic_and_gemini_bad_bodies_get_their_own_error_format(shared_proxy, certs, cloud, app_env):
    bundle = app_env(shared_proxy, certs)
    with client(shared_proxy, bundle) as c:
        r = c.post("https://api.anthropic.com/v1/messages", content=b"{oops", headers={"x-api-key": "k", "content-type": "application/json"})
        assert r.status_code == 400
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
        r = c.post("https://generativelanguage.googleapis.com/v1beta/models/g:generateContent", content=b"{oops", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT" and r.json()["error"]["code"] == 400
    # The SDK surfaces it as its own typed exception, with our message.
    ac = anthropic.Anthropic(api_key="k")
    with pytest.raises(anthropic.BadRequestError, match="govproxy"):
        ac.post("/v1/messages", cast_to=object, options={"headers": {"content-type": "application/json"}})
    assert cloud.requests == []


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_compressed_request_bodies_are_governed_and_forwarded_intact(shared_proxy, certs, cloud, app_env, encoding):
    bundle = app_env(shared_proxy, certs)
    raw = json.dumps(chat_body(f"compressed {encoding}")).encode()
    packed = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}[encoding](raw)
    with client(shared_proxy, bundle) as c:
        r = c.post(CHAT, content=packed, headers={"authorization": "Bearer k", "content-type": "application/json", "content-encoding": encoding})
    assert r.status_code != 400 or "govproxy" not in r.text  # governed without complaint ...
    seen = cloud.last_request()
    assert seen.body == packed and seen.header("content-encoding") == encoding  # ... and forwarded intact


def test_huge_body_is_refused_with_413_and_proxy_survives(shared_proxy, certs, cloud, app_env):
    bundle = app_env(shared_proxy, certs)
    big = json.dumps(chat_body("x" * (20 * 1024 * 1024))).encode()
    with client(shared_proxy, bundle) as c:
        r = c.post(CHAT, content=big, headers={"authorization": "Bearer k", "content-type": "application/json"})
        assert r.status_code == 413 and "exceeds the limit" in r.json()["error"]["message"]
        assert cloud.requests == []
        assert c.post(CHAT, json=chat_body("after huge"), headers={"authorization": "Bearer k"}).status_code == 200


def test_http2_client(shared_proxy, certs, cloud):
    bundle = trust_bundle(shared_proxy, certs)
    out = subprocess.run(
        ["curl", "-sS", "--http2", "-w", "\n%{http_version}", "--proxy", shared_proxy.url, "--cacert", str(bundle), CHAT,
         "-H", "Authorization: Bearer k", "-H", "content-type: application/json", "-d", json.dumps(chat_body("over h2"))],
        capture_output=True, text=True, timeout=30,
    )
    body, _, version = out.stdout.rpartition("\n")
    assert out.returncode == 0, out.stderr
    assert version == "2" and "over h2" in body
    assert cloud.last_request().json()["messages"][0]["content"] == "over h2"


# --- env / ca commands ----------------------------------------------------------------------


def _pem_certs(data: bytes) -> set[bytes]:
    from cryptography import x509

    return {c.fingerprint(__import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA256"]).SHA256()) for c in x509.load_pem_x509_certificates(data)}


def test_env_bundle_holds_public_roots_plus_govproxy_ca(tmp_path):
    import certifi

    confdir = tmp_path / "conf"
    out = subprocess.run([sys.executable, "-m", "govproxy.cli", "env", "--confdir", str(confdir)], capture_output=True, text=True, check=True).stdout
    env = {k.removeprefix("export "): v.strip("'") for k, v in (line.split("=", 1) for line in out.splitlines())}
    ca = Path(subprocess.run([sys.executable, "-m", "govproxy.cli", "ca", "--confdir", str(confdir)], capture_output=True, text=True, check=True).stdout.strip())
    assert env["HTTPS_PROXY"] == "http://127.0.0.1:8080"
    bundle = _pem_certs(Path(env["SSL_CERT_FILE"]).read_bytes())
    roots = _pem_certs(Path(certifi.where()).read_bytes())
    ours = _pem_certs(ca.read_bytes())
    assert roots <= bundle and ours <= bundle  # replacing variables keep the public roots
    assert env["REQUESTS_CA_BUNDLE"] == env["CURL_CA_BUNDLE"] == env["SSL_CERT_FILE"]
    assert _pem_certs(Path(env["NODE_EXTRA_CA_CERTS"]).read_bytes()) == ours  # additive: our CA alone
    assert oct((confdir / "mitmproxy-ca.pem").stat().st_mode & 0o777) == "0o600"


def test_eval_govproxy_env_makes_an_unmodified_app_work_for_llm_and_other_hosts(shared_proxy, certs, cloud, tmp_path):
    app = tmp_path / "app.py"
    app.write_text(
        "import httpx, sys\n"
        f"r1 = httpx.post('{CHAT}', json={{'model': 'gpt-4o', 'messages': [{{'role': 'user', 'content': 'app call'}}]}}, headers={{'authorization': 'Bearer k'}})\n"
        f"r2 = httpx.get('https://localhost:{cloud.port}/v1/models', headers={{'authorization': 'Bearer k'}})\n"
        "print(r1.status_code, r2.status_code)\n"
    )
    script = (
        f'eval "$({sys.executable} -m govproxy.cli env --confdir {shared_proxy.confdir} --proxy-port {shared_proxy.port} --roots {certs.ca_cert})" && '
        f"{sys.executable} {app}"
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["200", "200"], out.stderr
    assert {r.path for r in cloud.requests} == {"/v1/chat/completions", "/v1/models"}


def test_plain_mitmdump_with_the_addon_script(tmp_path, certs, cloud, local):
    mitmdump = Path(sys.executable).with_name("mitmdump")
    repo = Path(__file__).resolve().parents[2]
    proxy = ProxyProcess(tmp_path / "m", base_config(cloud, local), command=[str(mitmdump), "-s", str(repo / "addons" / "govproxy.py")])
    # mitmdump has no `run` subcommand: build its argv the way a user would.
    proxy.config_path.parent.mkdir(parents=True, exist_ok=True)
    import yaml

    proxy.config_path.write_text(yaml.safe_dump(proxy.config))
    port = free_port()
    proc = subprocess.Popen(
        [str(mitmdump), "-s", str(repo / "addons" / "govproxy.py"), "--set", f"govproxy_config={proxy.config_path}",
         "--set", f"confdir={tmp_path / 'conf'}", "--set", f"ssl_verify_upstream_trusted_ca={certs.ca_cert}",
         "--listen-host", "127.0.0.1", "--listen-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )
    try:
        line = ""
        deadline = time.monotonic() + 30
        while "govproxy listening" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert "govproxy listening" in line
        ctx = ssl.create_default_context(cafile=str(tmp_path / "conf" / "mitmproxy-ca-cert.pem"))
        with httpx.Client(proxy=f"http://127.0.0.1:{port}", verify=ctx, timeout=20) as c:
            r = c.post(CHAT, json=chat_body("plain mitmdump"), headers={"authorization": "Bearer k"})
        assert r.status_code == 200 and "plain mitmdump" in r.text
        with httpx.Client(proxy=f"http://127.0.0.1:{port}", verify=ctx, timeout=20) as c:
            r = c.post(CHAT, content=b"{bad", headers={"authorization": "Bearer k", "content-type": "application/json"})
        assert r.status_code == 400  # the same pipeline governs
    finally:
        proc.terminate()
        proc.wait(10)
