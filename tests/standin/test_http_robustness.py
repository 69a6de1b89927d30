"""Malformed HTTP gets a 400 and a closed connection; the server keeps serving everyone else."""

from __future__ import annotations

import socket

import httpx
import pytest

from govproxy.standin import StandinServer

MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nNo-Colon-Header\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
]


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


@pytest.mark.parametrize("data", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_request_is_400_and_server_survives(plain_server: StandinServer, data: bytes) -> None:
    answer = _exchange(plain_server.port, data)
    assert answer.startswith(b"HTTP/1.1 400 ")
    r = httpx.get(plain_server.url + "/v1/models", headers={"authorization": "Bearer k"}, trust_env=False)
    assert r.status_code == 200


def test_truncated_body_then_eof_is_not_recorded(plain_server: StandinServer) -> None:
    answer = _exchange(plain_server.port, b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"a\":")
    assert answer == b""
    assert plain_server.requests == []


def test_pipelined_requests_are_answered_in_order(plain_server: StandinServer) -> None:
    one = b'{"model":"m","messages":[{"role":"user","content":"first"}]}'
    two = b'{"model":"m","messages":[{"role":"user","content":"second"}]}'

    def req(body: bytes) -> bytes:
        return (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )

    answer = _exchange(plain_server.port, req(one) + req(two))
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert answer.index(b"echo: first") < answer.index(b"echo: second")
    assert plain_server.connections == 1
