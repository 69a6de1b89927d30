"""Recording of requests (raw bytes, headers, SNI) and counting of accepted connections."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time

import httpx

from govproxy.standin import CertBundle, RecordedRequest, StandinClient, StandinServer

from .clients import ca_context, raw_client

AUTH = {"authorization": "Bearer sk-1"}


def test_raw_body_headers_and_query_are_recorded_exactly(server: StandinServer) -> None:
    raw = b'{"model":"gpt-4o",  "messages":[{"role":"user","content":"caf\\u00e9 \xc3\xa9"}]}'
    with raw_client(server) as c:
        c.post(
            "/openai/deployments/dep1/chat/completions?api-version=2024-10-21&x=1",
            headers={"api-key": "az", "X-Custom-Header": "Value"},
            content=raw,
        )
    rec = server.last_request()
    assert rec.body == raw  # byte for byte, whitespace and escapes untouched
    assert rec.method == "POST"
    assert rec.path == "/openai/deployments/dep1/chat/completions"
    assert rec.query == "api-version=2024-10-21&x=1"
    assert rec.header("x-custom-header") == "Value"
    assert ("X-Custom-Header", "Value") in rec.headers  # original case kept
    assert rec.tls is True and rec.time > 0


def test_chunked_request_body_is_reassembled(plain_server: StandinServer) -> None:
    def gen():
        yield b'{"model":"m","messages":[{"role":"user",'
        yield b'"content":"chunked"}]}'

    r = httpx.post(plain_server.url + "/v1/chat/completions", headers=AUTH, content=gen(), trust_env=False)
    assert r.json()["choices"][0]["message"]["content"] == "echo: chunked"
    assert plain_server.last_request().header("transfer-encoding") == "chunked"


def test_sni_is_recorded_and_certificate_covers_provider_hosts(server: StandinServer, certs: CertBundle) -> None:
    ctx = ssl.create_default_context(cafile=str(certs.ca_cert))
    for host in ("api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com", "myres.openai.azure.com", "extra.example.test"):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            with ctx.wrap_socket(sock, server_hostname=host) as tls:  # verifies the name
                tls.sendall(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
                    b"Authorization: Bearer k\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: 2\r\n\r\n{}"
                )
                resp = b""
                while chunk := tls.recv(65536):
                    resp += chunk
        assert resp.startswith(b"HTTP/1.1 400 ")
        assert server.last_request().sni == host


def test_certificate_does_not_cover_arbitrary_hosts(server: StandinServer, certs: CertBundle) -> None:
    ctx = ssl.create_default_context(cafile=str(certs.ca_cert))
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        try:
            ctx.wrap_socket(sock, server_hostname="evil.example.com").close()
        except ssl.SSLCertVerificationError:
            pass
        else:
            raise AssertionError("certificate accepted for a name it does not cover")


def test_keep_alive_reuses_one_connection_and_new_clients_open_new_ones(server: StandinServer) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    with raw_client(server) as c:
        for _ in range(5):
            assert c.post("/v1/chat/completions", headers=AUTH, json=body).status_code == 200
    assert server.connections == 1
    assert {r.connection_id for r in server.requests} == {server.requests[0].connection_id}
    with raw_client(server) as c:
        c.post("/v1/chat/completions", headers=AUTH, json=body)
    assert server.connections == 2


def test_connections_counted_even_without_a_request(server: StandinServer) -> None:
    """A connection that never sends a request (e.g. an eager upstream connect) still counts."""
    socket.create_connection(("127.0.0.1", server.port)).close()
    deadline = time.monotonic() + 2
    while server.connections < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.connections == 1
    assert server.requests == []


def test_control_calls_are_neither_recorded_nor_counted(server: StandinServer) -> None:
    ctl = StandinClient(server.url, ca_file=server.ca_file)
    assert ctl.health()
    assert ctl.connections == 0
    with raw_client(server) as c:
        c.post("/v1/chat/completions", headers=AUTH, json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert ctl.connections == 1 == server.connections
    assert len(ctl.requests) == 1


def test_requests_over_http_are_json_with_base64_bodies(server: StandinServer) -> None:
    raw = b'{"model":"m","messages":[{"role":"user","content":"bytes \\u2603"}]}'
    with raw_client(server) as c:
        c.post("/v1/chat/completions", headers=AUTH, content=raw)
        listing = c.get("/_standin/requests").json()
    assert listing["total_requests"] == 1
    wire = listing["requests"][0]
    assert base64.b64decode(wire["body_b64"]) == raw
    assert RecordedRequest.from_wire(wire) == server.last_request()


def test_reset_clears_record_counters_and_faults(server: StandinServer) -> None:
    server.set_fault("status", status=500)
    with raw_client(server) as c:
        c.post("/v1/chat/completions", headers=AUTH, json={})
        assert c.post("/_standin/reset").json() == {"ok": True}
    assert server.requests == [] and server.connections == 0
    assert server.faults.rules() == []
    server.set_fault("status", status=500)
    server.reset(faults=False)
    assert len(server.faults.rules()) == 1


def test_reset_restores_constructor_options(server: StandinServer) -> None:
    server.configure(chunk_size=3, accepted_keys=["only-this"], echo_prefix="> ")
    server.reset(options=False)
    assert server.options.accepted_keys == ["only-this"]
    server.reset()
    assert (server.options.chunk_size, server.options.accepted_keys, server.options.echo_prefix) == (8, None, "echo: ")
    server.configure(chunk_size=2)
    with raw_client(server) as c:
        c.post("/_standin/reset", json={"options": False})
        assert c.get("/_standin/config").json()["chunk_size"] == 2
        c.post("/_standin/reset")
        assert c.get("/_standin/config").json()["chunk_size"] == 8


def test_streams_do_not_block_each_other(certs: CertBundle) -> None:
    """A slow stream and quick requests in parallel: the quick ones finish first."""
    with StandinServer(tls=True, certs=certs, chunk_size=2, chunk_delay=0.02) as s:
        slow_done: list[float] = []

        def slow() -> None:
            with raw_client(s) as c:
                c.post(
                    "/v1/chat/completions",
                    headers=AUTH,
                    json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x" * 40}]},
                )
            slow_done.append(time.monotonic())

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.1)
        with httpx.Client(verify=ca_context(s), trust_env=False) as c:
            r = c.post(s.url + "/v1/embeddings", headers=AUTH, json={"model": "m", "input": "q"})
            quick_done = time.monotonic()
        t.join()
        assert r.status_code == 200
        assert quick_done < slow_done[0]


def test_first_chunk_arrives_before_the_stream_ends(server: StandinServer) -> None:
    server.configure(chunk_size=4, chunk_delay=0.05)
    arrivals: list[float] = []
    with raw_client(server) as c, c.stream(
        "POST",
        "/v1/chat/completions",
        headers=AUTH,
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "a" * 40}]},
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                arrivals.append(time.monotonic())
    assert len(arrivals) >= 10
    assert arrivals[-1] - arrivals[0] >= 0.05 * (len(arrivals) - 2)


def test_placeholder_is_split_across_stream_events(server: StandinServer) -> None:
    """With 8-char chunks a placeholder such as [EMAIL_1] straddles two events (the case proxies must handle)."""
    with raw_client(server) as c:
        r = c.post(
            "/v1/chat/completions",
            headers=AUTH,
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "write to [EMAIL_1] today"}]},
        )
    deltas = [
        json.loads(line[6:])["choices"][0]["delta"].get("content")
        for line in r.text.split("\n")
        if line.startswith("data: {")
    ]
    pieces = [d for d in deltas if d]
    assert "".join(pieces) == "echo: write to [EMAIL_1] today"
    assert not any("[EMAIL_1]" in p for p in pieces)


def test_resolve_pins_cover_concrete_provider_hosts(server: StandinServer) -> None:
    pins = server.resolve_pins()
    assert pins["api.openai.com:443"] == f"127.0.0.1:{server.port}"
    assert "generativelanguage.googleapis.com:443" in pins
    assert not any("*" in k for k in pins)
    assert server.resolve_pins(["myres.openai.azure.com"]) == {"myres.openai.azure.com:443": f"127.0.0.1:{server.port}"}


def test_head_gets_headers_only_and_keeps_the_connection_usable(plain_server: StandinServer) -> None:
    with httpx.Client(base_url=plain_server.url, trust_env=False) as c:
        head = c.head("/v1/models", headers=AUTH)
        get = c.get("/v1/models", headers=AUTH)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(get.content)
    assert plain_server.connections == 1


def test_latency_delays_every_provider_response(server: StandinServer) -> None:
    server.configure(latency=0.2)
    with raw_client(server) as c:
        t0 = time.monotonic()
        c.post("/v1/chat/completions", headers=AUTH, json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
        elapsed = time.monotonic() - t0
        t1 = time.monotonic()
        c.get("/_standin/health")
        control_elapsed = time.monotonic() - t1
    assert elapsed >= 0.2 and control_elapsed < 0.2


def test_gzip_responses_when_enabled_and_accepted(server: StandinServer) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "compress me " * 20}]}
    with raw_client(server) as c:
        plain = c.post("/v1/chat/completions", headers=AUTH, json=body)
        server.configure(gzip=True)
        zipped = c.post("/v1/chat/completions", headers=AUTH, json=body)
        identity = c.post("/v1/chat/completions", headers={**AUTH, "accept-encoding": "identity"}, json=body)
        streamed = c.post("/v1/chat/completions", headers=AUTH, json={**body, "stream": True})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content)
    assert zipped.json()["choices"][0]["message"]["content"] == plain.json()["choices"][0]["message"]["content"]
    assert "content-encoding" not in identity.headers
    assert "content-encoding" not in streamed.headers  # SSE is never compressed


def test_wait_for_requests(server: StandinServer) -> None:
    def later() -> None:
        time.sleep(0.1)
        with raw_client(server) as c:
            c.post("/v1/embeddings", headers=AUTH, json={"model": "m", "input": "x"})

    threading.Thread(target=later).start()
    assert [r.path for r in server.wait_for_requests(1, timeout=5)] == ["/v1/embeddings"]
    try:
        server.wait_for_requests(2, timeout=0.05)
    except TimeoutError as exc:
        assert "saw 1 request(s), expected 2" in str(exc)
    else:
        raise AssertionError("no timeout")
